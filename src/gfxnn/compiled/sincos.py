"""sin and cos of one argument from one shared range reduction, in a form LLVM vectorises.

Numba's `math.sin` calls the C library once per element (no SIMD without Intel's SVML), which
made the frequency encoding the slowest part of a compiled step. Here both values come from
one Cody-Waite reduction by pi/2 (three-part constant, exact products for |x| < 2^20 pi/2)
and fdlibm's minimax polynomials on [-pi/4, pi/4], all in float64, with the quadrant chosen
by selects instead of branches. Error: a few float64 ulps against the C library, so a float32
caller that rounds the result gets NumPy's float32 sin/cos to within one float32 ulp.
"""

from __future__ import annotations

import numba as nb
import numpy as np

TWO_OVER_PI = 6.36619772367581382433e-01
# pi/2 split so that n * PIO2_1 and n * PIO2_2 are exact for |n| < 2^20 (fdlibm's values).
PIO2_1 = 1.57079632673412561417e00
PIO2_2 = 6.07710050630396597660e-11
PIO2_2T = 2.02226624879595063154e-21
# fdlibm __kernel_sin / __kernel_cos coefficients.
S1, S2, S3 = -1.66666666666666324348e-01, 8.33333333332248946124e-03, -1.98412698298579493134e-04
S4, S5, S6 = 2.75573137070700676789e-06, -2.50507602534068634195e-08, 1.58969099521155010221e-10
C1, C2, C3 = 4.16666666666666019037e-02, -1.38888888888741095749e-03, 2.48015872894767294178e-05
C4, C5, C6 = -2.75573143513906633035e-07, 2.08757232129817482790e-09, -1.13596475577881948265e-11


@nb.njit(cache=True, error_model="numpy")
def sincos(x: float) -> tuple[float, float]:
    """(sin x, cos x) for a float64 x."""
    n = np.floor(x * TWO_OVER_PI + 0.5)
    r = ((x - n * PIO2_1) - n * PIO2_2) - n * PIO2_2T  # r in [-pi/4, pi/4]
    z = r * r
    s = r + r * z * (S1 + z * (S2 + z * (S3 + z * (S4 + z * (S5 + z * S6)))))
    c = 1.0 - 0.5 * z + z * z * (C1 + z * (C2 + z * (C3 + z * (C4 + z * (C5 + z * C6)))))
    quadrant = np.int64(n)
    # x = r + quadrant pi/2: sin is s, c, -s, -c and cos is c, -s, -c, s. Written as one swap
    # and two sign flips (selects, no branches) so the loop around a call vectorises.
    odd = (quadrant & 1) == 1
    a = c if odd else s
    b = s if odd else c
    sin_x = -a if (quadrant & 2) == 2 else a
    cos_x = -b if ((quadrant + 1) & 2) == 2 else b
    return sin_x, cos_x
