"""Activations of the compiled path: value and derivative of a tile, in place.

The formulas (and their order of rounding) are those of `gfxnn.fused.activations`, so the two
paths give the same numbers up to the last bit of the C library's tanh/exp: ReLU and leaky
ReLU take the x <= 0 slope at exactly 0, sigmoid is (1 + tanh(z / 2)) / 2 and never overflows.
Activations are numbered (`CODES`) because a compiled kernel takes integers, not names; the
constants come from a `consts` array of the buffers' dtype so float32 stays float32.
"""

from __future__ import annotations

import math
from typing import Any

import numba as nb
import numpy as np

from gfxnn.fused.activations import ACTIVATIONS, LEAKY_RELU_SLOPE

NONE, RELU, LEAKY_RELU, SIGMOID, TANH, SINE, SOFTPLUS = range(7)
CODES = {
    "none": NONE,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "sine": SINE,
    "softplus": SOFTPLUS,
}
assert set(CODES) == set(ACTIVATIONS)

# Indices into the `consts` array (see make_consts).
K_SLOPE, K_HALF, K_ONE, K_ZERO, K_REL_EPS, K_LOSS_SCALE = range(6)


def make_consts(dtype: np.dtype, relative_l2_epsilon: float, loss_scale: float) -> np.ndarray:
    """The constants the kernels use, rounded once to `dtype` as NumPy rounds them."""
    values = [LEAKY_RELU_SLOPE, 0.5, 1.0, 0.0, relative_l2_epsilon, loss_scale]
    return np.array(values, dtype)


@nb.njit(cache=True, error_model="numpy")
def activate_tile(code: int, a: np.ndarray, bias: np.ndarray, d: np.ndarray, k: np.ndarray) -> None:
    """Training: a (rows, n) holds x W^T on entry and act(z) on return, z = x W^T + bias;
    d = act'(z), except for ReLU, leaky ReLU and none, whose derivative `backward_tile` reads
    off a (one buffer less in cache per layer). One branch on the activation for the whole
    tile, then a loop over the tile that LLVM vectorises (a branch per row, or per value,
    cost 4x on a 128 x 64 tile)."""
    rows, n = a.shape
    zero, one, half = k[K_ZERO], k[K_ONE], k[K_HALF]
    if code == LEAKY_RELU:  # these three write no d: `backward_tile` reads it off a
        slope = k[K_SLOPE]
        for t in range(rows):
            for j in range(n):
                z = a[t, j] + bias[j]
                s = z * slope
                a[t, j] = z if z > s else s  # max(z, s z), as np.maximum
    elif code == RELU:
        for t in range(rows):
            for j in range(n):
                z = a[t, j] + bias[j]
                a[t, j] = z if z > zero else zero
    elif code == NONE:
        for t in range(rows):
            for j in range(n):
                a[t, j] = a[t, j] + bias[j]
    elif code == SIGMOID:
        for t in range(rows):
            for j in range(n):
                s = math.tanh((a[t, j] + bias[j]) * half) * half + half
                a[t, j] = s
                d[t, j] = (one - s) * s
    elif code == TANH:
        for t in range(rows):
            for j in range(n):
                th = math.tanh(a[t, j] + bias[j])
                a[t, j] = th
                d[t, j] = one - th * th
    elif code == SINE:
        for t in range(rows):
            for j in range(n):
                z = a[t, j] + bias[j]
                a[t, j] = math.sin(z)
                d[t, j] = math.cos(z)
    else:  # SOFTPLUS: max(z, 0) + log1p(exp(-|z|)); derivative sigmoid(z) in the tanh form
        for t in range(rows):
            for j in range(n):
                z = a[t, j] + bias[j]
                tail = math.log1p(math.exp(-abs(z)))
                a[t, j] = (z if z > zero else zero) + tail
                d[t, j] = math.tanh(z * half) * half + half


@nb.njit(cache=True, error_model="numpy")
def backward_tile(
    code: int, grad: np.ndarray, a: np.ndarray, d: np.ndarray, k: np.ndarray,
    bias_grad: np.ndarray,
) -> None:  # fmt: skip
    """grad holds dL/da on entry and dL/dz = dL/da * act'(z) on return; its column sums are
    added to bias_grad. ReLU and leaky ReLU take act'(z) from a: a > 0 exactly where z > 0
    (the slope is positive; z = 0 and NaN give a <= 0 or NaN, and the x <= 0 slope, as
    activate_tile's d did), so the bits are those of grad * d."""
    rows, n = grad.shape
    one, zero = k[K_ONE], k[K_ZERO]
    if code == LEAKY_RELU:
        slope = k[K_SLOPE]
        for t in range(rows):
            for j in range(n):
                g = grad[t, j] * (one if a[t, j] > zero else slope)
                grad[t, j] = g
                bias_grad[j] += g
    elif code == RELU:
        for t in range(rows):
            for j in range(n):
                g = grad[t, j] * (one if a[t, j] > zero else zero)
                grad[t, j] = g
                bias_grad[j] += g
    elif code == NONE:  # act' = 1: dL/dz = dL/da
        for t in range(rows):
            for j in range(n):
                bias_grad[j] += grad[t, j]
    else:
        for t in range(rows):
            for j in range(n):
                g = grad[t, j] * d[t, j]
                grad[t, j] = g
                bias_grad[j] += g


@nb.njit(cache=True, error_model="numpy", inline="always")
def activation_value(code: int, z: Any, k: np.ndarray) -> Any:
    """act(z) by activate_tile's formulas (the same rounding), without the derivative."""
    zero, half = k[K_ZERO], k[K_HALF]
    if code == LEAKY_RELU:
        s = z * k[K_SLOPE]
        return z if z > s else s
    if code == RELU:
        return z if z > zero else zero
    if code == NONE:
        return z
    if code == SIGMOID:
        return math.tanh(z * half) * half + half
    if code == TANH:
        return math.tanh(z)
    if code == SINE:
        return math.sin(z)
    return (z if z > zero else zero) + math.log1p(math.exp(-abs(z)))


@nb.njit(cache=True, error_model="numpy")
def activate_biased(code: int, a: np.ndarray, bias: np.ndarray, k: np.ndarray) -> None:
    """Inference: a (rows, n) holds x W^T on entry and act(x W^T + bias) on return, in one
    pass over the tile (no derivative: nothing is trained from it). Loops written out per
    activation measured no faster (512x512 render, one thread: 133 ms either way)."""
    rows, n = a.shape
    for t in range(rows):
        for o in range(n):
            a[t, o] = activation_value(code, a[t, o] + bias[o], k)
