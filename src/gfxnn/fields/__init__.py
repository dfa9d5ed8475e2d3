"""The flagship: fitting a signal (an image today; 1-D functions, 3-D fields and several images
next) with encoding + MLP, over one Trainer interface (`gfxnn.fields.trainer`).

    from gfxnn.fields import FitSettings, ImageFitter
    fitter = ImageFitter(pixels, FitSettings(encoding="hashgrid"))
    fitter.step(100); fitter.psnr()

The names below import lazily (their modules import the backends), so that the backends may
import `gfxnn.fields.trainer` and `gfxnn.fields.targets` for their types.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "DivergenceError",
    "FitController",
    "FitSettings",
    "ImageFitter",
    "ImageTarget",
    "ModelSpec",
    "Target",
    "Trainer",
    "psnr",
]

_HOMES = {
    "DivergenceError": "gfxnn.fields.controller",
    "FitController": "gfxnn.fields.controller",
    "psnr": "gfxnn.fields.controller",
    "FitSettings": "gfxnn.fields.settings",
    "ImageFitter": "gfxnn.fields.image",
    "ImageTarget": "gfxnn.fields.targets",
    "Target": "gfxnn.fields.targets",
    "ModelSpec": "gfxnn.fields.trainer",
    "Trainer": "gfxnn.fields.trainer",
}


def __getattr__(name: str) -> Any:
    if name in _HOMES:
        return getattr(importlib.import_module(_HOMES[name]), name)
    raise AttributeError(f"module 'gfxnn.fields' has no attribute {name!r}")
