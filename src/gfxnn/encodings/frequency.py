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
        frequencies = self._frequencies.astype(x.dtype)  # pi 2^k rounded once, as the fused path
        phase = ops.mul(ops.reshape(x, (batch, self.n_input_dims, 1)), frequencies)
        pairs = ops.stack([ops.sin(phase), ops.cos(phase)], axis=-1)  # (batch, dims, F, 2)
        return ops.reshape(pairs, (batch, self.n_output_dims))

    def lower(self) -> Node:
        """This encoding as an export IR node (`gfxnn.export`)."""
        from gfxnn.export.encoders import FrequencyEncode

        return FrequencyEncode(self.n_input_dims, self.n_frequencies)

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": "Frequency", "n_frequencies": self.n_frequencies}
