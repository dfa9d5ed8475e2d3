"""Primitive ops: each forward formula with its vector-Jacobian product right beside it.

Every primitive computes its output with NumPy and returns, through `record`, a closure
`vjp(g)` that maps the output's gradient `g` to one gradient per input (None where an input
gets none). Broadcast inputs receive full-size gradients; the engine (`autograd.unbroadcast`)
sums them back to the input's shape, so no op repeats that logic. A few ops at the end
(`sub`, `div`, `neg`, `mean`, `min`) are compositions of primitives and have no backward
code of their own, so they cannot have a wrong derivative.
"""

from __future__ import annotations

import builtins
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from gfxnn.autograd import VJP, VJPResult, is_grad_enabled
from gfxnn.parallel import product  # every BLAS product on one thread: see parallel.py
from gfxnn.tensor import Tensor, bind_ops, to_float_array

Axis = int | tuple[int, ...] | None


# ----- plumbing ------------------------------------------------------------------------------
def as_tensor(value: Any, like: Tensor | None = None) -> Tensor:
    """`value` as a Tensor; raw numbers and arrays take the dtype of `like` when given."""
    if isinstance(value, Tensor):
        return value
    return Tensor(to_float_array(value, None if like is None else like.dtype))


def _pair(a: Any, b: Any) -> tuple[Tensor, Tensor]:
    """Two operands as tensors of one dtype; raw values adopt the other tensor's dtype."""
    if isinstance(a, Tensor):
        b = as_tensor(b, like=a)
    elif isinstance(b, Tensor):
        a = as_tensor(a, like=b)
    else:
        a, b = as_tensor(a), as_tensor(b)
    if a.dtype != b.dtype:
        raise TypeError(
            f"dtype mismatch: {a.dtype} and {b.dtype}; convert one with .astype() first"
        )
    return a, b


def _broadcast_shape(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(s) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} cannot be broadcast together") from None


def record(data: np.ndarray, parents: Sequence[Tensor], vjp: VJP) -> Tensor:
    """The output of a primitive: `data` as a Tensor that remembers `parents` and `vjp`.

    This is the one way to add a primitive, here or in any other module (image ops,
    encodings): compute the forward pass with NumPy, write `vjp(g)` right beside it, and
    return `record(out, (x, w, ...), vjp)`. `vjp` maps the output's gradient `g` (the
    output's shape) to one gradient per parent, in order, with None where a parent gets
    none; a gradient may have the broadcast shape, the engine sums it back to the parent's.
    Nothing is recorded under `no_grad()` or when no parent requires grad, so inference
    keeps no graph alive.
    """
    out = Tensor(data)
    parents = tuple(parents)
    if is_grad_enabled() and builtins.any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = parents
        out._vjp = vjp
    return out


def _normalize_axes(axis: Axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimensions")
    return tuple(sorted(a % ndim for a in axes))


def _expand_reduced(g: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    """Give a reduced gradient back the reduced axes (size 1) so it broadcasts to the input."""
    return g if keepdims else np.expand_dims(g, axes)


# ----- elementwise binary --------------------------------------------------------------------
def add(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    _broadcast_shape("add", a.shape, b.shape)

    def vjp(g: np.ndarray) -> VJPResult:
        return g, g

    return record(a.data + b.data, (a, b), vjp)


def mul(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    _broadcast_shape("mul", a.shape, b.shape)
    a_data, b_data = a.data, b.data

    def vjp(g: np.ndarray) -> VJPResult:
        d_a = g * b_data if a.requires_grad else None
        d_b = g * a_data if b.requires_grad else None
        return d_a, d_b

    return record(a_data * b_data, (a, b), vjp)


def pow(base: Any, exponent: Any) -> Tensor:  # noqa: A001 - mirrors Python's pow
    base, exponent = _pair(base, exponent)
    _broadcast_shape("pow", base.shape, exponent.shape)
    x, p = base.data, exponent.data
    out = np.power(x, p)

    def vjp(g: np.ndarray) -> VJPResult:
        d_base = g * p * np.power(x, p - 1)
        # d/dp x^p = x^p log x; only formed when asked, since log x is nan for x < 0.
        d_exponent = g * out * np.log(x) if exponent.requires_grad else None
        return d_base, d_exponent

    return record(out, (base, exponent), vjp)


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max; where a == b each side gets half the gradient (as PyTorch does)."""
    a, b = _pair(a, b)
    _broadcast_shape("maximum", a.shape, b.shape)
    a_wins = (a.data > b.data).astype(a.dtype)
    tie = (a.data == b.data).astype(a.dtype)

    def vjp(g: np.ndarray) -> VJPResult:
        share_a = a_wins + 0.5 * tie
        return g * share_a, g * (1 - share_a)

    return record(np.maximum(a.data, b.data), (a, b), vjp)


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min; min(a, b) = -max(-a, -b), so ties split the gradient too."""
    a, b = _pair(a, b)  # first, so a raw number takes the tensor's dtype before negation
    return neg(maximum(neg(a), neg(b)))


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """`a` where `condition` is true, else `b`; the condition carries no gradient."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    a, b = _pair(a, b)
    _broadcast_shape("where", cond.shape, a.shape, b.shape)
    zero = np.zeros((), dtype=a.dtype)

    def vjp(g: np.ndarray) -> VJPResult:
        d_a = np.where(cond, g, zero) if a.requires_grad else None
        return d_a, np.where(cond, zero, g) if b.requires_grad else None

    return record(np.where(cond, a.data, b.data), (a, b), vjp)


# ----- elementwise unary ----------------------------------------------------------------------
def exp(x: Any) -> Tensor:
    x = as_tensor(x)
    out = np.exp(x.data)

    def vjp(g: np.ndarray) -> VJPResult:
        return (g * out,)

    return record(out, (x,), vjp)


def log(x: Any) -> Tensor:
    x = as_tensor(x)
    x_data = x.data

    def vjp(g: np.ndarray) -> VJPResult:
        return (g / x_data,)

    return record(np.log(x_data), (x,), vjp)


def log1p(x: Any) -> Tensor:
    """log(1 + x), accurate for small x."""
    x = as_tensor(x)
    x_data = x.data

    def vjp(g: np.ndarray) -> VJPResult:
        return (g / (1 + x_data),)

    return record(np.log1p(x_data), (x,), vjp)


def sqrt(x: Any) -> Tensor:
    x = as_tensor(x)
    out = np.sqrt(x.data)

    def vjp(g: np.ndarray) -> VJPResult:
        return (g * 0.5 / out,)

    return record(out, (x,), vjp)


def sin(x: Any) -> Tensor:
    x = as_tensor(x)
    x_data = x.data

    def vjp(g: np.ndarray) -> VJPResult:
        return (g * np.cos(x_data),)

    return record(np.sin(x_data), (x,), vjp)


def cos(x: Any) -> Tensor:
    x = as_tensor(x)
    x_data = x.data

    def vjp(g: np.ndarray) -> VJPResult:
        return (-g * np.sin(x_data),)

    return record(np.cos(x_data), (x,), vjp)


def abs(x: Any) -> Tensor:  # noqa: A001 - mirrors Python's abs
    """|x|; the gradient at 0 is 0, as in PyTorch."""
    x = as_tensor(x)
    sign = np.sign(x.data)

    def vjp(g: np.ndarray) -> VJPResult:
        return (g * sign,)

    return record(np.abs(x.data), (x,), vjp)


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), saving its output s for the VJP g s (1 - s).

    A primitive rather than a composition: the composed form recorded 9 graph nodes and
    evaluated exp again in backward. Written with exp(-|x|) <= 1, so neither branch can
    overflow for any float input; NaN stays NaN.
    """
    x = as_tensor(x)
    z = np.abs(x.data)
    np.negative(z, out=z)
    np.exp(z, out=z)  # exp(-|x|), in place: this op runs on every hidden layer
    numerator = np.where(x.data >= 0, 1, z)  # 1 / (1 + z) for x >= 0, z / (1 + z) below
    z += 1
    out = np.divide(numerator, z, out=numerator)

    def vjp(g: np.ndarray) -> VJPResult:
        return (g * out * (1 - out),)

    return record(out, (x,), vjp)


def tanh(x: Any) -> Tensor:
    """tanh(x), saving its output t for the VJP g (1 - t^2)."""
    x = as_tensor(x)
    out = np.tanh(x.data)

    def vjp(g: np.ndarray) -> VJPResult:
        return (g * (1 - out * out),)

    return record(out, (x,), vjp)


def clip(x: Any, low: float | None = None, high: float | None = None) -> Tensor:
    """Clamp to [low, high]; the gradient passes where low <= x <= high (PyTorch's clamp)."""
    x = as_tensor(x)
    if low is None and high is None:
        raise ValueError("clip needs at least one of low and high")
    if low is not None and high is not None and low > high:
        raise ValueError(f"clip: low ({low}) must not exceed high ({high})")
    inside = np.ones(x.shape, dtype=bool)
    if low is not None:
        inside &= x.data >= low
    if high is not None:
        inside &= x.data <= high
    zero = np.zeros((), dtype=x.dtype)

    def vjp(g: np.ndarray) -> VJPResult:
        return (np.where(inside, g, zero),)

    return record(np.clip(x.data, low, high).astype(x.dtype, copy=False), (x,), vjp)


def cast(x: Any, dtype: Any) -> Tensor:
    """The same values in another float dtype; the gradient is cast back."""
    x = as_tensor(x)
    source = x.dtype

    def vjp(g: np.ndarray) -> VJPResult:
        return (g.astype(source),)

    return record(to_float_array(x.data, dtype), (x,), vjp)


# ----- reductions ------------------------------------------------------------------------------
def sum(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = as_tensor(x)
    axes = _normalize_axes(axis, x.ndim)
    shape = x.shape

    def vjp(g: np.ndarray) -> VJPResult:
        return (np.broadcast_to(_expand_reduced(g, axes, keepdims), shape),)

    return record(np.sum(x.data, axis=axes, keepdims=keepdims), (x,), vjp)


def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """Largest value over `axis`; tied maxima share the gradient equally (PyTorch's amax)."""
    x = as_tensor(x)
    if x.size == 0:
        raise ValueError("max of an empty tensor is undefined")
    axes = _normalize_axes(axis, x.ndim)
    out_kept = np.max(x.data, axis=axes, keepdims=True)
    # A NaN maximum (NumPy propagates NaN, as PyTorch does) is "won" by the NaN entries;
    # without this no entry equals the maximum and the shares below would be 0 / 0.
    winners = ((x.data == out_kept) | (np.isnan(x.data) & np.isnan(out_kept))).astype(x.dtype)
    winners /= winners.sum(axis=axes, keepdims=True)

    def vjp(g: np.ndarray) -> VJPResult:
        return (winners * _expand_reduced(g, axes, keepdims),)

    out = out_kept if keepdims else np.squeeze(out_kept, axis=axes)
    return record(out, (x,), vjp)


# ----- linear algebra -------------------------------------------------------------------------
def matmul(a: Any, b: Any) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands are promoted and the batch broadcasts."""
    a, b = _pair(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs at least 1-D operands, got shapes {a.shape} and {b.shape}")
    if a.ndim == 1:
        return reshape(matmul(reshape(a, (1, a.shape[0])), b), _drop_axis(b.shape, -2))
    if b.ndim == 1:
        return reshape(matmul(a, reshape(b, (b.shape[0], 1))), a.shape[:-1])
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(
            f"matmul: shapes {a.shape} and {b.shape} do not align "
            f"({a.shape[-1]} columns vs {b.shape[-2]} rows)"
        )
    _broadcast_shape("matmul (batch dimensions)", a.shape[:-2], b.shape[:-2])
    a_data, b_data = a.data, b.data

    def vjp(g: np.ndarray) -> VJPResult:
        d_a = product(g, np.swapaxes(b_data, -1, -2)) if a.requires_grad else None
        d_b = product(np.swapaxes(a_data, -1, -2), g) if b.requires_grad else None
        return d_a, d_b

    return record(product(a_data, b_data), (a, b), vjp)


def linear(x: Any, weight: Any, bias: Any | None = None) -> Tensor:
    """y = x W^T + b for x (..., in), W (out, in), b (out,): one fused op for Linear layers.

    It equals matmul(x, transpose(W)) + b, but does the bias add in place and reduces the
    weight and bias gradients over all leading axes at once, saving three passes over the
    (batch, out) arrays that the composition would make in every step.
    """
    x, weight = _pair(x, weight)
    if weight.ndim != 2 or x.ndim == 0 or x.shape[-1] != weight.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not match a weight of shape {weight.shape} "
            "(expected input (..., in) and weight (out, in))"
        )
    parents: tuple[Tensor, ...] = (x, weight)
    out = product(x.data, weight.data.T)
    if bias is not None:
        bias = as_tensor(bias, like=weight)
        if bias.shape != (weight.shape[0],):
            raise ValueError(f"linear: bias must have shape ({weight.shape[0]},), got {bias.shape}")
        out += bias.data
        parents = (x, weight, bias)
    x_data, w_data = x.data, weight.data

    def vjp(g: np.ndarray) -> VJPResult:
        g_rows = g.reshape(-1, g.shape[-1])
        d_x = product(g, w_data) if x.requires_grad else None
        x_rows = x_data.reshape(-1, x_data.shape[-1])
        d_w = product(g_rows.T, x_rows) if weight.requires_grad else None
        if len(parents) == 2:
            return d_x, d_w
        return d_x, d_w, g_rows.sum(axis=0)

    return record(out, parents, vjp)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """log(softmax(x)) over `axis` = x - logsumexp(x), shifted by the maximum for stability.

    A primitive rather than a composition because classifiers spend much of a step here:
    with p = exp(out), the VJP is g - p * sum(g), one pass instead of the five a
    composition's backward would make.
    """
    x = as_tensor(x)
    _normalize_axes(axis, x.ndim)
    shifted = x.data - np.max(x.data, axis=axis, keepdims=True)
    out = shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))

    def vjp(g: np.ndarray) -> VJPResult:
        return (g - np.exp(out) * np.sum(g, axis=axis, keepdims=True),)

    return record(out, (x,), vjp)


def _drop_axis(shape: tuple[int, ...], axis: int) -> tuple[int, ...]:
    axis %= len(shape)
    return shape[:axis] + shape[axis + 1 :]


# ----- shape ------------------------------------------------------------------------------------
def reshape(x: Any, shape: Sequence[int]) -> Tensor:
    x = as_tensor(x)
    source = x.shape
    try:
        out = x.data.reshape(tuple(shape))
    except ValueError:
        raise ValueError(f"cannot reshape a tensor of shape {source} into {tuple(shape)}") from None

    def vjp(g: np.ndarray) -> VJPResult:
        return (g.reshape(source),)

    return record(out, (x,), vjp)


def transpose(x: Any, axes: Sequence[int] | None = None) -> Tensor:
    """Permute the axes (reverse them when `axes` is None)."""
    x = as_tensor(x)
    order = tuple(reversed(range(x.ndim))) if axes is None else tuple(axes)
    if sorted(a % builtins.max(x.ndim, 1) for a in order) != list(range(x.ndim)):
        raise ValueError(f"axes {order} are not a permutation of the {x.ndim} axes")
    inverse = tuple(np.argsort([a % x.ndim for a in order]))

    def vjp(g: np.ndarray) -> VJPResult:
        return (np.transpose(g, inverse),)

    return record(np.transpose(x.data, order), (x,), vjp)


def getitem(x: Any, index: Any) -> Tensor:
    """Indexing and slicing with NumPy's rules; repeated indices accumulate their gradients."""
    x = as_tensor(x)
    if isinstance(index, Tensor):
        index = index.data.astype(np.intp)
    try:
        out = x.data[index]
    except IndexError as error:
        raise IndexError(f"index {index!r} is invalid for shape {x.shape}: {error}") from None
    shape, dtype = x.shape, x.dtype

    def vjp(g: np.ndarray) -> VJPResult:
        full = np.zeros(shape, dtype=dtype)
        np.add.at(full, index, g)
        return (full,)

    return record(np.array(out, copy=True), (x,), vjp)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    parts, out = _join("concatenate", np.concatenate, tensors, axis)
    bounds = np.cumsum([t.shape[axis] for t in parts])[:-1]

    def vjp(g: np.ndarray) -> VJPResult:
        return tuple(np.split(g, bounds, axis=axis))

    return record(out, tuple(parts), vjp)


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    parts, out = _join("stack", np.stack, tensors, axis)

    def vjp(g: np.ndarray) -> VJPResult:
        return tuple(np.moveaxis(g, axis, 0))

    return record(out, tuple(parts), vjp)


def _join(op: str, join: Any, tensors: Sequence[Any], axis: int) -> tuple[list[Tensor], np.ndarray]:
    """The tensors (one dtype) and NumPy's `join` of their arrays, or a ValueError with shapes."""
    parts = _same_dtype(tensors, op)
    try:
        return parts, join([t.data for t in parts], axis=axis)
    except (ValueError, np.exceptions.AxisError) as error:
        shapes = [t.shape for t in parts]
        raise ValueError(f"cannot {op} shapes {shapes} along axis {axis}: {error}") from None


def _same_dtype(tensors: Sequence[Any], op: str) -> list[Tensor]:
    if len(tensors) == 0:
        raise ValueError(f"{op} needs at least one tensor")
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    parts = [as_tensor(t, like=first) for t in tensors]
    dtypes = {t.dtype for t in parts}
    if len(dtypes) > 1:
        raise TypeError(f"{op}: tensors have mixed dtypes {sorted(map(str, dtypes))}")
    return parts


def pad(x: Any, pad_width: Sequence[tuple[int, int]] | int, value: float = 0.0) -> Tensor:
    """Constant padding with NumPy's `pad_width` convention: ((before, after), ...) per axis."""
    x = as_tensor(x)
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.intp), (x.ndim, 2))
    if (widths < 0).any():
        raise ValueError(f"pad widths must be non-negative, got {np.asarray(pad_width).tolist()}")
    inner = tuple(slice(int(lo), int(lo) + n) for (lo, _), n in zip(widths, x.shape, strict=True))

    def vjp(g: np.ndarray) -> VJPResult:
        return (g[inner],)

    out = np.pad(x.data, widths, mode="constant", constant_values=value)
    return record(out, (x,), vjp)


# ----- compositions (no backward code of their own) ----------------------------------------
def neg(x: Any) -> Tensor:
    return mul(x, -1.0)


def sub(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return add(a, neg(b))


def div(a: Any, b: Any) -> Tensor:
    a, b = _pair(a, b)
    return mul(a, pow(b, -1.0))


def mean(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = as_tensor(x)
    axes = _normalize_axes(axis, x.ndim)
    count = int(np.prod([x.shape[a] for a in axes]))
    if count == 0:
        raise ValueError(f"mean over an empty axis of a tensor of shape {x.shape}")
    return mul(sum(x, axes, keepdims), 1.0 / count)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    return neg(max(neg(x), axis, keepdims))


# Tensor's operators (a + b, x.sum(), ...) are the functions of this module.
bind_ops(sys.modules[__name__])
