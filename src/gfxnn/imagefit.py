"""Deprecated: the flagship moved to `gfxnn.fields`; this module keeps the old names working.

    ImageFitter, DivergenceError, psnr     -> gfxnn.fields (image, controller)
    FitSettings, TRAINING_ONLY, ...         -> gfxnn.fields.settings
    ENCODINGS, ACTIVATIONS, OPTIMIZERS, ... -> gfxnn.fields.choices
    render_image                            -> gfxnn.fields.render.render_state
    autodiff_model                          -> gfxnn.fields.autodiff
    model_from_checkpoint                   -> gfxnn.fields.checkpoint.load_model
    build_fused_trainer                     -> gfxnn.fused.make_trainer(settings.model_spec())

New code should import from `gfxnn.fields`; nothing here is removed while docs, tests or
benchmarks use it.
"""

from __future__ import annotations

import numpy as np

from gfxnn.checks import check_int
from gfxnn.fields import choices
from gfxnn.fields.autodiff import autodiff_model
from gfxnn.fields.checkpoint import load_model as model_from_checkpoint
from gfxnn.fields.controller import DivergenceError, psnr
from gfxnn.fields.image import ImageFitter
from gfxnn.fields.render import render_state
from gfxnn.fields.settings import (
    GRID_ADAM_EPSILON,
    MAX_ENCODED_FEATURES,
    MAX_GRID_VALUES,
    TRAINING_ONLY,
    FitSettings,
)
from gfxnn.fields.targets import check_image
from gfxnn.fused import FusedTrainer, make_trainer
from gfxnn.fused.state import ENCODING_TABLE

__all__ = [
    "ACTIVATIONS",
    "BATCH_RANGE",
    "ENCODINGS",
    "ENCODING_TABLE",
    "FREQUENCY_RANGE",
    "GRID_ADAM_EPSILON",
    "LAYER_RANGE",
    "LOSSES",
    "MAX_ENCODED_FEATURES",
    "MAX_GRID_VALUES",
    "NEURON_RANGE",
    "OPTIMIZERS",
    "TRAINABLE_ENCODINGS",
    "TRAINING_ONLY",
    "DivergenceError",
    "FitSettings",
    "ImageFitter",
    "autodiff_model",
    "build_fused_trainer",
    "check_image",
    "check_int",
    "model_from_checkpoint",
    "psnr",
    "render_image",
]

ENCODINGS = choices.ENCODINGS
TRAINABLE_ENCODINGS = choices.TRAINABLE_ENCODINGS
ACTIVATIONS = choices.ACTIVATIONS
OPTIMIZERS = tuple(choices.OPTIMIZERS)
LOSSES = choices.LOSSES


def _range(name: str) -> tuple[int, int]:
    low, high = FitSettings.__dataclass_fields__[name].metadata["range"]
    return low, high


BATCH_RANGE = _range("batch_size")
FREQUENCY_RANGE = _range("n_frequencies")
LAYER_RANGE = _range("n_layers")
NEURON_RANGE = _range("n_neurons")


def render_image(
    state: dict[str, np.ndarray], settings: FitSettings, width: int, height: int
) -> np.ndarray:
    """(height, width, 3) float32 prediction of a saved network (gfxnn.fields.render)."""
    check_int("width", width, 1)
    check_int("height", height, 1)
    return render_state(state, settings, (height, width))


def build_fused_trainer(settings: FitSettings, *, initialize: bool = True) -> FusedTrainer:
    """The fused path's trainer for `settings` (Xavier weights from the seed with
    `initialize`), as before the fields package."""
    return make_trainer(settings.model_spec(), initialize=initialize)
