"""Optimizers of the fused path: whole-array, in-place updates of a flat parameter vector.

The update equations are those of `torch.optim` (and `gfxnn.optim`), with an optional L2
regularisation added to the gradient first (tiny-cuda-nn's `l2_reg`, torch's coupled
`weight_decay`): g <- g + l2_reg p.
    SGD:  p <- p - lr g
    Adam: m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  t <- t + 1
          p <- p - (lr / (1 - b1^t)) m / (sqrt(v) / sqrt(1 - b2^t) + eps)
Adam's moments are preallocated at construction; one step allocates nothing.
"""

from __future__ import annotations

import math

import numpy as np


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
        add_l2_reg(self.params, self.grads, self.l2_reg, self._scratch)
        np.multiply(self.grads, self.params.dtype.type(self.lr), out=self._scratch)
        np.subtract(self.params, self._scratch, out=self.params)


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

    def step(self) -> None:
        cast = self.params.dtype.type
        self.t += 1
        step_size = self.lr / (1.0 - self.beta1**self.t)
        sqrt_correction2 = math.sqrt(1.0 - self.beta2**self.t)
        m, v, g, tmp, denominator = self.m, self.v, self.grads, self._scratch, self._denominator
        add_l2_reg(self.params, g, self.l2_reg, tmp)
        np.multiply(m, cast(self.beta1), out=m)
        np.multiply(g, cast(1.0 - self.beta1), out=tmp)
        np.add(m, tmp, out=m)
        np.multiply(v, cast(self.beta2), out=v)
        np.multiply(g, g, out=tmp)
        np.multiply(tmp, cast(1.0 - self.beta2), out=tmp)
        np.add(v, tmp, out=v)
        np.sqrt(v, out=denominator)
        np.divide(denominator, cast(sqrt_correction2), out=denominator)
        np.add(denominator, cast(self.eps), out=denominator)
        np.divide(m, denominator, out=tmp)
        np.multiply(tmp, cast(step_size), out=tmp)
        np.subtract(self.params, tmp, out=self.params)


def add_l2_reg(params: np.ndarray, grads: np.ndarray, l2_reg: float, scratch: np.ndarray) -> None:
    """grads += l2_reg * params (nothing when l2_reg is 0)."""
    if l2_reg:
        np.multiply(params, params.dtype.type(l2_reg), out=scratch)
        np.add(grads, scratch, out=grads)


def make_optimizer(
    name: str,
    params: np.ndarray,
    grads: np.ndarray,
    lr: float,
    betas: tuple[float, float] = (0.9, 0.999),
    eps: float = 1e-8,
    l2_reg: float = 0.0,
) -> FusedSGD | FusedAdam:
    """The fused optimizer called `name` ("adam" or "sgd") over `params` / `grads`; `betas` and
    `eps` are Adam's."""
    if name == "adam":
        return FusedAdam(params, grads, lr, betas, eps, l2_reg)
    if name == "sgd":
        return FusedSGD(params, grads, lr, l2_reg)
    raise ValueError(f"unknown optimizer {name!r}; choose 'adam' or 'sgd'")
