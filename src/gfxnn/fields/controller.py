"""`FitController`: the one training controller (Dx12NN's controls) over any Trainer backend.

Build it from a target, `FitSettings` and a trainer factory ((ModelSpec, Target) -> Trainer);
then `step(n)`, `reset_weights()`, change settings with `apply()`, `predict()` the full grid,
read `steps`, `loss_history` and `timings_ms()`.

The controller applies MLPZen's learning-rate schedule (`gfxnn.fields.schedule`): before each
run of steps that share one rate it calls the trainer's `set_learning_rates`, so every backend
follows it; `current_learning_rate` is the last step's rate. It never trains past
`settings.max_steps` (`max_steps_reached`). A reset restarts both with the step count.

`ImageFitter` is this controller with the NumPy fused trainer; `gfxnn.gpu.GpuImageFitter` the
same controller with the Warp trainer.

`apply` is atomic: the new trainer is built (and given the weights it keeps) before anything
is swapped, so a refused change leaves settings, weights and optimizer state as they were.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from gfxnn.checks import check_int
from gfxnn.fields.schedule import learning_rates_at
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import Target
from gfxnn.fields.trainer import ModelSpec, Trainer
from gfxnn.fused.threads import blas_threads as _blas_threads

__all__ = ["DivergenceError", "FitController", "TrainerFactory", "psnr", "steps_per_check"]

TrainerFactory = Callable[[ModelSpec, Target], Trainer]
# Live settings that leave the trainer as it is (read at each step), or only change its rates.
_BATCH_ONLY = frozenset({"batch_size"})
_RATES = frozenset({"learning_rate", "encoding_learning_rate"})
# Read by the controller alone: the schedule (applied through the rates), the limit, and the
# pacing of frames (the studio's and `gfxnn fit`'s).
_CONTROLLER_ONLY = frozenset(
    {
        "lr_schedule",
        "max_learning_rate",
        "decay_steps",
        "base_period",
        "min_learning_rate",
        "steps_per_frame",
        "frame_budget_ms",
        "max_steps",
    }
)
# Spec fields a trainer with `set_controls(spec)` switches in place (Adam's state kept).
_CONTROLS = frozenset({"freeze_mlp", "freeze_encoding", "gradient_clip", "clip_value", "precision"})


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss; the weights are those of the last good step."""


def psnr(prediction: np.ndarray, reference: np.ndarray) -> float:
    """10 log10(1 / MSE) in dB for signals in [0, 1]; inf when they are equal."""
    mse = float(np.mean((prediction.astype(np.float64) - reference.astype(np.float64)) ** 2))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)


# The most steps between two checks of an app's clock and stop flag (a frame budget's too).
MAX_STEPS_PER_CHECK = 65536


def steps_per_check(settings: FitSettings, seconds_per_step: float, check_seconds: float) -> int:
    """How many steps an app (`gfxnn fit`) trains between two looks at its clock, stop flag
    and progress, given the measured seconds per step:
    - with `frame_budget_ms`, about that many milliseconds of steps (at least one);
    - otherwise whole frames of `steps_per_frame` steps, as many as fill about
      `check_seconds` (at least one frame, at most 1000 frames' worth of single steps).
    """
    per_step = max(seconds_per_step, 1e-9)
    if settings.frame_budget_ms is not None:
        budget = settings.frame_budget_ms / 1e3
        return int(np.clip(budget / per_step, 1, MAX_STEPS_PER_CHECK))
    frame = settings.steps_per_frame
    frames = int(np.clip(check_seconds / (per_step * frame), 1, max(1, 1000 // frame)))
    return frames * frame


def copy_settings(settings: Any) -> FitSettings:
    """A validated copy of `settings` (defaults for None)."""
    if settings is None:
        return FitSettings()
    if not isinstance(settings, FitSettings):
        raise TypeError(
            f"settings must be FitSettings (FitSettings.from_dict reads a dict), "
            f"got {type(settings).__name__}"
        )
    settings = dataclasses.replace(settings)
    settings.validate()
    return settings


class FitController:
    """Fits the network of `settings` to `target`, step by step, with the trainer that
    `make_trainer(spec, target)` builds.

    Args:
        target: what is fitted (`gfxnn.fields.targets`).
        settings: FitSettings (defaults when None); validated here.
        make_trainer: the backend's factory.
        blas_threads: BLAS threads inside step() and predict(); None leaves them alone.
    """

    def __init__(
        self,
        target: Target,
        settings: FitSettings | None,
        make_trainer: TrainerFactory,
        *,
        blas_threads: int | None = None,
    ) -> None:
        if blas_threads is not None:
            check_int("blas_threads", blas_threads, 1)
        self.blas_threads = blas_threads
        self._make_trainer = make_trainer
        self._target = target
        self._settings = copy_settings(settings)
        self._timings: dict[str, list[float]] = {
            phase: [0.0, 0] for phase in ("initialize", "training", "inference")
        }
        start = time.perf_counter()
        self._install(self._build(self._settings), reset=True)
        self._record("initialize", start)

    # ----- state ------------------------------------------------------------------------
    @property
    def settings(self) -> FitSettings:
        """A copy of the current settings (change them with `apply`)."""
        return dataclasses.replace(self._settings)

    @property
    def target(self) -> Target:
        return self._target

    @property
    def steps(self) -> int:
        """Training steps applied since the last (re)build."""
        self._collect()
        return self._steps

    @property
    def loss_history(self) -> list[float]:
        """Batch loss of every applied step (a list the caller may trim)."""
        self._collect()
        return self._history

    def _spec(self, settings: FitSettings) -> ModelSpec:
        target = self._target
        return settings.model_spec(target.n_input_dims, target.n_output_dims)

    def _build(self, settings: FitSettings) -> Trainer:
        return self._make_trainer(self._spec(settings), self._target)

    def _install(self, trainer: Trainer, *, reset: bool) -> None:
        """Make `trainer` current; with `reset`, the step counter and history restart."""
        if reset:
            self._steps = 0
            self._history: list[float] = []
        self._trainer = trainer
        self._base = self._steps  # steps done before this trainer
        self._read = 0  # losses read from this trainer
        self._dispatched = 0  # steps asked of this trainer (a device may not have run them)
        # The rates the trainer holds: those it was built with, from the spec.
        spec = trainer.spec
        encoding = spec.encoding_optimizer
        self._rates = (
            spec.optimizer.learning_rate,
            encoding.learning_rate if encoding is not None else spec.optimizer.learning_rate,
        )
        if reset:
            self._last_rate: float | None = None

    def _collect(self) -> int:
        """Read the trainer's finished losses; the first diverged step (counted as `steps`
        is) or 0. Losses of a diverged step and of any after it are left out."""
        losses = self._trainer.read_losses()
        diverged = self._trainer.diverged_at()
        if diverged:
            losses = losses[: max(0, diverged - 1 - self._read)]
        self._read += len(losses)
        self._steps += len(losses)
        self._history.extend(losses)
        return self._base + diverged if diverged else 0

    def _record(self, phase: str, start: float, count: int = 1) -> None:
        entry = self._timings[phase]
        entry[0] += time.perf_counter() - start
        entry[1] += count

    # ----- Dx12NN's controls ------------------------------------------------------------
    @property
    def current_learning_rate(self) -> float:
        """The network's learning rate of the last step started (MLPZen's "Current Learning
        Rate"); before any step since the last reset, the rate the first step will use."""
        if self._last_rate is None:
            return learning_rates_at(self._settings, self._position())[0]
        return self._last_rate

    @property
    def max_steps_reached(self) -> bool:
        """True when `settings.max_steps` is set and that many steps were started."""
        limit = self._settings.max_steps
        return limit is not None and self._position() >= limit

    def _position(self) -> int:
        """Steps started since the last reset: the schedule's step and the limit's count."""
        return self._base + self._dispatched

    def step_async(self, n: int = 1) -> None:
        """Start up to `n` training steps, fewer when `settings.max_steps` is near (a device
        backend may return before they finish). Each run of steps that share a learning rate
        is one `train` call, after `set_learning_rates` when the rate changes."""
        check_int("n", n, 0)
        limit = self._settings.max_steps
        if limit is not None:
            n = max(0, min(n, limit - self._position()))
        if not n:
            return
        with _blas_threads(self.blas_threads):
            for rates, count in self._rate_runs(n):
                if rates != self._rates:
                    self._trainer.set_learning_rates(*rates)
                    self._rates = rates
                self._trainer.train(count, self._settings.batch_size)
                self._dispatched += count
                self._last_rate = rates[0]

    def _rate_runs(self, n: int) -> list[tuple[tuple[float, float], int]]:
        """The next `n` steps as (rates, count) runs of equal rates."""
        start = self._position()
        runs: list[tuple[tuple[float, float], int]] = []
        if self._settings.lr_schedule == "fixed":
            return [(learning_rates_at(self._settings, start), n)]
        for step in range(start, start + n):
            rates = learning_rates_at(self._settings, step)
            if runs and runs[-1][0] == rates:
                runs[-1] = (rates, runs[-1][1] + 1)
            else:
                runs.append((rates, 1))
        return runs

    def step(self, n: int = 1) -> float:
        """Run `n` training steps (fewer at `settings.max_steps`, none past it); return the last
        batch loss (NaN when no step was ever run). Raises DivergenceError on a NaN/inf loss:
        that step is not applied."""
        start = time.perf_counter()
        # A diverging run overflows before its loss turns inf/NaN; DivergenceError reports it.
        with np.errstate(over="ignore", invalid="ignore"):
            before = self._dispatched
            self.step_async(n)
            started = self._dispatched - before
            diverged = self._collect()
        if n and started:
            self._record("training", start, started)
        if diverged:
            s = self._settings
            raise DivergenceError(
                f"training diverged at step {diverged}: the batch loss is not finite "
                f"({s.optimizer}, learning rate {self.current_learning_rate:g}); the weights are "
                f"kept "
                f"from step {diverged - 1}. Lower the learning rate or reset."
            )
        return self._history[-1] if self._history else math.nan

    def reset_weights(self) -> None:
        """Dx12NN's "Initialize Weights": fresh weights from the seed, fresh optimizer state
        and batch generator, steps and loss history back to zero."""
        start = time.perf_counter()
        self._install(self._build(self._settings), reset=True)
        self._record("initialize", start)

    def apply(self, settings: FitSettings) -> None:
        """Switch to `settings`. Changing only live settings (`FitSettings.TRAINING_ONLY`:
        batch size, learning rates, optimizer, ...) keeps the weights: a new learning rate
        keeps the optimizer state, another optimizer setting starts it afresh; the schedule,
        pacing and step limit are the controller's own; freezing, clipping and precision switch
        in place through the trainer's `set_controls` when it has one (keeping the optimizer
        state), else by a rebuild with the weights. Any other change rebuilds the network and
        resets it like reset_weights(). Atomic: when the change is
        refused (ValueError), settings, weights and optimizer state stay as they were."""
        settings = copy_settings(settings)
        old = self._settings
        changed = old.changed_fields(settings)
        if not old.keeps_weights(settings):
            start = time.perf_counter()
            trainer = self._build(settings)
            self._settings = settings
            self._install(trainer, reset=True)
            self._record("initialize", start)
            return
        rebuild = changed - _BATCH_ONLY - _RATES - _CONTROLLER_ONLY
        if rebuild and not (rebuild <= _CONTROLS and self._set_controls(settings)):
            self._collect()
            trainer = self._build(settings)
            trainer.load_state_dict(self._trainer.state_dict())
            self._install(trainer, reset=False)
        self._settings = settings
        if changed & (_RATES | _CONTROLLER_ONLY) or rebuild:
            # The schedule's rates at the current step, at once (not only at the next step).
            rates = learning_rates_at(settings, self._position())
            if rates != self._rates:
                self._trainer.set_learning_rates(*rates)
                self._rates = rates

    def _set_controls(self, settings: FitSettings) -> bool:
        """Switch the trainer's freezing, clipping and precision in place when it can
        (`set_controls`, keeping Adam's state): True when done. A refusal (ValueError) leaves
        the trainer as it was and propagates."""
        set_controls = getattr(self._trainer, "set_controls", None)
        if set_controls is None:
            return False
        self._collect()
        # The optimizers stay the trainer's: rates reach it through set_learning_rates.
        current = self._trainer.spec
        set_controls(
            self._spec(settings).replace(
                optimizer=current.optimizer, encoding_optimizer=current.encoding_optimizer
            )
        )
        return True

    def set_target(self, target: Target) -> None:
        """Fit another target of the same sizes from now on; the network and optimizer state
        stay (call reset_weights() for a fresh start)."""
        current = self._target
        if (target.n_input_dims, target.n_output_dims) != (
            current.n_input_dims,
            current.n_output_dims,
        ):
            raise ValueError(
                f"the new target has {target.n_input_dims} inputs and {target.n_output_dims} "
                f"outputs; the network has {current.n_input_dims} and {current.n_output_dims}"
            )
        self._trainer.set_target(target)
        self._target = target

    # ----- inference --------------------------------------------------------------------
    def infer(self, inputs: np.ndarray) -> np.ndarray:
        """(N, n_output_dims) float32 network output at inputs (N, n_input_dims), e.g. a z
        slice of a 3-D field (`gfxnn.fields.display`); timed as "inference"."""
        dims = self._target.n_input_dims
        if not isinstance(inputs, np.ndarray) or inputs.ndim != 2 or inputs.shape[1] != dims:
            shape = getattr(inputs, "shape", type(inputs).__name__)
            raise ValueError(f"inputs must be an array (N, {dims}), got {shape}")
        start = time.perf_counter()
        with _blas_threads(self.blas_threads):
            output = self._trainer.infer(np.ascontiguousarray(inputs, np.float32))
        self._record("inference", start)
        return output

    def render(self, shape: tuple[int, ...] | None = None) -> np.ndarray:
        """(*shape, n_output_dims) float32 network output on the regular grid of `shape`
        (default: the target's), sample i of n along an axis at i / (n - 1)."""
        shape = tuple(self._target.grid_shape if shape is None else shape)
        if len(shape) != self._target.n_input_dims:
            raise ValueError(f"shape needs {self._target.n_input_dims} sizes, got {shape}")
        for i, size in enumerate(shape):
            check_int(f"shape[{i}]", size, 1)
        start = time.perf_counter()
        with _blas_threads(self.blas_threads):
            output = self._trainer.render(shape)
        self._record("inference", start)
        return output

    def predict(self, *sizes: int | None) -> np.ndarray:
        """Network output (not clipped) with `sizes[i]` samples along input dimension i, the
        first input dimension first, so an image is predict(width, height): (height, width,
        3), pixel (x, y) at uv = (x / (width - 1), y / (height - 1)). A size left out or None
        is the target's own."""
        dims = self._target.n_input_dims
        if len(sizes) > dims:
            raise ValueError(f"the target has {dims} input dimension(s), got sizes {sizes}")
        own = tuple(reversed(self._target.grid_shape))
        sizes = tuple(
            own[i] if i >= len(sizes) or sizes[i] is None else sizes[i] for i in range(dims)
        )
        names = ("width", "height", "depth")
        for i, size in enumerate(sizes):
            check_int(names[i] if i < len(names) else f"sizes[{i}]", size, 1)
        return self.render(tuple(reversed(sizes)))  # type: ignore[arg-type]

    def psnr(self) -> float:
        """PSNR in dB of the full-grid prediction, clipped to [0, 1], against the target."""
        return psnr(np.clip(self.render(), 0.0, 1.0), self._target.reference())

    def timings_ms(self) -> dict[str, float]:
        """Mean milliseconds per call: "initialize", the backend's own phases when it
        measures them (the fused path: "backpropagation" = sampling, encoding, forward and
        backward, and "optimization"), otherwise "training" (wall clock per step, measured
        over whole step(n) calls), and "inference" (one full render); 0.0 for a phase never
        run."""
        means = {
            phase: 1e3 * total / count if count else 0.0
            for phase, (total, count) in self._timings.items()
        }
        phases = dict(self._trainer.timings_ms())
        phases.pop("inference", None)  # measured here, the same way for every backend
        sampling = phases.pop("sampling", None)
        if sampling is not None and "backpropagation" in phases:
            phases["backpropagation"] += sampling  # Dx12NN's phase includes drawing the batch
        middle = phases if phases else {"training": means["training"]}
        return {"initialize": means["initialize"], **middle, "inference": means["inference"]}

    # ----- weights ----------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the weights, "layers.{i}.weight" (out, in) and "layers.{i}.bias" (out,),
        float32, named and laid out as `gfxnn.nn.MLP`'s state_dict(), plus "encoding.{name}"
        for an encoding's state (a grid's flat "table", GaussianFourier's "B")."""
        return self._trainer.state_dict()

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the weights (names and shapes checked against the current settings); the
        optimizer state restarts, the step counter and history stay."""
        if not isinstance(state, dict):
            raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
        self._collect()
        self._trainer.load_state_dict(state)
