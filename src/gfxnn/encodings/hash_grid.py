"""Multiresolution hash encoding (Instant-NGP, https://arxiv.org/abs/2201.05989), tcnn's
"HashGrid": levels whose vertex count exceeds 2^log2_hashmap_size share a hashed table.

Level l has scale s_l = base_resolution * per_level_scale^l - 1 and resolution
R_l = ceil(s_l) + 1; a point x sits at x * s_l + 0.5 in the level's grid; a vertex v indexes
row sum_k v_k R_l^k of a dense level, or (xor_k v_k * pi_k mod 2^32) mod 2^log2_hashmap_size of a
hashed one, pi = (1, 2654435761, 805459861, ...). Output features are level-major:
out[:, l * n_features_per_level + f]. Details in `gfxnn.encodings.grid_kernels`.
"""

from __future__ import annotations

from gfxnn.encodings.grid import GridEncoding


class HashGridEncoding(GridEncoding):
    __doc__ = GridEncoding.__doc__

    otype = "HashGrid"
    hashed = True
