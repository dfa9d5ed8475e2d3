# mypy: ignore-errors
# (Warp kernel code: a typed DSL that mypy reads as plain Python and cannot check.)
"""Activations of the GPU path as Warp functions, chosen at run time by an integer id.

The formulas are those of `gfxnn.fused.activations` (sigmoid through tanh, softplus in its
split form, the derivative of ReLU and leaky ReLU taken from the x <= 0 side at 0), so the
GPU path computes what the NumPy fused path computes. The id is a kernel argument, not a
compile-time constant: every activation runs through one compiled kernel (a branch that is
uniform across the block costs next to nothing), which keeps the number of compiled modules
small.
"""

from __future__ import annotations

import warp as wp

from gfxnn.fields.choices import KERNEL_ACTIVATION_IDS as ACTIVATION_IDS
from gfxnn.fused.activations import LEAKY_RELU_SLOPE

__all__ = ["ACTIVATION_IDS", "act_derivative", "act_value", "activation_id"]

_SLOPE = wp.constant(float(LEAKY_RELU_SLOPE))


@wp.func
def _sigmoid(z: float) -> float:
    # (1 + tanh(z / 2)) / 2: never overflows, as in the NumPy path
    return wp.tanh(z * 0.5) * 0.5 + 0.5


@wp.func
def _log1p(x: float) -> float:
    # Warp has no log1p; this classic correction (Goldberg) keeps its accuracy for tiny x.
    y = 1.0 + x
    if y == 1.0:
        return x
    return wp.log(y) * (x / (y - 1.0))


@wp.func
def act_value(z: float, act: int) -> float:
    """The activation `act` (an ACTIVATION_IDS value) at z."""
    if act == 1:
        return wp.max(z, 0.0)
    if act == 2:
        return wp.max(z, z * _SLOPE)
    if act == 3:
        return _sigmoid(z)
    if act == 4:
        return wp.tanh(z)
    if act == 5:
        return wp.sin(z)
    if act == 6:
        return wp.max(z, 0.0) + _log1p(wp.exp(-wp.abs(z)))
    return z


@wp.func
def act_derivative(z: float, act: int) -> float:
    """d act(z) / dz for the activation `act`."""
    if act == 1:
        if z > 0.0:
            return 1.0
        return 0.0
    if act == 2:
        if z > 0.0:
            return 1.0
        return _SLOPE
    if act == 3:
        a = _sigmoid(z)
        return (1.0 - a) * a
    if act == 4:
        a = wp.tanh(z)
        return 1.0 - a * a
    if act == 5:
        return wp.cos(z)
    if act == 6:
        return _sigmoid(z)
    return 1.0


def activation_id(name: str) -> int:
    """The kernel id of activation `name`; ValueError for a name the GPU path lacks."""
    if name not in ACTIVATION_IDS:
        raise ValueError(
            f"unknown activation {name!r}; the GPU path supports {sorted(ACTIVATION_IDS)}"
        )
    return ACTIVATION_IDS[name]
