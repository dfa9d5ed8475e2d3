"""Activations and other functions composed from primitives; only relu has backward code.

Each formula is chosen to stay finite for any float input, including in its backward pass:
no branch of a `where` ever evaluates an exponential that can overflow, because a zero
gradient times an infinite local derivative would still be NaN.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import ops
from gfxnn.autograd import VJPResult
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor


def relu(x: Any) -> Tensor:
    """max(x, 0); the gradient at 0 is 0, and NaN stays NaN, as in PyTorch.

    The one primitive in this module: every hidden layer of a classifier runs it, and as a
    `where` composition it recorded a node for the constant 0 too and made four temporaries
    per call. The VJP passes g where the output is not <= 0 (so NaN passes it, as PyTorch's
    threshold_backward does).
    """
    x = as_tensor(x)
    # np.maximum propagates NaN, so a diverged input is not silently turned into 0.
    out = np.maximum(x.data, 0)
    zero = np.zeros((), dtype=x.dtype)

    def vjp(g: np.ndarray) -> VJPResult:
        return (np.where(out <= 0, zero, g),)

    return ops.record(out, (x,), vjp)


def leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (NaN stays NaN: slope * NaN is NaN)."""
    x = as_tensor(x)
    return ops.where(x.data > 0, x, ops.mul(x, negative_slope))


def sigmoid(x: Any) -> Tensor:
    """1 / (1 + exp(-x)), a primitive that saves its output (`ops.sigmoid`)."""
    return ops.sigmoid(x)


def tanh(x: Any) -> Tensor:
    """tanh(x), a primitive that saves its output (`ops.tanh`)."""
    return ops.tanh(x)


def softplus(x: Any) -> Tensor:
    """log(1 + exp(x)) = max(x, 0) + log1p(exp(-|x|)); max's tie rule gives 1/2 at x = 0."""
    x = as_tensor(x)
    return ops.add(ops.maximum(x, 0.0), ops.log1p(ops.exp(ops.neg(ops.abs(x)))))


def silu(x: Any) -> Tensor:
    """x * sigmoid(x), also called swish."""
    return ops.mul(x, sigmoid(x))


def sine(x: Any, omega_0: float = 1.0) -> Tensor:
    """sin(omega_0 * x), SIREN's activation (https://arxiv.org/abs/2006.09661)."""
    return ops.sin(ops.mul(x, omega_0))


def identity(x: Any) -> Tensor:
    return as_tensor(x)


def logsumexp(x: Any, axis: int = -1, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x))) over `axis`, shifted by the (constant) maximum to avoid overflow."""
    x = as_tensor(x)
    shift = Tensor(np.max(x.data, axis=axis, keepdims=True))
    summed = ops.sum(ops.exp(ops.sub(x, shift)), axis=axis, keepdims=True)
    out = ops.add(ops.log(summed), shift)
    return out if keepdims else ops.reshape(out, np.squeeze(out.data, axis=axis).shape)


def log_softmax(x: Any, axis: int = -1) -> Tensor:
    """x - logsumexp(x): log-probabilities that stay finite for any logits (a primitive)."""
    return ops.log_softmax(x, axis)


def softmax(x: Any, axis: int = -1) -> Tensor:
    """exp(x) / sum(exp(x)) over `axis`, computed as exp(log_softmax(x))."""
    return ops.exp(log_softmax(x, axis=axis))


ACTIVATIONS = {
    "none": identity,
    "identity": identity,
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "softplus": softplus,
    "silu": silu,
    "sine": sine,
}


def activation_by_name(name: str) -> Any:
    """The activation function called `name` (case-insensitive), or a ValueError listing them."""
    key = name.lower() if isinstance(name, str) else None  # None: never a valid name
    if key not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[key]
