"""Gaussian random Fourier features (Tancik et al. 2020, "Fourier Features Let Networks Learn
High Frequency Functions in Low Dimensional Domains", https://arxiv.org/abs/2006.10739).

    features(x) = [sin(2 pi B x), cos(2 pi B x)],   B ~ N(0, sigma^2), B of shape
    (n_frequencies, n_input_dims)
Feature order: the n_frequencies sines (row j of B gives feature j), then the n_frequencies
cosines; n_output_dims = 2 n_frequencies. B is drawn once from np.random.default_rng(seed)
with `standard_normal` and scaled by sigma, so the same seed and sigma give the same matrix.
It is a Buffer named "B": state_dict() saves it, and no optimizer changes it. sigma sets the
bandwidth: too small blurs, too large overfits with noisy artefacts (the paper's Figure 3).
"""

from __future__ import annotations

import numbers
from typing import TYPE_CHECKING, Any

import numpy as np

from gfxnn import ops
from gfxnn.autograd import VJPResult
from gfxnn.encodings.base import Encoding, check_input, check_positive_int
from gfxnn.nn.module import Buffer
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor, resolve_dtype

if TYPE_CHECKING:  # lower()'s node type; gfxnn.export is imported only when lowering
    from gfxnn.export.ir import Node


class GaussianFourierEncoding(Encoding):
    """Args:
    n_input_dims: input width.
    n_frequencies: rows of B, i.e. sine/cosine pairs (default 256, as in the paper).
    sigma: standard deviation of B's entries, > 0 (default 10.0, the paper's 2-D image value).
    seed: seed of the generator that draws B (an int >= 0).
    dtype: dtype B is stored in (float32 default).
    """

    otype = "GaussianFourier"

    def __init__(
        self,
        n_input_dims: int,
        n_frequencies: int = 256,
        sigma: float = 10.0,
        seed: int = 0,
        *,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        self.n_frequencies = check_positive_int("n_frequencies", n_frequencies)
        is_number = isinstance(sigma, numbers.Real) and not isinstance(sigma, bool)
        if not is_number or not 0 < sigma < np.inf:
            raise ValueError(f"sigma must be a finite number > 0, got {sigma!r}")
        self.sigma = float(sigma)
        self.seed = check_positive_int("seed", seed, low=0)
        self.n_output_dims = 2 * self.n_frequencies
        rng = np.random.default_rng(self.seed)
        matrix = self.sigma * rng.standard_normal((self.n_frequencies, self.n_input_dims))
        self.B = Buffer(matrix, dtype=resolve_dtype(dtype))

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) -> (batch, 2 * n_frequencies)."""
        x = as_tensor(x)
        check_input(self, x)
        # 2 pi B^T as a constant of x's dtype: B gets no gradient, and a float64 input
        # (gradcheck) need not be cast down to B's float32.
        projection = (2.0 * np.pi * self.B.data.T).astype(x.dtype)  # (n_input_dims, F)
        phase = x.data @ projection
        f = self.n_frequencies
        out = np.empty((x.shape[0], 2 * f), dtype=x.dtype)
        sines, cosines = np.sin(phase, out=out[:, :f]), np.cos(phase, out=out[:, f:])

        def vjp(g: np.ndarray) -> VJPResult:
            # d sin = cos, d cos = -sin: the saved features give the derivative without
            # evaluating sin and cos again (why this is one primitive, not four ops).
            d_phase = g[:, :f] * cosines - g[:, f:] * sines
            return (d_phase @ projection.T,)

        return ops.record(out, (x,), vjp)

    def lower(self) -> Node:
        """This encoding as an export IR node (`gfxnn.export`): 2 pi B^T rounded to float32
        as the forward pass rounds it."""
        from gfxnn.export.encoders import GaussianFourierEncode

        return GaussianFourierEncode((2.0 * np.pi * self.B.data.T).astype(np.float32))

    def hyperparams(self) -> dict[str, Any]:
        return {
            "otype": self.otype,
            "n_frequencies": self.n_frequencies,
            "sigma": self.sigma,
            "seed": self.seed,
        }
