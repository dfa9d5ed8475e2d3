"""The 2-D grid's gather and scatter, corners found level by level in vectorised loops.

A 2-D (u, v) grid touches four table rows per point and level (nearest: one). Finding them
(position, floor, fraction, hash or dense index) one point at a time cost as much as the
table traffic: the scatter of tiny-cuda-nn's image config (2^14 points, 16 levels) took 12.2
ms on one core. Here a block of points' corners (flat table index and weight of each of the
four) is written one level at a time with the points innermost, which LLVM vectorises: the
hash in 32-bit integers (the low 32 bits of the 64-bit product are the same, and every mask
is below 2^32), a dense level's wrap-around as one conditional subtraction. Where that
shortcut could differ from the exact formula (a point outside [0, 1], or so far out that 32
bits overflow) the block is redone by `encode.corners_2d`. Gather and scatter then sum in
the order of `encode.grid_rows` / `encode.grid_scatter`: the same bits (tests compare them).
One core, 2^14 points: scatter 12.2 -> 7.2 ms. (Writing all levels' corners in the gather
for the scatter to reuse measured faster alone and slower inside the training kernel, 23.0
against 20.3 ms a step, so each finds its own.)
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
    indices that fit in int32 (the training kernel and the trainer ask the same question)."""
    return n_input_dims == 2 and n_table_values < 2**31


@nb.njit(cache=True, error_model="numpy")
def level_corners(
    x: np.ndarray, lo: int, hi: int, level: int, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: bool, n_features: int,
    interpolation: int, k: np.ndarray, index: np.ndarray, weight: np.ndarray,
) -> None:  # fmt: skip
    """index[c, t - lo] = flat table index of corner c's first feature at `level`,
    weight[c, t - lo] its weight, for t in [lo, hi)."""
    one, half = k[K_ONE], k[K_HALF]
    three, two = one + one + one, one + one
    prime = np.uint32(PRIMES[1])
    scale = scales[level]
    size = sizes[level]
    r = np.int32(resolutions[level])
    start = np.int32(offsets[level])
    nf = np.int32(n_features)
    i1 = np.int32(1)
    exact = True
    for t in range(lo, hi):
        j = t - lo
        pu, pv = x[t, 0] * scale + half, x[t, 1] * scale + half
        exact &= (abs(pu) < SAFE_POSITION) & (abs(pv) < SAFE_POSITION)
        cu, cv = np.floor(pu), np.floor(pv)
        fu, fv = pu - cu, pv - cv
        if interpolation == SMOOTHSTEP:
            fu = fu * fu * (three - two * fu)
            fv = fv * fv * (three - two * fv)
        elif interpolation == NEAREST:
            fu, fv = one - one, one - one  # every weight on the lower corner
        gu, gv = one - fu, one - fv
        weight[0, j] = (one * gv) * gu
        weight[1, j] = (one * gv) * fu
        weight[2, j] = (one * fv) * gu
        weight[3, j] = (one * fv) * fu
        iu, iv = np.int32(cu), np.int32(cv)
        if hashed:
            mask = np.uint32(size - 1)
            hu0, hu1 = np.uint32(iu) & mask, np.uint32(iu + i1) & mask
            hv0 = (np.uint32(iv) * prime) & mask
            hv1 = (np.uint32(iv + i1) * prime) & mask
            r0, r1 = np.int32(hu0 ^ hv0), np.int32(hu1 ^ hv0)
            r2, r3 = np.int32(hu0 ^ hv1), np.int32(hu1 ^ hv1)
        else:
            s = np.int32(size)
            base = iu + iv * r
            exact &= (base >= 0) & (base + r + i1 < s + s)  # one subtraction wraps it
            r0 = _wrap_once(base, s)
            r1 = _wrap_once(base + i1, s)
            r2 = _wrap_once(base + r, s)
            r3 = _wrap_once(base + r + i1, s)
        index[0, j] = (start + r0) * nf
        index[1, j] = (start + r1) * nf
        index[2, j] = (start + r2) * nf
        index[3, j] = (start + r3) * nf
    if not exact:
        _exact_level(
            x, lo, hi, level, scales, offsets, sizes, resolutions, hashed, n_features,
            interpolation, k, index, weight,
        )  # fmt: skip


@nb.njit(cache=True, error_model="numpy", inline="always")
def _wrap_once(index: Any, size: Any) -> Any:
    """index % size for 0 <= index < 2 size."""
    return index - size if index >= size else index


@nb.njit(cache=True, error_model="numpy")
def _exact_level(
    x: np.ndarray, lo: int, hi: int, level: int, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: bool, n_features: int,
    interpolation: int, k: np.ndarray, index: np.ndarray, weight: np.ndarray,
) -> None:  # fmt: skip
    """`level_corners` by the exact (64-bit, true modulo) formula."""
    for t in range(lo, hi):
        r0, r1, r2, r3, w0, w1, w2, w3 = corners_2d(
            x[t, 0], x[t, 1], level, scales, sizes, resolutions, hashed, interpolation, k
        )
        start, j = offsets[level], t - lo
        index[0, j] = (start + r0) * n_features
        index[1, j] = (start + r1) * n_features
        index[2, j] = (start + r2) * n_features
        index[3, j] = (start + r3) * n_features
        weight[0, j], weight[1, j], weight[2, j], weight[3, j] = w0, w1, w2, w3


@nb.njit(cache=True, error_model="numpy")
def gather_rows(
    x: np.ndarray, lo: int, hi: int, table: np.ndarray, scales: np.ndarray,
    offsets: np.ndarray, sizes: np.ndarray, resolutions: np.ndarray, hashed: np.ndarray,
    n_features: int, interpolation: int, k: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """out[t - lo, l F + f] = sum_c w_c table[index_c + f] for t in [lo, hi) (2-D inputs),
    level by level: the tile's corners of one level (`level_corners`), then its reads; the
    sum runs over the corners in order, as `encode.grid_rows` forms it."""
    n = hi - lo
    nearest = interpolation == NEAREST
    index = np.empty((4, n), np.int32)
    weight = np.empty((4, n), table.dtype)
    for level in range(scales.shape[0]):
        level_corners(
            x, lo, hi, level, scales, offsets, sizes, resolutions, hashed[level], n_features,
            interpolation, k, index, weight,
        )  # fmt: skip
        at = level * n_features
        for j in range(n):
            b0, b1, b2, b3 = index[0, j], index[1, j], index[2, j], index[3, j]
            w0, w1, w2, w3 = weight[0, j], weight[1, j], weight[2, j], weight[3, j]
            for f in range(n_features):
                value = w0 * table[b0 + f]
                if nearest:  # one corner, as `encode.grid_rows`
                    out[j, at + f] = value
                    continue
                value += w1 * table[b1 + f]
                value += w2 * table[b2 + f]
                value += w3 * table[b3 + f]
                out[j, at + f] = value


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
    half = (n_levels + 1) // 2
    for task in nb.prange(n_levels):
        # Coarse and fine levels interleaved: prange gives each thread a contiguous range of
        # tasks, and the fine levels (hashed, missing the cache) cost more than the dense ones.
        level = task // 2 + (half if task % 2 else 0)
        index = np.empty((4, BLOCK), np.int32)
        weight = np.empty((4, BLOCK), grad_table.dtype)
        at = level * n_features
        for lo in range(0, batch, BLOCK):
            hi = min(lo + BLOCK, batch)
            level_corners(
                x, lo, hi, level, scales, offsets, sizes, resolutions, hashed[level],
                n_features, interpolation, k, index, weight,
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
