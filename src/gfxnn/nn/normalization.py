"""`BatchNorm2d`: per-channel batch normalisation with running statistics (Ioffe & Szegedy
2015, https://arxiv.org/abs/1502.03167)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import image_ops
from gfxnn.checks import check_bool, check_interval, check_non_negative, check_positive_int
from gfxnn.nn.module import Buffer, Module, Parameter
from gfxnn.tensor import Tensor, resolve_dtype


class BatchNorm2d(Module):
    """y = (x - mean) / sqrt(var + eps) * weight + bias per channel, as torch.nn.BatchNorm2d.

    In training mode mean and var are the batch's (biased variance) and the buffers
    running_mean / running_var move towards them by `momentum` (with the unbiased variance);
    in eval mode the running statistics are used.

    Args:
        num_features: channel count C.
        eps: added to the variance.
        momentum: weight of the new batch in the running statistics.
        affine: learn weight (ones) and bias (zeros).
        dtype: float32 (default) or float64.

    Shapes: (N, C, H, W) -> (N, C, H, W).
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.num_features = check_positive_int("num_features", num_features)
        if check_non_negative("eps", eps) == 0:
            raise ValueError(f"eps must be positive, got {eps!r}")
        self.eps = float(eps)
        self.momentum = check_interval("momentum", momentum, 0.0, 1.0, closed=True)
        affine = check_bool("affine", affine)
        dtype = resolve_dtype(dtype)
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine else None
        self.running_mean = Buffer(np.zeros(num_features, dtype=dtype))
        self.running_var = Buffer(np.ones(num_features, dtype=dtype))

    def forward(self, x: Any) -> Tensor:
        if isinstance(x, Tensor) and x.ndim == 4 and x.shape[1] != self.num_features:
            raise ValueError(
                f"BatchNorm2d({self.num_features}) got an input with {x.shape[1]} channels "
                f"(shape {x.shape})"
            )
        return image_ops.batch_norm(
            x,
            self.running_mean.data,
            self.running_var.data,
            self.weight,
            self.bias,
            training=self.training,
            momentum=self.momentum,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"
