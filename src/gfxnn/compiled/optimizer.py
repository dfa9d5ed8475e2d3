"""The compiled trainer's optimizer state over one flat vector (the network's, or a grid's
table): the host side of `gfxnn.compiled.optim`'s kernels (step constants rounded once to the
dtype, Adam's moments, the step counter)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from gfxnn.compiled import optim

if TYPE_CHECKING:
    from gfxnn.fields.trainer import OptimizerSpec


class FlatOptimizer:
    """One optimizer's state over a flat vector (the network's, or a grid's table)."""

    def __init__(self, spec: OptimizerSpec, params: np.ndarray, grads: np.ndarray) -> None:
        if spec.name not in ("adam", "sgd"):
            raise ValueError(f"unknown optimizer {spec.name!r}; choose 'adam' or 'sgd'")
        self.spec, self.params, self.grads = spec, params, grads
        self.lr = spec.learning_rate
        self.t = 0
        if spec.name == "adam":
            self.m, self.v = np.zeros_like(params), np.zeros_like(params)

    def _constants(self) -> np.ndarray:
        """This step's constants (the step counter moves on)."""
        spec = self.spec
        self.t += 1
        if spec.name == "adam":
            dtype = self.params.dtype
            return optim.adam_constants(
                dtype, self.lr, spec.betas, spec.epsilon, spec.l2_reg, self.t
            )
        return np.array([spec.l2_reg, self.lr], self.params.dtype)

    def step_network(
        self, partial: np.ndarray, n_rows: int, sizes: np.ndarray, w_offsets: np.ndarray,
        transposed: np.ndarray,
    ) -> None:  # fmt: skip
        """Reduce the chunks' gradients into `grads`, update, refresh the transposed
        weights: one kernel call (`optim.network_step`)."""
        c = self._constants()
        adam = self.spec.name == "adam"
        m, v = (self.m, self.v) if adam else (self.params[:0], self.params[:0])
        optim.network_step(
            optim.ADAM if adam else optim.SGD, partial, n_rows, self.grads, self.params, m, v,
            c, self.spec.l2_reg != 0.0, sizes, w_offsets, transposed,
        )  # fmt: skip

    def step(self, zero_grads: bool, parallel: bool) -> None:
        """One update; `parallel` spreads it over the threads (a grid's large table)."""
        p, g, n = self.params, self.grads, self.params.size
        use_l2 = self.spec.l2_reg != 0.0
        c = self._constants()
        if self.spec.name == "adam":
            if parallel:
                optim.adam_step(p, g, self.m, self.v, c, use_l2, zero_grads)
            else:
                optim.adam_range(p, g, self.m, self.v, 0, n, c, use_l2, zero_grads)
        else:
            if parallel:
                optim.sgd_step(p, g, c, use_l2, zero_grads)
            else:
                optim.sgd_range(p, g, 0, n, c, use_l2, zero_grads)
