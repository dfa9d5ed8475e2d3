"""Optimizers of the fused path: whole-array, in-place updates of a flat parameter vector.

The update equations are those of `torch.optim` (and `gfxnn.optim`), with an optional L2
regularisation added to the gradient first (tiny-cuda-nn's `l2_reg`, torch's coupled
`weight_decay`): g <- g + l2_reg p.
    SGD:  p <- p - lr g
    Adam: `gfxnn.optim.functional.adam_update`, the rule the autodiff engine's Adam calls,
          given preallocated buffers: one step allocates nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gfxnn.optim.functional import adam_update

if TYPE_CHECKING:  # the contract's types only: gfxnn.fields sits above the backends
    from gfxnn.fields.trainer import OptimizerSpec


class FusedSGD:
    """Plain stochastic gradient descent on a flat parameter array."""

    name = "sgd"

    def __init__(
        self, params: np.ndarray, grads: np.ndarray, lr: float, l2_reg: float = 0.0
    ) -> None:
        self.params = params
        self.grads = grads
        self.lr = lr
        self.l2_reg = l2_reg
        self._scratch = np.empty_like(params)

    def step(self) -> None:
        if self.l2_reg:  # g <- g + l2_reg p
            np.multiply(self.params, self.params.dtype.type(self.l2_reg), out=self._scratch)
            np.add(self.grads, self._scratch, out=self.grads)
        np.multiply(self.grads, self.params.dtype.type(self.lr), out=self._scratch)
        np.subtract(self.params, self._scratch, out=self.params)

    def reset(self) -> None:
        """Forget the optimizer state (SGD has none)."""


class FusedAdam:
    """Adam (https://arxiv.org/abs/1412.6980) with bias correction, as Dx12NN and torch.optim."""

    name = "adam"

    def __init__(
        self,
        params: np.ndarray,
        grads: np.ndarray,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        l2_reg: float = 0.0,
    ) -> None:
        self.params = params
        self.grads = grads
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self.l2_reg = l2_reg
        self.t = 0
        self.m = np.zeros_like(params)
        self.v = np.zeros_like(params)
        self._scratch = np.empty_like(params)
        self._denominator = np.empty_like(params)

    def reset(self) -> None:
        """Forget the optimizer state: the moments and the step count start again."""
        self.t = 0
        self.m.fill(0)
        self.v.fill(0)

    def step(self) -> None:
        self.t += 1
        adam_update(
            self.params,
            self.grads,
            self.m,
            self.v,
            step=self.t,
            lr=self.lr,
            beta1=self.beta1,
            beta2=self.beta2,
            eps=self.eps,
            weight_decay=self.l2_reg,
            decoupled_weight_decay=False,
            scratch=(self._scratch, self._denominator),
        )


Optimizer = FusedSGD | FusedAdam
OPTIMIZERS = ("adam", "sgd")


def make_optimizer(
    name: str,
    params: np.ndarray,
    grads: np.ndarray,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    l2_reg: float = 0.0,
) -> Optimizer:
    """The fused optimizer called `name` ("adam" or "sgd") over `params` / `grads`; `betas` and
    `eps` are Adam's."""
    if name == "adam":
        return FusedAdam(params, grads, lr, betas, eps, l2_reg)
    if name == "sgd":
        return FusedSGD(params, grads, lr, l2_reg)
    raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")


def optimizer_from_spec(spec: OptimizerSpec, params: np.ndarray, grads: np.ndarray) -> Optimizer:
    """The fused optimizer an `OptimizerSpec` describes, over `params` / `grads`."""
    return make_optimizer(
        spec.name, params, grads, spec.learning_rate, spec.betas, spec.epsilon, spec.l2_reg
    )
