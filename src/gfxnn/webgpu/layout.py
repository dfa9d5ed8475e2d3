"""What the kernels are told about a `ModelSpec`: override constants, the `info` words (grid
levels) and the batch geometry (slices and chunks of rows).

Everything here is host arithmetic on the spec; wgsl/bindings.wgsl documents the meaning of
each constant and of each word of `info`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfxnn import registry
from gfxnn.encodings import grid_kernels
from gfxnn.fields.choices import KERNEL_ACTIVATION_IDS
from gfxnn.fields.trainer import LOSSES, OPTIMIZERS, ModelSpec

__all__ = ["BatchPlan", "ModelPlan", "batch_plan", "model_plan", "workgroups"]

MAX_WIDTH = 128  # wgsl/bindings.wgsl: the widest layer a thread holds
MAX_DIMS = 3
MAX_LEVELS = 64
META_LEVELS = 8
ROWS_PER_WORKGROUP = 64
MAX_CHUNKS = 256  # partial gradient sums per step, at most

# The ids the kernels switch on, shared with the Warp kernels (one table, gfxnn.fields.choices).
ACTIVATION_IDS = KERNEL_ACTIVATION_IDS
ENCODING_IDS = {"Identity": 0, "Frequency": 1, "OneBlob": 2, "TriangleWave": 3}
GRID_ID = 4
INTERPOLATION_IDS = {"Nearest": 0, "Linear": 1, "Smoothstep": 2}
ENCODINGS = ("Identity", "Frequency", "OneBlob", "TriangleWave", "HashGrid", "DenseGrid")


@dataclass(frozen=True)
class ModelPlan:
    """The network's shape and the encoding's numbers as the kernels see them."""

    sizes: tuple[int, ...]  # layer widths, features first
    n_params: int  # network parameters (FusedMLP.params layout)
    grid: grid_kernels.GridLayout | None
    n_table: int  # grid table values (entries x features per level)
    constants: dict[str, float]  # the override constants that do not depend on the batch
    # activations, loss and optimizers: runtime ids (wgsl/bindings.wgsl's Step record)
    choices: tuple[int, ...]
    meta_levels: np.ndarray  # uint32 words of the grid levels


def _fail(spec_part: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"the WebGPU backend cannot run {spec_part}={value!r}; it supports {allowed}")


def _encoding(spec: ModelSpec) -> tuple[dict[str, float], int, grid_kernels.GridLayout | None]:
    """(constants, n_features, grid layout) of the spec's encoding."""
    otype, params = registry.encoding_parts(spec.encoding)
    if otype not in ENCODINGS:
        raise _fail("encoding", otype, ", ".join(ENCODINGS))
    cls = registry.component_class("encoding", otype)
    config = registry.complete_encoding_params(cls, params)
    d = spec.n_input_dims
    if otype == "Identity":
        if config.get("scale", 1.0) != 1.0 or config.get("offset", 0.0) != 0.0:
            raise _fail("Identity scale/offset", (config["scale"], config["offset"]), "1 and 0")
        return {"ENCODING": 0, "N_FREQUENCIES": 1}, d, None
    if otype in ("Frequency", "TriangleWave", "OneBlob"):
        count = int(config["n_bins" if otype == "OneBlob" else "n_frequencies"])
        # Build the CPU encoding once: its own validation of the parameters.
        registry.build_encoding({"otype": otype, **config}, d)
        per_dim = 2 * count if otype == "Frequency" else count
        return {"ENCODING": ENCODING_IDS[otype], "N_FREQUENCIES": count}, per_dim * d, None
    grid = grid_kernels.grid_layout(
        d,
        config["n_levels"],
        config["n_features_per_level"],
        config["log2_hashmap_size"],
        config["base_resolution"],
        config["per_level_scale"],
        hashed=otype == "HashGrid",
    )
    if grid.n_levels > MAX_LEVELS:
        raise _fail("n_levels", grid.n_levels, f"at most {MAX_LEVELS}")
    if grid.n_entries * grid.n_features >= 2**31 // 2:
        raise _fail("a grid table of", grid.n_entries * grid.n_features, "fewer than 2^30 values")
    interpolation = grid_kernels.check_interpolation(config["interpolation"])
    constants: dict[str, float] = {
        "ENCODING": GRID_ID,
        "N_FREQUENCIES": 1,
        "N_LEVELS": grid.n_levels,
        "N_LEVEL_FEATURES": grid.n_features,
        "INTERPOLATION": INTERPOLATION_IDS[interpolation],
    }
    return constants, grid.n_output_dims, grid


def model_plan(spec: ModelSpec) -> ModelPlan:
    """Check that the kernels can run `spec` (ValueError naming what they cannot) and plan it."""
    if not 1 <= spec.n_input_dims <= MAX_DIMS:
        raise _fail("n_input_dims", spec.n_input_dims, f"1 to {MAX_DIMS}")
    for name in ("n_neurons", "n_output_dims"):
        value = getattr(spec, name)
        if not 1 <= value <= MAX_WIDTH:
            raise _fail(name, value, f"1 to {MAX_WIDTH}")
    if spec.n_hidden_layers < 0:
        raise _fail("n_hidden_layers", spec.n_hidden_layers, "0 or more")
    for name in ("activation", "output_activation"):
        if getattr(spec, name) not in ACTIVATION_IDS:
            raise _fail(name, getattr(spec, name), ", ".join(ACTIVATION_IDS))
    if spec.loss not in LOSSES:
        raise _fail("loss", spec.loss, ", ".join(LOSSES))
    optimizers = [spec.optimizer] + ([spec.encoding_optimizer] if spec.encoding_optimizer else [])
    for optimizer in optimizers:
        if optimizer.name not in OPTIMIZERS:
            raise _fail("optimizer", optimizer.name, ", ".join(OPTIMIZERS))
    encoding, n_features, grid = _encoding(spec)
    if n_features > MAX_WIDTH:
        raise _fail("an encoding of width", n_features, f"at most {MAX_WIDTH} features")
    if grid is not None and spec.encoding_optimizer is None:
        raise ValueError("a grid encoding is trainable: the spec needs encoding_optimizer")
    sizes = (n_features, *[spec.n_neurons] * spec.n_hidden_layers, spec.n_output_dims)
    n_params = sum(n_out * n_in + n_out for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True))
    constants = {
        "N_INPUT_DIMS": spec.n_input_dims,
        "N_FEATURES": n_features,
        "N_NEURONS": spec.n_neurons,
        "N_HIDDEN": spec.n_hidden_layers,
        "N_OUTPUT": spec.n_output_dims,
        "N_PARAMS": n_params,
        "N_TABLE": 0 if grid is None else grid.n_entries * grid.n_features,
        **encoding,
    }
    return ModelPlan(
        sizes,
        n_params,
        grid,
        int(constants["N_TABLE"]),
        constants,
        (
            ACTIVATION_IDS[spec.activation],
            ACTIVATION_IDS[spec.output_activation],
            LOSSES.index(spec.loss),
            OPTIMIZERS.index(spec.optimizer.name),
            OPTIMIZERS.index((spec.encoding_optimizer or spec.optimizer).name),
        ),
        _level_words(grid),
    )


def _level_words(grid: grid_kernels.GridLayout | None) -> np.ndarray:
    words = np.zeros(8 * MAX_LEVELS, np.uint32)
    if grid is None:
        return words
    for level in range(grid.n_levels):
        scale = np.array([grid.scales[level]], np.float32).view(np.uint32)[0]
        words[8 * level : 8 * level + 5] = (
            grid.offsets[level],
            grid.sizes[level],
            grid.resolutions[level],
            int(grid.hashed[level]),
            scale,
        )
    return words


@dataclass(frozen=True)
class BatchPlan:
    """How a batch of `batch` rows is cut: `n_slices` slices of `slice_rows` rows (what the
    scratch buffers hold), each of `slice_rows / chunk_rows` chunks (one partial gradient sum
    each)."""

    batch: int
    chunk_rows: int
    slice_rows: int
    n_slices: int

    @property
    def n_chunks(self) -> int:
        return self.n_slices * (self.slice_rows // self.chunk_rows)

    @property
    def padded(self) -> int:
        return self.n_slices * self.slice_rows


def batch_plan(batch: int, acts_columns: int, max_binding: int) -> BatchPlan:
    """Chunks of a multiple of 64 rows, at most MAX_CHUNKS of them; slices as large as one
    binding of the scratch (`acts_columns` floats per row) allows."""
    if batch < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch}")
    rows = -(-batch // ROWS_PER_WORKGROUP) * ROWS_PER_WORKGROUP
    chunk = max(ROWS_PER_WORKGROUP, -(-rows // (MAX_CHUNKS * 64)) * 64)
    chunks_needed = -(-rows // chunk)
    fit = max(1, max_binding // (4 * acts_columns * chunk))  # chunks one scratch binding holds
    per_slice = min(chunks_needed, fit)
    n_slices = math.ceil(chunks_needed / per_slice)
    return BatchPlan(batch, chunk, per_slice * chunk, n_slices)


def workgroups(n_threads: int, per_group: int = 64) -> tuple[int, int]:
    """(x, y) workgroup counts for n_threads in the 1-D kernels, which fold y into x (a
    dimension holds at most 32768 here; WebGPU guarantees 65535)."""
    groups = max(1, -(-n_threads // per_group))
    x = min(groups, 32768)
    return x, -(-groups // x)
