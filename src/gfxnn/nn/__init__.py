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

# Convolutional networks (issue 6).
from gfxnn.nn.conv import Conv2d, ConvTranspose2d  # noqa: E402
from gfxnn.nn.dropout import Dropout  # noqa: E402
from gfxnn.nn.module import Buffer  # noqa: E402
from gfxnn.nn.normalization import BatchNorm2d  # noqa: E402
from gfxnn.nn.pooling import AvgPool2d, Flatten, MaxPool2d, Upsample  # noqa: E402

__all__ += [
    "AvgPool2d",
    "BatchNorm2d",
    "Buffer",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Flatten",
    "MaxPool2d",
    "Upsample",
]
