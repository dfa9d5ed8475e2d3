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
    scratch: tuple[np.ndarray, np.ndarray] | None = None,
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
        scratch: two arrays like `param` for the temporaries (the fused path passes
            preallocated ones so that a step allocates nothing); None allocates them.
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 1:
        raise ValueError(f"step must be an integer >= 1 (the 1-based step count), got {step!r}")
    if scratch is None:
        scratch = (np.empty_like(param), np.empty_like(param))
    tmp, denominator = scratch
    # Every operation writes into tmp or denominator: the same roundings as the expressions
    # in the docstring, without temporaries. g may live in denominator until v is updated.
    g = np.negative(grad, out=denominator) if maximize else grad
    if weight_decay != 0:
        if decoupled_weight_decay:
            param *= 1 - lr * weight_decay
        else:
            g = np.add(g, np.multiply(param, weight_decay, out=tmp), out=denominator)
    # m + (1 - beta1) (g - m) is beta1 m + (1 - beta1) g, written as PyTorch's lerp computes it.
    exp_avg += np.multiply(np.subtract(g, exp_avg, out=tmp), 1 - beta1, out=tmp)
    exp_avg_sq *= beta2
    exp_avg_sq += np.multiply(np.multiply(g, g, out=tmp), 1 - beta2, out=tmp)
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    np.sqrt(exp_avg_sq, out=denominator)
    denominator /= bias_correction2**0.5
    denominator += eps
    param -= np.multiply(np.divide(exp_avg, denominator, out=tmp), step_size, out=tmp)


def rprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    prev: np.ndarray,
    step_size: np.ndarray,
    *,
    etaminus: float,
    etaplus: float,
    step_size_min: float,
    step_size_max: float,
    maximize: bool = False,
) -> None:
    """One Rprop step on `param`, `prev` and `step_size` in place (torch.optim.Rprop's rule).

    Resilient backpropagation (Riedmiller & Braun 1993) uses only the sign of the gradient;
    each weight has its own step size Delta, grown while the gradient keeps its sign and
    shrunk when it flips. With g the gradient (negated when `maximize`) and g_prev the
    gradient kept from the previous step (0 before the first):

        s = sign(g * g_prev)
        Delta <- clip(Delta * (eta+ if s > 0, eta- if s < 0, 1 if s = 0), min, max)
        g <- 0                               where s < 0 (skip the step after a sign flip)
        theta <- theta - sign(g) * Delta
        g_prev <- g

    Args:
        param: parameter array theta; updated in place.
        grad: its gradient, same shape; not modified.
        prev: g_prev (zeros before the first step); updated in place.
        step_size: Delta per element (lr before the first step); updated in place.
    """
    g = -grad if maximize else grad
    sign = np.sign(g * prev)
    factor = np.ones_like(step_size)
    factor[sign > 0] = etaplus
    factor[sign < 0] = etaminus
    step_size *= factor
    np.clip(step_size, step_size_min, step_size_max, out=step_size)
    g = np.where(sign < 0, 0, g).astype(param.dtype, copy=False)
    param -= np.sign(g) * step_size
    prev[...] = g


def rmsprop_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    grad_avg: np.ndarray | None,
    momentum_buffer: np.ndarray | None,
    *,
    lr: float,
    alpha: float,
    eps: float,
    weight_decay: float,
    momentum: float,
    maximize: bool = False,
) -> None:
    """One RMSprop step on `param` and its state in place (torch.optim.RMSprop's rule).

    Hinton's lecture 6e (http://www.cs.toronto.edu/~tijmen/csc321/slides/lecture_slides_lec6.pdf);
    centered variant from Graves 2013 (https://arxiv.org/abs/1308.0850). With g the gradient
    (negated when `maximize`), lambda the weight decay, v the running mean of g^2, gbar the
    running mean of g (centered only), mu the momentum and b its buffer:

        g <- g + lambda * theta                     (when lambda != 0)
        v <- alpha * v + (1 - alpha) * g^2
        gbar <- alpha * gbar + (1 - alpha) * g      (centered)
        d = sqrt(v - gbar^2) + eps  if centered  else  sqrt(v) + eps
        b <- mu * b + g / d;  theta <- theta - lr * b     (when mu > 0)
        theta <- theta - lr * g / d                       (otherwise)

    Args:
        param: parameter array theta; updated in place.
        grad: its gradient, same shape; not modified.
        square_avg: v (zeros before the first step); updated in place.
        grad_avg: gbar (zeros before the first step) for the centered variant, else None.
        momentum_buffer: b (zeros before the first step) when mu > 0, else None.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= alpha
    square_avg += (1 - alpha) * (g * g)
    if grad_avg is not None:
        # gbar + (1 - alpha) (g - gbar): PyTorch's lerp, equal to the running mean above.
        grad_avg += (1 - alpha) * (g - grad_avg)
        denominator = np.sqrt(square_avg - grad_avg * grad_avg)
    else:
        denominator = np.sqrt(square_avg)
    denominator += eps
    if momentum > 0:
        if momentum_buffer is None:
            raise ValueError("rmsprop_update: momentum > 0 needs a momentum_buffer array")
        momentum_buffer *= momentum
        momentum_buffer += g / denominator
        param -= lr * momentum_buffer
    else:
        param -= lr * (g / denominator)


def adagrad_update(
    param: np.ndarray,
    grad: np.ndarray,
    state_sum: np.ndarray,
    *,
    step: int,
    lr: float,
    lr_decay: float,
    weight_decay: float,
    eps: float,
    maximize: bool = False,
) -> None:
    """One Adagrad step on `param` and `state_sum` in place (torch.optim.Adagrad's rule).

    Duchi, Hazan & Singer 2011 (https://jmlr.org/papers/v12/duchi11a.html). With g the
    gradient (negated when `maximize`), lambda the weight decay, G the running sum of g^2 and
    t = `step` (1 on the first call):

        g <- g + lambda * theta                     (when lambda != 0)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        G <- G + g^2
        theta <- theta - lr_t * g / (sqrt(G) + eps)

    Args:
        param: parameter array theta; updated in place.
        grad: its gradient, same shape; not modified.
        state_sum: G (initial_accumulator_value before the first step); updated in place.
        step: t, the number of this step counting from 1.
    """
    if isinstance(step, bool) or not isinstance(step, int | np.integer) or step < 1:
        raise ValueError(f"step must be an integer >= 1 (the 1-based step count), got {step!r}")
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    step_lr = lr / (1 + (step - 1) * lr_decay)
    state_sum += g * g
    denominator = np.sqrt(state_sum)
    denominator += eps
    param -= step_lr * (g / denominator)


def adadelta_update(
    param: np.ndarray,
    grad: np.ndarray,
    square_avg: np.ndarray,
    acc_delta: np.ndarray,
    *,
    lr: float,
    rho: float,
    eps: float,
    weight_decay: float,
    maximize: bool = False,
) -> None:
    """One Adadelta step on `param` and its state in place (torch.optim.Adadelta's rule).

    Zeiler 2012 (https://arxiv.org/abs/1212.5701). With g the gradient (negated when
    `maximize`), lambda the weight decay, v the running mean of g^2 and u the running mean
    of the squared updates:

        g <- g + lambda * theta                     (when lambda != 0)
        v <- rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * delta^2
        theta <- theta - lr * delta

    Args:
        param: parameter array theta; updated in place.
        grad: its gradient, same shape; not modified.
        square_avg, acc_delta: v and u (zeros before the first step); updated in place.
    """
    g = -grad if maximize else grad
    if weight_decay != 0:
        g = g + weight_decay * param
    square_avg *= rho
    square_avg += (1 - rho) * (g * g)
    std = np.sqrt(square_avg + eps)
    delta = np.sqrt(acc_delta + eps)
    delta /= std
    delta *= g
    acc_delta *= rho
    acc_delta += (1 - rho) * (delta * delta)
    param -= lr * delta
