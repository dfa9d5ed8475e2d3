"""`FusedTrainer`: encoding + MLP + loss + optimizer as one training step on fixed buffers, the
NumPy backend of `gfxnn.fields.trainer.Trainer`."""

from __future__ import annotations

import math
import time
from typing import TYPE_CHECKING, Any

import numpy as np

# The contract this backend implements (gfxnn.fields.trainer imports nothing of gfxnn).
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec
from gfxnn.fused import render as _render
from gfxnn.fused import state as _state
from gfxnn.fused.controls import TrainingControls, clip_gradients
from gfxnn.fused.losses import LOSSES, l1_loss, l2_loss, relative_l2_loss
from gfxnn.fused.mlp import FusedMLP
from gfxnn.fused.optim import FusedAdam, Optimizer
from gfxnn.fused.render import INFERENCE_CHUNK
from gfxnn.fused.threads import blas_threads

if TYPE_CHECKING:
    from gfxnn.fields.targets import Target

__all__ = [
    "INFERENCE_CHUNK",
    "LOSSES",
    "FusedTrainer",
    "l1_loss",
    "l2_loss",
    "relative_l2_loss",
]

# Dx12NN's phases; "backpropagation" includes sampling the batch, as Dx12NN's timer does.
PHASES = ("backpropagation", "optimization", "inference")


class FusedTrainer:
    """One training step split into Dx12NN's two phases:

    compute_gradients(inputs, targets): encode, forward, loss (L2 by default), backward
        (gradients into `mlp.grads`, and into `encoder.grads` for a trainable encoding such as
        the hash grid); the loss L = mean((y - t)^2) over the batch and the channels gives
        dL/dy = 2 (y - t) / (B C).
    update(): the optimizer step (the network's, then the encoding's own optimizer), after
        the spec's gradient clipping; a frozen part (`freeze_network`, `freeze_encoding`) is
        not stepped at all, so its parameters and optimizer state stay bit for bit.

    A trainable encoder has `params`, `grads` and `backward(grad_features)`; it needs
    `encoder_optimizer`, which may have its own learning rate and epsilon (tiny-cuda-nn
    trains hash grids with Adam's epsilon at 1e-15).

    Built from a `ModelSpec` by `gfxnn.fused.make_trainer` (which sets `spec` and, for
    `train`, the `target` and its sampling generator); the constructor takes the components
    themselves (tests and benchmarks build them by hand; `spec` is then read back from them,
    seed 0).
    """

    def __init__(
        self,
        encoder: Any,
        mlp: FusedMLP,
        optimizer: Optimizer,
        encoder_optimizer: Optimizer | None = None,
        loss: str = "l2",
        *,
        spec: ModelSpec | None = None,
        target: Target | None = None,
        sample_rng: np.random.Generator | None = None,
        blas_threads: int | None = None,
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; the fused path supports {list(LOSSES)}")
        self.loss = loss
        self.encoder = encoder
        self.mlp = mlp
        self.optimizer = optimizer
        self.trains_encoder = hasattr(encoder, "backward")
        if self.trains_encoder and encoder_optimizer is None:
            raise ValueError(f"{type(encoder).__name__} is trainable: it needs encoder_optimizer")
        self.encoder_optimizer = encoder_optimizer
        self.spec = spec if spec is not None else self._components_spec()
        self.controls = self._controls(self.spec)
        self.target = target
        self.sample_rng = sample_rng
        self.blas_threads = blas_threads
        self.steps = 0  # optimizer steps applied
        self._losses: list[float] = []  # losses not read yet
        self._diverged_at = 0
        self._timings = {phase: [0.0, 0] for phase in PHASES}
        self._batch = -1
        self._sample_batch = -1

    def _components_spec(self) -> ModelSpec:
        """The ModelSpec of hand-built components."""
        mlp = self.mlp

        def optimizer_spec(optimizer: Optimizer | None) -> OptimizerSpec | None:
            if optimizer is None:
                return None
            if isinstance(optimizer, FusedAdam):
                betas = (optimizer.beta1, optimizer.beta2)
                return OptimizerSpec("adam", optimizer.lr, betas, optimizer.eps, optimizer.l2_reg)
            return OptimizerSpec("sgd", optimizer.lr, l2_reg=optimizer.l2_reg)

        network = optimizer_spec(self.optimizer)
        assert network is not None
        return ModelSpec(
            n_input_dims=self.encoder.n_input_dims,
            n_output_dims=mlp.sizes[-1],
            encoding=self.encoder.hyperparams(),
            n_neurons=mlp.sizes[1] if len(mlp.sizes) > 2 else 0,
            n_hidden_layers=len(mlp.sizes) - 2,
            activation=mlp.activation,
            output_activation=mlp.output_activation,
            loss=self.loss,
            optimizer=network,
            encoding_optimizer=optimizer_spec(self.encoder_optimizer),
        )

    def _allocate(self, batch: int) -> None:
        dtype = self.mlp.dtype
        self._features = np.empty((batch, self.encoder.n_output_dims), dtype)
        self._scratch = self.encoder.make_scratch(batch, dtype)
        self._batch = batch

    # ----- one step, host-fed -------------------------------------------------------------
    def compute_gradients(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """Loss of the batch inputs (B, n_input_dims) -> targets (B, C); gradients only when it
        is finite."""
        if inputs.shape[0] != self._batch:
            self._allocate(inputs.shape[0])
        self.encoder.encode(inputs, self._features, self._scratch)
        output = self.mlp.forward(self._features)
        residual = self.mlp.output_grad
        np.subtract(output, targets, out=residual)
        loss = LOSSES[self.loss](output, residual)
        if not np.isfinite(loss):
            return loss
        self.mlp.backward(input_grad=self.trains_encoder)
        if self.trains_encoder:
            self.encoder.backward(self.mlp.input_grad)
        return loss

    def update(self) -> None:
        """One optimizer step from the last computed gradients (clipped first, see
        `gfxnn.fused.controls`); frozen parts are left alone."""
        controls = self.controls
        learning = []
        if not controls.freeze_network:
            learning.append(self.optimizer)
        if self.encoder_optimizer is not None and not controls.freeze_encoding:
            learning.append(self.encoder_optimizer)
        clip_gradients(controls.gradient_clip, controls.clip_value, [opt.grads for opt in learning])
        for optimizer in learning:
            optimizer.step()

    # ----- MLPZen's controls ------------------------------------------------------------
    def _controls(self, spec: ModelSpec) -> TrainingControls:
        controls = TrainingControls.from_spec(spec)
        self.mlp.half_inference = controls.precision == "fp16"
        return controls

    def set_controls(self, spec: ModelSpec) -> None:
        """Switch to `spec`'s freezing, clipping and precision, keeping weights and optimizer
        state; the rest of `spec` must equal the trainer's (ValueError otherwise, and nothing
        changes)."""
        TrainingControls.switched(self.spec, spec)  # every check before anything changes
        self.controls = self._controls(spec)
        self.spec = spec

    # ----- the training loop on the target's batches ------------------------------------
    def set_target(self, target: Target) -> None:
        """Draw batches from `target` (same sizes) from now on; weights, optimizer state and
        the batch generator stay."""
        old = self.target
        if old is not None and (target.n_input_dims, target.n_output_dims) != (
            old.n_input_dims,
            old.n_output_dims,
        ):
            raise ValueError(
                f"the new target maps {target.n_input_dims} -> {target.n_output_dims} "
                f"dimensions, the trainer's {old.n_input_dims} -> {old.n_output_dims}"
            )
        self.target = target

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        """New learning rates for the network's and the encoder's optimizer (None: unchanged),
        keeping their state (Adam's moments)."""
        self.optimizer.lr = network
        if self.encoder_optimizer is not None and encoding is not None:
            self.encoder_optimizer.lr = encoding

    def train(self, n_steps: int, batch_size: int) -> None:
        """`n_steps` steps on batches of `batch_size` drawn from the target with `sample_rng`.
        A step whose loss is not finite is not applied, is not among `read_losses()`, and
        stops training (`diverged_at`)."""
        if self.target is None or self.sample_rng is None:
            raise ValueError("train() needs a target: build it by make_trainer(spec, target)")
        if self._diverged_at:
            return
        if batch_size != self._sample_batch:
            dtype = self.mlp.dtype
            self._inputs = np.empty((batch_size, self.target.n_input_dims), dtype)
            self._targets = np.empty((batch_size, self.target.n_output_dims), dtype)
            self._sample_batch = batch_size
        clock = time.perf_counter
        # A diverging run overflows before its loss turns inf/NaN; diverged_at reports it.
        with np.errstate(over="ignore", invalid="ignore"), blas_threads(self.blas_threads):
            for _ in range(n_steps):
                start = clock()
                self.target.sample(self.sample_rng, self._inputs, self._targets)
                loss = self.compute_gradients(self._inputs, self._targets)
                computed = clock()
                self._add_time("backpropagation", computed - start)
                if not math.isfinite(loss):
                    self._diverged_at = self.steps + 1
                    return
                self.update()
                self._add_time("optimization", clock() - computed)
                self.steps += 1
                self._losses.append(loss)

    def read_losses(self) -> list[float]:
        """Losses of the steps applied by `train` since the last call."""
        losses, self._losses = self._losses, []
        return losses

    def diverged_at(self) -> int:
        """The first step (1-based) whose loss was not finite in `train`; 0 when none."""
        return self._diverged_at

    # ----- inference ----------------------------------------------------------------------
    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_output_dims) network output for inputs (N, n_input_dims)."""
        start = time.perf_counter()
        with blas_threads(self.blas_threads):
            out = _render.infer(self.encoder, self.mlp, inputs)
        self._add_time("inference", time.perf_counter() - start)
        return out

    def render(self, shape: tuple[int, ...] | int, height: int | None = None) -> np.ndarray:
        """Inference on the regular grid of `shape` (the last input dimension first: (H, W)
        for an image), (*shape, C); sample i along an axis of size n sits at i / (n - 1).
        `render(width, height)` (two integers) is the older spelling of `render((height,
        width))`."""
        if isinstance(shape, int | np.integer):
            if height is None:
                raise TypeError("render(width, height) needs both sizes; or pass a shape tuple")
            shape = (int(height), int(shape))
        start = time.perf_counter()
        with blas_threads(self.blas_threads):
            out = _render.render_grid(self.encoder, self.mlp, tuple(shape))
        self._add_time("inference", time.perf_counter() - start)
        return out

    # ----- parameters ---------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the parameters, named as `gfxnn.nn.MLP`'s plus "encoding.*"."""
        return _state.state_dict(self.mlp, self.encoder)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the parameters (checked first); the optimizer state restarts."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        _state.load_state(self.mlp, self.encoder, state)
        self.optimizer.reset()
        if self.encoder_optimizer is not None:
            self.encoder_optimizer.reset()

    # ----- timings ------------------------------------------------------------------------
    def _add_time(self, phase: str, seconds: float) -> None:
        entry = self._timings[phase]
        entry[0] += seconds
        entry[1] += 1

    def timings_ms(self) -> dict[str, float]:
        """Mean milliseconds per call of "backpropagation" (sampling, encoding, forward, loss,
        backward) and "optimization" (in `train`), and "inference" (one infer or render); 0.0
        for a phase never run."""
        return {
            phase: 1e3 * total / count if count else 0.0
            for phase, (total, count) in self._timings.items()
        }
