"""Input encodings of the compiled path, one batch row at a time.

Each kernel reads rows of the inputs x (B, d) and writes the same features, in the same order
and with the same rounding, as `gfxnn.fused` / `gfxnn.encodings`:
- identity: scale * x + offset (tiny-cuda-nn's Identity);
- frequency: for each dimension k < d and octave j < F, sin(pi 2^j x_k), cos(pi 2^j x_k); the
  phase x * (pi 2^j) is rounded to the buffers' dtype first, as NumPy rounds it;
- grid (HashGrid / DenseGrid): the formulas of `gfxnn.encodings.grid_kernels` (Instant-NGP
  with tiny-cuda-nn's conventions), table level after level, features level-major; its
  backward is the scatter-add `grid_scatter`, run after the network's backward, one level per
  task so that no two tasks write the same entry and the sum order is fixed.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from gfxnn.compiled.activations import K_HALF, K_ONE
from gfxnn.compiled.sincos import sincos
from gfxnn.encodings.grid_kernels import PRIMES, GridLayout

FEATURES, IDENTITY, FREQUENCY, GRID = range(4)  # FEATURES: encoded on the host (NumPy)
NEAREST, LINEAR, SMOOTHSTEP = range(3)
INTERPOLATION_CODES = {"Nearest": NEAREST, "Linear": LINEAR, "Smoothstep": SMOOTHSTEP}
PRIME_ARRAY = np.array(PRIMES, np.int64)


@nb.njit(cache=True, error_model="numpy")
def identity_rows(x: np.ndarray, lo: int, hi: int, scale_offset: np.ndarray, out: np.ndarray):
    """out[t - lo] = scale * x[t] + offset for t in [lo, hi)."""
    scale, offset = scale_offset[0], scale_offset[1]
    for t in range(lo, hi):
        for k in range(x.shape[1]):
            out[t - lo, k] = x[t, k] * scale + offset


@nb.njit(cache=True, error_model="numpy")
def frequency_rows(x: np.ndarray, lo: int, hi: int, frequencies: np.ndarray, out: np.ndarray):
    """out[t - lo] = [sin(x_0 f_0), cos(x_0 f_0), sin(x_0 f_1), ...] for t in [lo, hi)."""
    n_freq = frequencies.shape[0]
    for t in range(lo, hi):
        for k in range(x.shape[1]):
            base = 2 * n_freq * k
            for j in range(n_freq):
                phase = x[t, k] * frequencies[j]  # rounded to the dtype, as NumPy's multiply
                s, c = sincos(np.float64(phase))
                out[t - lo, base + 2 * j] = s
                out[t - lo, base + 2 * j + 1] = c


class GridArrays:
    """A `GridLayout` as the flat arrays a kernel takes."""

    def __init__(self, layout: GridLayout, interpolation: str, dtype: np.dtype) -> None:
        self.scales = np.array(layout.scales, dtype)  # rounded once, as the NumPy kernels do
        self.offsets = np.array(layout.offsets, np.int64)
        self.sizes = np.array(layout.sizes, np.int64)
        self.resolutions = np.array(layout.resolutions, np.int64)
        self.hashed = np.array(layout.hashed, np.bool_)
        self.n_features = layout.n_features
        self.interpolation = INTERPOLATION_CODES[interpolation]


@nb.njit(cache=True, error_model="numpy")
def _corner(
    x: np.ndarray, t: int, level: int, corner: int, scales: np.ndarray, sizes: np.ndarray,
    resolutions: np.ndarray, hashed: bool, interpolation: int, k_consts: np.ndarray,
) -> tuple[int, float]:  # fmt: skip
    """(level-local table row, weight) of corner `corner` (bit k = dimension k) of x[t]."""
    scale = scales[level]
    one, half = k_consts[K_ONE], k_consts[K_HALF]  # in the dtype: float32 stays float32
    index = 0
    weight = one
    for k in range(x.shape[1] - 1, -1, -1):  # the weight product starts at the last dimension
        position = x[t, k] * scale + half
        cell = np.floor(position)
        fraction = position - cell
        vertex = np.int64(cell)
        if interpolation == SMOOTHSTEP:
            fraction = fraction * fraction * ((one + one + one) - (one + one) * fraction)
        upper = (corner >> k) & 1
        if interpolation != NEAREST:
            vertex += upper
            weight = weight * (fraction if upper == 1 else one - fraction)
        if hashed:
            index ^= int((vertex * PRIME_ARRAY[k]) & (sizes[level] - 1))
        else:
            r = resolutions[level]
            s = 1
            for _ in range(k):
                s *= r
            index += int(vertex * s)
    if not hashed:
        index = int(index % sizes[level])
    return index, weight


@nb.njit(cache=True, error_model="numpy")
def grid_rows(
    x: np.ndarray, lo: int, hi: int, table: np.ndarray, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: np.ndarray, n_features: int,
    interpolation: int, k_consts: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """out[t - lo, l F + f] = sum_c w_c table[offsets[l] + row_c, f] for t in [lo, hi)."""
    n_corners = 1 if interpolation == NEAREST else 1 << x.shape[1]
    for t in range(lo, hi):
        for level in range(scales.shape[0]):
            for f in range(n_features):
                out[t - lo, level * n_features + f] = 0
            for corner in range(n_corners):
                row, w = _corner(
                    x,
                    t,
                    level,
                    corner,
                    scales,
                    sizes,
                    resolutions,
                    hashed[level],
                    interpolation,
                    k_consts,
                )
                base = (offsets[level] + row) * n_features
                for f in range(n_features):
                    value = w * table[base + f]
                    if corner == 0:
                        out[t - lo, level * n_features + f] = value
                    else:
                        out[t - lo, level * n_features + f] += value


@nb.njit(cache=True, error_model="numpy", parallel=True)
def grid_scatter(
    x: np.ndarray, grad_features: np.ndarray, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: np.ndarray, n_features: int,
    interpolation: int, k_consts: np.ndarray, grad_table: np.ndarray,
) -> None:  # fmt: skip
    """grad_table (flat, zero on entry) += dL/dtable for dL/dfeatures = grad_features (B, L F).

    Levels own disjoint table slices, so one task per level needs no atomics and sums each
    entry in batch order whatever the thread count (bit-identical results)."""
    n_corners = 1 if interpolation == NEAREST else 1 << x.shape[1]
    for level in nb.prange(scales.shape[0]):
        for t in range(x.shape[0]):
            for corner in range(n_corners):
                row, w = _corner(
                    x,
                    t,
                    level,
                    corner,
                    scales,
                    sizes,
                    resolutions,
                    hashed[level],
                    interpolation,
                    k_consts,
                )
                base = (offsets[level] + row) * n_features
                for f in range(n_features):
                    grad_table[base + f] += w * grad_features[t, level * n_features + f]
