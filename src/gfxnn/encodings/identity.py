"""Identity encoding: features = scale * x + offset (tiny-cuda-nn's "Identity")."""

from __future__ import annotations

import math
import numbers
from typing import TYPE_CHECKING, Any

from gfxnn import ops
from gfxnn.encodings.base import Encoding, check_input, check_positive_int
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor

if TYPE_CHECKING:  # lower()'s node type; gfxnn.export is imported only when lowering
    from gfxnn.export.ir import Node


class IdentityEncoding(Encoding):
    """Passes the inputs through, optionally scaled and shifted; n_output_dims = n_input_dims."""

    otype = "Identity"

    def __init__(self, n_input_dims: int = 2, scale: float = 1.0, offset: float = 0.0) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        self.n_output_dims = self.n_input_dims
        self.scale = _finite("scale", scale)
        self.offset = _finite("offset", offset)

    def forward(self, x: Any) -> Tensor:
        """x (batch, n_input_dims) -> scale * x + offset, same shape."""
        x = as_tensor(x)
        check_input(self, x)
        if self.scale == 1.0 and self.offset == 0.0:
            return x
        return ops.add(ops.mul(x, self.scale), self.offset)

    def lower(self) -> Node:
        """This encoding as an export IR node (`gfxnn.export`)."""
        from gfxnn.export.encoders import IdentityEncode

        return IdentityEncode(self.n_input_dims, self.scale, self.offset)

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": self.otype, "scale": self.scale, "offset": self.offset}


def _finite(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)
