"""`MultiFitController`: MLPZen's Learn Four Images, several networks trained together.

Each network is a whole `FitController`: its own trainer, weights, optimizer state and
encoding state (a hash grid's table and its Adam moments included), fitting its own target.
They share the settings (MLPZen has one panel for all four). `step(n)` runs n steps of each,
network after network; `psnrs()` and `losses()` are per network.

Seeds: MLPZen's RNG does not include the network index, so its four networks start from
identical weights and draw identical sample positions; gfxnn does the same (every network
is built from `settings.seed`), so the four differ only by the image each learns. A test
checks that they still share no state.

Checkpoint: `save` writes one fit checkpoint (`gfxnn.fields.checkpoint.save`, the one
writer) whose tensors are every network's `state_dict()` under "networks.{i}." and whose
config has "networks": n; `load` reads it back, checking each network's tensors against the
settings.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.fields.controller import DivergenceError, FitController, TrainerFactory
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import Target
from gfxnn.io import CheckpointError, load_checkpoint

__all__ = ["MultiFitController", "load", "save", "split_state"]

_PREFIX = "networks.{}."


class MultiFitController:
    """Trains one network per target with the same settings, each its own `FitController`.

    Args:
        targets: the targets (same input and output sizes), e.g. four ImageTargets.
        settings: FitSettings for every network (defaults when None).
        make_trainer: the backend's factory, called once per network.
        blas_threads: BLAS threads inside each controller's calls.
    """

    def __init__(
        self,
        targets: Sequence[Target],
        settings: FitSettings | None,
        make_trainer: TrainerFactory,
        *,
        blas_threads: int | None = None,
    ) -> None:
        targets = list(targets)
        if not targets:
            raise ValueError("a MultiFitController needs at least one target")
        sizes = {(t.n_input_dims, t.n_output_dims) for t in targets}
        if len(sizes) != 1:
            raise ValueError(f"the targets must share input/output sizes, got {sorted(sizes)}")
        self.controllers: tuple[FitController, ...] = tuple(
            FitController(target, settings, make_trainer, blas_threads=blas_threads)
            for target in targets
        )

    def __len__(self) -> int:
        return len(self.controllers)

    # ----- state ------------------------------------------------------------------------
    @property
    def settings(self) -> FitSettings:
        """A copy of the shared settings."""
        return self.controllers[0].settings

    @property
    def targets(self) -> list[Target]:
        return [c.target for c in self.controllers]

    @property
    def steps(self) -> int:
        """Steps every network has made (they train in lockstep; after a divergence, the
        fewest)."""
        return min(c.steps for c in self.controllers)

    @property
    def loss_history(self) -> list[float]:
        """The mean batch loss over the networks at each step all of them made."""
        histories = [c.loss_history for c in self.controllers]
        n = min(len(h) for h in histories)
        return [float(np.mean([h[i] for h in histories])) for i in range(n)]

    @property
    def current_learning_rate(self) -> float:
        """The schedule's rate of the last step (the same for every network: one settings,
        one step count)."""
        return self.controllers[0].current_learning_rate

    @property
    def max_steps_reached(self) -> bool:
        """True when every network has made `settings.max_steps` steps."""
        return all(c.max_steps_reached for c in self.controllers)

    def losses(self) -> list[float]:
        """Each network's last batch loss (NaN before its first step)."""
        return [c.loss_history[-1] if c.loss_history else math.nan for c in self.controllers]

    # ----- controls ---------------------------------------------------------------------
    def step(self, n: int = 1) -> float:
        """`n` steps of every network; returns the mean of their last losses. A network that
        diverges raises DivergenceError naming it (the networks after it did not train in
        this call; its weights are those of its last good step)."""
        for index, controller in enumerate(self.controllers):
            try:
                controller.step(n)
            except DivergenceError as error:
                raise DivergenceError(f"network {index}: {error}") from None
        return float(np.mean(self.losses()))

    def reset_weights(self) -> None:
        """Initialize Weights for every network."""
        for controller in self.controllers:
            controller.reset_weights()

    def apply(self, settings: FitSettings) -> None:
        """`FitController.apply` for every network. The settings are checked (and the first
        network's new trainer built) before any other network changes, so a refused change
        (the same for all: they share sizes and settings) leaves every network as it was."""
        first, *rest = self.controllers
        first.apply(settings)
        for controller in rest:
            controller.apply(settings)

    # ----- inference --------------------------------------------------------------------
    def psnrs(self) -> list[float]:
        """Each network's PSNR in dB against its own target."""
        return [c.psnr() for c in self.controllers]

    def psnr(self) -> float:
        """The PSNR of all the networks together (of the 2x2 composite for four images of
        one size): 10 log10(1 / mean MSE) over every sample of every target."""
        total, count = 0.0, 0
        for controller in self.controllers:
            prediction = np.clip(controller.render(), 0.0, 1.0).astype(np.float64)
            reference = controller.target.reference()
            total += float(np.sum((prediction - reference) ** 2))
            count += prediction.size
        mse = total / count
        return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)

    def predict(self, *sizes: int | None) -> list[np.ndarray]:
        """Each network's `FitController.predict(*sizes)`."""
        return [c.predict(*sizes) for c in self.controllers]

    def timings_ms(self) -> dict[str, float]:
        """Each phase's mean milliseconds summed over the networks (one step of all)."""
        totals: dict[str, float] = {}
        for controller in self.controllers:
            for phase, value in controller.timings_ms().items():
                totals[phase] = totals.get(phase, 0.0) + value
        return totals

    # ----- weights ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Every network's state_dict() under "networks.{i}." (copies)."""
        state: dict[str, np.ndarray] = {}
        for index, controller in enumerate(self.controllers):
            prefix = _PREFIX.format(index)
            state.update({prefix + k: v for k, v in controller.state_dict().items()})
        return state

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Load a `state_dict()` (every network's names checked before any is loaded)."""
        parts = split_state(state, len(self.controllers))
        for controller, part in zip(self.controllers, parts, strict=True):
            controller.load_state_dict(part)


def split_state(state: Mapping[str, np.ndarray], n_networks: int) -> list[dict[str, np.ndarray]]:
    """The per-network state dicts of a `MultiFitController.state_dict()`; a ValueError names
    a tensor outside "networks.{0..n-1}." or a network with no tensors."""
    parts: list[dict[str, np.ndarray]] = [{} for _ in range(n_networks)]
    for name, value in state.items():
        head, _, rest = name.partition(".")
        number, _, key = rest.partition(".")
        if head != "networks" or not number.isdigit() or int(number) >= n_networks or not key:
            raise ValueError(
                f"tensor {name!r} is not one of networks.0. .. networks.{n_networks - 1}."
            )
        parts[int(number)][key] = value
    for index, part in enumerate(parts):
        if not part:
            raise ValueError(f"network {index} has no tensors (networks.{index}.*)")
    return parts


def save(
    path: str | Path, model: MultiFitController, config: Mapping[str, Any], **metadata: Any
) -> None:
    """Write `model`'s weights as one fit checkpoint (`gfxnn.fields.checkpoint.save`);
    `config` (from `checkpoint_config`) gains "networks": len(model). `metadata` is
    checkpoint.save's psnr, steps and weights_step."""
    fit_checkpoint.save(path, model.state_dict(), {**config, "networks": len(model)}, **metadata)


def load(path: str | Path) -> tuple[FitSettings, list[dict[str, np.ndarray]], dict[str, Any]]:
    """(settings, one float32 state per network, config) of a checkpoint `save` wrote; each
    network's tensors are checked against the settings. Raises CheckpointError."""
    from gfxnn.fused import make_trainer

    tensors, config = load_checkpoint(path)
    count = config.get("networks")
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise CheckpointError(f'{path} is not a multi-network checkpoint (no "networks" count)')
    try:
        settings = FitSettings.from_dict(config.get("settings"))
        parts = split_state(tensors, count)
        spec = settings.model_spec(*fit_checkpoint.example_dims(config))
        states = [{k: np.asarray(v, np.float32) for k, v in part.items()} for part in parts]
        for index, state in enumerate(states):
            if not all(np.all(np.isfinite(v)) for v in state.values()):
                raise ValueError(f"network {index} holds NaN or infinite weights")
            make_trainer(spec, initialize=False).load_state_dict(state)
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path}: {error}") from None
    return settings, states, config
