"""sin(pi 2^k x) and cos(pi 2^k x) computed the same way on every backend.

The phase is reduced exactly first: sin(pi 2^k x) = sin(2 pi f) with f = fract(2^(k-1) x)
(scaling by a power of two and fract are exact in floating point), so no backend rounds
pi 2^k x (for 16 octaves about 1e5 radians, where float32 keeps 2 decimals and GPU sines lose
more). In float32, sin and cos of 2 pi f come from one polynomial, the WGSL kernels' one
(gfxnn/webgpu/wgsl/maths.wgsl, `sincos_turns`), operation for operation:
    u = f - round(f) in [-1/2, 1/2], q = round(4 u), r = u - q/4 in [-1/8, 1/8] (all exact),
    x = 2 pi r, Taylor series of sin to x^9 and cos to x^10 (truncation < 1.1e-10),
    then the quadrant q rotates (sin, cos).
In float64 the reduced phase goes to NumPy's sin and cos (the polynomial is a float32 one).
"""

from __future__ import annotations

import numpy as np

__all__ = ["sincos_octaves", "sincos_turns"]

TWO_PI = 6.283185307179586
# Taylor coefficients in x: sin x = x + x^3 S[0] + x^5 S[1] + ..., cos x = 1 + x^2 C[0] + ...
SIN_COEFFICIENTS = (-1 / 6, 1 / 120, -1 / 5040, 1 / 362880)
COS_COEFFICIENTS = (-1 / 2, 1 / 24, -1 / 720, 1 / 40320, -1 / 3628800)
# The float32 sign bit of sin and cos after the quadrant's rotation, by quadrant.
_SIGN = np.iinfo(np.int32).min  # 0x80000000
_SINE_SIGN_BITS = np.array([0, 0, _SIGN, _SIGN], np.int32)
_COSINE_SIGN_BITS = np.array([0, _SIGN, _SIGN, 0], np.int32)


def _horner(x2: np.ndarray, coefficients: tuple[float, ...]) -> np.ndarray:
    """c0 + x2 (c1 + x2 (c2 + ...)) in x2's dtype, innermost first (as the WGSL)."""
    cast = x2.dtype.type
    result = np.full_like(x2, cast(coefficients[-1]))
    for c in coefficients[-2::-1]:
        result *= x2
        result += cast(c)
    return result


def sincos_turns(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(sin 2 pi f, cos 2 pi f) for a float32 or float64 array f (in turns)."""
    f = np.asarray(f)
    if f.dtype != np.float32:
        phase = TWO_PI * (f - np.rint(f))
        return np.sin(phase), np.cos(phase)
    cast = np.float32
    u = f - np.rint(f)
    q = np.rint(u * cast(4.0))
    x = (u - q * cast(0.25)) * cast(TWO_PI)
    x2 = x * x
    s = x + x * x2 * _horner(x2, SIN_COEFFICIENTS)
    c = cast(1.0) + x2 * _horner(x2, COS_COEFFICIENTS)
    # Quadrant q turns (s, c) into (s, c), (c, -s), (-s, -c), (-c, s): an odd q swaps them and
    # a minus flips the sign bit. Both are done on the float32 bit patterns, branch-free (a
    # where/select over random quadrants costs most of the fused frequency encoding's time).
    quadrant = q.astype(np.int32) & 3
    swap = -(quadrant & 1)  # all bits set where q is odd
    s_bits, c_bits = s.view(np.int32), c.view(np.int32)
    differ = (s_bits ^ c_bits) & swap
    sines = s_bits ^ differ ^ _SINE_SIGN_BITS.take(quadrant)
    cosines = c_bits ^ differ ^ _COSINE_SIGN_BITS.take(quadrant)
    return sines.view(cast), cosines.view(cast)


def octave_turns(x: np.ndarray, n_frequencies: int) -> np.ndarray:
    """fract(2^(k-1) x) for k < n_frequencies: x (..., ) -> (..., n_frequencies), x's dtype."""
    x = np.asarray(x)
    scales = (2.0 ** (np.arange(n_frequencies) - 1.0)).astype(x.dtype)  # exact powers of two
    v = x[..., None] * scales
    return v - np.floor(v)


def sincos_octaves(x: np.ndarray, n_frequencies: int) -> tuple[np.ndarray, np.ndarray]:
    """(sin(pi 2^k x), cos(pi 2^k x)) for k < n_frequencies, each (..., n_frequencies)."""
    return sincos_turns(octave_turns(x, n_frequencies))
