"""`gfxnn render`: evaluate a saved image-fit checkpoint at any resolution and write a PNG."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gfxnn.data.images import encode_png
from gfxnn.imagefit import FitSettings, render_image
from gfxnn.io import CheckpointError, atomic_write_bytes, load_checkpoint

__all__ = ["MAX_RENDER_PIXELS", "default_render_path", "load_fit_checkpoint", "render_checkpoint"]

MAX_RENDER_PIXELS = 4096 * 4096
"""Largest width * height `render_checkpoint` produces (inference memory grows with it)."""


def load_fit_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], FitSettings, dict]:
    """Load a `gfxnn fit` checkpoint: (float32 weights, settings, the whole config).

    Raises:
        CheckpointError: unreadable file, or not a checkpoint written by `gfxnn fit`.
    """
    tensors, config = load_checkpoint(path)
    if not isinstance(config.get("settings"), dict):
        raise CheckpointError(f"{path} is not a `gfxnn fit` checkpoint: its config has no settings")
    try:
        settings = FitSettings.from_dict(config["settings"])
        settings.validate()
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} has invalid settings: {error}") from None
    weights: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if value.dtype.kind != "f":
            raise CheckpointError(
                f"{path}: tensor {name!r} has dtype {value.dtype}; weights must be floating point"
            )
        weights[name] = value.astype(np.float32)
    return weights, settings, config


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
    weights, settings, config = load_fit_checkpoint(checkpoint)
    image = config.get("image")
    if not isinstance(image, dict):
        image = {}
    width = width if width is not None else _int_or(image.get("width"), 256)
    height = height if height is not None else _int_or(image.get("height"), 256)
    if width < 1 or height < 1:
        raise ValueError(f"width and height must be >= 1, got {width}x{height}")
    if width * height > MAX_RENDER_PIXELS:
        raise ValueError(
            f"{width}x{height} = {width * height} pixels is too large; "
            f"the limit is {MAX_RENDER_PIXELS} pixels (e.g. 4096x4096)"
        )
    try:
        pixels = render_image(weights, settings, width, height)
    except (KeyError, ValueError) as error:
        # Missing or mis-shaped weights for the stored settings.
        raise CheckpointError(f"{checkpoint} does not match its settings: {error}") from None
    path = Path(output) if output is not None else default_render_path(checkpoint, width, height)
    atomic_write_bytes(path, encode_png(np.clip(pixels, 0.0, 1.0)))
    return path


def _int_or(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default
