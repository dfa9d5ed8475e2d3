"""`gfxnn render`: evaluate a saved image-fit checkpoint at any resolution and write a PNG."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.data.images import encode_png
from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.fields.render import render_state
from gfxnn.fields.settings import FitSettings
from gfxnn.io import CheckpointError, atomic_write_bytes

__all__ = [
    "HELP",
    "MAX_RENDER_PIXELS",
    "add_arguments",
    "default_render_path",
    "load_fit_checkpoint",
    "render_checkpoint",
    "run",
]

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
    loaded.require_image_network("gfxnn render")
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
    if os.path.lexists(path) and os.path.samefile(checkpoint, path):  # e.g. named render-WxH.png
        raise ValueError(f"the output {path} is the checkpoint itself; give another -o")
    atomic_write_bytes(path, encode_png(np.clip(pixels, 0.0, 1.0)))
    return path


# ----- the command: `gfxnn render` (declared here, run by gfxnn.cli) -------------------------
HELP = "render a `gfxnn fit` checkpoint at any resolution"


def add_arguments(parser: Any) -> None:
    """Declare `gfxnn render`'s arguments on `parser` (an argparse.ArgumentParser)."""
    from gfxnn.apps.command import nonempty_path, positive_int

    parser.description = (
        "Evaluate a checkpoint written by `gfxnn fit` at WIDTH x HEIGHT (default: the fitted "
        "image's size) and write a PNG (never over the checkpoint)."
    )
    parser.add_argument(
        "checkpoint", type=nonempty_path, metavar="CHECKPOINT", help="written by gfxnn fit"
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="PNG",
        type=nonempty_path,
        default=None,
        help="PNG to write (default: render-WxH.png next to the checkpoint)",
    )
    parser.add_argument("--width", metavar="W", type=positive_int, help="(default: as fitted)")
    parser.add_argument("--height", metavar="H", type=positive_int, help="(default: as fitted)")


def run(args: Any) -> int:
    """`gfxnn render`: returns the exit code; bad input is a UsageError."""
    from gfxnn.apps.command import EXIT_OK, UsageError, check_output_file, print_result
    from gfxnn.apps.outputs import same_file

    if args.output is not None and args.output.suffix.lower() != ".png":
        raise UsageError(f"the output must be a .png file, got {args.output}")
    if args.output is not None and same_file(args.checkpoint, args.output):
        raise UsageError(f"the output {args.output} is the checkpoint itself; give another -o")
    if args.output is not None:
        check_output_file(args.output, "-o")
    try:
        path = render_checkpoint(args.checkpoint, args.output, args.width, args.height)
    except (CheckpointError, ValueError) as error:
        raise UsageError(error) from None
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    print_result(f"wrote {path}")
    return EXIT_OK
