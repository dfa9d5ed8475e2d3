"""Layers and models built on the autodiff engine, with PyTorch's names and layouts."""

from gfxnn.nn import init
from gfxnn.nn.activation import (
    Identity,
    LeakyReLU,
    ReLU,
    Sigmoid,
    SiLU,
    Sine,
    Softmax,
    Softplus,
    Tanh,
    make_activation,
)
from gfxnn.nn.linear import Linear
from gfxnn.nn.mlp import MLP
from gfxnn.nn.module import Module, ModuleList, Parameter, Sequential

__all__ = [
    "MLP",
    "Identity",
    "LeakyReLU",
    "Linear",
    "Module",
    "ModuleList",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Sine",
    "Softmax",
    "Softplus",
    "Tanh",
    "init",
    "make_activation",
]
