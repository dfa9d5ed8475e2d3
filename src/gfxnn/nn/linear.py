"""`Linear`: y = x W^T + b, with PyTorch's weight layout (out_features, in_features)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import ops
from gfxnn.checks import check_bool, check_positive_int
from gfxnn.nn import init as init_module  # `init` is also the constructor's argument
from gfxnn.nn.module import Module, Parameter
from gfxnn.rng import RNG, as_generator
from gfxnn.tensor import Tensor, resolve_dtype

__all__ = ["INITIALIZERS", "Linear", "as_generator", "check_positive_int"]  # older imports

INITIALIZERS = init_module.INITIALIZERS  # the names `init=` accepts (older imports read it here)


class Linear(Module):
    """Fully connected layer y = x W^T + b.

    Args:
        in_features, out_features: sizes of the input and output's last dimension.
        bias: add a learned bias (initialised to zero).
        rng: Generator, seed, or None for `gfxnn.rng.DEFAULT_SEED` (never OS entropy), for
            the weights (Xavier uniform by default, as Dx12NN).
        init: name of the weight initialiser, one of INITIALIZERS.
        dtype: float32 (default) or float64.

    Shapes: x (..., in_features) -> y (..., out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        *,
        rng: RNG = None,
        init: str = "xavier_uniform",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        dtype = resolve_dtype(dtype)
        self.weight = Parameter(np.zeros((out_features, in_features), dtype=dtype))
        init_module.initialize(self.weight, init, rng)
        use_bias = check_bool("bias", bias)
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if use_bias else None

    def forward(self, x: Any) -> Tensor:
        # Raw arrays adopt the layer's dtype; a Tensor of another dtype is an error in linear.
        x = ops.as_tensor(x, like=self.weight)
        if x.ndim == 0 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expects inputs of shape (..., {self.in_features}), got {x.shape}"
            )
        return ops.linear(x, self.weight, self.bias)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )
