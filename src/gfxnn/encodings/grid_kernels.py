"""Plain NumPy kernels of the multiresolution grid encodings (HashGrid, DenseGrid).

Shared by the autodiff encodings (`gfxnn.encodings.hash_grid`, `dense_grid`) and the fused
image path (`gfxnn.fused.grid`), so both compute the very same numbers.

The maths is Instant-NGP's (Mueller, Evans, Schied, Keller 2022, "Instant Neural Graphics
Primitives with a Multiresolution Hash Encoding", https://arxiv.org/abs/2201.05989), with
tiny-cuda-nn's exact conventions (which differ from the paper's text in the -1, the +1 and the
half-cell offset below):

- Level l = 0..L-1 has scale  s_l = base_resolution * per_level_scale^l - 1  and
  resolution  R_l = ceil(s_l) + 1  vertices per axis (s_l is computed in float64 here;
  tcnn uses float32 exp2, which can differ in the last bits).
- An input x in [0, 1]^d is placed at  p = x * s_l + 0.5  (the half-cell offset staggers the
  levels, paper appendix A); its cell corner is  g = floor(p)  and its fraction  t = p - g.
- Level l has T_l table entries: next_multiple(R_l^d, 8) when that is <= 2^log2_hashmap_size
  (a dense level, one entry per vertex: index = sum_k v_k * R_l^k), else 2^log2_hashmap_size
  (a hashed level: index = xor_k (v_k * pi_k) mod 2^32, primes pi = 1, 2654435761,
  805459861, 3674653429, 2097192037, 1434869437, 2165219737). Both are then taken mod T_l, so a
  dense level's vertex at R_l (reached through the +0.5 offset) wraps around, as in tcnn.
  A DenseGrid never hashes (see `grid_layout`).
- Interpolation: "Linear" weights the 2^d corners c in {0,1}^d with prod_k (c_k ? t_k : 1-t_k);
  "Smoothstep" uses S(t) = t^2 (3 - 2t) in place of t; "Nearest" takes the single vertex
  floor(p), i.e. the vertex nearest to x * s_l (zero input gradient).
- Features: level l contributes F features sum_c w_c table[offset_l + index_c], and the output
  is level-major: out[:, l*F + f] (tcnn's order).

Table layout (tcnn's): one (n_entries, F) array, level after level (offsets[l] entries before
level l), so its flat float array is exactly tcnn's parameter vector.

Corners are numbered with dimension 0 as the least significant bit (tcnn's order). Arrays are
kept corner-major and batch-last, (levels, corners, batch), so every NumPy pass is contiguous.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfxnn.encodings.base import check_positive_int

PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)
INTERPOLATIONS = ("Nearest", "Linear", "Smoothstep")
MAX_INPUT_DIMS = len(PRIMES)
# The largest table (entries * features) a grid may allocate: 2^30 values, 4 GiB in float32.
# A DenseGrid with many fine 3-D levels passes that easily; a clear error beats a MemoryError.
MAX_TABLE_VALUES = 2**30


@dataclass(frozen=True)
class GridLayout:
    """Where each level lives in the table and how it is indexed.

    scales[l] = s_l, resolutions[l] = R_l, sizes[l] = T_l entries at offsets[l]; hashed[l]
    tells whether level l uses the spatial hash; n_entries = sum(sizes).
    """

    n_input_dims: int
    n_features: int
    scales: tuple[float, ...]
    resolutions: tuple[int, ...]
    sizes: tuple[int, ...]
    offsets: tuple[int, ...]
    hashed: tuple[bool, ...]
    n_entries: int

    @property
    def n_levels(self) -> int:
        return len(self.scales)

    @property
    def n_output_dims(self) -> int:
        return self.n_levels * self.n_features


def check_interpolation(interpolation: Any) -> str:
    """The canonical name ("Nearest", "Linear", "Smoothstep") of `interpolation`, matched
    case-insensitively as tcnn does; a ValueError for anything else."""
    if isinstance(interpolation, str):
        for name in INTERPOLATIONS:
            if interpolation.lower() == name.lower():
                return name
    raise ValueError(
        f"interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interpolation!r}"
    )


def check_per_level_scale(per_level_scale: Any) -> float:
    if isinstance(per_level_scale, bool) or not isinstance(per_level_scale, int | float):
        raise ValueError(f"per_level_scale must be a number >= 1, got {per_level_scale!r}")
    value = float(per_level_scale)
    # Below 1 the levels would get coarser and s_l could turn negative; tcnn never does that.
    if not math.isfinite(value) or value < 1.0:
        raise ValueError(f"per_level_scale must be a finite number >= 1, got {per_level_scale!r}")
    return value


def level_scales(n_levels: int, base_resolution: int, per_level_scale: float) -> list[float]:
    """s_l = base_resolution * per_level_scale^l - 1 for l < n_levels (tcnn's grid_scale)."""
    return [base_resolution * per_level_scale**level - 1.0 for level in range(n_levels)]


def grid_layout(
    n_input_dims: int,
    n_levels: int,
    n_features_per_level: int,
    log2_hashmap_size: int,
    base_resolution: int,
    per_level_scale: float,
    hashed: bool,
) -> GridLayout:
    """Validate the grid parameters and lay the levels out in the table (tcnn's layout).

    hashed=True (HashGrid): a level whose R^d exceeds 2^log2_hashmap_size is hashed into
    2^log2_hashmap_size entries. hashed=False (DenseGrid): every level is dense, as in tcnn,
    whose DenseGrid ignores log2_hashmap_size for the layout (we keep it only so the config
    round-trips); a dense table over MAX_TABLE_VALUES values is a ValueError instead of a
    multi-gigabyte allocation.
    """
    d = check_positive_int("n_input_dims", n_input_dims, 1, MAX_INPUT_DIMS)
    n_levels = check_positive_int("n_levels", n_levels, 1, 64)
    n_features = check_positive_int("n_features_per_level", n_features_per_level, 1, 64)
    log2_size = check_positive_int("log2_hashmap_size", log2_hashmap_size, 1, 31)
    base = check_positive_int("base_resolution", base_resolution)
    scale = check_per_level_scale(per_level_scale)
    scales = level_scales(n_levels, base, scale)
    resolutions, sizes, offsets, is_hashed = [], [], [], []
    offset = 0
    for s in scales:
        resolution = math.ceil(s) + 1
        dense_size = -(-(resolution**d) // 8) * 8  # next multiple of 8 (tcnn aligns levels)
        size = min(dense_size, 2**log2_size) if hashed else dense_size
        resolutions.append(resolution)
        sizes.append(size)
        offsets.append(offset)
        is_hashed.append(resolution**d > size)
        offset += size
        if offset * n_features > MAX_TABLE_VALUES:
            kind = "HashGrid" if hashed else "DenseGrid"
            raise ValueError(
                f"{kind} table would hold more than 2^30 values (n_levels={n_levels}, "
                f"base_resolution={base}, per_level_scale={per_level_scale}, "
                f"n_features_per_level={n_features}, log2_hashmap_size={log2_size}, "
                f"n_input_dims={d}); use fewer or coarser levels"
                + ("" if hashed else " or a HashGrid")
            )
    return GridLayout(
        d, n_features, tuple(scales), tuple(resolutions), tuple(sizes), tuple(offsets),
        tuple(is_hashed), offset,
    )  # fmt: skip


def init_table(layout: GridLayout, rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """(n_entries, F) table drawn uniform(-1e-4, 1e-4), as tcnn initialises its grids."""
    return rng.uniform(-1e-4, 1e-4, size=(layout.n_entries, layout.n_features)).astype(dtype)


def n_corners(layout: GridLayout, interpolation: str) -> int:
    """Table entries read per point and level: 1 for Nearest, 2^d otherwise."""
    return 1 if interpolation == "Nearest" else 2**layout.n_input_dims


# ----- scratch memory -----------------------------------------------------------------------
class Workspace:
    """Reusable temporaries by name, grown on demand.

    The kernels' temporaries are ~1 MB arrays per level; allocating them afresh costs more than
    the arithmetic on a busy or virtualised machine (new pages fault in on first touch; we
    measured np.stack of two such arrays at 2.5 ms against 0.09 ms for one). Callers that
    encode repeatedly (the fused path, the autodiff module) keep one Workspace.
    """

    def __init__(self) -> None:
        self._buffers: dict[str, np.ndarray] = {}

    def get(self, name: str, shape: tuple[int, ...], dtype: Any) -> np.ndarray:
        """A C-contiguous array of `shape` (contents undefined), reused across calls."""
        size = math.prod(shape)
        buffer = self._buffers.get(name)
        if buffer is None or buffer.size < size or buffer.dtype != np.dtype(dtype):
            buffer = np.empty(size, dtype)
            self._buffers[name] = buffer
        return buffer[:size].reshape(shape)


# ----- corners, indices and weights -----------------------------------------------------------
def _corner_product(pairs: np.ndarray, op: Any, out: np.ndarray, workspace: Workspace) -> None:
    """out (m^d, n) = op-combination of pairs (d, m, n) over all corners (m = 2, or 1 for
    Nearest); the corner number has dimension 0 as its least significant digit."""
    d, m, n = pairs.shape
    if d == 1:
        np.copyto(out, pairs[0])
        return
    result = pairs[d - 1]
    for k in range(d - 2, -1, -1):
        rows = result.shape[0] * m
        # Ping-pong between two buffers; the last step writes straight into out.
        target = (
            out if k == 0 else workspace.get(f"corners{k % 2}_{out.dtype}", (rows, n), out.dtype)
        )
        op(result[:, None, :], pairs[k][None, :, :], out=target.reshape(result.shape[0], m, n))
        result = target


def _smoothstep(t: np.ndarray) -> np.ndarray:
    return t * t * (3.0 - 2.0 * t)


def _smoothstep_derivative(t: np.ndarray) -> np.ndarray:
    return 6.0 * t * (1.0 - t)


def corners(
    layout: GridLayout,
    x_t: np.ndarray,
    interpolation: str,
    indices: np.ndarray,
    weights: np.ndarray,
    fractions: np.ndarray | None = None,
    workspace: Workspace | None = None,
) -> None:
    """Table indices and interpolation weights of every point at every level.

    Args:
        x_t: (d, n) inputs, transposed (batch last), in the compute dtype.
        indices: (L, C, n) intp output, table rows within each level (add offsets[l] for
            the row of the whole table).
        weights: (L, C, n) output in x_t's dtype (C = n_corners).
        fractions: optional (L, d, n) output, the cell fractions t, kept for the input gradient.
        workspace: temporaries to reuse (a fresh one when None).
    """
    ws = Workspace() if workspace is None else workspace
    d, n = x_t.shape
    dtype = x_t.dtype
    nearest = interpolation == "Nearest"
    position = ws.get("position", (d, n), dtype)
    cell = ws.get("cell", (d, n), dtype)
    vertex = ws.get("vertex", (d, n), np.int64)
    pairs = ws.get("weight_pairs", (d, 2, n), dtype)
    for level in range(layout.n_levels):
        np.multiply(x_t, dtype.type(layout.scales[level]), out=position)
        position += dtype.type(0.5)
        np.floor(position, out=cell)
        np.copyto(vertex, cell, casting="unsafe")
        _level_indices(layout, level, vertex, 1 if nearest else 2, indices[level], ws)
        if nearest:
            weights[level] = 1.0
            continue
        t = pairs[:, 1]  # (d, n): the weight of each dimension's upper corner
        np.subtract(position, cell, out=t)
        if fractions is not None:
            fractions[level] = t
        if interpolation == "Smoothstep":
            t[...] = _smoothstep(t)
        np.subtract(dtype.type(1.0), t, out=pairs[:, 0])
        _corner_product(pairs, np.multiply, weights[level], ws)


def _level_indices(
    layout: GridLayout, level: int, vertex: np.ndarray, m: int, out: np.ndarray, ws: Workspace
) -> None:
    """Level-local table rows (m^d, n) of the corners of the cells whose lower vertex is
    vertex (d, n); m = 2 corners per dimension, or 1 (Nearest: the vertex itself)."""
    d, n = vertex.shape
    size = layout.sizes[level]
    if layout.hashed[level]:
        # Negative coordinates wrap as tcnn's (uint32)(int) cast; uint32 products wrap mod 2^32.
        coordinate = ws.get("vertex_u32", (d, n), np.uint32)
        np.copyto(coordinate, vertex, casting="unsafe")
        terms = ws.get("hash_pairs", (d, m, n), np.uint32)
        for k in range(d):
            prime = np.uint32(PRIMES[k])
            np.multiply(coordinate[k], prime, out=terms[k, 0])
            if m == 2:
                np.add(terms[k, 0], prime, out=terms[k, 1])  # (v + 1) * prime
        # size is 2^log2_hashmap_size here, so "mod size" is a mask; (a ^ b) & m equals
        # (a & m) ^ (b & m), so the mask goes on the d small arrays, not the m^d big one.
        np.bitwise_and(terms, np.uint32(size - 1), out=terms)
        hashes = ws.get("hashes", out.shape, np.uint32)
        _corner_product(terms, np.bitwise_xor, hashes, ws)
        np.copyto(out, hashes)
    else:
        terms = ws.get("row_pairs", (d, m, n), np.int64)
        stride = 1
        for k in range(d):
            np.multiply(vertex[k], stride, out=terms[k, 0])
            if m == 2:
                np.add(terms[k, 0], stride, out=terms[k, 1])
            stride *= layout.resolutions[level]
        _corner_product(terms, np.add, out, ws)
        np.remainder(out, size, out=out)  # vertex R (x = 1) wraps, as in tcnn


# ----- forward ------------------------------------------------------------------------------
def gather(
    layout: GridLayout, table: np.ndarray, indices: np.ndarray, weights: np.ndarray,
    out: np.ndarray, workspace: Workspace | None = None,
) -> None:  # fmt: skip
    """out (n, L*F) = sum over corners of weights * table rows, level-major features.

    table (n_entries, F) C-contiguous, indices/weights (L, C, n) from `corners`.
    """
    ws = Workspace() if workspace is None else workspace
    n_features = layout.n_features
    n_corner, n = indices.shape[1], indices.shape[2]
    if n_features == 2 and out.flags.c_contiguous:
        # Two features are one complex number: one 8- or 16-byte gather per corner and a
        # complex-times-real product, instead of strided (n, 2) arithmetic (~20x faster).
        complex_type = np.complex64 if table.dtype == np.float32 else np.complex128
        pairs = table.view(complex_type)[:, 0]  # (n_entries,)
        out_pairs = out.view(complex_type)  # (n, L)
        values = ws.get("values", (n_corner, n), complex_type)
        total = ws.get("total", (n,), complex_type)
        for level in range(layout.n_levels):
            block = pairs[layout.offsets[level] : layout.offsets[level] + layout.sizes[level]]
            # mode="clip" skips take's bounds check and its buffered copy (rows are in range).
            block.take(indices[level], out=values, mode="clip")
            values *= weights[level]
            # Sum into a contiguous row, then one strided copy: a reduction written straight
            # into the strided column is ~50x slower.
            np.copyto(total, values[0])
            for corner in values[1:]:
                total += corner
            out_pairs[:, level] = total
        return
    rows = ws.get("values_f", (n_corner, n, n_features), table.dtype)
    summed = ws.get("total_f", (n, n_features), table.dtype)
    for level in range(layout.n_levels):
        block = table[layout.offsets[level] : layout.offsets[level] + layout.sizes[level]]
        block.take(indices[level], axis=0, out=rows, mode="clip")
        rows *= weights[level][:, :, None]
        np.sum(rows, axis=0, out=summed)
        out[:, level * n_features : (level + 1) * n_features] = summed


# ----- backward -----------------------------------------------------------------------------
def table_gradient(
    layout: GridLayout, grad_out: np.ndarray, indices: np.ndarray, weights: np.ndarray,
    grad_table: np.ndarray, workspace: Workspace | None = None,
) -> None:  # fmt: skip
    """grad_table (n_entries, F) = dL/dtable for dL/dout = grad_out (n, L*F), overwriting.

    The transpose of `gather` is a scatter-add, done with np.bincount per level and feature:
    with float64 weights over one level's rows it runs ~50x faster than np.add.at and ~8x faster
    than a single bincount over all levels and features (whose output no longer fits in cache).
    """
    ws = Workspace() if workspace is None else workspace
    n_features = layout.n_features
    n_corner, n = indices.shape[1], indices.shape[2]
    # Feature-major copy of the upstream gradient: multiplying by a strided column (with the
    # cast to float64 that bincount wants) is ~6x slower than by a contiguous row.
    grad_rows = ws.get("grad_rows", (layout.n_output_dims, n), grad_out.dtype)
    np.copyto(grad_rows, grad_out.T)
    contribution = ws.get("contribution", (n_corner * n,), np.float64)
    for level in range(layout.n_levels):
        start, size = layout.offsets[level], layout.sizes[level]
        # Level-local rows keep bincount's output (and its zeroing) to this level's size.
        rows = indices[level].reshape(-1)
        block = grad_table[start : start + size]
        for f in range(n_features):
            g = grad_rows[level * n_features + f]
            np.multiply(weights[level], g, out=contribution.reshape(n_corner, n), dtype=np.float64)
            block[:, f] = np.bincount(rows, contribution, minlength=size)


def input_gradient(
    layout: GridLayout, table: np.ndarray, grad_out: np.ndarray, indices: np.ndarray,
    fractions: np.ndarray, interpolation: str,
) -> np.ndarray:  # fmt: skip
    """dL/dx (n, d) for dL/dout = grad_out (n, L*F).

    dL/dx_k = sum_l s_l sum_c (dw_c/dt_k)(t) sum_f grad_out[l*F+f] table[index_c, f], where
    dw_c/dt_k replaces factor k of the weight product by +-S'(t_k). Nearest is piecewise
    constant: its gradient is zero (the jumps at cell boundaries have none).
    """
    n = grad_out.shape[0]
    d = layout.n_input_dims
    grad_x = np.zeros((d, n), grad_out.dtype)
    if interpolation == "Nearest":
        return grad_x.T.copy()
    ws = Workspace()
    n_features = layout.n_features
    for level in range(layout.n_levels):
        g = grad_out[:, level * n_features : (level + 1) * n_features]  # (n, F)
        block = table[layout.offsets[level] : layout.offsets[level] + layout.sizes[level]]
        values = block.take(indices[level], axis=0)  # (C, n, F)
        # gv[c] = sum_f g_f table[index_c, f]: how much each corner's weight moves the loss.
        gv = np.einsum("cnf,nf->cn", values, g)
        t = fractions[level]
        if interpolation == "Smoothstep":
            s, ds = _smoothstep(t), _smoothstep_derivative(t)
        else:
            s, ds = t, np.ones_like(t)
        pairs = np.stack([1.0 - s, s], axis=1)  # (d, 2, n)
        dw = np.empty_like(gv)
        for k in range(d):
            slope = pairs.copy()
            slope[k] = np.stack([-ds[k], ds[k]]) * layout.scales[level]
            _corner_product(slope, np.multiply, dw, ws)
            grad_x[k] += np.einsum("cn,cn->n", gv, dw)
    return grad_x.T.copy()
