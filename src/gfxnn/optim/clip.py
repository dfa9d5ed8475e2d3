"""Gradient clipping by global norm and by value, in place, as torch.nn.utils does it."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from gfxnn.checks import check_non_negative, check_real
from gfxnn.tensor import Tensor

# torch.nn.utils.clip_grad_norm_ divides by (total norm + this), so a zero norm is no problem.
_NORM_EPSILON = 1e-6


def _gradients(params: Tensor | Iterable[Tensor]) -> list[np.ndarray]:
    """The gradient arrays of `params` (a Tensor or an iterable of them) that have one."""
    tensors = [params] if isinstance(params, Tensor) else list(params)
    for tensor in tensors:
        if not isinstance(tensor, Tensor):
            raise TypeError(f"expected Tensors whose gradients to clip, got {type(tensor)}")
    return [t.grad for t in tensors if t.grad is not None]


def clip_grad_norm_(
    params: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale all gradients together so that their joint norm is at most `max_norm`.

    The total norm is the `norm_type`-norm of the vector of every gradient element
    (norm_type = inf: the largest magnitude). When it exceeds max_norm every gradient is
    multiplied by max_norm / (total + 1e-6), exactly as torch.nn.utils.clip_grad_norm_.
    Parameters without a gradient are skipped.

    Args:
        params: a Tensor or an iterable of Tensors; their `.grad` arrays are changed in place.
        max_norm: the largest allowed norm, >= 0.
        norm_type: p of the p-norm, > 0, or math.inf.
        error_if_nonfinite: raise ValueError when the total norm is NaN or infinite
            (otherwise the gradients become NaN, as in PyTorch).

    Returns:
        The total norm of the gradients before clipping.
    """
    max_norm = check_non_negative("max_norm", max_norm, finite=False)  # inf: measure only
    norm_type = check_real("norm_type", norm_type, finite=False)  # inf: the max norm
    if not norm_type > 0:
        raise ValueError(f"norm_type must be > 0 or inf, got {norm_type!r}")
    grads = _gradients(params)
    if not grads:
        return 0.0
    if math.isinf(norm_type):
        total = max(float(np.abs(g).max(initial=0.0)) for g in grads)
    else:
        # The norm of the per-tensor norms is the norm of all elements together.
        norms = [np.linalg.norm(g.ravel().astype(np.float64), ord=norm_type) for g in grads]
        total = float(np.linalg.norm(np.array(norms), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(
            f"the total norm of order {norm_type} of the gradients is {total}; "
            "pass error_if_nonfinite=False to clip anyway"
        )
    coefficient = min(max_norm / (total + _NORM_EPSILON), 1.0)
    for g in grads:
        g *= coefficient
    return total


def clip_grad_value_(params: Tensor | Iterable[Tensor], clip_value: float) -> None:
    """Clamp every gradient element to [-clip_value, clip_value] in place.

    Args:
        params: a Tensor or an iterable of Tensors; their `.grad` arrays are changed in place.
        clip_value: the largest allowed magnitude, >= 0.
    """
    clip_value = check_non_negative("clip_value", clip_value, finite=False)  # inf: no clip
    for g in _gradients(params):
        np.clip(g, -clip_value, clip_value, out=g)
