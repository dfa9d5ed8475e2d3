"""`Linear`: y = x W^T + b, with PyTorch's weight layout (out_features, in_features)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import ops
from gfxnn.nn import init
from gfxnn.nn.module import Module, Parameter
from gfxnn.tensor import Tensor, resolve_dtype

INITIALIZERS = {
    "xavier_uniform": init.xavier_uniform,
    "xavier_normal": init.xavier_normal,
    "he_uniform": init.he_uniform,
    "he_normal": init.he_normal,
    "kaiming_uniform": init.he_uniform,
    "kaiming_normal": init.he_normal,
    "lecun_uniform": init.lecun_uniform,
    "lecun_normal": init.lecun_normal,
}


def as_generator(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A Generator from a Generator, a seed, or None (fresh OS entropy: not reproducible)."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, int) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(rng)
    raise TypeError(f"rng must be a np.random.Generator, a seed >= 0 or None, got {rng!r}")


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Linear(Module):
    """Fully connected layer y = x W^T + b.

    Args:
        in_features, out_features: sizes of the input and output's last dimension.
        bias: add a learned bias (initialised to zero).
        rng: Generator or seed for the weights (Xavier uniform by default, as Dx12NN).
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
        rng: np.random.Generator | int | None = None,
        init: str = "xavier_uniform",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.in_features = check_positive_int("in_features", in_features)
        self.out_features = check_positive_int("out_features", out_features)
        if init not in INITIALIZERS:
            raise ValueError(f"unknown init {init!r}; choose one of {sorted(INITIALIZERS)}")
        dtype = resolve_dtype(dtype)
        self.weight = Parameter(np.zeros((out_features, in_features), dtype=dtype))
        INITIALIZERS[init](self.weight, as_generator(rng))
        self.bias = Parameter(np.zeros(out_features, dtype=dtype)) if bias else None

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
