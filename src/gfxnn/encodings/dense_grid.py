"""Multiresolution dense grid, tcnn's "DenseGrid": the hash grid's levels
(https://arxiv.org/abs/2201.05989) with one table row per vertex at every level, never hashed.

As in tcnn, log2_hashmap_size does not change the layout (it is kept so the config round-trips);
a table over 2^30 values is refused with a ValueError. A vertex at R_l, reached through the
+0.5 offset, wraps around to the level's start (tcnn's indexing mod the level size).
Formulas and feature order: `gfxnn.encodings.grid_kernels`.
"""

from __future__ import annotations

from gfxnn.encodings.grid import GridEncoding


class DenseGridEncoding(GridEncoding):
    __doc__ = GridEncoding.__doc__

    otype = "DenseGrid"
    hashed = False
