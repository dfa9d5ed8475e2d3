"""Training in the browser: what the page's WebGPU driver (static/browser/) is given, the
studio routes that serve it, and `gfxnn studio --static DIR`, the same page as static files.

The page runs the WGSL files of `gfxnn/webgpu/wgsl/` unchanged: `kernel_sources()` resolves
their `//!include`s with `gfxnn.webgpu.shaders.shader_source`, the Python backend's own
loader. `browser_model(settings)` is `gfxnn.webgpu.layout.model_plan` of the settings as
JSON, so the override constants, runtime choices and grid level words the page compiles with
are the ones the Python backend computes. Weights travel as fit checkpoints
(`gfxnn.fields.checkpoint`), validated like any upload: nothing in them is ever executed.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gfxnn.fields.settings import FitSettings

__all__ = ["KERNEL_FILES", "browser_model", "kernel_sources", "state_names"]

KERNEL_FILES = ("train.wgsl", "gradient.wgsl", "infer.wgsl")  # the files with entry points


def kernel_sources() -> dict[str, str]:
    """{file: WGSL with its includes resolved} of the kernels the page compiles."""
    from gfxnn.webgpu.shaders import shader_source

    return {name: shader_source(name) for name in KERNEL_FILES}


def state_names(sizes: tuple[int, ...], n_table: int) -> list[tuple[str, list[int]]]:
    """(name, shape) of each tensor of the weights in flat order (the trainers' state_dict:
    layers.{i}.weight (out, in), layers.{i}.bias, then a grid's flat encoding.table)."""
    names: list[tuple[str, list[int]]] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        names += [(f"layers.{i}.weight", [n_out, n_in]), (f"layers.{i}.bias", [n_out])]
    if n_table:
        names.append(("encoding.table", [n_table]))
    return names


def browser_model(settings: FitSettings, n_input_dims: int = 2, n_output_dims: int = 3) -> dict:
    """What the page's trainer is built from: the ModelSpec of `settings` and its kernel plan,
    JSON-able. ValueError naming what the kernels cannot run (as the Python backend)."""
    from gfxnn.webgpu import layout

    spec = settings.model_spec(n_input_dims, n_output_dims)
    plan = layout.model_plan(spec)
    return {
        "spec": dataclasses.asdict(spec),
        "settings": settings.to_dict(),
        "sizes": list(plan.sizes),
        "n_params": plan.n_params,
        "n_table": plan.n_table,
        "constants": dict(plan.constants),
        "choices": list(plan.choices),
        "meta_levels": [int(word) for word in plan.meta_levels],
        "names": state_names(plan.sizes, plan.n_table),
    }

