"""`RMSprop`: gradient scaled by a running root-mean-square, with momentum and centering."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gfxnn.checks import check_bool, check_closed_unit_interval, check_non_negative
from gfxnn.optim.functional import rmsprop_update
from gfxnn.optim.optimizer import Optimizer, ParamGroup, State, hyperparameters, options
from gfxnn.tensor import Tensor


class RMSprop(Optimizer):
    """RMSprop (Hinton, lecture 6e), with torch.optim.RMSprop's update rule.

    With g the gradient (negated when `maximize`), lambda the weight decay, v the running
    mean of g^2, gbar the running mean of g (centered only), mu the momentum and b its buffer:

        g <- g + lambda * theta                     (when lambda != 0)
        v <- alpha * v + (1 - alpha) * g^2
        gbar <- alpha * gbar + (1 - alpha) * g      (centered, Graves 2013)
        d = sqrt(v - gbar^2) + eps  if centered  else  sqrt(v) + eps
        b <- mu * b + g / d;  theta <- theta - lr * b     (when mu > 0)
        theta <- theta - lr * g / d                       (otherwise)

    with v, gbar and b starting at zero.

    Args:
        params: Tensors to optimise, or parameter groups (dicts with "params").
        lr: learning rate, >= 0.
        alpha: smoothing constant of the running means, in [0, 1].
        eps: added to the denominator for stability, >= 0.
        weight_decay: lambda, >= 0.
        momentum: mu, >= 0 (0 turns momentum off).
        centered: divide by the running standard deviation of g instead of its RMS.
        maximize: ascend the objective instead of descending it.

    State per parameter: "step" (int), "square_avg" (v), plus "momentum_buffer" (b) when
    momentum > 0 and "grad_avg" (gbar) when centered, arrays like the parameter.
    """

    checks = {
        "lr": check_non_negative,
        "alpha": check_closed_unit_interval,
        "eps": check_non_negative,
        "weight_decay": check_non_negative,
        "momentum": check_non_negative,
        "centered": check_bool,
        "maximize": check_bool,
    }

    state_arrays = ("square_avg",)

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _update(self, param: Tensor, grad: np.ndarray, state: State, group: ParamGroup) -> None:
        # Buffers appear when a group first needs them, so momentum or centering can be
        # switched on between steps, as in PyTorch.
        if group["momentum"] > 0 and "momentum_buffer" not in state:
            state["momentum_buffer"] = np.zeros_like(param.data)
        if group["centered"] and "grad_avg" not in state:
            state["grad_avg"] = np.zeros_like(param.data)
        rmsprop_update(
            param.data,
            grad,
            state["square_avg"],
            state["grad_avg"] if group["centered"] else None,
            state["momentum_buffer"] if group["momentum"] > 0 else None,
            **options(group, "lr", "alpha", "eps", "weight_decay", "momentum", "maximize"),
        )
