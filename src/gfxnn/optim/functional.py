"""Pure update rules: each function updates one parameter array (and its state) in place.

The optimizer classes only gather arrays and call these, so the maths of every optimizer
lives in one short function that a reader can check against the equations in its docstring,
and that the fused and GPU paths can be tested against. Hyperparameters are keyword-only
Python floats; with NumPy's scalar rules they never change an array's dtype, so float32
parameters stay float32.

The operations follow `torch.optim`'s single-tensor code path in the same order, so results
agree with PyTorch to rounding (not bit for bit: PyTorch's CPU kernels may fuse multiply-adds).
"""

from __future__ import annotations

import numpy as np


def sgd_update(
    param: np.ndarray,
    grad: np.ndarray,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    momentum: float,
    dampening: float,
    nesterov: bool,
    weight_decay: float,
    maximize: bool = False,
) -> np.ndarray | None:
    """One SGD step on `param` in place (torch.optim.SGD's rule).

    With g the gradient (negated when `maximize`), lambda the weight decay, mu the momentum,
    tau the dampening and b the momentum buffer:

        g <- g + lambda * theta                         (when lambda != 0)
        b <- g                                          (first step)
        b <- mu * b + (1 - tau) * g                     (later steps)
        g <- g + mu * b  if nesterov  else  g <- b      (when mu != 0)
        theta <- theta - lr * g

    Args:
        param: parameter array theta, any shape; updated in place.
        grad: its gradient, same shape; not modified.
        momentum_buffer: b from the previous step (updated in place), or None before the
            first step.

    Returns:
        The momentum buffer to keep for the next step (None when momentum is 0).
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    if momentum != 0:
        if momentum_buffer is None:
            # The first step copies the gradient without dampening, as PyTorch does.
            momentum_buffer = np.array(g, copy=True)
        else:
            momentum_buffer *= momentum
            momentum_buffer += (1 - dampening) * g
        g = g + momentum * momentum_buffer if nesterov else momentum_buffer
    param -= lr * g
    return momentum_buffer if momentum != 0 else None


def adam_update(
    param: np.ndarray,
    grad: np.ndarray,
    exp_avg: np.ndarray,
    exp_avg_sq: np.ndarray,
    *,
    step: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    decoupled_weight_decay: bool,
    maximize: bool = False,
) -> None:
    """One Adam (or AdamW) step on `param`, `exp_avg` and `exp_avg_sq` in place.

    With g the gradient (negated when `maximize`), lambda the weight decay and t = `step`
    (1 on the first call):

        theta <- theta * (1 - lr * lambda)        (AdamW: decoupled_weight_decay=True)
        g <- g + lambda * theta                   (Adam: decoupled_weight_decay=False)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        theta <- theta - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Adam: Kingma & Ba, https://arxiv.org/abs/1412.6980; AdamW: Loshchilov & Hutter,
    https://arxiv.org/abs/1711.05101.

    Args:
        param: parameter array theta, any shape; updated in place.
        grad: its gradient, same shape; not modified.
        exp_avg, exp_avg_sq: the moment estimates m and v (zeros before the first step),
            same shape; updated in place.
        step: t, the number of this step counting from 1 (for the bias corrections).
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 1:
        raise ValueError(f"step must be an integer >= 1 (the 1-based step count), got {step!r}")
    g = -grad if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = g + weight_decay * param
    # m + (1 - beta1) (g - m) is beta1 m + (1 - beta1) g, written as PyTorch's lerp computes it.
    exp_avg += (1 - beta1) * (g - exp_avg)
    exp_avg_sq *= beta2
    exp_avg_sq += (1 - beta2) * (g * g)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    denominator = np.sqrt(exp_avg_sq) / bias_correction2**0.5 + eps
    param -= step_size * (exp_avg / denominator)
