"""Modules that resample feature maps: max and average pooling, upsampling, flattening."""

from __future__ import annotations

from typing import Any

from gfxnn import image_ops
from gfxnn.checks import check_int, check_non_negative
from gfxnn.image_ops import IntPair
from gfxnn.nn.module import Module
from gfxnn.tensor import Tensor


class MaxPool2d(Module):
    """Maximum over windows, as torch.nn.MaxPool2d; stride defaults to kernel_size.

    Shapes: (N, C, H, W) -> (N, C, OH, OW).
    """

    def __init__(
        self,
        kernel_size: IntPair,
        stride: IntPair | None = None,
        padding: IntPair = 0,
        dilation: IntPair = 1,
    ) -> None:
        super().__init__()
        self.kernel_size = image_ops.pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else image_ops.pair("stride", stride, 1)
        self.padding = image_ops.pair("padding", padding, 0)
        self.dilation = image_ops.pair("dilation", dilation, 1)

    def forward(self, x: Any) -> Tensor:
        return image_ops.max_pool2d(x, self.kernel_size, self.stride, self.padding, self.dilation)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class AvgPool2d(Module):
    """Mean over windows, as torch.nn.AvgPool2d (zero padding counts in the mean).

    Shapes: (N, C, H, W) -> (N, C, OH, OW).
    """

    def __init__(
        self, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
    ) -> None:
        super().__init__()
        self.kernel_size = image_ops.pair("kernel_size", kernel_size, 1)
        self.stride = self.kernel_size if stride is None else image_ops.pair("stride", stride, 1)
        self.padding = image_ops.pair("padding", padding, 0)

    def forward(self, x: Any) -> Tensor:
        return image_ops.avg_pool2d(x, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class Upsample(Module):
    """Resize by `scale_factor` with "nearest" or "bilinear" (align_corners=False), as
    torch.nn.Upsample. Shapes: (N, C, H, W) -> (N, C, floor(H s), floor(W s))."""

    def __init__(
        self, scale_factor: float | tuple[float, float] = 2, mode: str = "nearest"
    ) -> None:
        super().__init__()
        if mode not in image_ops.UPSAMPLE_MODES:
            raise ValueError(
                f"unknown upsample mode {mode!r}; choose one of {image_ops.UPSAMPLE_MODES}"
            )
        scales = scale_factor if isinstance(scale_factor, tuple | list) else (scale_factor,)
        for scale in scales:  # checked here, not at the first forward pass
            if check_non_negative("scale_factor", scale) == 0:
                raise ValueError(f"scale_factor must be > 0, got {scale_factor!r}")
        self.scale_factor = scale_factor
        self.mode = mode

    def forward(self, x: Any) -> Tensor:
        return image_ops.upsample(x, self.scale_factor, self.mode)

    def extra_repr(self) -> str:
        return f"scale_factor={self.scale_factor}, mode={self.mode!r}"


class Flatten(Module):
    """Merge every axis from `start_dim` on: (N, C, H, W) -> (N, C*H*W) by default."""

    def __init__(self, start_dim: int = 1) -> None:
        super().__init__()
        self.start_dim = check_int("start_dim", start_dim, 0)

    def forward(self, x: Any) -> Tensor:
        return image_ops.flatten(x, self.start_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}"
