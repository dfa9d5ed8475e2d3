"""Activation modules: thin wrappers of `gfxnn.functional`, so they can sit in a Sequential."""

from __future__ import annotations

from typing import Any

from gfxnn import functional as F
from gfxnn.checks import check_int, check_real
from gfxnn.nn.module import Module
from gfxnn.tensor import Tensor


class Identity(Module):
    def forward(self, x: Any) -> Tensor:
        return F.identity(x)


class ReLU(Module):
    def forward(self, x: Any) -> Tensor:
        return F.relu(x)


class LeakyReLU(Module):
    def __init__(self, negative_slope: float = 0.01) -> None:
        super().__init__()
        self.negative_slope = check_real("negative_slope", negative_slope)

    def forward(self, x: Any) -> Tensor:
        return F.leaky_relu(x, self.negative_slope)

    def extra_repr(self) -> str:
        return f"negative_slope={self.negative_slope}"


class Sigmoid(Module):
    def forward(self, x: Any) -> Tensor:
        return F.sigmoid(x)


class Tanh(Module):
    def forward(self, x: Any) -> Tensor:
        return F.tanh(x)


class Softplus(Module):
    def forward(self, x: Any) -> Tensor:
        return F.softplus(x)


class SiLU(Module):
    def forward(self, x: Any) -> Tensor:
        return F.silu(x)


class Sine(Module):
    """sin(omega_0 x), SIREN's activation."""

    def __init__(self, omega_0: float = 1.0) -> None:
        super().__init__()
        self.omega_0 = check_real("omega_0", omega_0)

    def forward(self, x: Any) -> Tensor:
        return F.sine(x, self.omega_0)

    def extra_repr(self) -> str:
        return f"omega_0={self.omega_0}"


class Softmax(Module):
    def __init__(self, axis: int = -1) -> None:
        super().__init__()
        self.axis = check_int("axis", axis, -64, 63)  # an axis index; NumPy's ndim cap is 64

    def forward(self, x: Any) -> Tensor:
        return F.softmax(x, self.axis)


ACTIVATION_MODULES: dict[str, type[Module]] = {
    "none": Identity,
    "identity": Identity,
    "relu": ReLU,
    "leaky_relu": LeakyReLU,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "softplus": Softplus,
    "silu": SiLU,
    "sine": Sine,
}


def make_activation(name: str | Module) -> Module:
    """An activation module from its name (case-insensitive), or the module itself."""
    if isinstance(name, Module):
        return name
    key = name.lower() if isinstance(name, str) else None  # None: never a valid name
    if key not in ACTIVATION_MODULES:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(ACTIVATION_MODULES)}")
    return ACTIVATION_MODULES[key]()
