"""Frequency (NeRF "positional") encoding, https://arxiv.org/abs/2003.08934, as in Dx12NN.

For each input dimension d and each k < n_frequencies, two features
    sin(pi 2^k x_d), cos(pi 2^k x_d)
in that order: [sin(pi x_0), cos(pi x_0), sin(2 pi x_0), cos(2 pi x_0), ..., cos(2^{F-1} pi x_0),
sin(pi x_1), ...]. The raw input is not passed through, so n_output_dims = 2 F n_input_dims.
This is the seed's gamma(p) and tiny-cuda-nn's feature order, and the one the fused path uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from gfxnn import ops
from gfxnn.autograd import VJPResult
from gfxnn.encodings import sincos
from gfxnn.encodings.base import Encoding, check_input, check_positive_int
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor

if TYPE_CHECKING:  # lower()'s node type; gfxnn.export is imported only when lowering
    from gfxnn.export.ir import Node


class FrequencyEncoding(Encoding):
    """Args:
    n_input_dims: input width (2 for UVs).
    n_frequencies: octaves F per dimension, 1..32 (tcnn's default 12; Dx12NN allows 2..16
        and defaults to 8, which the image fitter passes explicitly).
    """

    otype = "Frequency"

    def __init__(self, n_input_dims: int = 2, n_frequencies: int = 12) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        # 2^31 pi x already loses all of float32's precision; more octaves would be noise.
        self.n_frequencies = check_positive_int("n_frequencies", n_frequencies, 1, 32)
        self.n_output_dims = 2 * self.n_frequencies * self.n_input_dims
        self._frequencies = np.pi * 2.0 ** np.arange(self.n_frequencies)  # float64

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) -> (batch, 2 * n_frequencies * n_input_dims)."""
        x = as_tensor(x)
        check_input(self, x)
        batch = x.shape[0]
        # sin(pi 2^k x) = sin(2 pi fract(2^(k-1) x)): the phase reduced exactly, then the one
        # polynomial every backend uses in float32 (gfxnn.encodings.sincos).
        sines, cosines = sincos.sincos_octaves(x.data, self.n_frequencies)  # (batch, dims, F)
        out = np.stack([sines, cosines], axis=-1).reshape(batch, self.n_output_dims)
        frequencies = self._frequencies.astype(x.dtype)  # pi 2^k

        def vjp(g: np.ndarray) -> VJPResult:
            # d/dx sin(a x) = a cos(a x), d/dx cos(a x) = -a sin(a x), a = pi 2^k
            pairs = g.reshape(batch, self.n_input_dims, self.n_frequencies, 2)
            slope = pairs[..., 0] * cosines - pairs[..., 1] * sines
            return ((slope * frequencies).sum(axis=-1),)

        return ops.record(out, (x,), vjp)

    def lower(self) -> Node:
        """This encoding as an export IR node (`gfxnn.export`)."""
        from gfxnn.export.encoders import FrequencyEncode

        return FrequencyEncode(self.n_input_dims, self.n_frequencies)

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": self.otype, "n_frequencies": self.n_frequencies}
