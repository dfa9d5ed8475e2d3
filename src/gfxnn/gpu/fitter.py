"""`GpuImageFitter`: `gfxnn.imagefit.ImageFitter`'s API on the GPU path.

The same controls (step, reset_weights, apply, set_image, predict, psnr, state_dict,
load_state_dict, timings_ms, steps, loss_history), trained by `GpuTrainer`. Differences that
follow from running on a device:
- the UVs come from Warp's counter-based generator seeded with `settings.seed`, not from
  NumPy's, so a run draws other (equally uniform) batches than the CPU fitter; the weights start
  identical (drawn on the host from `np.random.default_rng(seed)`);
- `step(n)` launches n steps and waits once, at the end, for the last loss; `step_async(n)`
  does not wait at all; `loss_history` collects the losses from the device when read;
- a NaN/inf loss freezes the weights on the device (no host check inside the loop) and raises
  DivergenceError when the losses are next read.
"""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from gfxnn.fused.mlp import FusedMLP
from gfxnn.gpu.trainer import GpuTrainer, check_supported
from gfxnn.imagefit import (
    TRAINING_ONLY,
    DivergenceError,
    FitSettings,
    check_image,
    check_int,
    fused_state_dict,
    load_fused_state,
    psnr,
)


class GpuImageFitter:
    """Fits an MLP to one image on a Warp device ("cuda" or "cpu"); see ImageFitter.
    `precision`, `tile_rows` and `mathdx` are GpuTrainer's."""

    def __init__(
        self,
        image: np.ndarray,
        settings: FitSettings | None = None,
        *,
        device: str = "cuda",
        precision: str = "fp32",
        tile_rows: int | None = None,
        mathdx: bool = True,
    ) -> None:
        self._image = check_image(image)
        self._settings = dataclasses.replace(settings) if settings else FitSettings()
        check_supported(self._settings)
        self.device = device
        self.precision = precision
        self._options: dict[str, Any] = {"tile_rows": tile_rows, "mathdx": mathdx}
        self._timings: dict[str, list[float]] = {
            phase: [0.0, 0] for phase in ("initialize", "training", "inference")
        }
        self._build()

    @property
    def settings(self) -> FitSettings:
        """A copy of the current settings (change them with `apply`)."""
        return dataclasses.replace(self._settings)

    @property
    def image(self) -> np.ndarray:
        return self._image

    def _build(self) -> None:
        start = time.perf_counter()
        self._trainer = GpuTrainer(
            self._settings,
            self._image,
            device=self.device,
            precision=self.precision,
            **self._options,
        )
        self.steps = 0
        self._history: list[float] = []
        self._record("initialize", start)

    def _record(self, phase: str, start: float) -> None:
        entry = self._timings[phase]
        entry[0] += time.perf_counter() - start
        entry[1] += 1

    # ----- training -----------------------------------------------------------------------
    def step_async(self, n: int = 1) -> None:
        """Launch `n` training steps without waiting for them."""
        check_int("n", n, 0)
        self._trainer.train(n, self._settings.batch_size)
        self.steps += n

    def step(self, n: int = 1) -> float:
        """Run `n` training steps and return the last batch loss (NaN when no step was ever
        run); one synchronisation at the end. Raises DivergenceError on a NaN/inf loss."""
        start = time.perf_counter()
        self.step_async(n)
        diverged = self._sync()
        if n:
            self._record("training", start)
            self._timings["training"][1] += n - 1  # mean per step
        if diverged:
            raise DivergenceError(
                f"training diverged at step {diverged}: the batch loss is not finite "
                f"({self._settings.optimizer}, learning rate {self._settings.learning_rate:g}); "
                f"the weights are kept from step {diverged - 1}. Lower the learning rate or reset."
            )
        return self._history[-1] if self._history else math.nan

    def _sync(self) -> int:
        """Collect the device's losses; the first diverged step (0: none), whose loss and
        those after it are left out of the history."""
        self._history.extend(self._trainer.read_losses())
        diverged = self._trainer.diverged_at()
        if diverged:
            del self._history[diverged - 1 :]
        return diverged

    @property
    def loss_history(self) -> list[float]:
        """Batch loss of every step so far (reads the pending losses from the device)."""
        self._sync()
        return self._history

    def reset_weights(self) -> None:
        """Fresh weights from the seed, fresh optimizer state and sampler, counters at zero."""
        self._build()

    def apply(self, settings: FitSettings) -> None:
        """Switch to `settings`; like ImageFitter.apply, training-only changes keep the weights
        (and restart the optimizer state), any other change rebuilds."""
        settings = dataclasses.replace(settings)
        check_supported(settings)
        old = self._settings
        changed = {
            f.name
            for f in dataclasses.fields(FitSettings)
            if getattr(old, f.name) != getattr(settings, f.name)
        }
        self._history.extend(self._trainer.read_losses())
        self._settings = settings
        if changed - set(TRAINING_ONLY):
            self._build()
            return
        params = self._trainer.parameters()
        self._trainer = GpuTrainer(
            settings, self._image, device=self.device, precision=self.precision, **self._options
        )
        self._trainer.load_params(params)

    def set_image(self, image: np.ndarray) -> None:
        """Train on a new reference image from now on; the weights stay."""
        self._image = check_image(image)
        self._trainer.set_image(self._image)

    # ----- inference ------------------------------------------------------------------------
    def predict(self, width: int | None = None, height: int | None = None) -> np.ndarray:
        """(height, width, 3) float32 network output, as ImageFitter.predict."""
        width = self._image.shape[1] if width is None else width
        height = self._image.shape[0] if height is None else height
        check_int("width", width, 1)
        check_int("height", height, 1)
        start = time.perf_counter()
        image = self._trainer.render(width, height)
        self._record("inference", start)
        return image

    def psnr(self) -> float:
        """PSNR in dB of the clipped full-image prediction against the reference."""
        return psnr(np.clip(self.predict(), 0.0, 1.0), self._image)

    def timings_ms(self) -> dict[str, float]:
        """Mean wall-clock milliseconds of "initialize", "training" (per step, measured over
        whole `step(n)` calls, which end with a synchronisation) and "inference"."""
        return {
            phase: 1e3 * total / count if count else 0.0
            for phase, (total, count) in self._timings.items()
        }

    # ----- weights ----------------------------------------------------------------------------
    def _host_mlp(self) -> FusedMLP:
        s = self._settings
        mlp = FusedMLP(self._trainer.sizes[0], 3, s.n_neurons, s.n_layers - 2)
        mlp.params[...] = self._trainer.parameters()
        return mlp

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of the weights, named as ImageFitter.state_dict()."""
        return fused_state_dict(self._host_mlp(), None)

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the weights (shape-checked); the optimizer state restarts."""
        mlp = self._host_mlp()
        load_fused_state(mlp, None, state)
        self._history.extend(self._trainer.read_losses())
        self._trainer.load_params(mlp.params)
