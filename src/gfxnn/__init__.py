"""gfxnn: small neural networks for computer graphics.

A readable reverse-mode autodiff core on NumPy (`Tensor`, `gfxnn.nn`, `gfxnn.optim`,
`gfxnn.losses`, `gfxnn.encodings`; `gfxnn.build(config)` for tiny-cuda-nn-style JSON
configs) and a fused, fast path for real-time image fitting (Dx12NN in Python).
"""

from gfxnn import functional, losses, nn, optim, registry
from gfxnn.autograd import enable_grad, is_grad_enabled, no_grad
from gfxnn.gradcheck import GradcheckError, gradcheck, gradcheck_module
from gfxnn.ops import (
    concatenate,
    cos,
    exp,
    log,
    matmul,
    maximum,
    minimum,
    pad,
    sin,
    sqrt,
    stack,
    where,
)
from gfxnn.registry import build
from gfxnn.tensor import Tensor, float32, float64, tensor

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "Tensor",
    "build",
    "concatenate",
    "cos",
    "enable_grad",
    "exp",
    "float32",
    "float64",
    "functional",
    "gradcheck",
    "gradcheck_module",
    "is_grad_enabled",
    "log",
    "losses",
    "matmul",
    "maximum",
    "minimum",
    "nn",
    "no_grad",
    "optim",
    "pad",
    "registry",
    "sin",
    "sqrt",
    "stack",
    "tensor",
    "where",
]
