"""`ImageFitter`: Dx12NN in Python, an MLP learning (u, v) -> RGB of one image on the CPU.

The one controller (`gfxnn.fields.controller.FitController`) with the NumPy fused trainer and
an `ImageTarget`. Dx12NN's maths: each step draws `batch_size` uniform UVs in [0, 1)^2 and
takes the nearest texels as targets; the UVs are encoded (identity, frequency with
`n_frequencies` octaves, or any encoding of `gfxnn.fields.choices` with its tiny-cuda-nn
parameters) and fed to an MLP with `n_layers` layers counting input and output, `n_neurons`
per hidden layer and the same activation after every layer, the output layer included; the
loss is the MSE over the batch and the 3 channels; SGD or Adam (0.9, 0.999, 1e-8); weights are
Xavier uniform, biases zero; inference puts pixel (x, y) at uv = (x / (w - 1), y / (h - 1)).
The trainable grids (HashGrid, DenseGrid) get their own Adam state with tiny-cuda-nn's epsilon
1e-15 and their own learning rate (`encoding_learning_rate`).
"""

from __future__ import annotations

from typing import cast

import numpy as np

from gfxnn.compiled import cpu_trainer_factory
from gfxnn.fields.controller import FitController
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import ImageTarget, Target
from gfxnn.fields.trainer import ModelSpec, Trainer
from gfxnn.fused import make_trainer

__all__ = ["ImageFitController", "ImageFitter"]


class ImageFitController(FitController):
    """A FitController of an image target, with the image-shaped calls (`image`,
    `set_image`) every image fitter shares; `predict(width, height)` is FitController's."""

    @property
    def image(self) -> np.ndarray:
        """The reference image (H, W, 3) float32."""
        return self.target.reference()

    def set_image(self, image: np.ndarray) -> None:
        """Train on a new reference image from now on; the network and optimizer state stay
        (call reset_weights() for a fresh start)."""
        self.set_target(ImageTarget(image))


class ImageFitter(ImageFitController):
    """Fits an MLP to one image, step by step (Dx12NN's training loop), on the CPU.

    Args:
        image: (H, W, 3) float array in [0, 1], finite (converted to float32).
        settings: FitSettings (defaults when None); validated here.
        blas_threads: BLAS threads inside step() and predict() (1 by default: threads gain
            little on these small matrices and, on a busy machine, cost up to ~10x; see
            `gfxnn.fused.threads`); None leaves the process's BLAS setting alone. Needs
            `threadpoolctl`, otherwise ignored.
        backend: the CPU trainer: "numpy" (default: the NumPy fused path), "compiled" (Numba
            kernels, `gfxnn.compiled`) or "auto" (compiled, but NumPy for grids of other than 2
            inputs or without Numba; `gfxnn.compiled.cpu_trainer_factory`). NumPy stays the default
            until the compiled trainer beats it at one thread on a quiet machine and its
            first-run compile (37-90 s measured) fits the quickstart's minute; see
            docs/flagship.md.
        threads: the compiled trainer's threads, "auto" (measured as it runs: all cores or
            one, whichever is faster now) or a count; same results at any count.

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
        backend: str = "numpy",
        threads: int | str = "auto",
    ) -> None:
        factory = cpu_trainer_factory(backend, threads)
        super().__init__(ImageTarget(image), settings, factory, blas_threads=blas_threads)


def fused_trainer(spec: ModelSpec, target: Target) -> Trainer:
    """The NumPy fused trainer; BLAS threads are the controller's (set around each call)."""
    # FusedTrainer.spec is Optional (hand-built trainers have none), the Protocol's is not.
    return cast(Trainer, make_trainer(spec, target, blas_threads=None))
