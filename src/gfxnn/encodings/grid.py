"""The shared base of HashGridEncoding and DenseGridEncoding, and `grid_encode`, their
autodiff primitive (forward and VJP side by side, on the NumPy kernels of `grid_kernels`).

Formulas, table layout and feature order: see `gfxnn.encodings.grid_kernels` (Instant-NGP,
https://arxiv.org/abs/2201.05989, with tiny-cuda-nn's conventions).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from gfxnn.autograd import VJPResult
from gfxnn.encodings import grid_kernels as kernels
from gfxnn.encodings.base import Encoding, check_input
from gfxnn.nn.module import Parameter
from gfxnn.ops import as_tensor, record
from gfxnn.rng import as_generator
from gfxnn.tensor import Tensor, resolve_dtype

if TYPE_CHECKING:  # lower()'s node type; gfxnn.export is imported only when lowering
    from gfxnn.export.ir import Node


def grid_encode(
    x: Any,
    table: Any,
    layout: kernels.GridLayout,
    interpolation: str = "Linear",
    workspace: kernels.Workspace | None = None,
) -> Tensor:
    """Grid features of x (n, d) in [0, 1]^d from `table` (layout.n_entries, F):
    (n, L*F), level-major. Differentiable in the table and, except for Nearest, in x.
    `workspace` holds reusable temporaries (a module passes its own; None: fresh ones).

    x and table must share a dtype (float32 or float64), as every gfxnn op requires.
    """
    x, table = as_tensor(x), as_tensor(table)
    interpolation = kernels.check_interpolation(interpolation)
    if table.shape != (layout.n_entries, layout.n_features):
        raise ValueError(
            f"grid_encode: table must have shape {(layout.n_entries, layout.n_features)}, "
            f"got {table.shape}"
        )
    if x.ndim != 2 or x.shape[1] != layout.n_input_dims:
        raise ValueError(
            f"grid_encode: x must have shape (n, {layout.n_input_dims}), got {x.shape}"
        )
    if x.dtype != table.dtype:
        raise TypeError(f"grid_encode: x is {x.dtype} but the table is {table.dtype}; cast one")
    n = x.shape[0]
    n_corner = kernels.n_corners(layout, interpolation)
    x_t = np.ascontiguousarray(x.data.T)
    indices = np.empty((layout.n_levels, n_corner, n), np.intp)
    weights = np.empty((layout.n_levels, n_corner, n), x.dtype)
    fractions = None
    if x.requires_grad and interpolation != "Nearest":
        fractions = np.empty((layout.n_levels, layout.n_input_dims, n), x.dtype)
    ws = kernels.Workspace() if workspace is None else workspace
    kernels.corners(layout, x_t, interpolation, indices, weights, fractions, ws)
    table_data = np.ascontiguousarray(table.data)
    out = np.empty((n, layout.n_output_dims), x.dtype)
    kernels.gather(layout, table_data, indices, weights, out, ws)

    def vjp(g: np.ndarray) -> VJPResult:
        g = np.ascontiguousarray(g, dtype=x.dtype)
        d_x = None
        if x.requires_grad:
            if fractions is None:  # Nearest: piecewise constant in x
                d_x = np.zeros(x.shape, x.dtype)
            else:
                d_x = kernels.input_gradient(
                    layout, table_data, g, indices, fractions, interpolation
                )
        d_table = None
        if table.requires_grad:
            d_table = np.empty(table.shape, table.dtype)
            kernels.table_gradient(layout, g, indices, weights, d_table, ws)
        return d_x, d_table

    return record(out, (x, table), vjp)


class GridEncoding(Encoding):
    """A multiresolution grid of trainable features (see the module docstring).

    Args:
        n_input_dims: input width d, 1..7.
        n_levels: L, 1..64.
        n_features_per_level: F, 1..64.
        log2_hashmap_size: entries per hashed level, as a power of two, 1..31.
        base_resolution: N_min, the coarsest level's scale + 1, >= 1.
        per_level_scale: b >= 1, the scale ratio between consecutive levels.
        interpolation: "Nearest", "Linear" or "Smoothstep" (case-insensitive).
        rng: Generator or seed for the table's uniform(-1e-4, 1e-4) init.
        dtype: float32 (default) or float64.

    The table is the Parameter "table", shape (n_entries, n_features_per_level).
    """

    otype: ClassVar[str]
    hashed: ClassVar[bool]
    trainable = True

    def __init__(
        self,
        n_input_dims: int,
        n_levels: int = 16,
        n_features_per_level: int = 2,
        log2_hashmap_size: int = 19,
        base_resolution: int = 16,
        per_level_scale: float = 2.0,
        interpolation: str = "Linear",
        *,
        rng: np.random.Generator | int | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.interpolation = kernels.check_interpolation(interpolation)
        self.layout = kernels.grid_layout(
            n_input_dims,
            n_levels,
            n_features_per_level,
            log2_hashmap_size,
            base_resolution,
            per_level_scale,
            hashed=self.hashed,
        )
        self.n_input_dims = n_input_dims
        self.n_levels = n_levels
        self.n_features_per_level = n_features_per_level
        self.log2_hashmap_size = log2_hashmap_size
        self.base_resolution = base_resolution
        self.per_level_scale = float(per_level_scale)
        self.n_output_dims = self.layout.n_output_dims
        dtype = resolve_dtype(dtype)
        self.table = Parameter(
            kernels.init_table(self.layout, as_generator(rng), dtype), dtype=dtype
        )
        self._workspace = kernels.Workspace()  # temporaries only: safe to share across calls

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) in [0, 1]^d -> (batch, n_levels * n_features_per_level)."""
        x = as_tensor(x)
        check_input(self, x)
        return grid_encode(x, self.table, self.layout, self.interpolation, self._workspace)

    def lower(self) -> Node:
        """This grid as an export IR node (`gfxnn.export`); its table goes into a buffer."""
        from gfxnn.export.grid import GridEncode

        layout = self.layout
        return GridEncode(
            otype=self.otype,
            n_dims=layout.n_input_dims,
            scales=tuple(float(np.float32(s)) for s in layout.scales),
            resolutions=layout.resolutions,
            sizes=layout.sizes,
            offsets=layout.offsets,
            hashed=layout.hashed,
            interpolation=self.interpolation,
            table=np.array(self.table.data, np.float32),
        )

    def hyperparams(self) -> dict[str, Any]:
        return {
            "otype": self.otype,
            "n_levels": self.n_levels,
            "n_features_per_level": self.n_features_per_level,
            "log2_hashmap_size": self.log2_hashmap_size,
            "base_resolution": self.base_resolution,
            "per_level_scale": self.per_level_scale,
            "interpolation": self.interpolation,
        }
