"""Activations of the fused path: value and derivative written into preallocated buffers.

Every function takes the pre-activation `z` and writes the activation into `a` and its
derivative da/dz into `d` (all the same shape), so the backward pass is a single multiply,
`grad_z = grad_a * d`, with no branch and no allocation. The derivatives follow the autodiff
engine (`gfxnn.functional`): ReLU and leaky ReLU use the slope of the x <= 0 side at exactly 0.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

LEAKY_RELU_SLOPE = 0.01  # Dx12NN's slope


def relu(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """a = max(z, 0); d = 1 where z > 0 else 0."""
    np.maximum(z, 0, out=a)
    np.greater(z, 0, out=d)  # bool -> float: 1.0 / 0.0


def leaky_relu(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """a = z where z > 0 else 0.01 z; d = 1 where z > 0 else 0.01."""
    slope = d.dtype.type(LEAKY_RELU_SLOPE)
    # max(z, s z) is leaky ReLU for any slope s in (0, 1); two passes, no mask.
    np.multiply(z, slope, out=a)
    np.maximum(z, a, out=a)
    np.greater(z, 0, out=d)
    # 1 * (1 - s) + s rounds to exactly 1 in float32 and float64, 0 * (1 - s) + s is s.
    np.multiply(d, d.dtype.type(1.0 - LEAKY_RELU_SLOPE), out=d)
    np.add(d, slope, out=d)


def sigmoid(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """a = 1 / (1 + exp(-z)) computed as (1 + tanh(z / 2)) / 2; d = a (1 - a).

    The tanh form never overflows (exp(-z) would for z < -88 in float32) and costs a single
    transcendental per element.
    """
    half = a.dtype.type(0.5)
    np.multiply(z, half, out=a)
    np.tanh(a, out=a)
    np.multiply(a, half, out=a)
    np.add(a, half, out=a)
    np.subtract(1, a, out=d)
    np.multiply(d, a, out=d)


def tanh(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """a = tanh(z); d = 1 - a^2."""
    np.tanh(z, out=a)
    np.multiply(a, a, out=d)
    np.subtract(1, d, out=d)


def sine(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """a = sin(z); d = cos(z) (tiny-cuda-nn's "Sine", SIREN with omega_0 = 1)."""
    np.sin(z, out=a)
    np.cos(z, out=d)


def softplus(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """a = log(1 + exp(z)) = max(z, 0) + log1p(exp(-|z|)); d = sigmoid(z).

    The split form never overflows; d uses the same tanh form as `sigmoid` (at z = 0 it is 1/2,
    as the autodiff engine's max tie rule gives)."""
    np.abs(z, out=d)
    np.negative(d, out=d)
    np.exp(d, out=d)
    np.log1p(d, out=d)
    np.maximum(z, 0, out=a)
    np.add(a, d, out=a)
    half = d.dtype.type(0.5)
    np.multiply(z, half, out=d)
    np.tanh(d, out=d)
    np.multiply(d, half, out=d)
    np.add(d, half, out=d)


def none(z: np.ndarray, a: np.ndarray, d: np.ndarray) -> None:
    """The identity: a = z; d = 1 (tiny-cuda-nn's output_activation "None")."""
    np.copyto(a, z)
    d.fill(1)


def relu_value(z: np.ndarray, a: np.ndarray) -> None:
    np.maximum(z, 0, out=a)


def leaky_relu_value(z: np.ndarray, a: np.ndarray) -> None:
    np.multiply(z, a.dtype.type(LEAKY_RELU_SLOPE), out=a)
    np.maximum(z, a, out=a)


def sigmoid_value(z: np.ndarray, a: np.ndarray) -> None:
    half = a.dtype.type(0.5)
    np.multiply(z, half, out=a)
    np.tanh(a, out=a)
    np.multiply(a, half, out=a)
    np.add(a, half, out=a)


def tanh_value(z: np.ndarray, a: np.ndarray) -> None:
    np.tanh(z, out=a)


def sine_value(z: np.ndarray, a: np.ndarray) -> None:
    np.sin(z, out=a)


def softplus_value(z: np.ndarray, a: np.ndarray) -> None:
    np.abs(z, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    np.log1p(a, out=a)
    np.add(a, np.maximum(z, 0), out=a)


def none_value(z: np.ndarray, a: np.ndarray) -> None:
    np.copyto(a, z)


Forward = Callable[[np.ndarray, np.ndarray, np.ndarray], None]
Value = Callable[[np.ndarray, np.ndarray], None]

#: name -> (value and derivative for training, value only for inference)
ACTIVATIONS: dict[str, tuple[Forward, Value]] = {
    "relu": (relu, relu_value),
    "leaky_relu": (leaky_relu, leaky_relu_value),
    "sigmoid": (sigmoid, sigmoid_value),
    "tanh": (tanh, tanh_value),
    "sine": (sine, sine_value),
    "softplus": (softplus, softplus_value),
    "none": (none, none_value),
}


def get(name: str) -> tuple[Forward, Value]:
    """The (training, inference) functions of activation `name`."""
    if name not in ACTIVATIONS:
        raise ValueError(
            f"unknown activation {name!r}; the fused path supports {sorted(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]
