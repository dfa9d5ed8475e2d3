"""Triangle-wave encoding (tiny-cuda-nn's "TriangleWave", from neural radiance caching:
Müller et al. 2021, https://arxiv.org/abs/2106.12372): a cheap stand-in for the frequency
encoding's sines.

For each input dimension d and each k < n_frequencies, one feature
    t_k(x_d) = 4 |frac(2^(k-1) x_d + k/4) - 1/2| - 1,        frac(v) = v - floor(v),
a triangle wave in [-1, 1] of period 2^(1-k) in x; the phase k/4 shifts each octave a little
so that octaves do not all peak at the same places. Feature order (tcnn's): all frequencies of
input 0, then all of input 1, ...; n_output_dims = n_frequencies * n_input_dims.
The derivative, 2^(k+1) sign(frac(.) - 1/2), is piecewise constant with kinks where
frac(.) is 0 or 1/2; the backward pass uses it everywhere else.
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


class TriangleWaveEncoding(Encoding):
    """Args:
    n_input_dims: input width.
    n_frequencies: octaves per input dimension, 1..32 (tcnn default 12).
    """

    otype = "TriangleWave"

    def __init__(self, n_input_dims: int, n_frequencies: int = 12) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        # As for Frequency: beyond 2^31 x, float32 has no fractional bits left.
        self.n_frequencies = check_positive_int("n_frequencies", n_frequencies, 1, 32)
        self.n_output_dims = self.n_frequencies * self.n_input_dims
        octaves = np.arange(self.n_frequencies)
        self._scales = 2.0 ** (octaves - 1.0)
        self._phases = 0.25 * octaves

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) -> (batch, n_frequencies * n_input_dims) in [-1, 1]."""
        x = as_tensor(x)
        check_input(self, x)
        batch = x.shape[0]
        columns = ops.reshape(x, (batch, self.n_input_dims, 1))
        v = ops.add(ops.mul(columns, self._scales.astype(x.dtype)), self._phases.astype(x.dtype))
        # frac(v) - 1/2 = v - (floor(v) + 1/2): the floor is a constant almost everywhere.
        centred = ops.sub(v, np.floor(v.data) + 0.5)
        wave = ops.sub(ops.mul(ops.abs(centred), 4.0), 1.0)
        return ops.reshape(wave, (batch, self.n_output_dims))

    def lower(self) -> Node:
        """This encoding as an export IR node (`gfxnn.export`)."""
        from gfxnn.export.encoders import TriangleWaveEncode

        return TriangleWaveEncode(self.n_input_dims, self.n_frequencies)

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": self.otype, "n_frequencies": self.n_frequencies}
