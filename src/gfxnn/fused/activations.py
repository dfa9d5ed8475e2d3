"""Activations of the fused path: one function each, value and (optionally) derivative written
into preallocated buffers.

Every function takes the pre-activation `z` and writes the activation into `a`; given a buffer
`d` (the same shape) it also writes the derivative da/dz there, so the backward pass is a
single multiply, `grad_z = grad_a * d`, with no branch and no allocation. Inference passes no
`d` and skips the derivative. The derivatives follow the autodiff engine (`gfxnn.functional`):
ReLU and leaky ReLU use the slope of the x <= 0 side at exactly 0.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

LEAKY_RELU_SLOPE = 0.01  # Dx12NN's slope


def relu(z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
    """a = max(z, 0); d = 1 where z > 0 else 0."""
    np.maximum(z, 0, out=a)
    if d is not None:
        np.greater(z, 0, out=d)  # bool -> float: 1.0 / 0.0


def leaky_relu(z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
    """a = z where z > 0 else 0.01 z; d = 1 where z > 0 else 0.01."""
    slope = a.dtype.type(LEAKY_RELU_SLOPE)
    # max(z, s z) is leaky ReLU for any slope s in (0, 1); two passes, no mask.
    np.multiply(z, slope, out=a)
    np.maximum(z, a, out=a)
    if d is not None:
        np.greater(z, 0, out=d)
        # 1 * (1 - s) + s rounds to exactly 1 in float32 and float64, 0 * (1 - s) + s is s.
        np.multiply(d, d.dtype.type(1.0 - LEAKY_RELU_SLOPE), out=d)
        np.add(d, slope, out=d)


def _sigmoid_into(z: np.ndarray, out: np.ndarray) -> None:
    """out = 1 / (1 + exp(-z)) computed as (1 + tanh(z / 2)) / 2: it never overflows (exp(-z)
    would for z < -88 in float32) and costs a single transcendental per element."""
    half = out.dtype.type(0.5)
    np.multiply(z, half, out=out)
    np.tanh(out, out=out)
    np.multiply(out, half, out=out)
    np.add(out, half, out=out)


def sigmoid(z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
    """a = 1 / (1 + exp(-z)); d = a (1 - a)."""
    _sigmoid_into(z, a)
    if d is not None:
        np.subtract(1, a, out=d)
        np.multiply(d, a, out=d)


def tanh(z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
    """a = tanh(z); d = 1 - a^2."""
    np.tanh(z, out=a)
    if d is not None:
        np.multiply(a, a, out=d)
        np.subtract(1, d, out=d)


def sine(z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
    """a = sin(z); d = cos(z) (tiny-cuda-nn's "Sine", SIREN with omega_0 = 1)."""
    np.sin(z, out=a)
    if d is not None:
        np.cos(z, out=d)


def softplus(z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
    """a = log(1 + exp(z)) = log1p(exp(-|z|)) + max(z, 0); d = sigmoid(z).

    The split form never overflows; d uses `sigmoid`'s tanh form (at z = 0 it is 1/2, as the
    autodiff engine's max tie rule gives)."""
    np.abs(z, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    np.log1p(a, out=a)
    if d is None:
        a += np.maximum(z, 0)  # inference only: one temporary, no derivative buffer to borrow
        return
    np.maximum(z, 0, out=d)
    np.add(a, d, out=a)
    _sigmoid_into(z, d)


def none(z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None:
    """The identity: a = z; d = 1 (tiny-cuda-nn's output_activation "None")."""
    np.copyto(a, z)
    if d is not None:
        d.fill(1)


class Activation(Protocol):
    def __call__(self, z: np.ndarray, a: np.ndarray, d: np.ndarray | None = None) -> None: ...


#: name -> the activation (value into `a`, and the derivative into `d` when given)
ACTIVATIONS: dict[str, Activation] = {
    "relu": relu,
    "leaky_relu": leaky_relu,
    "sigmoid": sigmoid,
    "tanh": tanh,
    "sine": sine,
    "softplus": softplus,
    "none": none,
}


def get(name: str) -> Activation:
    """The fused activation `name`; ValueError naming the supported ones."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; the fused path supports {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]
