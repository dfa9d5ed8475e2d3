"""`SGD`: stochastic gradient descent with optional momentum, Nesterov momentum, weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gfxnn.checks import check_bool, check_non_negative, check_real
from gfxnn.optim.functional import sgd_update
from gfxnn.optim.optimizer import Optimizer, ParamGroup, State, hyperparameters, options
from gfxnn.tensor import Tensor


class SGD(Optimizer):
    """Stochastic gradient descent, with torch.optim.SGD's update rule.

    For each parameter theta with gradient g (negated when `maximize`), weight decay lambda,
    momentum mu, dampening tau and momentum buffer b:

        g <- g + lambda * theta                         (when lambda != 0)
        b <- g                                          (first step)
        b <- mu * b + (1 - tau) * g                     (later steps)
        g <- g + mu * b  if nesterov  else  g <- b      (when mu != 0)
        theta <- theta - lr * g

    Nesterov momentum follows Sutskever et al. 2013 in PyTorch's formulation
    (http://www.cs.toronto.edu/~hinton/absps/momentum.pdf).

    Args:
        params: Tensors to optimise, or parameter groups (dicts with "params").
        lr: learning rate, >= 0.
        momentum: mu, >= 0 (0 turns momentum off).
        dampening: tau, the fraction of the gradient held back from the buffer.
        nesterov: use Nesterov momentum; needs momentum > 0 and dampening 0.
        weight_decay: lambda, L2 penalty added to the gradient, >= 0.
        maximize: ascend the objective instead of descending it.

    State per parameter: "momentum_buffer" (array like the parameter, or None when
    momentum is 0).
    """

    checks = {
        "lr": check_non_negative,
        "momentum": check_non_negative,
        "dampening": check_real,
        "nesterov": check_bool,
        "weight_decay": check_non_negative,
        "maximize": check_bool,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float,
        momentum: float = 0.0,
        dampening: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check_group(self, group: ParamGroup) -> None:
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                "nesterov=True requires momentum > 0 and dampening == 0, got "
                f"momentum={group['momentum']!r}, dampening={group['dampening']!r}"
            )

    def _init_state(self, param: Tensor) -> dict[str, Any]:
        return {"momentum_buffer": None}

    def _update(self, param: Tensor, grad: np.ndarray, state: State, group: ParamGroup) -> None:
        state["momentum_buffer"] = sgd_update(
            param.data,
            grad,
            state["momentum_buffer"],
            **options(group, "lr", "momentum", "dampening", "nesterov", "weight_decay", "maximize"),
        )
