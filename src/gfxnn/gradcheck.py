"""Gradient checking: compare autodiff gradients with central finite differences in float64.

The check contracts the function's output with a random upstream gradient u, so one scalar
L = sum(u * f(x)) exercises every output element with a different weight; a VJP that mixes
up two outputs cannot pass by symmetry, as it could with u = 1.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from gfxnn.tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with its finite-difference estimate."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    rng: np.random.Generator | None = None,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of `fn(*inputs)` with respect to every input against
    central differences.

    Args:
        fn: takes float64 Tensors (one per input) and returns a Tensor of any shape.
        inputs: arrays or Tensors; each is copied to a float64 Tensor that requires grad.
        eps: finite-difference step.
        atol, rtol: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
        rng: generator for the random upstream gradient (seed 0 when omitted).
        raise_exception: raise GradcheckError on failure instead of returning False.

    Returns:
        True when every gradient matches.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    points = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]
    leaves = [Tensor(p, requires_grad=True) for p in points]
    output = fn(*leaves)
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    if output.dtype != np.float64:
        raise TypeError(f"gradcheck: fn must compute in float64, its output is {output.dtype}")
    upstream = rng.standard_normal(output.shape)
    output.backward(upstream)

    def weighted_output(values: list[np.ndarray]) -> float:
        result = fn(*[Tensor(v) for v in values])
        return float(np.sum(upstream * result.data))

    for index, (leaf, point) in enumerate(zip(leaves, points, strict=True)):
        analytic = np.zeros_like(point) if leaf.grad is None else leaf.grad
        numeric = np.zeros_like(point)
        for position in np.ndindex(point.shape):
            shifted = [p.copy() for p in points]
            shifted[index][position] = point[position] + eps
            above = weighted_output(shifted)
            shifted[index][position] = point[position] - eps
            below = weighted_output(shifted)
            numeric[position] = (above - below) / (2 * eps)
        bad = np.abs(analytic - numeric) > atol + rtol * np.abs(numeric)
        if bad.any():
            worst = np.unravel_index(np.argmax(np.abs(analytic - numeric)), point.shape)
            message = (
                f"gradient of input {index} (shape {point.shape}) is wrong at {bad.sum()} of "
                f"{point.size} elements; worst at {tuple(int(i) for i in worst)}: analytic "
                f"{analytic[worst]:.8g}, numeric {numeric[worst]:.8g}"
            )
            if raise_exception:
                raise GradcheckError(message)
            return False
    return True
