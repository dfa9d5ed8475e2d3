"""Composite encoding: different encodings for consecutive ranges of the input dimensions,
their features concatenated (tiny-cuda-nn's "Composite" with its default "Concatenation").

CompositeEncoding(5, [FrequencyEncoding(3), OneBlobEncoding(2)]) encodes inputs 0..2 with the
first and inputs 3..4 with the second: each nested encoding takes the next
`nested[i].n_input_dims` inputs. Feature order: all features of nested[0], then all of
nested[1], ...; n_output_dims is their sum. As in tcnn, input dimensions left over after the
last nested encoding are not encoded. Parameters of nested encodings appear under
"nested.<i>.<name>" in named_parameters() and state_dict().

hyperparams() is {"otype": "Composite", "nested": [{"n_dims_to_encode": k, **child}, ...]},
tcnn's format; turning those nested configs back into encodings is the registry's job
(gfxnn.registry), which builds each child as cls(n_dims_to_encode, **params) first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gfxnn import ops
from gfxnn.autograd import VJPResult
from gfxnn.encodings.base import Encoding, check_input, check_positive_int
from gfxnn.nn.module import ModuleList
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor


class CompositeEncoding(Encoding):
    """Args:
    n_input_dims: input width; at least the sum of the nested encodings' n_input_dims.
    nested: the encodings, in input order (at least one).
    """

    otype = "Composite"

    def __init__(self, n_input_dims: int, nested: Sequence[Encoding]) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        if isinstance(nested, Encoding) or not isinstance(nested, Sequence) or not nested:
            raise ValueError(f"nested must be a non-empty list of encodings, got {nested!r}")
        for child in nested:
            if not isinstance(child, Encoding):
                raise TypeError(
                    f"nested holds Encoding objects, got {type(child).__name__} "
                    "(build nested configs with gfxnn.registry)"
                )
        n_encoded = sum(child.n_input_dims for child in nested)
        if n_encoded > self.n_input_dims:
            raise ValueError(
                f"the nested encodings take {n_encoded} input dimensions, more than "
                f"n_input_dims={self.n_input_dims}"
            )
        self.nested = ModuleList(nested)
        self.n_output_dims = sum(child.n_output_dims for child in nested)

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) -> (batch, sum of the nested n_output_dims)."""
        x = as_tensor(x)
        check_input(self, x)
        features = []
        begin = 0
        for child in self._children():
            end = begin + child.n_input_dims
            features.append(child(_columns(x, begin, end)))
            begin = end
        return features[0] if len(features) == 1 else ops.concatenate(features, axis=1)

    def _children(self) -> list[Encoding]:
        children = [child for child in self.nested if isinstance(child, Encoding)]
        assert len(children) == len(self.nested)
        return children

    def hyperparams(self) -> dict[str, Any]:
        nested = [
            {"n_dims_to_encode": child.n_input_dims, **child.hyperparams()}
            for child in self._children()
        ]
        return {"otype": self.otype, "nested": nested}


def _columns(x: Tensor, begin: int, end: int) -> Tensor:
    """x[:, begin:end]; its backward writes the slice into zeros (no scatter-add needed)."""
    shape, dtype = x.shape, x.dtype

    def vjp(g: np.ndarray) -> VJPResult:
        full = np.zeros(shape, dtype=dtype)
        full[:, begin:end] = g
        return (full,)

    return ops.record(x.data[:, begin:end], (x,), vjp)
