"""`make_trainer`: the NumPy fused backend built from a `ModelSpec` (components, not settings)."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

import numpy as np

from gfxnn.checks import check_choice
from gfxnn.fused.encoding import encoder_from_config
from gfxnn.fused.losses import LOSSES
from gfxnn.fused.mlp import FusedMLP
from gfxnn.fused.optim import OPTIMIZERS, Optimizer, optimizer_from_spec
from gfxnn.fused.trainer import FusedTrainer

if TYPE_CHECKING:  # the contract's types only: gfxnn.fields sits above the backends
    from gfxnn.fields.targets import Target
    from gfxnn.fields.trainer import ModelSpec, OptimizerSpec


def make_trainer(
    spec: ModelSpec,
    target: Target | None = None,
    *,
    dtype: type = np.float32,
    initialize: bool = True,
    blas_threads: int | None = 1,
) -> FusedTrainer:
    """The fused trainer of `spec`: encoder, network, optimizers and loss.

    With `initialize`, weights by `spec.initialization` (Xavier uniform by default) and zero
    biases from `np.random.default_rng(spec.seed)`, then a grid's table from the same
    generator (after the network, so the network draws as it does without a grid). `train()`
    samples `target` with `np.random.default_rng([seed, 1])`. `blas_threads` BLAS threads
    inside train/infer/render (1: threads gain little on these small matrices and cost up to
    ~10x on a busy machine, see `gfxnn.fused.threads`; None leaves the process's setting
    alone).
    """
    if target is not None and (
        target.n_input_dims != spec.n_input_dims or target.n_output_dims != spec.n_output_dims
    ):
        raise ValueError(
            f"the target maps {target.n_input_dims} -> {target.n_output_dims} dimensions; the "
            f"model {spec.n_input_dims} -> {spec.n_output_dims}"
        )
    encoder = encoder_from_config(spec.encoding, spec.n_input_dims, dtype)
    mlp = FusedMLP(
        encoder.n_output_dims,
        spec.n_output_dims,
        spec.n_neurons,
        spec.n_hidden_layers,
        spec.activation,
        dtype=dtype,
        output_activation=spec.output_activation,
    )
    if initialize:
        rng = np.random.default_rng(spec.seed)
        mlp.initialize(rng, spec.initialization)
        if hasattr(encoder, "initialize"):
            encoder.initialize(rng)
    optimizer, encoder_optimizer = make_optimizers(spec, mlp, encoder)
    return FusedTrainer(
        encoder,
        mlp,
        optimizer,
        encoder_optimizer,
        spec.loss,
        spec=spec,
        target=target,
        sample_rng=np.random.default_rng([spec.seed, 1]),
        blas_threads=blas_threads,
    )


def make_optimizers(
    spec: ModelSpec, mlp: FusedMLP, encoder: object
) -> tuple[Optimizer, Optimizer | None]:
    """The network's optimizer and, for a trainable encoder, the encoder's own."""
    network = optimizer_from_spec(spec.optimizer, mlp.params, mlp.grads)
    if not hasattr(encoder, "backward"):
        return network, None
    if spec.encoding_optimizer is None:
        otype = spec.encoding.get("otype")
        raise ValueError(f"the {otype} encoding is trainable: the spec needs encoding_optimizer")
    grid = optimizer_from_spec(spec.encoding_optimizer, encoder.params, encoder.grads)  # type: ignore[attr-defined]
    return network, grid


def set_training(trainer: FusedTrainer, spec: ModelSpec) -> None:
    """Switch `trainer` to `spec`'s loss and optimizers, keeping the weights; the rest of the
    spec must equal the trainer's (ValueError otherwise, and nothing changes). A changed
    learning rate alone keeps the optimizer state (Adam's moments); any other optimizer change
    starts a fresh one."""
    old = trainer.spec
    same_model = dataclasses.replace(
        old, loss=spec.loss, optimizer=spec.optimizer, encoding_optimizer=spec.encoding_optimizer
    )
    if same_model != spec:
        raise ValueError("set_training changes only the loss and the optimizers; rebuild instead")
    check_choice("loss", spec.loss, tuple(LOSSES))
    check_choice("optimizer", spec.optimizer.name, OPTIMIZERS)
    grid_spec = spec.encoding_optimizer
    if trainer.encoder_optimizer is not None:
        if grid_spec is None:
            raise ValueError("the trainable encoding needs encoding_optimizer")
        check_choice("encoding optimizer", grid_spec.name, OPTIMIZERS)
    # Every check passed: nothing below can fail.
    trainer.optimizer = _switched(trainer.optimizer, old.optimizer, spec.optimizer)
    if trainer.encoder_optimizer is not None and grid_spec is not None:
        trainer.encoder_optimizer = _switched(
            trainer.encoder_optimizer, old.encoding_optimizer, grid_spec
        )
    trainer.loss = spec.loss
    trainer.spec = spec


def _switched(
    optimizer: Optimizer, before: OptimizerSpec | None, after: OptimizerSpec
) -> Optimizer:
    """`optimizer` at `after`'s learning rate when only that changed, else a fresh one."""
    rate = after.learning_rate
    if before is not None and dataclasses.replace(before, learning_rate=rate) == after:
        optimizer.lr = after.learning_rate
        return optimizer
    return optimizer_from_spec(after, optimizer.params, optimizer.grads)
