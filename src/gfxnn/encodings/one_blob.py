"""One-blob encoding (Müller et al. 2019, "Neural Importance Sampling",
https://arxiv.org/abs/1808.03856), with tiny-cuda-nn's quartic kernel in place of the Gaussian.

Each input x in [0, 1] is split into n_bins bins of width 1/n; feature k is the mass that a
kernel of radius 1/n centred on x puts into bin [k/n, (k+1)/n]. With the quartic (biweight)
kernel K(u) = 15/16 (1 - u^2)^2 on |u| < 1 and its CDF
    F(u) = clamp(15/16 u (1 - 2/3 u^2 + 1/5 u^4) + 1/2, 0, 1),
feature k of x is
    sum over s in {-1, 0, 1} of  F(n ((k+1)/n - x - s)) - F(n (k/n - x - s)).
The three shifts s make the blob wrap around the unit interval, as tcnn's kernels do (so x = 0
and x = 1 encode alike); every x's features sum to 1. F is twice differentiable, so the
encoding is smooth in x:
    d feature_k / dx = n sum_s [K(n (k/n - x - s)) - K(n ((k+1)/n - x - s))].
Since the kernel is one bin wide on each side, only three features are non-zero; `forward`
computes just those.
Feature order (tcnn's): all bins of input 0, then all bins of input 1, ...;
n_output_dims = n_bins * n_input_dims. tcnn requires n_bins to be a power of two for its GPU
kernels; the formula does not, so any n_bins >= 1 is accepted here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gfxnn import ops
from gfxnn.autograd import VJPResult
from gfxnn.encodings.base import BinnedEncoding, check_input
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor

if TYPE_CHECKING:  # lower()'s node type; gfxnn.export is imported only when lowering
    from gfxnn.export.ir import Node


def quartic(u: np.ndarray) -> np.ndarray:
    """The quartic kernel 15/16 (1 - u^2)^2 on |u| < 1, zero outside (integrates to 1)."""
    inside = np.maximum(1.0 - u * u, 0.0)
    return (15.0 / 16.0) * inside * inside


def quartic_cdf(u: np.ndarray) -> np.ndarray:
    """The integral of `quartic` from -inf to u."""
    u2 = u * u
    return np.clip((15.0 / 16.0) * u * (1.0 - (2.0 / 3.0) * u2 + 0.2 * u2 * u2) + 0.5, 0.0, 1.0)


class OneBlobEncoding(BinnedEncoding):
    """Args:
    n_input_dims: input width.
    n_bins: bins per input dimension (tcnn default 16).
    """

    otype = "OneBlob"

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) -> (batch, n_bins * n_input_dims)."""
        x = as_tensor(x)
        check_input(self, x)
        n, (batch, dims) = self.n_bins, x.shape
        # The kernel spans two bin widths, so it touches at most three bins: the bin j that
        # holds x, and its neighbours (wrapped around). With f = n x - j in [0, 1) the masses
        # are F(-f), F(1 - f) - F(-f) and 1 - F(1 - f): two CDF evaluations per input
        # instead of n + 1 boundaries times three wrapped copies.
        scaled = n * x.data
        bin_index = np.floor(scaled)
        f = scaled - bin_index
        left, right = quartic_cdf(-f), quartic_cdf(1.0 - f)
        masses = (left, right - left, 1.0 - right)
        j = bin_index.astype(np.intp)
        targets = [(j + offset) % n for offset in (-1, 0, 1)]
        rows, columns = np.indices((batch, dims), sparse=True)
        out = np.zeros((batch, dims, n), dtype=x.dtype)
        for target, mass in zip(targets, masses, strict=True):
            out[rows, columns, target] += mass  # += : with n_bins < 3 two targets coincide

        def vjp(g: np.ndarray) -> VJPResult:
            # d/dx F(-f) = -n K(f), d/dx F(1 - f) = -n K(1 - f)  (K is even).
            g = g.reshape(batch, dims, n)
            d_left, d_right = -n * quartic(f), -n * quartic(1.0 - f)
            slopes = (d_left, d_right - d_left, -d_right)
            d_x = np.zeros_like(f)
            for target, slope in zip(targets, slopes, strict=True):
                d_x += g[rows, columns, target] * slope
            return (d_x,)

        return ops.record(out.reshape(batch, self.n_output_dims), (x,), vjp)

    def lower(self) -> Node:
        """This encoding as an export IR node (`gfxnn.export`)."""
        from gfxnn.export.bins import OneBlobEncode

        return OneBlobEncode(self.n_input_dims, self.n_bins)
