"""The Trainer backends the controller can drive, built from a `ModelSpec` and a `Target`.

`fused_trainer` is the NumPy fused path (the reference maths), `warp_trainer` the Warp CUDA
path. Each factory has the signature the controller takes: (spec, target) -> Trainer.
"""

from __future__ import annotations

import inspect
import time
from typing import Any

import numpy as np

from gfxnn import registry
from gfxnn.fields.targets import Target
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec
from gfxnn.fused import FusedMLP, FusedTrainer, make_encoder, make_optimizer

__all__ = ["ENCODING_TABLE", "SpecFusedTrainer", "fused_trainer"]

ENCODING_TABLE = "encoding.table"


def fused_trainer(
    spec: ModelSpec, target: Target | None = None, *, initialize: bool = True
) -> SpecFusedTrainer:
    """The NumPy fused trainer of `spec`, drawing its batches from `target`."""
    return SpecFusedTrainer(spec, target, initialize=initialize)


def _fused_encoder(encoding: dict[str, Any]) -> Any:
    """The fused encoder of a complete encoding config: parameters at their constructor's
    defaults are left out, so the hand-written identity/frequency kernels are chosen."""
    otype, params = registry.encoding_parts(encoding)
    n_frequencies = params.pop("n_frequencies", 8) if otype == "Frequency" else 8
    if otype != "Composite":
        defaults = inspect.signature(registry.component_class("encoding", otype)).parameters
        params = {k: v for k, v in params.items() if not _is_default(defaults[k].default, v)}
    return make_encoder(otype, n_frequencies, params)


def _is_default(default: Any, value: Any) -> bool:
    return type(default) is type(value) and default == value


def _optimizer(spec: OptimizerSpec, params: np.ndarray, grads: np.ndarray) -> Any:
    return make_optimizer(
        spec.name, params, grads, spec.learning_rate, spec.betas, spec.epsilon, spec.l2_reg
    )


class SpecFusedTrainer:
    """`gfxnn.fused.FusedTrainer` behind the Trainer interface: weights Xavier from
    `default_rng(spec.seed)` (then a grid's table from the same generator), batches drawn from
    the target with `default_rng([spec.seed, 1])`."""

    def __init__(
        self, spec: ModelSpec, target: Target | None = None, *, initialize: bool = True
    ) -> None:
        self.spec = spec
        self.target = target
        encoder = _fused_encoder(spec.encoding)
        mlp = FusedMLP(
            encoder.n_output_dims,
            spec.n_output_dims,
            spec.n_neurons,
            spec.n_hidden_layers,
            spec.activation,
            output_activation=spec.output_activation,
        )
        if initialize:
            rng = np.random.default_rng(spec.seed)
            mlp.initialize(rng)
            if hasattr(encoder, "initialize"):
                encoder.initialize(rng)
        self.encoder, self.mlp = encoder, mlp
        self._fused = self._make_fused()
        self.rng = np.random.default_rng([spec.seed, 1])
        self._losses: list[float] = []
        self._steps = 0
        self._diverged = 0
        self._batch = -1
        self._timings = {"backpropagation": [0.0, 0], "optimization": [0.0, 0]}

    @property
    def fused(self) -> FusedTrainer:
        """The underlying `gfxnn.fused.FusedTrainer` (encoder, mlp, optimizers)."""
        return self._fused

    def _make_fused(self) -> FusedTrainer:
        spec, encoder = self.spec, self.encoder
        network = _optimizer(spec.optimizer, self.mlp.params, self.mlp.grads)
        table = None
        if hasattr(encoder, "backward"):
            assert spec.encoding_optimizer is not None, "a trainable encoding has an optimizer"
            table = _optimizer(spec.encoding_optimizer, encoder.params, encoder.grads)
        return FusedTrainer(encoder, self.mlp, network, table, spec.loss)

    # ----- training ---------------------------------------------------------------------
    def compute_gradients(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        return self._fused.compute_gradients(inputs, targets)

    def update(self) -> None:
        self._fused.update()

    def set_target(self, target: Target) -> None:
        self.target = target

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        """New learning rates, keeping the optimizers' state (Adam's moments)."""
        self._fused.optimizer.lr = network
        if self._fused.encoder_optimizer is not None and encoding is not None:
            self._fused.encoder_optimizer.lr = encoding

    def train(self, n_steps: int, batch_size: int) -> None:
        if self.target is None:
            raise ValueError("this trainer has no target to draw batches from")
        if batch_size != self._batch:
            self._inputs = np.empty((batch_size, self.spec.n_input_dims), np.float32)
            self._targets = np.empty((batch_size, self.spec.n_output_dims), np.float32)
            self._batch = batch_size
        backward, optimize = self._timings["backpropagation"], self._timings["optimization"]
        for _ in range(n_steps):
            start = time.perf_counter()
            self.target.sample(self.rng, self._inputs, self._targets)
            loss = self._fused.compute_gradients(self._inputs, self._targets)
            middle = time.perf_counter()
            backward[0] += middle - start
            backward[1] += 1
            if not np.isfinite(loss):
                self._diverged = self._diverged or self._steps + 1
                return
            self._fused.update()
            optimize[0] += time.perf_counter() - middle
            optimize[1] += 1
            self._steps += 1
            self._losses.append(loss)

    def read_losses(self) -> list[float]:
        losses, self._losses = self._losses, []
        return losses

    def diverged_at(self) -> int:
        return self._diverged

    def timings_ms(self) -> dict[str, float]:
        return {name: 1e3 * t / n if n else 0.0 for name, (t, n) in self._timings.items()}

    # ----- inference --------------------------------------------------------------------
    def infer(self, inputs: np.ndarray) -> np.ndarray:
        inputs = np.ascontiguousarray(inputs, self.mlp.dtype)
        features = np.empty((inputs.shape[0], self.encoder.n_output_dims), self.mlp.dtype)
        self.encoder.encode(
            inputs, features, self.encoder.make_scratch(len(inputs), features.dtype)
        )
        out = np.empty((inputs.shape[0], self.spec.n_output_dims), self.mlp.dtype)
        self.mlp.infer(features, out)
        return out

    def render(self, shape: tuple[int, ...]) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError(f"the fused trainer renders 2-D grids (H, W), got shape {shape}")
        height, width = shape
        return self._fused.render(width, height)

    # ----- weights ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        state = {}
        for i, (weight, bias) in enumerate(zip(self.mlp.weights, self.mlp.biases, strict=True)):
            state[f"layers.{i}.weight"] = weight.copy()
            state[f"layers.{i}.bias"] = bias.copy()
        if hasattr(self.encoder, "params"):
            # The table's flat layout is the autodiff encoding's ("table" Parameter, row-major).
            state[ENCODING_TABLE] = self.encoder.params.copy()
        for name, value in self._fixed_encoding_state().items():
            state[f"encoding.{name}"] = value.copy()
        return state

    def _fixed_encoding_state(self) -> dict[str, np.ndarray]:
        """The fixed random state of an autodiff-run encoding (GaussianFourier's matrix B),
        saved so a checkpoint does not depend on the random generator reproducing it."""
        module = getattr(self.encoder, "encoding", None)
        return module.state_dict() if module is not None else {}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        expected = self.state_dict()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected), key=str)
        if missing or unexpected:
            raise ValueError(
                f"state dict does not match the network {self.mlp.sizes}: "
                f"missing {missing}, unexpected {unexpected}"
            )
        values = {name: _checked(name, state[name], target) for name, target in expected.items()}
        for i, (weight, bias) in enumerate(zip(self.mlp.weights, self.mlp.biases, strict=True)):
            weight[...] = values[f"layers.{i}.weight"]
            bias[...] = values[f"layers.{i}.bias"]
        if ENCODING_TABLE in values:
            self.encoder.params[...] = values[ENCODING_TABLE]
        fixed = self._fixed_encoding_state()
        if fixed:
            self.encoder.encoding.load_state_dict({n: values[f"encoding.{n}"] for n in fixed})
        self._fused = self._make_fused()  # fresh optimizer state


def _checked(name: str, value: Any, target: np.ndarray) -> np.ndarray:
    """`value` in `target`'s shape (a grid's flat table accepted either way), finite numbers."""
    value = np.asarray(value)
    if name == ENCODING_TABLE and value.size == target.size:
        value = value.reshape(target.shape)
    if value.shape != target.shape:
        raise ValueError(f"{name} has shape {value.shape}, the network needs {target.shape}")
    if value.dtype.kind not in "fiu":
        raise ValueError(f"{name} must hold numbers, got dtype {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise ValueError(f"{name} holds NaN or infinite values")
    return value
