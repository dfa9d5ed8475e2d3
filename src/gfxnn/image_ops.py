"""Image primitives in NCHW layout: convolution, pooling, upsampling, dropout, batch norm.

Each op computes its forward pass with NumPy and returns, through `ops.record`, the
vector-Jacobian product written right beside it; none is differentiated through a
composition of smaller ops, because a convolution built from thousands of slices would be
far too slow. Convolution is im2col (`gfxnn.im2col`): a strided view gathers every
receptive field into a matrix `cols` (C*KH*KW, N*OH*OW), so the forward pass and both
gradients are matrix products (BLAS); with stride 1 the input gradient is a gather too (a
convolution with the flipped kernel), otherwise it scatters back with one strided add per
kernel tap (a loop over the KH*KW taps, never over pixels).

Semantics follow `torch.nn.functional`: weight layouts (out, in, kh, kw) for conv2d and
(in, out, kh, kw) for conv_transpose2d, floor output sizes, max-pool ties going to the first
maximum, bilinear upsampling with align_corners=False, batch norm that normalises with the
biased batch variance and tracks the unbiased one.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import im2col, ops
from gfxnn.autograd import VJPResult
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor

IntPair = int | tuple[int, int]
IntPairT = tuple[int, int]


# ----- argument checks ----------------------------------------------------------------------
def pair(name: str, value: IntPair, minimum: int) -> tuple[int, int]:
    """`value` (an int or a pair of ints) as (height, width), each at least `minimum`."""
    values = (value, value) if isinstance(value, int | np.integer) else value
    if (
        not isinstance(values, tuple | list)
        or len(values) != 2
        or not all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in values)
    ):
        raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
    if min(values) < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value!r}")
    return int(values[0]), int(values[1])


def check_4d(op: str, x: Tensor) -> None:
    if x.ndim != 4:
        raise ValueError(f"{op} expects a 4-D input (N, C, H, W), got shape {x.shape}")


def output_size(
    op: str,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[int, int]:
    """(OH, OW) = floor((size + 2 padding - dilation (kernel - 1) - 1) / stride) + 1."""
    out = []
    for axis in range(2):
        extent = dilation[axis] * (kernel[axis] - 1) + 1
        padded = size[axis] + 2 * padding[axis]
        if extent > padded:
            raise ValueError(
                f"{op}: kernel {kernel[0]}x{kernel[1]} (extent {extent} with dilation "
                f"{dilation[axis]}) is larger than the padded input: size {size[0]}x{size[1]} "
                f"plus padding {padding[0]},{padding[1]} gives {padded} along "
                f"{'height' if axis == 0 else 'width'}"
            )
        out.append((padded - extent) // stride[axis] + 1)
    return out[0], out[1]


# ----- strided helpers --------------------------------------------------------------------
def _pad(x: np.ndarray, padding: tuple[int, int], value: float = 0.0) -> np.ndarray:
    if padding == (0, 0):
        return x
    widths = ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1]))
    return np.pad(x, widths, mode="constant", constant_values=value)


def _tap(
    kh: int, kw: int, out: IntPairT, stride: IntPairT, dilation: IntPairT
) -> tuple[slice, slice, slice, slice]:
    """The index of the (.., .., OH, OW) block of a padded image that kernel tap (kh, kw) sees."""
    return (slice(None), slice(None), *im2col.tap_slices(kh, kw, out, stride, dilation))


def _crop(xp: np.ndarray, padding: IntPairT, size: IntPairT) -> np.ndarray:
    return xp[:, :, padding[0] : padding[0] + size[0], padding[1] : padding[1] + size[1]]


def _check_weight(op: str, x: Tensor, w: Tensor, in_axis: int, layout: str) -> None:
    if w.ndim != 4:
        raise ValueError(f"{op}: weight must be 4-D {layout}, got shape {w.shape}")
    if x.shape[1] != w.shape[in_axis]:
        raise ValueError(
            f"{op}: input has {x.shape[1]} channels but the weight {layout} of shape "
            f"{w.shape} expects {w.shape[in_axis]}"
        )
    if x.dtype != w.dtype:
        raise TypeError(f"{op}: input is {x.dtype} but the weight is {w.dtype}; use one dtype")


def _bias(op: str, bias: Any, w: Tensor, channels: int) -> Tensor | None:
    if bias is None:
        return None
    b = as_tensor(bias, like=w)
    if b.shape != (channels,):
        raise ValueError(f"{op}: bias must have shape ({channels},), got {b.shape}")
    return b


# ----- convolution --------------------------------------------------------------------------
def conv2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """2-D cross-correlation, as torch.nn.functional.conv2d (groups=1).

    Args:
        x: (N, C, H, W) input.
        weight: (O, C, KH, KW) kernels.
        bias: (O,) or None.
        stride, padding, dilation: ints or (height, width) pairs; padding is zeros.

    Returns:
        (N, O, OH, OW) with OH = floor((H + 2 padding - dilation (KH - 1) - 1) / stride) + 1.
    """
    x, w = as_tensor(x), as_tensor(weight)
    check_4d("conv2d", x)
    _check_weight("conv2d", x, w, 1, "(out_channels, in_channels, kh, kw)")
    b = _bias("conv2d", bias, w, w.shape[0])
    stride_, padding_ = pair("stride", stride, 1), pair("padding", padding, 0)
    dilation_, kernel = pair("dilation", dilation, 1), (w.shape[2], w.shape[3])
    size = (x.shape[2], x.shape[3])
    out = output_size("conv2d", size, kernel, stride_, padding_, dilation_)
    n, w_mat = x.shape[0], w.data.reshape(w.shape[0], -1)
    # The padded input is what the backward pass keeps; it rebuilds im2col's columns from it.
    view = im2col.windows(im2col.to_padded_cn(x.data, padding_), kernel, out, stride_, dilation_)
    y = im2col.conv_product(w_mat, view)  # (O, N*OH*OW)
    if b is not None:
        y += b.data[:, None]

    def vjp(g: np.ndarray) -> VJPResult:
        d_x = d_w = None
        if x.requires_grad:
            d_x = im2col.input_gradient(g, w.data, size, stride_, padding_, dilation_)
        if w.requires_grad:
            d_w = im2col.weight_gradient(im2col.to_matrix(g), view, w.shape)
        d_b = g.sum(axis=(0, 2, 3)) if b is not None and b.requires_grad else None
        return (d_x, d_w) if b is None else (d_x, d_w, d_b)

    parents = (x, w) if b is None else (x, w, b)
    return ops.record(im2col.from_matrix(y, n, out), parents, vjp)


def conv_transpose2d(
    x: Any,
    weight: Any,
    bias: Any = None,
    stride: IntPair = 1,
    padding: IntPair = 0,
    output_padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """Transposed convolution (the input gradient of conv2d), as F.conv_transpose2d.

    Args:
        x: (N, C, H, W) input.
        weight: (C, O, KH, KW) kernels (PyTorch's layout: in_channels first).
        bias: (O,) or None.
        stride, padding, dilation: those of the conv2d this op transposes.
        output_padding: extra rows/columns added at the bottom/right, each < stride.

    Returns:
        (N, O, OH, OW) with OH = (H - 1) stride - 2 padding + dilation (KH - 1)
        + output_padding + 1.
    """
    x, w = as_tensor(x), as_tensor(weight)
    check_4d("conv_transpose2d", x)
    _check_weight("conv_transpose2d", x, w, 0, "(in_channels, out_channels, kh, kw)")
    b = _bias("conv_transpose2d", bias, w, w.shape[1])
    stride_, padding_ = pair("stride", stride, 1), pair("padding", padding, 0)
    dilation_, extra = pair("dilation", dilation, 1), pair("output_padding", output_padding, 0)
    if extra[0] >= stride_[0] or extra[1] >= stride_[1]:
        raise ValueError(f"output_padding {extra} must be smaller than the stride {stride_}")
    kernel, n, size = (w.shape[2], w.shape[3]), x.shape[0], (x.shape[2], x.shape[3])
    padded = tuple(
        (size[a] - 1) * stride_[a] + dilation_[a] * (kernel[a] - 1) + 1 + extra[a] for a in range(2)
    )
    out_size = (padded[0] - 2 * padding_[0], padded[1] - 2 * padding_[1])
    if min(out_size) < 1:
        raise ValueError(
            f"conv_transpose2d: padding {padding_} leaves an empty output for input {size}"
        )
    # In conv2d's terms (weight (C, O, KH, KW) read as conv2d's (out, in, kh, kw), mapping
    # O channels to C) the input here is an output gradient and this op is its input gradient.
    y = im2col.input_gradient(x.data, w.data, out_size, stride_, padding_, dilation_)
    if b is not None:
        y += b.data[:, None, None]

    def vjp(g: np.ndarray) -> VJPResult:
        # conv2d of g with the same weight gives both gradients.
        view = im2col.windows(im2col.to_padded_cn(g, padding_), kernel, size, stride_, dilation_)
        d_x = d_w = None
        if x.requires_grad:
            w_mat = w.data.reshape(w.shape[0], -1)
            d_x = im2col.from_matrix(im2col.conv_product(w_mat, view), n, size)
        if w.requires_grad:
            d_w = im2col.weight_gradient(im2col.to_matrix(x.data), view, w.shape)
        d_b = g.sum(axis=(0, 2, 3)) if b is not None and b.requires_grad else None
        return (d_x, d_w) if b is None else (d_x, d_w, d_b)

    parents = (x, w) if b is None else (x, w, b)
    return ops.record(y, parents, vjp)


# ----- pooling ------------------------------------------------------------------------------
def _pool_setup(
    op: str, x: Tensor, kernel_size: IntPair, stride: IntPair | None, padding: IntPair
) -> tuple[IntPairT, IntPairT, IntPairT]:
    check_4d(op, x)
    kernel = pair("kernel_size", kernel_size, 1)
    stride_ = kernel if stride is None else pair("stride", stride, 1)
    padding_ = pair("padding", padding, 0)
    if padding_[0] > kernel[0] // 2 or padding_[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding_} must be at most half the kernel {kernel}")
    return kernel, stride_, padding_


def max_pool2d(
    x: Any,
    kernel_size: IntPair,
    stride: IntPair | None = None,
    padding: IntPair = 0,
    dilation: IntPair = 1,
) -> Tensor:
    """Maximum over each window, as F.max_pool2d; the gradient goes to the first maximum.

    Args:
        x: (N, C, H, W). stride defaults to kernel_size; padding (at most half the
        kernel) is -inf, so it never wins.
    """
    x = as_tensor(x)
    kernel, stride_, padding_ = _pool_setup("max_pool2d", x, kernel_size, stride, padding)
    dilation_, size = pair("dilation", dilation, 1), (x.shape[2], x.shape[3])
    out = output_size("max_pool2d", size, kernel, stride_, padding_, dilation_)
    xp = _pad(x.data, padding_, -np.inf)
    best = xp[_tap(0, 0, out, stride_, dilation_)].copy()
    winner = np.zeros(best.shape, dtype=np.intp)
    for tap in range(1, kernel[0] * kernel[1]):
        values = xp[_tap(*divmod(tap, kernel[1]), out, stride_, dilation_)]
        # Strictly greater, so ties keep the earlier tap as PyTorch does.
        better = values > best
        np.copyto(best, values, where=better)
        winner[better] = tap

    def vjp(g: np.ndarray) -> VJPResult:
        d_xp = np.zeros(xp.shape, dtype=g.dtype)
        for tap in range(kernel[0] * kernel[1]):
            index = _tap(*divmod(tap, kernel[1]), out, stride_, dilation_)
            d_xp[index] += np.where(winner == tap, g, 0)
        return (_crop(d_xp, padding_, size),)

    return ops.record(best, (x,), vjp)


def avg_pool2d(
    x: Any, kernel_size: IntPair, stride: IntPair | None = None, padding: IntPair = 0
) -> Tensor:
    """Mean over each window, as F.avg_pool2d (zero padding counts in the mean)."""
    x = as_tensor(x)
    kernel, stride_, padding_ = _pool_setup("avg_pool2d", x, kernel_size, stride, padding)
    size = (x.shape[2], x.shape[3])
    out = output_size("avg_pool2d", size, kernel, stride_, padding_, (1, 1))
    xp = _pad(x.data, padding_)
    scale = x.dtype.type(1.0 / (kernel[0] * kernel[1]))
    total = np.zeros((x.shape[0], x.shape[1], *out), dtype=x.dtype)
    for kh in range(kernel[0]):
        for kw in range(kernel[1]):
            total += xp[_tap(kh, kw, out, stride_, (1, 1))]

    def vjp(g: np.ndarray) -> VJPResult:
        d_xp = np.zeros(xp.shape, dtype=g.dtype)
        share = g * scale
        for kh in range(kernel[0]):
            for kw in range(kernel[1]):
                d_xp[_tap(kh, kw, out, stride_, (1, 1))] += share
        return (_crop(d_xp, padding_, size),)

    return ops.record(total * scale, (x,), vjp)


# ----- upsampling ---------------------------------------------------------------------------
def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(value, bool)


UPSAMPLE_MODES = ("nearest", "bilinear")


def interpolation_matrix(n_in: int, n_out: int, scale: float, mode: str) -> np.ndarray:
    """The (n_out, n_in) matrix that resamples one axis as F.interpolate does.

    nearest: source index floor(dst / scale). bilinear (align_corners=False): source
    coordinate (dst + 0.5) / scale - 0.5, clamped at 0, blending its two neighbours.
    """
    dst = np.arange(n_out, dtype=np.float64)
    matrix = np.zeros((n_out, n_in))
    if mode == "nearest":
        matrix[np.arange(n_out), np.minimum(np.floor(dst / scale).astype(np.intp), n_in - 1)] = 1
        return matrix
    src = np.maximum((dst + 0.5) / scale - 0.5, 0.0)
    low = np.minimum(np.floor(src).astype(np.intp), n_in - 1)
    high = np.minimum(low + 1, n_in - 1)
    frac = src - low
    np.add.at(matrix, (np.arange(n_out), low), 1 - frac)
    np.add.at(matrix, (np.arange(n_out), high), frac)
    return matrix


def upsample(x: Any, scale_factor: float | tuple[float, float], mode: str = "nearest") -> Tensor:
    """Resize (N, C, H, W) by `scale_factor`, as F.interpolate(scale_factor=..., mode=...).

    Both modes are separable linear maps, out = A_h @ x @ A_w^T, so the gradient is
    A_h^T @ g @ A_w: exact for any scale and only two small matrix products.
    """
    x = as_tensor(x)
    check_4d("upsample", x)
    if mode not in UPSAMPLE_MODES:
        raise ValueError(f"unknown upsample mode {mode!r}; choose one of {UPSAMPLE_MODES}")
    scales = scale_factor if isinstance(scale_factor, tuple) else (scale_factor, scale_factor)
    finite = all(_is_number(s) and 0 < s < np.inf for s in scales)  # True is not a scale
    if len(scales) != 2 or not finite:
        raise ValueError(
            f"scale_factor must be a finite positive number or pair, got {scale_factor!r}"
        )
    sizes = [int(np.floor(n * s)) for n, s in zip(x.shape[2:], scales, strict=True)]
    if min(sizes) < 1:
        raise ValueError(f"scale_factor {scale_factor} leaves an empty output for {x.shape}")
    a_h, a_w = (
        interpolation_matrix(n, m, float(s), mode).astype(x.dtype)
        for n, m, s in zip(x.shape[2:], sizes, scales, strict=True)
    )

    def vjp(g: np.ndarray) -> VJPResult:
        return (a_h.T @ g @ a_w,)

    return ops.record(a_h @ x.data @ a_w.T, (x,), vjp)


# ----- regularisation and normalisation -------------------------------------------------------
def dropout(x: Any, p: float, rng: np.random.Generator, training: bool = True) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) (inverted
    dropout); the identity when not training or p == 0."""
    x = as_tensor(x)
    if not 0.0 <= p < 1.0:
        raise ValueError(f"dropout probability must be in [0, 1), got {p!r}")
    if not training or p == 0.0:
        return x
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"dropout needs a np.random.Generator, got {type(rng).__name__}")
    keep = (rng.random(x.shape) >= p) * x.dtype.type(1.0 / (1.0 - p))

    def vjp(g: np.ndarray) -> VJPResult:
        return (g * keep,)

    return ops.record(x.data * keep, (x,), vjp)


def batch_norm(
    x: Any,
    running_mean: np.ndarray | None,
    running_var: np.ndarray | None,
    weight: Any = None,
    bias: Any = None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalisation over (N, H, W) per channel, as F.batch_norm.

    Training normalises with the batch mean and biased variance and updates the running
    arrays in place: r <- (1 - momentum) r + momentum * stat, with the unbiased variance.
    Evaluation normalises with the running statistics.

    Args:
        x: (N, C, H, W). running_mean, running_var: (C,) arrays or None (training only).
        weight, bias: (C,) scale and shift, or None.
    """
    x = as_tensor(x)
    check_4d("batch_norm", x)
    channels, axes = x.shape[1], (0, 2, 3)
    gamma = None if weight is None else as_tensor(weight, like=x)
    beta = None if bias is None else as_tensor(bias, like=x)
    for name, value in (("weight", gamma), ("bias", beta)):
        if value is not None and value.shape != (channels,):
            raise ValueError(f"batch_norm: {name} must have shape ({channels},), got {value.shape}")
    count = x.shape[0] * x.shape[2] * x.shape[3]
    if training:
        if count < 2:
            raise ValueError(f"batch_norm needs more than one value per channel, got {x.shape}")
        mean = x.data.mean(axis=axes)
        var = x.data.var(axis=axes)
        if running_mean is not None and running_var is not None:
            running_mean *= 1 - momentum
            running_mean += momentum * mean
            running_var *= 1 - momentum
            running_var += momentum * var * (count / (count - 1))
    elif running_mean is None or running_var is None:
        raise ValueError("batch_norm in evaluation mode needs running_mean and running_var")
    else:
        mean, var = running_mean, running_var
    shape = (1, channels, 1, 1)
    inv_std = (1.0 / np.sqrt(var + eps)).astype(x.dtype).reshape(shape)
    x_hat = (x.data - mean.astype(x.dtype).reshape(shape)) * inv_std
    scale = inv_std if gamma is None else inv_std * gamma.data.reshape(shape)
    y = x_hat if gamma is None else x_hat * gamma.data.reshape(shape)
    if beta is not None:
        y = y + beta.data.reshape(shape)

    def vjp(g: np.ndarray) -> VJPResult:
        d_gamma = (g * x_hat).sum(axis=axes) if gamma is not None else None
        d_beta = g.sum(axis=axes) if beta is not None else None
        if not training:
            return g * scale, d_gamma, d_beta
        # The batch statistics depend on x too: project out the mean and the x_hat direction.
        g_mean = g.mean(axis=axes, keepdims=True)
        gx_mean = (g * x_hat).mean(axis=axes, keepdims=True)
        return scale * (g - g_mean - x_hat * gx_mean), d_gamma, d_beta

    parents = tuple(t for t in (x, gamma, beta) if t is not None)

    def vjp_parents(g: np.ndarray) -> VJPResult:
        d_x, d_gamma, d_beta = vjp(g)
        grads = [d_x] + [d for d, t in ((d_gamma, gamma), (d_beta, beta)) if t is not None]
        return grads

    return ops.record(y, parents, vjp_parents)


def flatten(x: Any, start_dim: int = 1) -> Tensor:
    """Merge the axes from `start_dim` on into one, e.g. (N, C, H, W) -> (N, C*H*W)."""
    x = as_tensor(x)
    if not 0 <= start_dim < max(x.ndim, 1):
        raise ValueError(f"start_dim {start_dim} is out of range for shape {x.shape}")
    return ops.reshape(x, (*x.shape[:start_dim], -1))
