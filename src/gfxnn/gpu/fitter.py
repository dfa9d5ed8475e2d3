"""`GpuImageFitter`: `ImageFitter`'s controller (`gfxnn.fields.controller`) with the Warp trainer.

The same controls (step, reset_weights, apply, set_image, predict, psnr, state_dict,
load_state_dict, timings_ms, steps, loss_history) and the same code: only the trainer differs.
What follows from running on a device:
- the UVs come from Warp's counter-based generator seeded with `settings.seed`, not from
  NumPy's, so a run draws other (equally uniform) batches than the CPU fitter; the weights start
  identical (drawn on the host from `np.random.default_rng(seed)`);
- `step(n)` launches n steps and waits once, at the end, for the losses; `step_async(n)` does
  not wait (reading `steps` or `loss_history` collects the losses from the device);
- a NaN/inf loss freezes the weights on the device (no host check inside the loop) and raises
  DivergenceError when the losses are next collected;
- `timings_ms()` gives "initialize", "training" (wall clock per step over whole step(n) calls)
  and "inference".
"""

from __future__ import annotations

from typing import Any, cast

import numpy as np

from gfxnn.fields.image import ImageFitController
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import ImageTarget, Target
from gfxnn.fields.trainer import ModelSpec, Trainer
from gfxnn.gpu.trainer import GpuTrainer

__all__ = ["GpuImageFitter"]


class GpuImageFitter(ImageFitController):
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
        self.device = device
        self.precision = precision
        options: dict[str, Any] = {
            "device": device,
            "precision": precision,
            "tile_rows": tile_rows,
            "mathdx": mathdx,
        }

        def warp_trainer(spec: ModelSpec, target: Target) -> Trainer:
            # GpuTrainer.spec is typed loosely (it also reads FitSettings); the Protocol's is not.
            return cast(Trainer, GpuTrainer(spec, target, **options))

        super().__init__(ImageTarget(image), settings, warp_trainer)
