"""`FusedGrid`: the multiresolution hash (or dense) grid encoding for the fused image path.

The same maths and the same kernels as `gfxnn.encodings.HashGridEncoding` /
`DenseGridEncoding` (see `gfxnn.encodings.grid_kernels` for the formulas, after Instant-NGP,
https://arxiv.org/abs/2201.05989), on caller-owned buffers: `params` is the flat table, level
after level, row-major (n_entries, n_features_per_level), exactly the autodiff encoding's
"table" Parameter flattened (and tcnn's parameter vector), so a checkpoint loads in either.
Output features are level-major: out[:, l * n_features_per_level + f].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gfxnn.encodings import grid_kernels as kernels
from gfxnn.tensor import resolve_dtype


@dataclass
class GridScratch:
    """Buffers one encode() of up to `n_rows` inputs needs, and its backward() reads."""

    n_rows: int
    indices: np.ndarray  # flat intp, room for (levels, corners, n_rows)
    weights: np.ndarray  # flat, same size, the buffers' dtype
    workspace: kernels.Workspace  # the kernels' temporaries


class FusedGrid:
    """Multiresolution grid of trainable features for `n_input_dims`-D inputs in [0, 1]^d.

    Args: as `HashGridEncoding`, plus `hashed` (False: a DenseGrid) and `dtype` (of params).
    The table starts at zero; `initialize(rng)` draws it uniform(-1e-4, 1e-4) (tcnn).
    """

    name = "grid"

    def __init__(
        self,
        n_input_dims: int = 2,
        n_levels: int = 16,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        per_level_scale: float = 2.0,
        interpolation: str = "Linear",
        hashed: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        self.interpolation = kernels.check_interpolation(interpolation)
        sizes: dict[str, Any] = {
            "n_levels": n_levels,
            "n_features_per_level": n_features_per_level,
            "log2_hashmap_size": log2_hashmap_size,
            "base_resolution": base_resolution,
            "per_level_scale": per_level_scale,
        }
        self.layout = kernels.grid_layout(n_input_dims, **sizes, hashed=bool(hashed))
        otype = "HashGrid" if hashed else "DenseGrid"
        self._config = {"otype": otype, **sizes, "interpolation": self.interpolation}
        self.n_input_dims = n_input_dims
        self.n_output_dims = self.layout.n_output_dims
        self.dtype = resolve_dtype(dtype)  # float32 or float64, else TypeError
        shape = (self.layout.n_entries, self.layout.n_features)
        self.params = np.zeros(shape[0] * shape[1], self.dtype)
        self.grads = np.zeros_like(self.params)
        self.table = self.params.reshape(shape)  # views: writing one writes the other
        self.table_grads = self.grads.reshape(shape)
        self._n_corners = kernels.n_corners(self.layout, self.interpolation)
        self._last: tuple[np.ndarray, np.ndarray, kernels.Workspace] | None = None

    def hyperparams(self) -> dict[str, Any]:
        """The tcnn config of this grid (every parameter given)."""
        return dict(self._config)

    def initialize(self, rng: np.random.Generator) -> None:
        """Draw the table uniform(-1e-4, 1e-4), in place."""
        self.table[...] = kernels.init_table(self.layout, rng, self.dtype)

    def make_scratch(self, n_rows: int, dtype: Any) -> GridScratch:
        """Buffers for encode() of up to `n_rows` inputs."""
        size = self.layout.n_levels * self._n_corners * n_rows
        return GridScratch(
            n_rows, np.empty(size, np.intp), np.empty(size, dtype), kernels.Workspace()
        )

    def encode(self, x: np.ndarray, out: np.ndarray, scratch: GridScratch) -> None:
        """x (n, n_input_dims) -> out (n, n_output_dims), n <= scratch.n_rows; keeps the
        corner indices and weights (in scratch) for backward()."""
        n = x.shape[0]
        if n > scratch.n_rows:
            raise ValueError(f"encode: {n} inputs do not fit a scratch made for {scratch.n_rows}")
        shape = (self.layout.n_levels, self._n_corners, n)
        size = shape[0] * shape[1] * n
        indices = scratch.indices[:size].reshape(shape)
        weights = scratch.weights[:size].reshape(shape)
        x_t = np.ascontiguousarray(x.T, dtype=out.dtype)
        ws = scratch.workspace
        kernels.corners(self.layout, x_t, self.interpolation, indices, weights, None, ws)
        table = self.table.astype(out.dtype, copy=False)
        kernels.gather(self.layout, table, indices, weights, out, ws)
        self._last = (indices, weights, ws)

    def backward(self, grad_features: np.ndarray) -> None:
        """grads = dL/dtable (flat) for dL/dout = grad_features (n, n_output_dims) of the last
        encode(), overwriting."""
        if self._last is None:
            raise RuntimeError("backward() needs an encode() first")
        indices, weights, ws = self._last
        kernels.table_gradient(self.layout, grad_features, indices, weights, self.table_grads, ws)
