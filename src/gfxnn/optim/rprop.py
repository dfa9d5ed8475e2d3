"""`Rprop`: resilient backpropagation, sign-based steps with a per-weight step size."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gfxnn.checks import check_bool, check_non_negative, check_non_negative_pair, check_real_pair
from gfxnn.optim.functional import rprop_update
from gfxnn.optim.optimizer import Optimizer, ParamGroup, State, hyperparameters
from gfxnn.tensor import Tensor


class Rprop(Optimizer):
    """Rprop (Riedmiller & Braun 1993), with torch.optim.Rprop's update rule.

    Only the sign of the gradient is used. For each weight, with g the gradient (negated
    when `maximize`), g_prev the gradient kept from the previous step and Delta its step
    size (lr before the first step):

        s = sign(g * g_prev)
        Delta <- clip(Delta * (eta+ if s > 0, eta- if s < 0, 1 if s = 0), min, max)
        g <- 0                               where s < 0 (no step right after a sign flip)
        theta <- theta - sign(g) * Delta
        g_prev <- g

    Rprop is meant for full-batch training: mini-batch noise flips gradient signs.

    Args:
        params: Tensors to optimise, or parameter groups (dicts with "params").
        lr: the initial step size Delta of every weight, >= 0.
        etas: (eta-, eta+), the step size factors, 0 < eta- < 1 < eta+.
        step_sizes: (min, max), the bounds of Delta, 0 <= min <= max.
        maximize: ascend the objective instead of descending it.

    State per parameter: "step" (int), "prev" (g_prev) and "step_size" (Delta), arrays like
    the parameter.
    """

    checks = {
        "lr": check_non_negative,
        "etas": check_real_pair,
        "step_sizes": check_non_negative_pair,
        "maximize": check_bool,
    }

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-2,
        etas: tuple[float, float] = (0.5, 1.2),
        step_sizes: tuple[float, float] = (1e-6, 50.0),
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _check_group(self, group: ParamGroup) -> None:
        etaminus, etaplus = group["etas"]
        if not 0 < etaminus < 1 < etaplus:
            raise ValueError(
                f"etas must satisfy 0 < eta_minus < 1 < eta_plus, got {group['etas']!r}"
            )
        low, high = group["step_sizes"]
        if low > high:
            raise ValueError(f"step_sizes must satisfy min <= max, got {group['step_sizes']!r}")

    state_arrays = ("prev",)
    lazy_state = ("step_size",)  # Delta starts at the group's lr, read at the first update

    def _update(self, param: Tensor, grad: np.ndarray, state: State, group: ParamGroup) -> None:
        if state["step_size"] is None:
            state["step_size"] = np.full_like(param.data, group["lr"])
        etaminus, etaplus = group["etas"]
        step_size_min, step_size_max = group["step_sizes"]
        rprop_update(
            param.data,
            grad,
            state["prev"],
            state["step_size"],
            etaminus=etaminus,
            etaplus=etaplus,
            step_size_min=step_size_min,
            step_size_max=step_size_max,
            maximize=group["maximize"],
        )
