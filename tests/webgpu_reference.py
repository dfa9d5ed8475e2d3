"""The CPU reference of the WebGPU tests: `gfxnn.fused.FusedTrainer` built from a ModelSpec
(the same construction as the NumPy backend: Xavier weights from default_rng(seed), then a
grid's table from the same generator)."""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np

from gfxnn import registry
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec
from gfxnn.fused import FusedMLP, FusedTrainer, make_encoder, make_optimizer


def _encoder(encoding: dict[str, Any]) -> Any:
    otype, params = registry.encoding_parts(encoding)
    n_frequencies = params.pop("n_frequencies", 8) if otype == "Frequency" else 8
    defaults = inspect.signature(registry.component_class("encoding", otype)).parameters
    params = {k: v for k, v in params.items() if defaults[k].default != v}
    return make_encoder(otype, n_frequencies, params)


def _optimizer(spec: OptimizerSpec, params: np.ndarray, grads: np.ndarray) -> Any:
    return make_optimizer(
        spec.name, params, grads, spec.learning_rate, spec.betas, spec.epsilon, spec.l2_reg
    )


def cpu_trainer(spec: ModelSpec) -> FusedTrainer:
    encoder = _encoder(spec.encoding)
    mlp = FusedMLP(
        encoder.n_output_dims,
        spec.n_output_dims,
        spec.n_neurons,
        spec.n_hidden_layers,
        spec.activation,
        output_activation=spec.output_activation,
    )
    rng = np.random.default_rng(spec.seed)
    mlp.initialize(rng)
    table = None
    if hasattr(encoder, "initialize"):
        encoder.initialize(rng)
        assert spec.encoding_optimizer is not None
        table = _optimizer(spec.encoding_optimizer, encoder.params, encoder.grads)
    network = _optimizer(spec.optimizer, mlp.params, mlp.grads)
    return FusedTrainer(encoder, mlp, network, table, spec.loss)


def cpu_weights(trainer: FusedTrainer) -> np.ndarray:
    """Network parameters then the grid table, flat (WebGpuTrainer.gradients' layout)."""
    parts = [trainer.mlp.params]
    if hasattr(trainer.encoder, "params"):
        parts.append(trainer.encoder.params)
    return np.concatenate(parts)


def cpu_gradients(trainer: FusedTrainer) -> np.ndarray:
    parts = [trainer.mlp.grads]
    if hasattr(trainer.encoder, "grads"):
        parts.append(trainer.encoder.grads)
    return np.concatenate(parts)
