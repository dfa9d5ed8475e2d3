"""`Adagrad`: per-weight learning rates that shrink with the sum of squared gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gfxnn.checks import check_bool, check_non_negative
from gfxnn.optim.functional import adagrad_update
from gfxnn.optim.optimizer import Optimizer, ParamGroup, State, hyperparameters, options
from gfxnn.tensor import Tensor


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer 2011), with torch.optim.Adagrad's update rule.

    With g the gradient (negated when `maximize`), lambda the weight decay, G the running
    sum of g^2 (starting at `initial_accumulator_value`) and t the step count (1 first):

        g <- g + lambda * theta                     (when lambda != 0)
        lr_t = lr / (1 + (t - 1) * lr_decay)
        G <- G + g^2
        theta <- theta - lr_t * g / (sqrt(G) + eps)

    Args:
        params: Tensors to optimise, or parameter groups (dicts with "params").
        lr: learning rate, >= 0.
        lr_decay: the decay of lr with the step count, >= 0.
        weight_decay: lambda, >= 0.
        initial_accumulator_value: the starting value of G, >= 0.
        eps: added to the denominator for stability, >= 0.
        maximize: ascend the objective instead of descending it.

    State per parameter: "step" (int) and "sum" (G), an array like the parameter.
    """

    checks = {
        "lr": check_non_negative,
        "lr_decay": check_non_negative,
        "weight_decay": check_non_negative,
        "initial_accumulator_value": check_non_negative,
        "eps": check_non_negative,
        "maximize": check_bool,
    }

    lazy_state = ("sum",)  # G starts at the group's initial_accumulator_value

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _update(self, param: Tensor, grad: np.ndarray, state: State, group: ParamGroup) -> None:
        if state["sum"] is None:
            state["sum"] = np.full_like(param.data, group["initial_accumulator_value"])
        adagrad_update(
            param.data,
            grad,
            state["sum"],
            step=state["step"],
            **options(group, "lr", "lr_decay", "weight_decay", "eps", "maximize"),
        )
