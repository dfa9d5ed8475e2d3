"""One-hot encoding: each input x in [0, 1] lights the one of n_bins equal bins it falls in.

Feature k of input d is 1 where k = min(floor(n_bins x_d), n_bins - 1) and 0 elsewhere (x = 1
belongs to the last bin; inputs outside [0, 1] are clamped to the first or last bin). Feature
order: all bins of input 0, then all bins of input 1, ...; n_output_dims = n_bins *
n_input_dims. The features are piecewise constant, so their derivative with respect to x is
zero wherever it exists; the backward pass returns that zero, which keeps the graph connected.
This is the limit of the one-blob encoding as its kernel shrinks to a point (Müller et al.
2019, https://arxiv.org/abs/1808.03856); tiny-cuda-nn has no encoding of this name.
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


class OneHotEncoding(BinnedEncoding):
    """Args:
    n_input_dims: input width.
    n_bins: bins per input dimension (default 16, as OneBlob).
    """

    otype = "OneHot"

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) -> (batch, n_bins * n_input_dims) of zeros and ones."""
        x = as_tensor(x)
        check_input(self, x)
        bins = np.clip(np.floor(x.data * self.n_bins), 0, self.n_bins - 1).astype(np.intp)
        out = (bins[:, :, None] == np.arange(self.n_bins)).astype(x.dtype)
        shape = x.shape

        def vjp(g: np.ndarray) -> VJPResult:
            return (np.zeros(shape, dtype=g.dtype),)

        return ops.record(out.reshape(shape[0], self.n_output_dims), (x,), vjp)

    def lower(self) -> Node:
        """This encoding as an export IR node (`gfxnn.export`)."""
        from gfxnn.export.bins import OneHotEncode

        return OneHotEncode(self.n_input_dims, self.n_bins)
