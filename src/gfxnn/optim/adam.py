"""`Adam` and `AdamW`: adaptive moment estimation, with L2 or decoupled weight decay."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from gfxnn.checks import check_bool, check_non_negative, check_unit_pair
from gfxnn.optim.functional import adam_update
from gfxnn.optim.optimizer import Optimizer, ParamGroup, State, hyperparameters, options
from gfxnn.tensor import Tensor


class Adam(Optimizer):
    """Adam (Kingma & Ba, https://arxiv.org/abs/1412.6980), with torch.optim.Adam's rule.

    For each parameter theta with gradient g (negated when `maximize`), weight decay lambda
    and step count t (1 on the first update of that parameter):

        g <- g + lambda * theta                   (when lambda != 0; an L2 penalty)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        theta <- theta - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    with m and v starting at zero.

    Args:
        params: Tensors to optimise, or parameter groups (dicts with "params").
        lr: learning rate, >= 0.
        betas: (beta1, beta2), decay rates of the moment estimates, each in [0, 1).
        eps: added to the denominator for stability, >= 0.
        weight_decay: lambda, >= 0.
        maximize: ascend the objective instead of descending it.

    State per parameter: "step" (int), "exp_avg" (m) and "exp_avg_sq" (v), arrays like
    the parameter.
    """

    # AdamW sets this: weight decay shrinks theta directly instead of joining the gradient.
    decoupled_weight_decay = False

    checks = {
        "lr": check_non_negative,
        "betas": check_unit_pair,
        "eps": check_non_negative,
        "weight_decay": check_non_negative,
        "maximize": check_bool,
    }

    state_arrays = ("exp_avg", "exp_avg_sq")

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, hyperparameters(locals()))

    def _update(self, param: Tensor, grad: np.ndarray, state: State, group: ParamGroup) -> None:
        beta1, beta2 = group["betas"]
        adam_update(
            param.data,
            grad,
            state["exp_avg"],
            state["exp_avg_sq"],
            step=state["step"],
            beta1=beta1,
            beta2=beta2,
            decoupled_weight_decay=self.decoupled_weight_decay,
            **options(group, "lr", "eps", "weight_decay", "maximize"),
        )


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, https://arxiv.org/abs/1711.05101), torch.optim.AdamW's rule.

    Adam with decoupled weight decay: instead of adding lambda * theta to the gradient,
    each step first shrinks the parameter,

        theta <- theta * (1 - lr * lambda)
        m <- beta1 * m + (1 - beta1) * g
        v <- beta2 * v + (1 - beta2) * g^2
        theta <- theta - (lr / (1 - beta1^t)) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)

    Arguments and state as `Adam`; weight_decay defaults to 1e-2 as in PyTorch.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Any],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        *,
        maximize: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, maximize=maximize)
