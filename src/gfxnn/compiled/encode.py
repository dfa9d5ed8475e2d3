"""Input encodings of the compiled path, one batch row at a time.

Each kernel reads rows of the inputs x (B, d) and writes the same features, in the same order
and with the same rounding, as `gfxnn.fused` / `gfxnn.encodings`:
- identity: scale * x + offset (tiny-cuda-nn's Identity);
- frequency: for each dimension k < d and octave j < F, sin(pi 2^j x_k), cos(pi 2^j x_k), as
  `gfxnn.encodings.sincos` computes them (exact phase reduction, one float32 polynomial);
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
from gfxnn.encodings import sincos as sincos_ref
from gfxnn.encodings.grid_kernels import PRIMES, GridLayout

# FEATURES: encoded on the host (NumPy), (B, n_features); LEVELS: a 2-D grid's features
# gathered before the kernel (`grid2d.gather`), level-major: (n_levels B, n_features / n_levels)
FEATURES, IDENTITY, FREQUENCY, GRID, LEVELS = range(5)
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


def frequency_values(n_frequencies: int, dtype: np.dtype) -> np.ndarray:
    """`frequency_rows`'s constants in `dtype`: the octave scales 2^(k-1) (exact), then
    2 pi, 1/4, 4, 1, the Taylor coefficients of `gfxnn.encodings.sincos` (sin, then cos),
    and 1 when the float32 polynomial is used (0: float64, the accurate `sincos`)."""
    scales = [2.0 ** (k - 1.0) for k in range(n_frequencies)]
    constants = [sincos_ref.TWO_PI, 0.25, 4.0, 1.0]
    polynomial = [*sincos_ref.SIN_COEFFICIENTS, *sincos_ref.COS_COEFFICIENTS]
    flag = [1.0 if dtype == np.float32 else 0.0]
    return np.array(scales + constants + polynomial + flag, dtype)


N_FREQUENCY_CONSTANTS = 4 + 4 + 5 + 1  # after the scales, see frequency_values


@nb.njit(cache=True, error_model="numpy")
def frequency_rows(x: np.ndarray, lo: int, hi: int, values: np.ndarray, out: np.ndarray):
    """out[t - lo] = [sin(pi 2^0 x_0), cos(pi 2^0 x_0), sin(pi 2^1 x_0), ...], t in [lo, hi).

    As `gfxnn.encodings.sincos` (every backend's formula): the phase is reduced exactly to
    f = fract(2^(k-1) x) turns; in float32 the same polynomial, operation for operation; in
    float64 `sincos.sincos` of 2 pi (f - rint(f)) (NumPy's sin/cos there, to ~1 ulp).

    Two passes over the tile so that LLVM vectorises the second: the phases u = f - rint(f),
    one per (row, dimension, octave), in the features' order; then (sin, cos) of each, stored
    as the pair out.flat[2 i], out.flat[2 i + 1] (feature 2 (k F + j) of row t is flat index
    2 ((t d + k) F + j)). Row by row with the octave loop inside, the same work ran 5x slower
    (0.66 against 0.13 ms for a 2048-row batch of 2 -> 32 features)."""
    n_freq = values.shape[0] - N_FREQUENCY_CONSTANTS
    d = x.shape[1]
    phases = np.empty((hi - lo) * d * n_freq, values.dtype)
    i = 0
    for t in range(lo, hi):
        for k in range(d):
            xk = x[t, k]
            for j in range(n_freq):
                v = xk * values[j]
                f = v - np.floor(v)
                phases[i] = f - np.rint(f)
                i += 1
    flat = out.reshape(-1)
    c = n_freq
    two_pi, quarter, four, one = values[c], values[c + 1], values[c + 2], values[c + 3]
    if values[c + 13] != one:  # float64: the accurate sincos
        for i in range(phases.shape[0]):
            flat[2 * i], flat[2 * i + 1] = sincos(np.float64(two_pi * phases[i]))
        return
    s0, s1, s2, s3 = values[c + 4], values[c + 5], values[c + 6], values[c + 7]
    c0, c1, c2, c3, c4 = (
        values[c + 8],
        values[c + 9],
        values[c + 10],
        values[c + 11],
        values[c + 12],
    )
    for i in range(phases.shape[0]):
        u = phases[i]
        q = np.rint(u * four)
        r = (u - q * quarter) * two_pi
        r2 = r * r
        hs = ((s3 * r2 + s2) * r2 + s1) * r2 + s0
        hc = (((c4 * r2 + c3) * r2 + c2) * r2 + c1) * r2 + c0
        sv = r + r * r2 * hs
        cv = one + r2 * hc
        quadrant = np.int32(q) & 3  # int32: AVX2 has no vector float -> int64 conversion
        odd = (quadrant & 1) == 1
        a = cv if odd else sv
        b = sv if odd else cv
        flat[2 * i] = -a if (quadrant & 2) == 2 else a
        flat[2 * i + 1] = -b if ((quadrant + 1) & 2) == 2 else b


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
def corners_2d(
    u: float, v: float, level: int, scales: np.ndarray, sizes: np.ndarray,
    resolutions: np.ndarray, hashed: bool, interpolation: int, k_consts: np.ndarray,
) -> tuple[int, int, int, int, float, float, float, float]:  # fmt: skip
    """`_corner` of all four corners of a 2-D input at once (rows, then weights, corner c
    with bit 0 = u and bit 1 = v): the position, floor and fraction are computed once."""
    scale = scales[level]
    one, half = k_consts[K_ONE], k_consts[K_HALF]
    pu, pv = u * scale + half, v * scale + half
    cu, cv = np.floor(pu), np.floor(pv)
    fu, fv = pu - cu, pv - cv
    iu, iv = np.int64(cu), np.int64(cv)
    if interpolation == SMOOTHSTEP:
        three, two = one + one + one, one + one
        fu = fu * fu * (three - two * fu)
        fv = fv * fv * (three - two * fv)
    if interpolation == NEAREST:
        fu, fv = one - one, one - one  # every weight on the lower corner: (1 * 1) * 1
    gu, gv = one - fu, one - fv
    w0, w1, w2, w3 = (one * gv) * gu, (one * gv) * fu, (one * fv) * gu, (one * fv) * fu
    if hashed:
        mask = sizes[level] - 1
        prime = PRIME_ARRAY[1]
        hu0, hu1 = iu & mask, (iu + 1) & mask  # prime 1 for dimension 0
        hv0, hv1 = (iv * prime) & mask, ((iv + 1) * prime) & mask
        return hu0 ^ hv0, hu1 ^ hv0, hu0 ^ hv1, hu1 ^ hv1, w0, w1, w2, w3
    size, r = sizes[level], resolutions[level]
    base = iu + iv * r
    return (
        base % size, (base + 1) % size, (base + r) % size, (base + r + 1) % size,
        w0, w1, w2, w3,
    )  # fmt: skip


@nb.njit(cache=True, error_model="numpy")
def _corner_entry(
    x: np.ndarray, t: int, level: int, corner: int, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: bool, n_features: int,
    interpolation: int, k_consts: np.ndarray,
) -> tuple[int, float]:  # fmt: skip
    """(flat index of the corner's first feature in the table, its weight): `_corner` placed
    in its level's slice of the table, for the gather and the scatter alike."""
    row, w = _corner(
        x, t, level, corner, scales, sizes, resolutions, hashed, interpolation, k_consts
    )
    return (offsets[level] + row) * n_features, w


@nb.njit(cache=True, error_model="numpy")
def grid_rows(
    x: np.ndarray, lo: int, hi: int, table: np.ndarray, scales: np.ndarray, offsets: np.ndarray,
    sizes: np.ndarray, resolutions: np.ndarray, hashed: np.ndarray, n_features: int,
    interpolation: int, k_consts: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """out[t - lo, l F + f] = sum_c w_c table[offsets[l] + row_c, f] for t in [lo, hi), one
    point and corner at a time (2-D inputs have their own, faster gather, run before the
    training kernel: `gfxnn.compiled.grid2d.gather`)."""
    n_corners = 1 if interpolation == NEAREST else 1 << x.shape[1]
    for t in range(lo, hi):
        for level in range(scales.shape[0]):
            for f in range(n_features):
                out[t - lo, level * n_features + f] = 0
            for corner in range(n_corners):
                base, w = _corner_entry(
                    x, t, level, corner, scales, offsets, sizes, resolutions, hashed[level],
                    n_features, interpolation, k_consts,
                )  # fmt: skip
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
    entry in batch order whatever the thread count (bit-identical results). 2-D inputs have
    their own, faster scatter: `gfxnn.compiled.grid2d.scatter`."""
    n_corners = 1 if interpolation == NEAREST else 1 << x.shape[1]
    for level in nb.prange(scales.shape[0]):
        for t in range(x.shape[0]):
            for corner in range(n_corners):
                base, w = _corner_entry(
                    x, t, level, corner, scales, offsets, sizes, resolutions, hashed[level],
                    n_features, interpolation, k_consts,
                )  # fmt: skip
                for f in range(n_features):
                    grad_table[base + f] += w * grad_features[t, level * n_features + f]
