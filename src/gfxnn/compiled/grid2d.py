"""The 2-D grid's gather and scatter, corners found level by level in vectorised loops.

A 2-D (u, v) grid touches four table rows per point and level (nearest: one). Finding them
(position, floor, fraction, hash or dense index) one point at a time cost as much as the
table traffic: the scatter of tiny-cuda-nn's image config (2^14 points, 16 levels) took 12.2
ms on one core. Here a block of points' corners (flat table index and weight of each of the
four) is written one level at a time with the points innermost, in loops LLVM vectorises:
the hash in 32-bit integers (the low 32 bits of the 64-bit product are the same, and every
mask is below 2^32), a dense level's wrap-around as one conditional subtraction. Where that
shortcut could differ from the exact formula (a point outside [0, 1], or so far out that 32
bits overflow) the block is redone by `encode.corners_2d`. Gather and scatter then sum in
the order of `encode.grid_rows` / `encode.grid_scatter`: the same bits (tests compare them).

Both run one task per level over the whole batch (levels own disjoint table slices), the
gather before the training kernel, the scatter after it: a level's slice of the table (256
KB for tcnn's config) then stays in L2 while the batch's points read or add to it.
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np

from gfxnn.compiled.activations import K_HALF, K_ONE
from gfxnn.compiled.encode import NEAREST, SMOOTHSTEP, corners_2d
from gfxnn.encodings.grid_kernels import PRIMES

SAFE_POSITION = 2.0**30  # |u scale + 1/2| below this: the int32 corners cannot overflow


BLOCK = 1024  # points per block of corners (4 x 1024 indices and weights: 32 KB)


@nb.njit(cache=True)
def covers(n_input_dims: int, n_table_values: int) -> bool:
    """Whether this module's gather and scatter serve a grid: 2-D inputs, and flat table
    indices that fit in int32 (the trainer asks it once, when it sets up the grid)."""
    return n_input_dims == 2 and n_table_values < 2**31


@nb.njit(cache=True, error_model="numpy")
def level_corners(
    u: np.ndarray, v: np.ndarray, level: int, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: bool, n_features: int,
    interpolation: int, k: np.ndarray, index: np.ndarray, weight: np.ndarray,
) -> None:  # fmt: skip
    """index[c, j] = flat table index of corner c's first feature at `level`, weight[c, j]
    its weight, for the points (u[j], v[j]) (contiguous 1-D, n of them).

    Three loops over the block, each of which LLVM vectorises (the float32 lanes round as
    the scalar code does: the same bits): the cells and weights, then the four indices
    (hashed or dense). Written as one loop with the exactness test folded in, it stayed
    scalar (4.2 ms for tcnn's image config's 2^14 points x 16 levels, one core; 2.3 now)."""
    n = u.shape[0]
    one, half = k[K_ONE], k[K_HALF]
    scale = scales[level]
    exact = _unsafe(u, v, scale, half, u.dtype.type(SAFE_POSITION)) > 0
    if not exact:  # else a point where the int32 shortcuts could differ: the exact formula
        i0, i1, i2, i3 = index[0, :n], index[1, :n], index[2, :n], index[3, :n]
        w = weight
        _cells_and_weights(u, v, scale, half, one, interpolation, i0, i2, w[0, :n], w[1, :n],
                           w[2, :n], w[3, :n])  # fmt: skip
        start, nf = np.int32(offsets[level]), np.int32(n_features)
        if hashed:
            _hashed_indices(i0, i1, i2, i3, start, np.uint32(sizes[level] - 1), nf)
        else:
            size, r = np.int32(sizes[level]), np.int32(resolutions[level])
            exact = _dense_indices(i0, i1, i2, i3, start, size, r, nf) > 0
    if exact:
        _exact_level(
            u, v, level, scales, offsets, sizes, resolutions, hashed, n_features,
            interpolation, k, index, weight,
        )  # fmt: skip


@nb.njit(cache=True, error_model="numpy")
def _unsafe(u: np.ndarray, v: np.ndarray, scale: Any, half: Any, safe: Any) -> int:
    """How many points lie where int32 cells could overflow (or are NaN): |p| >= 2^30."""
    count = 0
    for j in range(u.shape[0]):
        pu, pv = u[j] * scale + half, v[j] * scale + half
        count += not ((abs(pu) < safe) & (abs(pv) < safe))
    return count


@nb.njit(cache=True, error_model="numpy")
def _cells_and_weights(
    u: np.ndarray, v: np.ndarray, scale: Any, half: Any, one: Any, interpolation: int,
    cell_u: np.ndarray, cell_v: np.ndarray, w0: np.ndarray, w1: np.ndarray, w2: np.ndarray,
    w3: np.ndarray,
) -> None:  # fmt: skip
    """The lower corner's cell (int32) and the four bilinear weights, corner c with bit 0 =
    u and bit 1 = v, in `encode.corners_2d`'s order of rounding."""
    three, two = one + one + one, one + one
    for j in range(u.shape[0]):
        pu, pv = u[j] * scale + half, v[j] * scale + half
        cu, cv = np.floor(pu), np.floor(pv)
        fu, fv = pu - cu, pv - cv
        if interpolation == SMOOTHSTEP:
            fu = fu * fu * (three - two * fu)
            fv = fv * fv * (three - two * fv)
        elif interpolation == NEAREST:
            fu, fv = one - one, one - one  # every weight on the lower corner
        gu, gv = one - fu, one - fv
        w0[j] = (one * gv) * gu
        w1[j] = (one * gv) * fu
        w2[j] = (one * fv) * gu
        w3[j] = (one * fv) * fu
        cell_u[j] = np.int32(cu)
        cell_v[j] = np.int32(cv)


@nb.njit(cache=True, error_model="numpy")
def _hashed_indices(
    i0: np.ndarray, i1: np.ndarray, i2: np.ndarray, i3: np.ndarray, start: Any, mask: Any,
    nf: Any,
) -> None:  # fmt: skip
    """i0 and i2 hold the cells (u, v) on entry; the four corners' flat indices on return:
    the spatial hash in 32 bits (the low bits of the 64-bit product, as every mask < 2^32)."""
    prime, step = np.uint32(PRIMES[1]), np.int32(1)
    for j in range(i0.shape[0]):
        cu, cv = i0[j], i2[j]
        hu0, hu1 = np.uint32(cu) & mask, np.uint32(cu + step) & mask
        hv0 = (np.uint32(cv) * prime) & mask
        hv1 = (np.uint32(cv + step) * prime) & mask
        i0[j] = (start + np.int32(hu0 ^ hv0)) * nf
        i1[j] = (start + np.int32(hu1 ^ hv0)) * nf
        i2[j] = (start + np.int32(hu0 ^ hv1)) * nf
        i3[j] = (start + np.int32(hu1 ^ hv1)) * nf


@nb.njit(cache=True, error_model="numpy", inline="always")
def _wrap_once(index: Any, size: Any) -> Any:
    """index % size for 0 <= index < 2 size."""
    return index - size if index >= size else index


@nb.njit(cache=True, error_model="numpy")
def _dense_indices(
    i0: np.ndarray, i1: np.ndarray, i2: np.ndarray, i3: np.ndarray, start: Any, size: Any,
    r: Any, nf: Any,
) -> int:  # fmt: skip
    """`_hashed_indices` of a dense level (row-major cells, wrapped modulo its size); returns
    how many points one conditional subtraction cannot wrap (the exact formula then)."""
    step, unsafe = np.int32(1), 0
    for j in range(i0.shape[0]):
        base = i0[j] + i2[j] * r
        unsafe += (base < 0) | (base + r + step >= size + size)
        i0[j] = (start + _wrap_once(base, size)) * nf
        i1[j] = (start + _wrap_once(base + step, size)) * nf
        i2[j] = (start + _wrap_once(base + r, size)) * nf
        i3[j] = (start + _wrap_once(base + r + step, size)) * nf
    return unsafe


@nb.njit(cache=True, error_model="numpy")
def _exact_level(
    u: np.ndarray, v: np.ndarray, level: int, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: bool, n_features: int,
    interpolation: int, k: np.ndarray, index: np.ndarray, weight: np.ndarray,
) -> None:  # fmt: skip
    """`level_corners` by the exact (64-bit, true modulo) formula."""
    start = offsets[level]
    for j in range(u.shape[0]):
        r0, r1, r2, r3, w0, w1, w2, w3 = corners_2d(
            u[j], v[j], level, scales, sizes, resolutions, hashed, interpolation, k
        )
        index[0, j] = (start + r0) * n_features
        index[1, j] = (start + r1) * n_features
        index[2, j] = (start + r2) * n_features
        index[3, j] = (start + r3) * n_features
        weight[0, j], weight[1, j], weight[2, j], weight[3, j] = w0, w1, w2, w3


@nb.njit(cache=True, error_model="numpy", inline="always")
def _interleaved(task: int, n_levels: int) -> int:
    """The level of parallel task `task`: coarse and fine levels alternate, because prange
    gives each thread a contiguous range of tasks, and the fine levels (hashed, missing the
    cache) cost more than the dense ones."""
    return task // 2 + ((n_levels + 1) // 2 if task % 2 else 0)


@nb.njit(cache=True, error_model="numpy", parallel=True)
def gather(
    x: np.ndarray, table: np.ndarray, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: np.ndarray, n_features: int,
    interpolation: int, k: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """out[l B + t, f] = sum_c w_c table[index_c + f] of 2-D inputs x (B, 2), feature f of
    level l, level-major (each level writes its own rows): one task per level over the whole
    batch (levels interleaved coarse/fine, as `scatter`), block by
    block: the block's corners (`level_corners`), then its reads; the sum runs over the
    corners in order, as `encode.grid_rows` forms it (the same bits).

    Why a pass of its own, before the training kernel: inside it, a tile's 16 levels went to
    the table (2.8 MB for tcnn's image config) between the tile's matrix products, which
    pushed the table out of L2, and most of the 4 corner reads of each point and level missed;
    one level at a time over the whole batch reads its slice (256 KB) from L2 after the first
    touch. Level-major, because with (B, L F) rows every level's pass rewrote 8 bytes of
    each 128-byte row: the whole 2 MB array streamed through the cache once per level."""
    batch = x.shape[0]
    nearest = interpolation == NEAREST
    n_levels = scales.shape[0]
    uv = np.ascontiguousarray(x.T)  # u and v contiguous: the corner loops vectorise
    for task in nb.prange(n_levels):
        level = _interleaved(task, n_levels)
        index = np.empty((4, BLOCK), np.int32)
        weight = np.empty((4, BLOCK), table.dtype)
        for lo in range(0, batch, BLOCK):
            hi = min(lo + BLOCK, batch)
            row = level * batch + lo
            level_corners(
                uv[0, lo:hi], uv[1, lo:hi], level, scales, offsets, sizes, resolutions,
                hashed[level], n_features, interpolation, k, index, weight,
            )  # fmt: skip
            for j in range(hi - lo):
                b0, b1, b2, b3 = index[0, j], index[1, j], index[2, j], index[3, j]
                w0, w1, w2, w3 = weight[0, j], weight[1, j], weight[2, j], weight[3, j]
                for f in range(n_features):
                    value = w0 * table[b0 + f]
                    if nearest:  # one corner, as `encode.grid_rows`
                        out[row + j, f] = value
                        continue
                    value += w1 * table[b1 + f]
                    value += w2 * table[b2 + f]
                    value += w3 * table[b3 + f]
                    out[row + j, f] = value


@nb.njit(cache=True, error_model="numpy", parallel=True)
def scatter(
    x: np.ndarray, grad_features: np.ndarray, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: np.ndarray, n_features: int,
    interpolation: int, k: np.ndarray, grad_table: np.ndarray,
) -> None:  # fmt: skip
    """grad_table += dL/dtable for dL/dfeatures = grad_features (B, L F) of 2-D inputs
    (flat table indices below 2^31): one task per level (levels own disjoint slices), each
    entry summed in batch order, then corner order, as `encode.grid_scatter`: the same bits
    on any number of threads."""
    batch = x.shape[0]
    nearest = interpolation == NEAREST
    n_levels = scales.shape[0]
    uv = np.ascontiguousarray(x.T)  # u and v contiguous: the corner loops vectorise
    for task in nb.prange(n_levels):
        level = _interleaved(task, n_levels)
        index = np.empty((4, BLOCK), np.int32)
        weight = np.empty((4, BLOCK), grad_table.dtype)
        at = level * n_features
        for lo in range(0, batch, BLOCK):
            hi = min(lo + BLOCK, batch)
            level_corners(
                uv[0, lo:hi], uv[1, lo:hi], level, scales, offsets, sizes, resolutions,
                hashed[level], n_features, interpolation, k, index, weight,
            )  # fmt: skip
            for j in range(hi - lo):
                b0, b1, b2, b3 = index[0, j], index[1, j], index[2, j], index[3, j]
                w0, w1, w2, w3 = weight[0, j], weight[1, j], weight[2, j], weight[3, j]
                for f in range(n_features):
                    g = grad_features[lo + j, at + f]
                    grad_table[b0 + f] += w0 * g
                    if nearest:  # one corner, as `encode.grid_scatter`
                        continue
                    grad_table[b1 + f] += w1 * g
                    grad_table[b2 + f] += w2 * g
                    grad_table[b3 + f] += w3 * g
