"""gfxnn: small neural networks for computer graphics.

A readable reverse-mode autodiff core on NumPy (`Tensor`, `gfxnn.nn`, `gfxnn.optim`,
`gfxnn.losses`) and a fused, fast path for real-time image fitting (Dx12NN in Python).
"""

from gfxnn import functional, losses, nn, optim
from gfxnn.autograd import enable_grad, is_grad_enabled, no_grad
from gfxnn.gradcheck import GradcheckError, gradcheck
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
from gfxnn.tensor import Tensor, float32, float64, tensor

__version__ = "0.1.0"

__all__ = [
    "GradcheckError",
    "Tensor",
    "concatenate",
    "cos",
    "enable_grad",
    "exp",
    "float32",
    "float64",
    "functional",
    "gradcheck",
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
    "sin",
    "sqrt",
    "stack",
    "tensor",
    "where",
]
