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

Beyond Dx12NN, any encoding of `gfxnn.encodings` can be chosen by its name with its tiny-cuda-nn
parameters in `encoding_params`; the trainable grids (HashGrid, DenseGrid) get their own Adam
state with tiny-cuda-nn's epsilon 1e-15 and their own learning rate (`encoding_learning_rate`).
`FitSettings.from_config` reads a tiny-cuda-nn-format JSON config and `to_config` writes one.
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfxnn import registry
from gfxnn.checks import check_choice as _check_choice
from gfxnn.checks import check_fraction as _check_fraction
from gfxnn.checks import check_int
from gfxnn.checks import check_rate as _check_rate
from gfxnn.encodings.grid_kernels import grid_layout
from gfxnn.fused import FusedMLP, FusedTrainer, NearestTexelSampler, make_encoder, make_optimizer
from gfxnn.fused.activations import ACTIVATIONS as FUSED_ACTIVATIONS
from gfxnn.fused.threads import blas_threads

# Encodings offered by name (`gfxnn fit --encoding`, the studio); every one of
# `gfxnn.registry.ENCODINGS` that takes 2-D inputs, lower-cased. Composite needs a config.
ENCODINGS = (
    "frequency",
    "identity",
    "hashgrid",
    "densegrid",
    "oneblob",
    "onehot",
    "trianglewave",
    "gaussianfourier",
)
TRAINABLE_ENCODINGS = ("hashgrid", "densegrid")
# Dx12NN's three first, then the rest of the fused path's.
ACTIVATIONS = ("leaky_relu", "relu", "sigmoid", "tanh", "sine", "softplus", "none")
assert set(ACTIVATIONS) == set(FUSED_ACTIVATIONS)
OPTIMIZERS = ("adam", "sgd")
# The fused path's losses and their names in tiny-cuda-nn configs.
LOSSES = {"l2": "L2", "relative_l2": "RelativeL2", "l1": "L1"}
# Adam's epsilon for grid tables (tiny-cuda-nn's): rarely sampled entries get tiny gradients,
# which an epsilon of 1e-8 would swamp.
GRID_ADAM_EPSILON = 1e-15
# The largest grid table the fitter trains: 2^26 float32 values, 1 GiB with gradient and Adam.
MAX_GRID_VALUES = 2**26
BATCH_RANGE = (1, 65536)
FREQUENCY_RANGE = (2, 16)
LAYER_RANGE = (3, 8)
NEURON_RANGE = (1, 256)
# Settings whose change keeps the weights; any other change rebuilds and re-initialises.
TRAINING_ONLY = (
    "batch_size",
    "learning_rate",
    "optimizer",
    "encoding_learning_rate",
    "beta1",
    "beta2",
    "epsilon",
    "l2_reg",
    "loss",
)


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss; the weights are those of the last good step."""


@dataclass
class FitSettings:
    """Dx12NN's controls with its defaults (ranges are checked by `validate()`)."""

    batch_size: int = 2048  # 1..65536 UV samples per step (Dx12NN: 1..4096)
    learning_rate: float = 1e-3  # > 0 and finite
    optimizer: str = "adam"  # "adam" (0.9, 0.999, 1e-8, bias-corrected) | "sgd"
    encoding: str = "frequency"  # "frequency" | "identity" (Dx12NN), or another of ENCODINGS
    n_frequencies: int = 8  # 2..16 octaves; the frequency encoding gives 2 * 2 * F inputs
    activation: str = "leaky_relu"  # "leaky_relu" (slope 0.01) | "relu" | "sigmoid", output too
    n_layers: int = 4  # 3..8 counting the input and output layers (Dx12NN: 3..5)
    n_neurons: int = 64  # 1..256, the width of every hidden layer (Dx12NN: <= 64)
    seed: int = 0  # >= 0; seeds the weights and the UV sampler
    # ----- beyond Dx12NN's panel (tiny-cuda-nn configs set these) -------------------------
    # The encoding's other tcnn parameters, e.g. {"n_levels": 16, "log2_hashmap_size": 15}
    # for "hashgrid" (the frequency encoding's octaves are `n_frequencies`).
    encoding_params: dict[str, Any] = dataclasses.field(default_factory=dict)
    output_activation: str | None = None  # None: `activation` on the output too (Dx12NN)
    encoding_learning_rate: float | None = None  # grid tables; None: `learning_rate`
    beta1: float = 0.9  # Adam's moment decays and epsilon (the network's parameters)
    beta2: float = 0.999
    epsilon: float = 1e-8
    l2_reg: float = 0.0  # L2 regularisation of the network's parameters (tcnn's l2_reg)
    loss: str = "l2"  # "l2" (Dx12NN's MSE) | "relative_l2" | "l1"

    def validate(self) -> None:
        """Raise ValueError naming the first field out of range, its value and what is allowed."""
        check_int("batch_size", self.batch_size, *BATCH_RANGE)
        _check_rate("learning_rate", self.learning_rate)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        if self.encoding == "sphericalharmonics":
            raise ValueError(
                "encoding sphericalharmonics encodes 3-D directions; an image's (u, v) is 2-D "
                f"(choose one of {', '.join(ENCODINGS)}, or composite)"
            )
        _check_choice("encoding", self.encoding, (*ENCODINGS, "composite"))
        check_int("n_frequencies", self.n_frequencies, *FREQUENCY_RANGE)
        _check_choice("activation", self.activation, ACTIVATIONS)
        if self.output_activation is not None:
            _check_choice("output_activation", self.output_activation, ACTIVATIONS)
        check_int("n_layers", self.n_layers, *LAYER_RANGE)
        check_int("n_neurons", self.n_neurons, *NEURON_RANGE)
        check_int("seed", self.seed, 0)
        if self.encoding_learning_rate is not None:
            _check_rate("encoding_learning_rate", self.encoding_learning_rate)
        _check_fraction("beta1", self.beta1)
        _check_fraction("beta2", self.beta2)
        _check_rate("epsilon", self.epsilon)
        _check_fraction("l2_reg", self.l2_reg)
        _check_choice("loss", self.loss, tuple(LOSSES))
        self._check_encoding_params()

    def _check_encoding_params(self) -> None:
        params = self.encoding_params
        if not isinstance(params, dict) or not all(isinstance(k, str) for k in params):
            raise ValueError(f"encoding_params must be a dict of tcnn parameters, got {params!r}")
        if self.encoding == "frequency" and "n_frequencies" in params:
            raise ValueError("set the frequency encoding's octaves with n_frequencies")
        cls = registry.component_class("encoding", self.encoding)
        valid = registry.config_keys(cls, ("n_input_dims",))
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown} in encoding_params {params!r} for {self.encoding}; "
                f"valid keys are {valid}"
            )
        if self.encoding in TRAINABLE_ENCODINGS:
            self._check_grid_size(cls)

    def _check_grid_size(self, cls: type) -> None:
        """Refuse grid tables the fitter cannot hold: it keeps the table, its gradient and
        two Adam moments, so MAX_GRID_VALUES float32 values cost 1 GiB."""
        values = registry.complete_encoding_params(cls, self.encoding_params)
        values.pop("interpolation")
        layout = grid_layout(2, **values, hashed=self.encoding == "hashgrid")
        n_values = layout.n_entries * layout.n_features
        if n_values > MAX_GRID_VALUES:
            raise ValueError(
                f"the {self.encoding} table would hold {n_values} values ({values}); the image "
                f"fitter allows at most {MAX_GRID_VALUES} (fewer n_levels, a smaller "
                "log2_hashmap_size or per_level_scale)"
            )

    def encoding_config(self) -> dict[str, Any]:
        """The encoding as a tcnn config {"otype": ..., **parameters}."""
        otype = registry.canonical_name("encoding", self.encoding)
        config: dict[str, Any] = {"otype": otype, **self.encoding_params}
        if otype == "Frequency":
            config["n_frequencies"] = self.n_frequencies
        return config

    def to_config(self) -> dict[str, Any]:
        """These settings as a tiny-cuda-nn-format config (`gfxnn.build` and `from_config`
        read it back); batch size and seed are not part of the format."""
        optimizer: dict[str, Any] = {
            "otype": "Adam" if self.optimizer == "adam" else "SGD",
            "learning_rate": self.learning_rate,
        }
        if self.optimizer == "adam":
            optimizer.update(beta1=self.beta1, beta2=self.beta2, epsilon=self.epsilon)
        if self.l2_reg:
            optimizer["l2_reg"] = self.l2_reg
        output_activation = self.output_activation or self.activation
        return {
            "loss": {"otype": LOSSES[self.loss]},
            "optimizer": optimizer,
            "encoding": self.encoding_config(),
            "network": {
                "otype": "MLP",
                "activation": self.activation,
                "output_activation": output_activation,
                "n_neurons": self.n_neurons,
                "n_hidden_layers": self.n_layers - 2,
            },
        }

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> FitSettings:
        """Settings from a tiny-cuda-nn-format config (its own configs run unchanged: the
        network names FullyFusedMLP / CutlassMLP / MLP, tcnn's activation and Adam key
        spellings). What the fused image path cannot do is a ValueError that says so: a loss
        other than L2, an optimizer other than Adam or SGD, per-layer widths or no biases.
        `overrides` set other fields (batch_size, seed, ...)."""
        if not isinstance(config, dict):
            raise ValueError(f"a model config must be a JSON object, got {type(config).__name__}")
        registry.check_config_keys(config)
        values: dict[str, Any] = {}
        values.update(_settings_from_encoding(config.get("encoding", {"otype": "Identity"})))
        values.update(_settings_from_network(config.get("network", {"otype": "MLP"})))
        values.update(_settings_from_optimizer(config.get("optimizer", {"otype": "Adam"})))
        loss, loss_params = registry.split_config("loss", config.get("loss", {"otype": "L2"}))
        by_otype = {otype: name for name, otype in LOSSES.items()}
        if loss not in by_otype or loss_params:
            raise ValueError(
                f"the image fitter trains with the losses {list(by_otype)} (no parameters); "
                f"the config asks for {config.get('loss')!r}"
            )
        values["loss"] = by_otype[loss]
        return cls.from_dict({**values, **overrides})

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


def _settings_from_encoding(config: Any) -> dict[str, Any]:
    otype, params = registry.encoding_parts(config)
    values: dict[str, Any] = {"encoding": otype.lower(), "encoding_params": params}
    if otype == "Frequency":
        # A config means what gfxnn.build makes of it: the constructor's default octaves
        # (tcnn's 12), not Dx12NN's 8 that FitSettings starts from.
        default = inspect.signature(registry.component_class("encoding", otype))
        values["n_frequencies"] = params.pop(
            "n_frequencies", default.parameters["n_frequencies"].default
        )
    return values


def _settings_from_network(config: Any) -> dict[str, Any]:
    otype, params = registry.split_config("network", config)
    registry.drop_no_op_options("network", otype, params)
    valid = ["activation", "output_activation", "n_neurons", "n_hidden_layers", "bias"]
    registry.check_keys("network", otype, params, valid)
    if params.pop("bias", True) is not True:
        raise ValueError("the image fitter's network always has biases (bias must be true)")
    values: dict[str, Any] = {}
    if "n_neurons" in params:
        values["n_neurons"] = params["n_neurons"]  # validate() rejects per-layer lists
    if "n_hidden_layers" in params:
        hidden = params["n_hidden_layers"]
        values["n_layers"] = hidden + 2 if isinstance(hidden, int) else hidden
    for key in ("activation", "output_activation"):
        if key in params:
            values[key] = registry.activation_name(params[key])
    return values


def _settings_from_optimizer(config: Any) -> dict[str, Any]:
    cls, params = registry.optimizer_kwargs(config)
    name = cls.__name__.lower()
    if name not in OPTIMIZERS:
        raise ValueError(f"the image fitter trains with Adam or SGD; the config asks for {name}")
    supported = {"lr", "betas", "eps", "weight_decay"}
    unsupported = sorted(set(params) - supported)
    if unsupported:
        raise ValueError(f"the image fitter's {name} does not support {unsupported}")
    values: dict[str, Any] = {"optimizer": name}
    if "lr" in params:
        values["learning_rate"] = params["lr"]
    if "betas" in params:
        values["beta1"], values["beta2"] = params["betas"]
    if "eps" in params:
        values["epsilon"] = params["eps"]
    if "weight_decay" in params:
        values["l2_reg"] = params["weight_decay"]
    return values


def check_image(image: Any) -> np.ndarray:
    if not isinstance(image, np.ndarray):
        raise TypeError(f"image must be a numpy array (H, W, 3), got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3 or image.shape[0] < 1 or image.shape[1] < 1:
        raise ValueError(f"image must have shape (H, W, 3), got {image.shape}")
    if image.dtype.kind != "f":
        raise ValueError(f"image must be float in [0, 1], got dtype {image.dtype}")
    return np.ascontiguousarray(image, np.float32)


def _build_encoder(settings: FitSettings) -> Any:
    return make_encoder(settings.encoding, settings.n_frequencies, settings.encoding_params)


def _build_network(settings: FitSettings, n_features: int) -> FusedMLP:
    return FusedMLP(
        n_features,
        3,
        settings.n_neurons,
        settings.n_layers - 2,
        settings.activation,
        output_activation=settings.output_activation,
    )


def render_image(
    state: dict[str, np.ndarray], settings: FitSettings, width: int, height: int
) -> np.ndarray:
    """(height, width, 3) float32 prediction of a saved network, without a reference image."""
    settings.validate()
    check_int("width", width, 1)
    check_int("height", height, 1)
    trainer = build_fused_trainer(settings, initialize=False)
    load_fused_state(trainer.mlp, trainer.encoder, state)
    return trainer.render(width, height)


def build_fused_trainer(settings: FitSettings, *, initialize: bool = True) -> FusedTrainer:
    """The fused path's trainer for `settings`: encoder, network, optimizers and loss. With
    `initialize`, Xavier weights and zero biases from the seed, then a grid's table from the
    same generator (after the network, so the network draws as it does without a grid)."""
    encoder = _build_encoder(settings)
    mlp = _build_network(settings, encoder.n_output_dims)
    if initialize:
        rng = np.random.default_rng(settings.seed)
        mlp.initialize(rng)
        if hasattr(encoder, "initialize"):
            encoder.initialize(rng)
    return FusedTrainer(encoder, mlp, *_make_optimizers(settings, mlp, encoder), settings.loss)


def _make_optimizers(settings: FitSettings, mlp: FusedMLP, encoder: Any) -> tuple[Any, Any]:
    """The network's optimizer and, for a trainable encoding, the encoding's own."""
    network = make_optimizer(
        settings.optimizer,
        mlp.params,
        mlp.grads,
        settings.learning_rate,
        (settings.beta1, settings.beta2),
        settings.epsilon,
        settings.l2_reg,
    )
    if not hasattr(encoder, "backward"):
        return network, None
    rate = settings.encoding_learning_rate or settings.learning_rate
    betas = (settings.beta1, settings.beta2)
    table = make_optimizer(
        settings.optimizer, encoder.params, encoder.grads, rate, betas, GRID_ADAM_EPSILON
    )
    return network, table


def fused_state_dict(mlp: FusedMLP, encoder: Any) -> dict[str, np.ndarray]:
    state = {}
    for i, (weight, bias) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        state[f"layers.{i}.weight"] = weight.copy()
        state[f"layers.{i}.bias"] = bias.copy()
    if hasattr(encoder, "params"):
        # The table's flat layout is the autodiff encoding's ("table" Parameter, row-major).
        state[ENCODING_TABLE] = encoder.params.copy()
    for name, value in _fixed_encoding_state(encoder).items():
        state[f"encoding.{name}"] = value.copy()
    return state


def _fixed_encoding_state(encoder: Any) -> dict[str, np.ndarray]:
    """The fixed random state of an autodiff-run encoding (GaussianFourier's matrix B), saved
    so a checkpoint does not depend on the random generator reproducing it."""
    module = getattr(encoder, "encoding", None)
    return module.state_dict() if module is not None else {}


ENCODING_TABLE = "encoding.table"


def load_fused_state(mlp: FusedMLP, encoder: Any, state: dict[str, np.ndarray]) -> None:
    expected = fused_state_dict(mlp, encoder)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"state dict does not match the network {mlp.sizes}: "
            f"missing {missing}, unexpected {unexpected}"
        )
    for name, target in expected.items():
        value = np.asarray(state[name])
        if name == ENCODING_TABLE and value.size == target.size:
            value = value.reshape(target.shape)
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
    if ENCODING_TABLE in expected:
        encoder.params[...] = np.asarray(state[ENCODING_TABLE]).reshape(encoder.params.shape)
    fixed = _fixed_encoding_state(encoder)
    if fixed:
        encoder.encoding.load_state_dict({name: state[f"encoding.{name}"] for name in fixed})


def autodiff_model(state: dict[str, np.ndarray], settings: FitSettings) -> tuple[Any, Any]:
    """(encoding, network): the autodiff engine's `gfxnn.encodings` encoding and `gfxnn.nn.MLP`
    that compute what the fitted network computes, with its weights loaded (for export and
    for checking the fused path)."""
    from gfxnn.nn import MLP

    settings.validate()
    encoding = registry.build_encoding(settings.encoding_config(), 2)
    encoder = _build_encoder(settings)
    load_fused_state(_build_network(settings, encoder.n_output_dims), encoder, state)  # checks
    network = MLP(
        encoding.n_output_dims,
        3,
        settings.n_neurons,
        settings.n_layers - 2,
        settings.activation,
        settings.output_activation or settings.activation,
    )
    network.load_state_dict({k: v for k, v in state.items() if k.startswith("layers.")})
    own = encoding.state_dict()
    if own:  # a grid's table (stored flat) or a fixed random matrix
        encoding.load_state_dict(
            {name: np.asarray(state[f"encoding.{name}"]).reshape(own[name].shape) for name in own}
        )
    return encoding, network


def model_from_checkpoint(path: Any) -> tuple[Any, Any, FitSettings]:
    """(encoding, network, settings) of a checkpoint written by `gfxnn fit` or the studio:
    the autodiff model of `autodiff_model`. Raises gfxnn.io.CheckpointError for a bad file."""
    from gfxnn.apps.render import load_fit_checkpoint

    state, settings, _ = load_fit_checkpoint(path)
    encoding, network = autodiff_model(state, settings)
    return encoding, network, settings


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
            check_int("blas_threads", blas_threads, 1)
        self.blas_threads = blas_threads
        self._image = check_image(image)
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
        self._trainer = build_fused_trainer(settings)
        self._encoder, self._mlp = self._trainer.encoder, self._trainer.mlp
        self._sampler = NearestTexelSampler(self._image, np.random.default_rng([settings.seed, 1]))
        self._allocate_batch()
        self.steps = 0
        self.loss_history: list[float] = []
        self._record("initialize", start)

    def _make_trainer(self) -> None:
        optimizers = _make_optimizers(self._settings, self._mlp, self._encoder)
        self._trainer = FusedTrainer(self._encoder, self._mlp, *optimizers, self._settings.loss)

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
        check_int("n", n, 0)
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
        if changed & {"optimizer", "beta1", "beta2", "epsilon", "l2_reg", "loss"}:
            self._make_trainer()
        elif changed & {"learning_rate", "encoding_learning_rate"}:
            self._trainer.optimizer.lr = settings.learning_rate
            if self._trainer.encoder_optimizer is not None:
                rate = settings.encoding_learning_rate or settings.learning_rate
                self._trainer.encoder_optimizer.lr = rate
        if "batch_size" in changed:
            self._allocate_batch()

    def set_image(self, image: np.ndarray) -> None:
        """Train on a new reference image from now on; the network and optimizer state stay
        (call reset_weights() for a fresh start)."""
        self._image = check_image(image)
        self._sampler = NearestTexelSampler(self._image, self._sampler.rng)

    # ----- inference --------------------------------------------------------------------
    def predict(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """(height, width, 3) float32 network output (not clipped), pixel (x, y) evaluated at
        uv = (x / (width - 1), y / (height - 1)); the default size is the image's."""
        width = self._image.shape[1] if width is None else width
        height = self._image.shape[0] if height is None else height
        check_int("width", width, 1)
        check_int("height", height, 1)
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
        float32, named and laid out as `gfxnn.nn.MLP`'s state_dict(), plus "encoding.table"
        (flat) for a trainable grid encoding."""
        return fused_state_dict(self._mlp, self._encoder)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the weights (shape-checked against the current settings); the optimizer
        state restarts, the step counter and history stay."""
        load_fused_state(self._mlp, self._encoder, state)
        self._make_trainer()


def psnr(prediction: np.ndarray, reference: np.ndarray) -> float:
    """10 log10(1 / MSE) in dB for images in [0, 1]; inf when they are equal."""
    mse = float(np.mean((prediction.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)
