"""The Trainer interface: what every backend (NumPy fused, compiled CPU, Warp CUDA, WebGPU)
implements, and the component specs a backend is built from.

A backend takes components, never app settings: a `ModelSpec` (input/output sizes, encoding
config in tiny-cuda-nn's JSON form, widths, activations, loss, optimizers, seed) and, for
training on its own batches, a `Target` (what is fitted, see `gfxnn.fields.targets`). The one
controller above them (`gfxnn.fields.controller`) drives any of them the same way.

Maths every backend computes (the CPU NumPy trainer is the reference, tests check the others
against it):
- batch: `batch_size` inputs drawn uniformly in [0, 1)^d and their nearest-sample targets;
- encoding (tcnn config `spec.encoding`) -> MLP with `n_hidden_layers` layers of `n_neurons`,
  `activation` after each hidden layer and `output_activation` after the output layer;
- loss "l2" (mean (y - t)^2 over batch and channels), "relative_l2" or "l1";
- optimizer "adam" (torch's: bias-corrected, eps outside the square root) or "sgd", with
  `l2_reg` added to the gradient; a trainable encoding (hash/dense grid) has its own optimizer.
- weights by `initialization` (Xavier uniform by default, `gfxnn.nn.init.SCHEMES`) from
  `np.random.default_rng(seed)` layer by layer, biases zero, then a grid table
  uniform(-1e-4, 1e-4) from the same generator;
- MLPZen's controls: `freeze_network` / `freeze_encoding` (gradients computed, the frozen
  part's parameters and optimizer state not touched), `gradient_clip` of the loss gradient
  (batch mean) before l2_reg and the optimizer ("value": every element clamped to
  +-clip_value, network and grid table; "norm": network and table scaled together by
  min(1, clip_value / ||g||_2), torch.nn.utils.clip_grad_norm_), `precision` "fp16" (the MLP's
  inference with weights and activations rounded to float16 after each layer; training keeps
  float32). A backend that cannot do one raises ValueError at construction, naming it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

LOSSES = ("l2", "relative_l2", "l1")
OPTIMIZERS = ("adam", "sgd")
# MLPZen's "Initialization" combo (gfxnn.nn.init.SCHEMES has the formulas).
INITIALIZATIONS = (
    "xavier_uniform",
    "xavier_gaussian",
    "he_uniform",
    "he_gaussian",
    "lecun_uniform",
    "lecun_gaussian",
)
GRADIENT_CLIPS = ("none", "value", "norm")
PRECISIONS = ("fp32", "fp16")


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer's hyperparameters (torch's names)."""

    name: str = "adam"  # one of OPTIMIZERS
    learning_rate: float = 1e-3
    betas: tuple[float, float] = (0.9, 0.999)
    epsilon: float = 1e-8
    l2_reg: float = 0.0


@dataclass(frozen=True)
class ModelSpec:
    """Everything a backend needs to build encoding + MLP + loss + optimizers.

    `encoding` is a tiny-cuda-nn encoding config with its otype, complete (every parameter
    given), e.g. {"otype": "Frequency", "n_frequencies": 8}.
    """

    n_input_dims: int = 2
    n_output_dims: int = 3
    encoding: dict[str, Any] = field(
        default_factory=lambda: {"otype": "Frequency", "n_frequencies": 8}
    )
    n_neurons: int = 64
    n_hidden_layers: int = 2
    activation: str = "leaky_relu"
    output_activation: str = "leaky_relu"
    loss: str = "l2"
    optimizer: OptimizerSpec = field(default_factory=OptimizerSpec)
    # The trainable encoding's own optimizer (None: the encoding has no parameters).
    encoding_optimizer: OptimizerSpec | None = None
    seed: int = 0
    initialization: str = "xavier_uniform"  # one of INITIALIZATIONS
    freeze_network: bool = False
    freeze_encoding: bool = False
    gradient_clip: str = "none"  # one of GRADIENT_CLIPS
    clip_value: float = 0.5
    precision: str = "fp32"  # one of PRECISIONS: the MLP's inference

    def replace(self, **changes: Any) -> ModelSpec:
        return dataclasses.replace(self, **changes)


@runtime_checkable
class Trainer(Protocol):
    """One backend's training loop for a `ModelSpec`.

    Names of `state_dict()` are `gfxnn.nn.MLP`'s ("layers.{i}.weight" (out, in),
    "layers.{i}.bias") plus "encoding.{name}" for an encoding's state (a grid's flat "table",
    GaussianFourier's fixed "B"), float32, so a checkpoint from any backend loads in every other.

    Optional: `set_controls(spec)` switches the spec's freeze_network, freeze_encoding,
    gradient_clip, clip_value and precision in place, keeping weights and optimizer state
    (ValueError, and nothing changed, when refused). The controller uses it for a live change
    of those fields; without it, it rebuilds the trainer with the weights (fresh optimizer).
    """

    spec: ModelSpec

    def compute_gradients(self, inputs: np.ndarray, targets: np.ndarray) -> float:
        """Host-fed batch inputs (B, n_input_dims) -> targets (B, n_output_dims): encode,
        forward, loss, backward. Returns the loss; gradients only when it is finite."""
        ...

    def update(self) -> None:
        """One optimizer step from the last computed gradients."""
        ...

    def train(self, n_steps: int, batch_size: int) -> None:
        """`n_steps` steps on batches the trainer samples from its target (host or device
        RNG). A step whose loss is not finite is not applied and stops training: the weights
        stay those of the last good step (see `diverged_at`). May return before the device
        has finished."""
        ...

    def set_target(self, target: Any) -> None:
        """Draw batches from another target (same sizes) from now on; weights, optimizer
        state and the batch generator stay."""
        ...

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        """New learning rates for the network's and the encoding's optimizer (None: unchanged),
        keeping the optimizers' state (Adam's moments)."""
        ...

    def read_losses(self) -> list[float]:
        """Losses of the steps finished since the last call (may wait for the device)."""
        ...

    def diverged_at(self) -> int:
        """The first step (1-based, counted over the trainer's life) whose loss was not
        finite; 0 when none."""
        ...

    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_output_dims) float32 network output for inputs (N, n_input_dims)."""
        ...

    def render(self, shape: tuple[int, ...]) -> np.ndarray:
        """Inference on the regular grid of `shape` (one size per input dimension, the last
        input dimension first in the array: (H, W) for (u, v)): sample i along an axis of
        size n sits at i / (n - 1) (0 when n is 1). Returns (*shape, n_output_dims)."""
        ...

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every trainable and fixed parameter (see the class docstring)."""
        ...

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the parameters (names and shapes checked: ValueError naming the first
        mismatch); the optimizer state restarts."""
        ...

    def timings_ms(self) -> dict[str, float]:
        """Mean milliseconds per call of each phase the backend measures (e.g. "sampling",
        "backpropagation", "optimization", "inference")."""
        ...
