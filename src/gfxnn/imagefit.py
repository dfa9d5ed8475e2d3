"""Real-time image fitting, Dx12NN in Python: an MLP learns (u, v) -> RGB of one image.

`ImageFitter` is the API an app or a notebook drives step by step, the way Dx12NN's GUI does:
build from an image and `FitSettings`, `step(n)`, `reset_weights()`, change settings and
`apply()`, `predict()` the full image, read `steps`, `loss_history` and `timings_ms()`.
Training runs on the fused path (`gfxnn.fused`); its maths are Dx12NN's:

- each step draws `batch_size` uniform UVs in [0, 1)^2 and takes the nearest texels as targets;
- the UVs are encoded (identity, or frequency with `n_frequencies` octaves) and fed to an MLP
  with `n_layers` layers counting input and output, `n_neurons` per hidden layer and the same
  activation after every layer, the output layer included;
- the loss is the MSE over the batch and the 3 channels; SGD or Adam (0.9, 0.999, 1e-8);
- weights are Xavier uniform, biases zero; inference puts pixel (x, y) at
  uv = (x / (w - 1), y / (h - 1)).
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfxnn.fused import FusedMLP, FusedTrainer, NearestTexelSampler, make_encoder, make_optimizer
from gfxnn.fused.threads import blas_threads

ENCODINGS = ("frequency", "identity")
ACTIVATIONS = ("leaky_relu", "relu", "sigmoid")
OPTIMIZERS = ("adam", "sgd")
BATCH_RANGE = (1, 65536)
FREQUENCY_RANGE = (2, 16)
LAYER_RANGE = (3, 8)
NEURON_RANGE = (1, 256)
# Settings whose change keeps the weights; any other change rebuilds and re-initialises.
TRAINING_ONLY = ("batch_size", "learning_rate", "optimizer")


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss; the weights are those of the last good step."""


def _check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    allowed = f"{low}..{high}" if high is not None else f">= {low}"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer in {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be in {allowed}, got {value}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


@dataclass
class FitSettings:
    """Dx12NN's controls with its defaults (ranges are checked by `validate()`)."""

    batch_size: int = 2048  # 1..65536 UV samples per step (Dx12NN: 1..4096)
    learning_rate: float = 1e-3  # > 0 and finite
    optimizer: str = "adam"  # "adam" (0.9, 0.999, 1e-8, bias-corrected) | "sgd"
    encoding: str = "frequency"  # "frequency" | "identity"
    n_frequencies: int = 8  # 2..16 octaves; the frequency encoding gives 2 * 2 * F inputs
    activation: str = "leaky_relu"  # "leaky_relu" (slope 0.01) | "relu" | "sigmoid", output too
    n_layers: int = 4  # 3..8 counting the input and output layers (Dx12NN: 3..5)
    n_neurons: int = 64  # 1..256, the width of every hidden layer (Dx12NN: <= 64)
    seed: int = 0  # >= 0; seeds the weights and the UV sampler

    def validate(self) -> None:
        """Raise ValueError naming the first field out of range, its value and what is allowed."""
        _check_int("batch_size", self.batch_size, *BATCH_RANGE)
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, int | float | np.floating | np.integer):
            raise ValueError(f"learning_rate must be a finite number > 0, got {lr!r}")
        if not (math.isfinite(lr) and lr > 0):
            raise ValueError(f"learning_rate must be a finite number > 0, got {lr}")
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_choice("encoding", self.encoding, ENCODINGS)
        _check_int("n_frequencies", self.n_frequencies, *FREQUENCY_RANGE)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_int("n_layers", self.n_layers, *LAYER_RANGE)
        _check_int("n_neurons", self.n_neurons, *NEURON_RANGE)
        _check_int("seed", self.seed, 0)

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> FitSettings:
        """Settings from a dict (missing keys take defaults); unknown keys are a ValueError."""
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid))
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; valid settings are {valid}")
        settings = cls(**values)
        settings.validate()
        return settings

    @property
    def n_input_dims(self) -> int:
        """Width of the encoded input: 2 (identity) or 2 * 2 * n_frequencies."""
        return 2 if self.encoding == "identity" else 4 * self.n_frequencies


def _check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array (H, W, 3), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype.kind != "f":
        raise ValueError(f"image must be float in [0, 1], got dtype {image.dtype}")
    return np.ascontiguousarray(image, np.float32)


def _build_network(settings: FitSettings) -> FusedMLP:
    return FusedMLP(
        settings.n_input_dims,
        3,
        settings.n_neurons,
        settings.n_layers - 2,
        settings.activation,
    )


def render_image(
    state: dict[str, np.ndarray], settings: FitSettings, width: int, height: int
) -> np.ndarray:
    """(height, width, 3) float32 prediction of a saved network, without a reference image."""
    settings.validate()
    _check_int("width", width, 1)
    _check_int("height", height, 1)
    mlp = _build_network(settings)
    _load_state(mlp, state)
    encoder = make_encoder(settings.encoding, settings.n_frequencies)
    trainer = FusedTrainer(encoder, mlp, make_optimizer("sgd", mlp.params, mlp.grads, 1.0))
    return trainer.render(width, height)


def _state_dict(mlp: FusedMLP) -> dict[str, np.ndarray]:
    state = {}
    for i, (weight, bias) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        state[f"layers.{i}.weight"] = weight.copy()
        state[f"layers.{i}.bias"] = bias.copy()
    return state


def _load_state(mlp: FusedMLP, state: dict[str, np.ndarray]) -> None:
    expected = _state_dict(mlp)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"state dict does not match the network {mlp.sizes}: "
            f"missing {missing}, unexpected {unexpected}"
        )
    for name, target in expected.items():
        value = np.asarray(state[name])
        if value.shape != target.shape:
            raise ValueError(
                f"{name} has shape {value.shape}, the network {mlp.sizes} needs {target.shape}"
            )
        if value.dtype.kind not in "fiu":
            raise ValueError(f"{name} must hold numbers, got dtype {value.dtype}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} holds NaN or infinite values")
    for i, (weight, bias) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        weight[...] = state[f"layers.{i}.weight"]
        bias[...] = state[f"layers.{i}.bias"]


class ImageFitter:
    """Fits an MLP to one image, step by step (Dx12NN's training loop).

    Args:
        image: (H, W, 3) float array in [0, 1] (converted to float32).
        settings: FitSettings (defaults when None); validated here.
        blas_threads: BLAS threads inside step() and predict() (1 by default: threads gain
            little on these small matrices and, on a busy machine, cost up to ~10x; see
            `gfxnn.fused.threads`); None leaves the process's BLAS setting alone. Needs
            `threadpoolctl`, otherwise ignored.

    Randomness: the weights come from `np.random.default_rng(seed)` (so
    `gfxnn.nn.MLP(..., rng=seed)` starts from the same weights) and the UVs from
    `np.random.default_rng([seed, 1])`; `reset_weights()` restarts both, so a run is
    reproducible from its settings alone.
    """

    def __init__(
        self,
        image: np.ndarray,
        settings: FitSettings | None = None,
        *,
        blas_threads: int | None = 1,
    ) -> None:
        if blas_threads is not None:
            _check_int("blas_threads", blas_threads, 1)
        self.blas_threads = blas_threads
        self._image = _check_image(image)
        self._settings = dataclasses.replace(settings) if settings else FitSettings()
        self._settings.validate()
        self._timings: dict[str, list[float]] = {
            phase: [0.0, 0]
            for phase in ("initialize", "backpropagation", "optimization", "inference")
        }
        self._build()

    # ----- state ------------------------------------------------------------------------
    @property
    def settings(self) -> FitSettings:
        """A copy of the current settings (change them with `apply`)."""
        return dataclasses.replace(self._settings)

    @property
    def image(self) -> np.ndarray:
        """The reference image (H, W, 3) float32."""
        return self._image

    def _build(self) -> None:
        start = time.perf_counter()
        settings = self._settings
        self._mlp = _build_network(settings)
        self._mlp.initialize(np.random.default_rng(settings.seed))
        self._encoder = make_encoder(settings.encoding, settings.n_frequencies)
        self._make_trainer()
        self._sampler = NearestTexelSampler(self._image, np.random.default_rng([settings.seed, 1]))
        self._allocate_batch()
        self.steps = 0
        self.loss_history: list[float] = []
        self._record("initialize", start)

    def _make_trainer(self) -> None:
        settings = self._settings
        mlp = self._mlp
        optimizer = make_optimizer(
            settings.optimizer, mlp.params, mlp.grads, settings.learning_rate
        )
        self._trainer = FusedTrainer(self._encoder, mlp, optimizer)

    def _allocate_batch(self) -> None:
        self._uv = np.empty((self._settings.batch_size, 2), np.float32)
        self._target = np.empty((self._settings.batch_size, 3), np.float32)

    def _record(self, phase: str, start: float) -> None:
        self._add_time(phase, time.perf_counter() - start)

    def _add_time(self, phase: str, seconds: float) -> None:
        entry = self._timings[phase]
        entry[0] += seconds
        entry[1] += 1

    # ----- Dx12NN's controls ------------------------------------------------------------
    def step(self, n: int = 1) -> float:
        """Run `n` training steps; return the last batch loss (NaN when n is 0 and no step
        was ever run). Raises DivergenceError, before that step's update, on a NaN/inf loss."""
        _check_int("n", n, 0)
        # A diverging run overflows before its loss turns inf/NaN; DivergenceError reports it.
        with np.errstate(over="ignore", invalid="ignore"), blas_threads(self.blas_threads):
            for _ in range(n):
                self._train_step()
        return self.loss_history[-1] if self.loss_history else math.nan

    def _train_step(self) -> None:
        start = time.perf_counter()
        self._sampler.sample(self._uv, self._target)
        loss = self._trainer.compute_gradients(self._uv, self._target)
        middle = time.perf_counter()
        self._add_time("backpropagation", middle - start)
        if not math.isfinite(loss):
            settings = self._settings
            raise DivergenceError(
                f"training diverged at step {self.steps + 1}: the batch loss is {loss} "
                f"({settings.optimizer}, learning rate {settings.learning_rate:g}); the "
                f"weights are kept from step {self.steps}. Lower the learning rate or reset."
            )
        self._trainer.update()
        self._add_time("optimization", time.perf_counter() - middle)
        self.steps += 1
        self.loss_history.append(loss)

    def reset_weights(self) -> None:
        """Dx12NN's "Initialize Weights": fresh Xavier weights and zero biases from the seed,
        fresh optimizer state and UV sampler, steps and loss history back to zero."""
        self._build()

    def apply(self, settings: FitSettings) -> None:
        """Switch to `settings`. Changing only batch_size, learning_rate or optimizer keeps the
        weights (a new optimizer starts with fresh state; a new learning rate keeps Adam's
        moments); any other change rebuilds the network and resets it like reset_weights()."""
        settings = dataclasses.replace(settings)
        settings.validate()
        old = self._settings
        changed = {
            f.name
            for f in dataclasses.fields(FitSettings)
            if getattr(old, f.name) != getattr(settings, f.name)
        }
        self._settings = settings
        if changed - set(TRAINING_ONLY):
            self._build()
            return
        if "optimizer" in changed:
            self._make_trainer()
        elif "learning_rate" in changed:
            self._trainer.optimizer.lr = settings.learning_rate
        if "batch_size" in changed:
            self._allocate_batch()

    def set_image(self, image: np.ndarray) -> None:
        """Train on a new reference image from now on; the network and optimizer state stay
        (call reset_weights() for a fresh start)."""
        self._image = _check_image(image)
        self._sampler = NearestTexelSampler(self._image, self._sampler.rng)

    # ----- inference --------------------------------------------------------------------
    def predict(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """(height, width, 3) float32 network output (not clipped), pixel (x, y) evaluated at
        uv = (x / (width - 1), y / (height - 1)); the default size is the image's."""
        width = self._image.shape[1] if width is None else width
        height = self._image.shape[0] if height is None else height
        _check_int("width", width, 1)
        _check_int("height", height, 1)
        start = time.perf_counter()
        with blas_threads(self.blas_threads):
            image = self._trainer.render(width, height)
        self._record("inference", start)
        return image

    def psnr(self) -> float:
        """PSNR in dB of the full-image prediction, clipped to [0, 1], against the reference."""
        prediction = np.clip(self.predict(), 0.0, 1.0)
        return psnr(prediction, self._image)

    def timings_ms(self) -> dict[str, float]:
        """Mean milliseconds per call of Dx12NN's phases since this fitter was made:
        "initialize", "backpropagation" (sampling, encoding, forward and backward),
        "optimization" and "inference" (one full predict()); 0.0 for a phase never run."""
        return {
            phase: 1e3 * total / count if count else 0.0
            for phase, (total, count) in self._timings.items()
        }

    # ----- weights ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the weights, "layers.{i}.weight" (out, in) and "layers.{i}.bias" (out,),
        float32, named and laid out as `gfxnn.nn.MLP`'s state_dict()."""
        return _state_dict(self._mlp)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the weights (shape-checked against the current settings); the optimizer
        state restarts, the step counter and history stay."""
        _load_state(self._mlp, state)
        self._make_trainer()


def psnr(prediction: np.ndarray, reference: np.ndarray) -> float:
    """10 log10(1 / MSE) in dB for images in [0, 1]; inf when they are equal."""
    mse = float(np.mean((prediction.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)
