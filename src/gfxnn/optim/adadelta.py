"""`Adadelta`: steps scaled by the ratio of running RMS of updates and of gradients."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gfxnn.checks import check_bool, check_closed_unit_interval, check_non_negative
from gfxnn.optim.functional import adadelta_update
from gfxnn.optim.optimizer import Optimizer, ParamGroup, State, hyperparameters, options
from gfxnn.tensor import Tensor


class Adadelta(Optimizer):
    """Adadelta (Zeiler 2012, https://arxiv.org/abs/1212.5701), torch.optim.Adadelta's rule.

    Each step applies `gfxnn.optim.functional.adadelta_update` to every parameter: with g
    the gradient, v and u (both starting at zero) the running means of g^2 and of the
    squared steps, the step is delta = sqrt(u + eps) / sqrt(v + eps) * g and
    theta <- theta - lr * delta (the full equations, weight decay included, are there).

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

    checks = {
        "lr": check_non_negative,
        "rho": check_closed_unit_interval,
        "eps": check_non_negative,
        "weight_decay": check_non_negative,
        "maximize": check_bool,
    }

    state_arrays = ("square_avg", "acc_delta")

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

    def _update(self, param: Tensor, grad: np.ndarray, state: State, group: ParamGroup) -> None:
        adadelta_update(
            param.data,
            grad,
            state["square_avg"],
            state["acc_delta"],
            **options(group, "lr", "rho", "eps", "weight_decay", "maximize"),
        )
