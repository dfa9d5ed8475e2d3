"""`Conv2d` and `ConvTranspose2d`: learned convolutions with PyTorch's weight layouts."""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import image_ops
from gfxnn.checks import check_bool, check_positive_int
from gfxnn.image_ops import IntPair
from gfxnn.nn.init import initialize
from gfxnn.nn.module import Module, Parameter
from gfxnn.rng import RNG
from gfxnn.tensor import Tensor, resolve_dtype


class _ConvNd(Module):
    """Shared set-up: sizes, hyper-parameters, weight of `weight_shape`, optional bias."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair,
        padding: IntPair,
        dilation: IntPair,
        bias: bool,
        transposed: bool,
        rng: RNG,
        init: str,
        dtype: Any,
    ) -> None:
        super().__init__()
        self.in_channels = check_positive_int("in_channels", in_channels)
        self.out_channels = check_positive_int("out_channels", out_channels)
        self.kernel_size = image_ops.pair("kernel_size", kernel_size, 1)
        self.stride = image_ops.pair("stride", stride, 1)
        self.padding = image_ops.pair("padding", padding, 0)
        self.dilation = image_ops.pair("dilation", dilation, 1)
        dtype = resolve_dtype(dtype)
        channels = (in_channels, out_channels) if transposed else (out_channels, in_channels)
        self.weight = Parameter(np.zeros((*channels, *self.kernel_size), dtype=dtype))
        initialize(self.weight, init, rng)
        use_bias = check_bool("bias", bias)
        self.bias = Parameter(np.zeros(out_channels, dtype=dtype)) if use_bias else None

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, dilation={self.dilation}, "
            f"bias={self.bias is not None}"
        )


class Conv2d(_ConvNd):
    """2-D convolution (cross-correlation, as PyTorch), NCHW.

    Args:
        in_channels, out_channels: channel counts C and O.
        kernel_size, stride, padding, dilation: ints or (height, width) pairs.
        bias: add a learned per-channel bias (initialised to zero).
        rng: Generator, seed, or None for `gfxnn.rng.DEFAULT_SEED`, for the weights (Xavier
            uniform by default, like Linear, with fan_in = C*KH*KW and fan_out = O*KH*KW).
        init: weight initialiser name (see gfxnn.nn.init.INITIALIZERS).
        dtype: float32 (default) or float64.

    Shapes: x (N, C, H, W) -> (N, O, OH, OW); weight (O, C, KH, KW), bias (O,).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        dilation: IntPair = 1,
        bias: bool = True,
        *,
        rng: RNG = None,
        init: str = "xavier_uniform",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, bias, False,
            rng, init, dtype,
        )  # fmt: skip

    def forward(self, x: Any) -> Tensor:
        return image_ops.conv2d(x, self.weight, self.bias, self.stride, self.padding, self.dilation)


class ConvTranspose2d(_ConvNd):
    """Transposed 2-D convolution (learned upsampling), NCHW, as torch.nn.ConvTranspose2d.

    Args: as Conv2d, plus output_padding (< stride) added at the bottom and right.

    Shapes: x (N, C, H, W) -> (N, O, OH, OW) with OH = (H - 1) stride - 2 padding
    + dilation (KH - 1) + output_padding + 1; weight (C, O, KH, KW), bias (O,).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntPair,
        stride: IntPair = 1,
        padding: IntPair = 0,
        output_padding: IntPair = 0,
        bias: bool = True,
        dilation: IntPair = 1,
        *,
        rng: RNG = None,
        init: str = "xavier_uniform",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, bias, True,
            rng, init, dtype,
        )  # fmt: skip
        self.output_padding = image_ops.pair("output_padding", output_padding, 0)

    def forward(self, x: Any) -> Tensor:
        return image_ops.conv_transpose2d(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
            self.dilation,
        )  # fmt: skip
