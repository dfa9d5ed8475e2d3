"""Loss functions, composed from gfxnn ops (no backward code of their own), and Module wrappers.

Every loss takes a prediction Tensor and a target (Tensor or array), computes one loss value
per element (per sample for cross-entropy) and reduces it with `reduction`:
"mean" (default), "sum", or "none" (the unreduced tensor). Raw-array targets adopt the
prediction's dtype; a target Tensor of the other float dtype is a TypeError, as in every op.
"""

from __future__ import annotations

import inspect
import math
import numbers
from collections.abc import Callable
from typing import Any, ClassVar

import numpy as np

from gfxnn import ops
from gfxnn.autograd import VJPResult
from gfxnn.nn.module import Module
from gfxnn.ops import as_tensor
from gfxnn.tensor import Tensor

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "RelativeL2Loss",
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "check_reduction",
    "cross_entropy",
    "huber",
    "l1",
    "mse",
    "relative_l2",
]

REDUCTIONS = ("mean", "sum", "none")

# tiny-cuda-nn's RelativeL2 adds this to the squared prediction in the denominator.
RELATIVE_L2_EPSILON = 0.01

# PyTorch clamps the logarithms of binary cross-entropy at -100 so that a confident wrong
# prediction (p = 0 or 1) gives a large finite loss instead of infinity.
LOG_CLAMP = -100.0


# ----- helpers ---------------------------------------------------------------------------------
def check_reduction(reduction: str) -> str:
    """`reduction` if it names a reduction, else a ValueError listing the valid names."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"unknown reduction {reduction!r}; choose one of {list(REDUCTIONS)}")
    return reduction


def _check_delta(name: str, delta: Any) -> float:
    # inf is refused too: it would make Huber an L2 loss without saying so.
    is_real = isinstance(delta, numbers.Real) and not isinstance(delta, bool)
    if not is_real or not float(delta) > 0:
        raise ValueError(f"{name}: delta must be a number > 0, got {delta!r}")
    if math.isinf(delta):
        raise ValueError(f"{name}: delta must be a number > 0 and finite, got {delta!r}")
    return float(delta)


def _check_label_smoothing(label_smoothing: Any) -> float:
    if (
        isinstance(label_smoothing, bool)
        or not isinstance(label_smoothing, numbers.Real)
        or not 0 <= float(label_smoothing) <= 1
    ):
        raise ValueError(f"label_smoothing must be a number in [0, 1], got {label_smoothing!r}")
    return float(label_smoothing)


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return ops.mean(loss)
    if reduction == "sum":
        return ops.sum(loss)
    return loss


def _prepare(name: str, prediction: Any, target: Any, reduction: str) -> tuple[Tensor, Tensor]:
    """Prediction and target as tensors of one shape, after checking the reduction."""
    check_reduction(reduction)
    prediction = as_tensor(prediction)
    target = as_tensor(target, like=prediction)
    if prediction.shape != target.shape:
        raise ValueError(
            f"{name}: prediction has shape {prediction.shape} but target has shape "
            f"{target.shape}; they must match"
        )
    return prediction, target


# ----- regression losses -------------------------------------------------------------------------
def mse(prediction: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Squared error (prediction - target)^2, reduced. Shapes: prediction and target (...)."""
    prediction, target = _prepare("mse", prediction, target, reduction)
    difference = ops.sub(prediction, target)
    return _reduce(ops.mul(difference, difference), reduction)


def l1(prediction: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Absolute error |prediction - target|, reduced (gradient 0 where they are equal)."""
    prediction, target = _prepare("l1", prediction, target, reduction)
    return _reduce(ops.abs(ops.sub(prediction, target)), reduction)


def huber(prediction: Any, target: Any, reduction: str = "mean", delta: float = 1.0) -> Tensor:
    """Huber loss: quadratic for small errors, linear for large ones (torch.nn.HuberLoss).

    With d = prediction - target:
        0.5 d^2                     where |d| < delta
        delta (|d| - 0.5 delta)     otherwise
    """
    delta = _check_delta("huber", delta)
    prediction, target = _prepare("huber", prediction, target, reduction)
    difference = ops.sub(prediction, target)
    magnitude = ops.abs(difference)
    quadratic = ops.mul(ops.mul(difference, difference), 0.5)
    linear = ops.mul(ops.sub(magnitude, 0.5 * delta), delta)
    return _reduce(ops.where(magnitude.data < delta, quadratic, linear), reduction)


def relative_l2(prediction: Any, target: Any, reduction: str = "mean") -> Tensor:
    """tiny-cuda-nn's RelativeL2: (prediction - target)^2 / (prediction^2 + 0.01).

    The denominator is treated as a constant (no gradient flows through it), as in tcnn
    (include/tiny-cuda-nn/losses/relative_l2.h, after Noise2Noise, Lehtinen et al. 2018,
    https://arxiv.org/abs/1803.04189), so the gradient is 2 (prediction - target) /
    (prediction^2 + 0.01). tcnn averages over all elements, which is reduction="mean".
    """
    prediction, target = _prepare("relative_l2", prediction, target, reduction)
    difference = ops.sub(prediction, target)
    denominator = prediction.data * prediction.data + RELATIVE_L2_EPSILON
    return _reduce(ops.div(ops.mul(difference, difference), denominator), reduction)


# ----- binary classification -------------------------------------------------------------------
def _clamped_log(x: Tensor) -> Tensor:
    """max(log x, -100) for x >= 0, finite in value and gradient even at x = 0.

    log(0) would be -inf and its derivative 1/0, which turns the zero gradient that the clamp
    passes back into NaN; so zeros are replaced by 1 before the log and by -100 after it.
    """
    positive = x.data > 0
    safe_log = ops.log(ops.where(positive, x, 1.0))
    return ops.where(positive, ops.clip(safe_log, low=LOG_CLAMP), LOG_CLAMP)


def binary_cross_entropy(prediction: Any, target: Any, reduction: str = "mean") -> Tensor:
    """Binary cross-entropy on probabilities p in [0, 1] (torch.nn.BCELoss).

        -(t log p + (1 - t) log(1 - p)),  each log clamped to >= -100 as PyTorch does.

    The gradient is the exact derivative of that formula (zero where a log is clamped).
    PyTorch's hand-written backward additionally bounds p (1 - p) below by 1e-12, so the
    two differ only when p is within about 1e-12 of 0 or 1. Prefer
    `binary_cross_entropy_with_logits`, which is stable for any logit.
    """
    prediction, target = _prepare("binary_cross_entropy", prediction, target, reduction)
    if prediction.size and (prediction.data.min() < 0 or prediction.data.max() > 1):
        raise ValueError(
            "binary_cross_entropy: predictions must be probabilities in [0, 1], got values in "
            f"[{prediction.data.min():.6g}, {prediction.data.max():.6g}]; use "
            "binary_cross_entropy_with_logits for raw scores"
        )
    log_p = _clamped_log(prediction)
    log_not_p = _clamped_log(ops.sub(1.0, prediction))
    likelihood = ops.add(ops.mul(target, log_p), ops.mul(ops.sub(1.0, target), log_not_p))
    return _reduce(ops.neg(likelihood), reduction)


def binary_cross_entropy_with_logits(
    prediction: Any, target: Any, reduction: str = "mean"
) -> Tensor:
    """Binary cross-entropy on logits x (torch.nn.BCEWithLogitsLoss), stable for any x.

        -(t log sigmoid(x) + (1 - t) log(1 - sigmoid(x)))
            = softplus(x) - t x = (max(x, 0) - t x) + log(1 + exp(-|x|)),

    which never overflows. The large terms cancel before the small one is added, so the
    loss of a confident right answer keeps its tiny value instead of rounding to 0.
    """
    logits, target = _prepare("binary_cross_entropy_with_logits", prediction, target, reduction)
    linear = ops.sub(ops.maximum(logits, 0.0), ops.mul(target, logits))
    # The tie rule of maximum gives 1/2 at x = 0 and |x| gives 0: the gradient is 1/2 - t.
    small = ops.log1p(ops.exp(ops.neg(ops.abs(logits))))
    return _reduce(ops.add(linear, small), reduction)


# ----- multi-class classification -----------------------------------------------------------------
def _class_labels(target: Any, n_samples: int, n_classes: int) -> np.ndarray:
    """Integer labels of shape (N,) in [0, C), or a TypeError/ValueError naming the problem."""
    labels = np.asarray(target)
    if labels.dtype.kind not in "iu":
        raise TypeError(
            f"cross_entropy: class labels (a target of shape (N,)) must be an integer array, "
            f"got dtype {labels.dtype}; pass class probabilities with shape (N, C) instead"
        )
    if labels.shape != (n_samples,):
        raise ValueError(
            f"cross_entropy: class labels have shape {labels.shape}, expected ({n_samples},)"
        )
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(
            f"cross_entropy: class labels must be in [0, {n_classes}), got values in "
            f"[{labels.min()}, {labels.max()}]"
        )
    return labels


def cross_entropy(
    logits: Any, target: Any, reduction: str = "mean", label_smoothing: float = 0.0
) -> Tensor:
    """Softmax cross-entropy from logits (torch.nn.functional.cross_entropy).

    Args:
        logits: (N, C) unnormalised scores.
        target: either integer class labels, an int array of shape (N,) with values in
            [0, C), or class probabilities, a float array or Tensor of shape (N, C).
        reduction: "mean" (over the N samples), "sum", or "none" (shape (N,)).
        label_smoothing: epsilon in [0, 1]; the target becomes (1 - epsilon) * target +
            epsilon / C (for labels, target is the one-hot vector of the label).

    Per sample: -sum_c target_c log_softmax(logits)_c, with log_softmax computed stably.
    One primitive (`_softmax_cross_entropy`) from the logits to the reduced loss.
    """
    check_reduction(reduction)
    label_smoothing = _check_label_smoothing(label_smoothing)
    logits = as_tensor(logits)
    if logits.ndim != 2:
        raise ValueError(f"cross_entropy: logits must have shape (N, C), got {logits.shape}")
    n_samples, n_classes = logits.shape
    if reduction == "mean" and n_samples == 0:
        raise ValueError(f"cross_entropy: the mean over an empty batch (logits {logits.shape})")
    target_array = target.data if isinstance(target, Tensor) else np.asarray(target)
    if target_array.ndim == 1:
        labels = _class_labels(target_array, n_samples, n_classes)
        return _softmax_cross_entropy(logits, labels, None, label_smoothing, reduction)
    if target_array.dtype.kind not in "f":
        raise TypeError(
            "cross_entropy: target must be integer class labels of shape (N,) or float class "
            f"probabilities of shape (N, C), got dtype {target_array.dtype} and shape "
            f"{target_array.shape}"
        )
    probabilities = as_tensor(target, like=logits)
    if probabilities.shape != logits.shape:
        raise ValueError(
            f"cross_entropy: class probabilities have shape {probabilities.shape}, expected "
            f"the logits' shape {logits.shape} (or integer labels of shape ({n_samples},))"
        )
    if probabilities.dtype != logits.dtype:
        raise TypeError(
            f"cross_entropy: logits are {logits.dtype} but the target is "
            f"{probabilities.dtype}; convert one with .astype() first"
        )
    return _softmax_cross_entropy(logits, None, probabilities, label_smoothing, reduction)


def _softmax_cross_entropy(
    logits: Tensor,
    labels: np.ndarray | None,
    probabilities: Tensor | None,
    label_smoothing: float,
    reduction: str,
) -> Tensor:
    """Softmax, cross-entropy and the reduction as one primitive (labels or probabilities).

    With p = softmax(z) and the (smoothed) target q of each sample, the loss is
    -sum_c q_c log p_c and its gradient (p sum_c q_c - q) times the upstream gradient (/ N
    for the mean): one pass, where the composition (log_softmax, gather, neg, sum, scale)
    recorded five nodes and made a temporary at each. The target's own gradient, for a
    probability Tensor that requires one, is -log p (times 1 - smoothing).
    """
    n_samples, n_classes = logits.shape
    shifted = logits.data - np.max(logits.data, axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = np.sum(exp, axis=1, keepdims=True)
    log_p = shifted - np.log(total)
    keep = 1 - label_smoothing
    if labels is not None:
        rows = np.arange(n_samples)
        loss = -log_p[rows, labels]
        if label_smoothing > 0:
            loss = keep * loss - (label_smoothing / n_classes) * log_p.sum(axis=1)
    else:
        assert probabilities is not None
        q = probabilities.data
        if label_smoothing > 0:
            q = keep * q + label_smoothing / n_classes
        loss = -np.sum(q * log_p, axis=1)
    out = np.sum(loss) if reduction != "none" else loss
    if reduction == "mean":
        out = out / n_samples
    dtype = logits.dtype

    def vjp(g: np.ndarray) -> VJPResult:
        scale = g[:, None] if reduction == "none" else g / n_samples if reduction == "mean" else g
        d_logits = exp / total  # p; the target sums to 1 for labels (smoothed or not)
        if labels is not None:
            d_logits[rows, labels] -= keep
            if label_smoothing > 0:
                d_logits -= label_smoothing / n_classes
        else:
            d_logits *= q.sum(axis=1, keepdims=True)
            d_logits -= q
        d_logits *= scale
        if probabilities is None or not probabilities.requires_grad:
            return (d_logits,) if probabilities is None else (d_logits, None)
        return d_logits, (-keep * scale * log_p).astype(dtype, copy=False)

    parents = (logits,) if probabilities is None else (logits, probabilities)
    return ops.record(np.asarray(out, dtype=dtype), parents, vjp)


# ----- Module versions ------------------------------------------------------------------------
class _Loss(Module):
    """A loss as a Module: `loss_module(prediction, target)`; holds its reduction.

    `otype` is the loss's name in tiny-cuda-nn-style configs (`gfxnn.registry`); every
    constructor argument is kept as an attribute of the same name, so `hyperparams()` gives
    back the config that rebuilds the loss.
    """

    otype = ""
    # The functional form, called as function(prediction, target, reduction, *extra), where
    # extra are the values of `extra_arguments` (HuberLoss's delta, ...).
    function: ClassVar[Callable[..., Tensor]]
    extra_arguments: ClassVar[tuple[str, ...]] = ()

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def forward(self, prediction: Any, target: Any) -> Tensor:
        extra = [getattr(self, name) for name in self.extra_arguments]
        return type(self).function(prediction, target, self.reduction, *extra)

    def hyperparams(self) -> dict[str, Any]:
        names = list(inspect.signature(type(self)).parameters)
        return {"otype": self.otype, **{name: getattr(self, name) for name in names}}

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items() if k != "otype")


class MSELoss(_Loss):
    """Module form of `mse`."""

    otype = "L2"
    function = staticmethod(mse)


class L1Loss(_Loss):
    """Module form of `l1`."""

    otype = "L1"
    function = staticmethod(l1)


class HuberLoss(_Loss):
    """Module form of `huber`."""

    otype = "Huber"

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction)
        self.delta = _check_delta("HuberLoss", delta)

    function = staticmethod(huber)
    extra_arguments = ("delta",)


class RelativeL2Loss(_Loss):
    """Module form of `relative_l2` (tiny-cuda-nn's "RelativeL2")."""

    otype = "RelativeL2"
    function = staticmethod(relative_l2)


class BCELoss(_Loss):
    """Module form of `binary_cross_entropy` (prediction: probabilities)."""

    otype = "BCE"
    function = staticmethod(binary_cross_entropy)


class BCEWithLogitsLoss(_Loss):
    """Module form of `binary_cross_entropy_with_logits` (prediction: logits)."""

    otype = "BCEWithLogits"
    function = staticmethod(binary_cross_entropy_with_logits)


class CrossEntropyLoss(_Loss):
    """Module form of `cross_entropy` (logits (N, C); labels (N,) or probabilities (N, C))."""

    otype = "CrossEntropy"

    def __init__(self, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(reduction)
        self.label_smoothing = _check_label_smoothing(label_smoothing)

    function = staticmethod(cross_entropy)
    extra_arguments = ("label_smoothing",)
