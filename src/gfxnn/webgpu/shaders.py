"""The WGSL kernels: loading the `.wgsl` files of this package and compiling their pipelines.

The files are plain WGSL plus one directive, a line

    //!include NAME.wgsl

which the loader replaces by that file of the same folder (each file once per shader, later
includes of it are dropped). A browser does the same in a few lines of JavaScript; every other
choice is a WGSL `override` constant given when the pipeline is created (see
wgsl/bindings.wgsl), so Python never writes shader code.
"""

from __future__ import annotations

from importlib import resources
from typing import Any

from gfxnn.webgpu.device import Gpu

__all__ = ["INCLUDE", "pipeline", "shader_source"]

INCLUDE = "//!include "
SHADERS = "wgsl"  # the package folder of the .wgsl files


def _read(name: str) -> str:
    return resources.files("gfxnn.webgpu").joinpath(SHADERS, name).read_text(encoding="utf-8")


def shader_source(name: str) -> str:
    """The WGSL of `name` (e.g. "train.wgsl") with its includes resolved."""
    seen: set[str] = set()

    def expand(file: str) -> list[str]:
        if file in seen:
            return []
        seen.add(file)
        lines: list[str] = []
        for line in _read(file).splitlines():
            if line.startswith(INCLUDE):
                lines += expand(line[len(INCLUDE) :].strip())
            else:
                lines.append(line)
        return lines

    return "\n".join(expand(name)) + "\n"


def _bind_group_layout(gpu: Gpu) -> Any:
    """The one layout of every kernel (wgsl/bindings.wgsl): two uniform records with dynamic
    offsets (the step, the slice), then ten storage buffers (`data`, `meta` read-only)."""
    if "main" not in gpu.layouts:
        import wgpu

        compute = wgpu.ShaderStage.COMPUTE
        uniform = {"type": wgpu.BufferBindingType.uniform, "has_dynamic_offset": True}
        entries = [{"binding": b, "visibility": compute, "buffer": uniform} for b in (0, 1)]
        for binding in range(2, 12):
            kind = (
                wgpu.BufferBindingType.read_only_storage
                if binding in (9, 10)
                else wgpu.BufferBindingType.storage
            )
            entries.append({"binding": binding, "visibility": compute, "buffer": {"type": kind}})
        layout = gpu.device.create_bind_group_layout(entries=entries)
        gpu.layouts["main"] = layout
        gpu.layouts["pipeline"] = gpu.device.create_pipeline_layout(bind_group_layouts=[layout])
    return gpu.layouts["main"]


def bind_group_layout(gpu: Gpu) -> Any:
    return _bind_group_layout(gpu)


def pipeline(gpu: Gpu, file: str, entry_point: str, constants: dict[str, float]) -> Any:
    """The compute pipeline of `entry_point` in `file` with these override constants
    (compiled once per device and configuration)."""
    key = (file, entry_point, tuple(sorted(constants.items())))
    if key not in gpu.pipelines:
        if file not in gpu.modules:
            gpu.modules[file] = gpu.device.create_shader_module(code=shader_source(file))
        _bind_group_layout(gpu)
        gpu.pipelines[key] = gpu.device.create_compute_pipeline(
            layout=gpu.layouts["pipeline"],
            compute={
                "module": gpu.modules[file],
                "entry_point": entry_point,
                "constants": dict(constants),
            },
        )
    return gpu.pipelines[key]
