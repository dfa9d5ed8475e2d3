"""Real spherical harmonics of a direction, up to degree 8 (tiny-cuda-nn's "SphericalHarmonics").

The input (batch, 3) in [0, 1]^3 is mapped to d = 2 x - 1 (tcnn's convention, so unit
directions are stored as (d + 1) / 2). With (x, y, z) = d, feature l^2 + l + m, for
l < degree and m = -l..l, is
    Y_lm = N_lm Q_l^|m|(z) Re((x + i y)^m)          m >= 0
    Y_lm = N_lm Q_l^|m|(z) Im((x + i y)^|m|)        m < 0
with N_l0 = K_l0, N_lm = sqrt(2) K_l|m|, K_la = sqrt((2l + 1) / (4 pi) (l - a)! / (l + a)!),
and Q_l^a(z) = P_l^a(z) / (1 - z^2)^(a/2), the associated Legendre function with the
Condon-Shortley phase (-1)^a divided by its sin^a factor, which leaves a polynomial of degree
l - a. On the unit sphere this is the orthonormal real basis with the Condon-Shortley phase:
Y_00 = 1 / (2 sqrt(pi)), (Y_1-1, Y_10, Y_11) = sqrt(3 / (4 pi)) (-y, z, -x), ... These are the
polynomials, order and signs tcnn evaluates (it, too, does not normalise d, so off the sphere
both evaluate the same polynomials). n_output_dims = degree^2. The polynomials are generated
here from the Legendre recurrence
    Q_a^a = (-1)^a (2a - 1)!!,  Q_{a+1}^a = (2a + 1) z Q_a^a,
    (l - a) Q_l^a = (2l - 1) z Q_{l-1}^a - (l + a - 1) Q_{l-2}^a,
and differentiated exactly: d/dx (x + i y)^a = a (x + i y)^(a-1), d/dy = i a (x + i y)^(a-1).
Reference: P.-P. Sloan, "Stupid Spherical Harmonics (SH) Tricks", 2008, appendix A1.
"""

from __future__ import annotations

import math
from functools import lru_cache
from typing import Any

import numpy as np
from numpy.polynomial import polynomial

from gfxnn import ops
from gfxnn.autograd import VJPResult
from gfxnn.encodings.base import Encoding, check_input, check_positive_int
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor

MAX_DEGREE = 8


def legendre_polynomial(l: int, a: int) -> np.ndarray:  # noqa: E741 - the usual name
    """Ascending coefficients of Q_l^a(z) = P_l^a(z) / (1 - z^2)^(a/2), with Condon-Shortley."""
    below = np.zeros(1)
    current = np.array([(-1.0) ** a * math.prod(range(1, 2 * a, 2))])  # (-1)^a (2a - 1)!!
    for n in range(a + 1, l + 1):
        z_current = polynomial.polymulx(current)
        following = polynomial.polysub((2 * n - 1) * z_current, (n + a - 1) * below) / (n - a)
        below, current = current, following
    return current


@lru_cache(maxsize=MAX_DEGREE)
def sh_tables(degree: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For the degree^2 features: N_lm Q_l^|m| as ascending coefficients (degree^2, degree),
    their z-derivatives (same shape), and the orders m (degree^2,)."""
    n_features = degree * degree
    coefficients = np.zeros((n_features, degree))
    derivatives = np.zeros((n_features, degree))
    orders = np.zeros(n_features, dtype=np.intp)
    for l in range(degree):  # noqa: E741
        for m in range(-l, l + 1):
            a = abs(m)
            ratio = math.factorial(l - a) / math.factorial(l + a)
            norm = math.sqrt((2 * l + 1) / (4 * math.pi) * ratio)
            if m != 0:
                norm *= math.sqrt(2.0)
            q = norm * legendre_polynomial(l, a)
            index = l * l + l + m
            coefficients[index, : q.size] = q
            dq = polynomial.polyder(q)
            derivatives[index, : dq.size] = dq
            orders[index] = m
    return coefficients, derivatives, orders


class SphericalHarmonicsEncoding(Encoding):
    """Args:
    n_input_dims: must be 3 (a direction).
    degree: number of bands l = 0..degree-1, 1..8 (tcnn default 4); n_output_dims = degree^2.
    """

    otype = "SphericalHarmonics"
    input_dims = 3

    def __init__(self, n_input_dims: int = 3, degree: int = 4) -> None:
        super().__init__()
        if n_input_dims != 3 or isinstance(n_input_dims, bool):
            raise ValueError(f"n_input_dims must be 3 (a direction), got {n_input_dims!r}")
        self.n_input_dims = 3
        self.degree = check_positive_int("degree", degree, 1, MAX_DEGREE)
        self.n_output_dims = self.degree * self.degree
        coefficients, derivatives, orders = sh_tables(self.degree)
        # (degree, F), C-contiguous: BLAS is ~40x slower on the transposed view here.
        self._coefficients = np.ascontiguousarray(coefficients.T)
        self._derivatives = np.ascontiguousarray(derivatives.T)
        a = np.abs(orders)
        # Columns of the harmonics table [C_0..C_{degree-1}, S_0..S_{degree-1}], where
        # C_a + i S_a = (x + i y)^a: which one each feature uses, and the ones its x and y
        # derivatives use with their factors (dC_a/dx = a C_{a-1}, dC_a/dy = -a S_{a-1},
        # dS_a/dx = a S_{a-1}, dS_a/dy = a C_{a-1}).
        below = np.maximum(a - 1, 0)
        cosine, sine = below, self.degree + below
        self._harmonic = np.where(orders >= 0, a, self.degree + a)
        self._d_dx = np.where(orders >= 0, cosine, sine), a.astype(np.float64)
        self._d_dy = np.where(orders >= 0, sine, cosine), np.where(orders >= 0, -a, a) * 1.0

    def _harmonics(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """[C_0..C_{degree-1}, S_0..S_{degree-1}] (batch, 2 degree) for (x + i y)^a."""
        table = np.empty((x.shape[0], 2 * self.degree), dtype=x.dtype)
        table[:, 0], table[:, self.degree] = 1.0, 0.0
        for a in range(1, self.degree):
            c, s = table[:, a - 1], table[:, self.degree + a - 1]
            table[:, a] = x * c - y * s
            table[:, self.degree + a] = x * s + y * c
        return table

    def forward(self, x: Any) -> Tensor:
        """x (batch, 3) in [0, 1]^3 -> (batch, degree^2)."""
        x = as_tensor(x)
        check_input(self, x)
        dtype = x.dtype
        d = 2.0 * x.data - 1.0
        harmonics = self._harmonics(d[:, 0], d[:, 1])
        z_powers = d[:, 2:3] ** np.arange(self.degree, dtype=dtype)  # (batch, degree)
        legendre = z_powers @ self._coefficients.astype(dtype)  # (batch, F)
        selected = harmonics[:, self._harmonic]
        out = legendre * selected

        def vjp(g: np.ndarray) -> VJPResult:
            g_legendre = g * legendre
            (x_columns, x_factors), (y_columns, y_factors) = self._d_dx, self._d_dy
            d_x = np.sum(g_legendre * harmonics[:, x_columns] * x_factors.astype(dtype), axis=1)
            d_y = np.sum(g_legendre * harmonics[:, y_columns] * y_factors.astype(dtype), axis=1)
            d_legendre = z_powers @ self._derivatives.astype(dtype)
            d_z = np.sum(g * d_legendre * selected, axis=1)
            return (2.0 * np.stack([d_x, d_y, d_z], axis=1),)  # 2 from d = 2 x - 1

        return ops.record(out, (x,), vjp)

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": self.otype, "degree": self.degree}
