"""Losses of the fused path: each takes the output y and the residual r = y - t (B, C) and
writes dL/dy into the residual's buffer, returning L (a Python float).

The losses and their gradients are `gfxnn.losses`' (tests/test_fused.py checks them).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gfxnn.losses import RELATIVE_L2_EPSILON


def l2_loss(output: np.ndarray, residual: np.ndarray) -> float:
    """mean(r^2) over the batch and channels, r = y - t; residual becomes dL/dy = 2 r / N."""
    flat = residual.reshape(-1)
    loss = float(np.dot(flat, flat)) / flat.size
    np.multiply(residual, residual.dtype.type(2.0 / flat.size), out=residual)
    return loss


def relative_l2_loss(output: np.ndarray, residual: np.ndarray) -> float:
    """tiny-cuda-nn's RelativeL2, mean(r^2 / (y^2 + 0.01)) with the denominator held constant
    (as `gfxnn.losses.relative_l2`); residual becomes dL/dy = 2 r / ((y^2 + 0.01) N)."""
    denominator = output * output
    denominator += RELATIVE_L2_EPSILON
    np.divide(residual, denominator, out=denominator)  # r / (y^2 + 0.01)
    n = residual.size
    loss = float(np.dot(residual.reshape(-1), denominator.reshape(-1))) / n
    np.multiply(denominator, residual.dtype.type(2.0 / n), out=residual)
    return loss


def l1_loss(output: np.ndarray, residual: np.ndarray) -> float:
    """mean(|r|); residual becomes dL/dy = sign(r) / N (0 where r = 0, as `gfxnn.losses.l1`)."""
    n = residual.size
    loss = float(np.abs(residual).sum()) / n
    np.sign(residual, out=residual)
    np.multiply(residual, residual.dtype.type(1.0 / n), out=residual)
    return loss


Loss = Callable[[np.ndarray, np.ndarray], float]

#: name -> loss function(output, residual = output - target) writing dL/dy into residual.
LOSSES: dict[str, Loss] = {"l2": l2_loss, "relative_l2": relative_l2_loss, "l1": l1_loss}
