"""`Adadelta`: steps scaled by the ratio of running RMS of updates and of gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, ClassVar

import numpy as np

from gfxnn.checks import check_bool, check_non_negative
from gfxnn.optim.functional import adadelta_update
from gfxnn.optim.optimizer import (
    Checker,
    Optimizer,
    ParamGroup,
    check_closed_unit_interval,
    hyperparameters,
)
from gfxnn.tensor import Tensor


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, https://arxiv.org/abs/1212.5701), torch.optim.Adadelta's rule.

    With g the gradient (negated when `maximize`), lambda the weight decay, v the running
    mean of g^2 and u the running mean of the squared updates (both starting at zero):

        g <- g + lambda * theta                     (when lambda != 0)
        v <- rho * v + (1 - rho) * g^2
        delta = sqrt(u + eps) / sqrt(v + eps) * g
        u <- rho * u + (1 - rho) * delta^2
        theta <- theta - lr * delta

    Args:
        params: Tensors to optimise, or parameter groups (dicts with "params").
        lr: a factor on delta, >= 0 (the paper's method is lr = 1).
        rho: decay of the running means, in [0, 1].
        eps: added inside both square roots, >= 0.
        weight_decay: lambda, >= 0.
        maximize: ascend the objective instead of descending it.

    State per parameter: "step" (int), "square_avg" (v) and "acc_delta" (u), arrays like
    the parameter.
    """

    checks: ClassVar[dict[str, Checker]] = {
        "lr": check_non_negative,
        "rho": check_closed_unit_interval,
        "eps": check_non_negative,
        "weight_decay": check_non_negative,
        "maximize": check_bool,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1.0,
        rho: float = 0.9,
        eps: float = 1e-6,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _init_state(self, param: Tensor) -> dict[str, Any]:
        return {
            "step": 0,
            "square_avg": np.zeros_like(param.data),
            "acc_delta": np.zeros_like(param.data),
        }

    def _update(
        self, param: Tensor, grad: np.ndarray, state: dict[str, Any], group: ParamGroup
    ) -> None:
        state["step"] += 1
        adadelta_update(
            param.data,
            grad,
            state["square_avg"],
            state["acc_delta"],
            lr=group["lr"],
            rho=group["rho"],
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            maximize=group["maximize"],
        )
