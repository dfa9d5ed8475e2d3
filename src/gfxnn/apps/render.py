"""`gfxnn render`: evaluate a saved image-fit checkpoint at any resolution and write a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gfxnn.data.images import encode_png
from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.fields.render import render_state
from gfxnn.fields.settings import FitSettings
from gfxnn.io import atomic_write_bytes

__all__ = ["MAX_RENDER_PIXELS", "default_render_path", "load_fit_checkpoint", "render_checkpoint"]

MAX_RENDER_PIXELS = 4096 * 4096
"""Largest width * height `render_checkpoint` produces (inference memory grows with it)."""


def load_fit_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], FitSettings, dict]:
    """(float32 weights, settings, the whole config) of a fit checkpoint; see
    `gfxnn.fields.checkpoint.load`, the reader this calls.

    Raises:
        CheckpointError: unreadable file, or not a checkpoint written by `gfxnn fit`.
    """
    loaded = fit_checkpoint.load(path)
    return loaded.state, loaded.settings, loaded.config


def default_render_path(checkpoint: str | Path, width: int, height: int) -> Path:
    """render-WxH.png next to the checkpoint."""
    return Path(checkpoint).with_name(f"render-{width}x{height}.png")


def render_checkpoint(
    checkpoint: str | Path,
    output: str | Path | None = None,
    width: int | None = None,
    height: int | None = None,
) -> Path:
    """Render `checkpoint` at width x height (default: the fitted image's size) to a PNG.

    Returns the path written. Raises CheckpointError for a bad checkpoint and ValueError for a
    bad size.
    """
    loaded = fit_checkpoint.load(checkpoint)
    fitted_width, fitted_height = loaded.image_size()
    width = width if width is not None else fitted_width
    height = height if height is not None else fitted_height
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    if width * height > MAX_RENDER_PIXELS:
        raise ValueError(
            f"{width}x{height} = {width * height} pixels is too large; "
            f"the limit is {MAX_RENDER_PIXELS} pixels (e.g. 4096x4096)"
        )
    pixels = render_state(loaded.state, loaded.settings, (height, width))
    path = Path(output) if output is not None else default_render_path(checkpoint, width, height)
    atomic_write_bytes(path, encode_png(np.clip(pixels, 0.0, 1.0)))
    return path
