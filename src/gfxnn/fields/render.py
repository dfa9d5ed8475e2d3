"""Inference of a saved network without its target: the fused path's render of a state dict."""

from __future__ import annotations

import numpy as np

from gfxnn.checks import check_int
from gfxnn.fields.settings import FitSettings
from gfxnn.fused import make_trainer

__all__ = ["render_state"]


def render_state(
    state: dict[str, np.ndarray],
    settings: FitSettings,
    shape: tuple[int, ...],
    n_output_dims: int = 3,
) -> np.ndarray:
    """(*shape, n_output_dims) float32 output of the network `settings` describes with the
    weights `state` on the regular grid of `shape` ((height, width) for an image). ValueError
    for settings, weights or a shape that do not fit."""
    for i, size in enumerate(shape):
        check_int(f"shape[{i}]", size, 1)
    spec = settings.model_spec(len(shape), n_output_dims)
    trainer = make_trainer(spec, initialize=False)
    trainer.load_state_dict(state)
    return trainer.render(tuple(shape))
