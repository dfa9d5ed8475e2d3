"""The sweep's inputs: image files, directories of images and bundled names, loaded once.

`gfxnn sweep IMAGE_OR_DIR...`: a file is read with `gfxnn.data.read_image` (safe loading, pixel
limit), a directory contributes its image files (sorted, not recursive), and a name that is not
a path but one of `gfxnn.data.BUNDLED_IMAGES` is that bundled image. The driver loads every image
and sends the pixels to the workers, so a Ray cluster's nodes need no copy of the files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.apps.sweep.plan import SweepError, SweepImage
from gfxnn.data.images import (
    BUNDLED_IMAGES,
    DEFAULT_MAX_PIXELS,
    ImageError,
    bundled_image_source,
    encode_png,
    load_bundled,
    read_image,
)

__all__ = ["IMAGE_SUFFIXES", "resolve_images"]

# What a directory contributes (Pillow reads more, but these are the images people keep).
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp")


def resolve_images(
    inputs: Sequence[Any], *, bundled_size: int = 256, max_pixels: int = DEFAULT_MAX_PIXELS
) -> list[SweepImage]:
    """Load every input: a path (file or directory), a bundled name, a (label, pixels) pair
    or an (H, W, 3) float array (labelled image0, image1, ...).

    Raises:
        SweepError: no inputs, an empty directory, a missing or unreadable file, an unknown
            name, or the same image given twice.
    """
    if isinstance(inputs, str | Path | np.ndarray):
        inputs = [inputs]
    if not inputs:
        raise SweepError("no images given (IMAGE_OR_DIR: files, directories or bundled names)")
    loaded: list[tuple[str, str, np.ndarray]] = []
    for number, item in enumerate(inputs):
        loaded.extend(_load(item, number, bundled_size, max_pixels))
    images: list[SweepImage] = []
    sources: set[str] = set()
    labels: set[str] = set()
    for label, source, pixels in loaded:
        if source in sources:
            raise SweepError(f"image {source} is given twice")
        sources.add(source)
        unique, suffix = label, 2
        while unique in labels:  # two files called a.png in different directories
            unique, suffix = f"{label}-{suffix}", suffix + 1
        labels.add(unique)
        digest = hashlib.sha256(pixels.tobytes() + str(pixels.shape).encode()).hexdigest()[:16]
        images.append(SweepImage(unique, source, pixels, len(encode_png(pixels)), digest))
    return images


def _load(
    item: Any, number: int, bundled_size: int, max_pixels: int
) -> list[tuple[str, str, np.ndarray]]:
    if isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str):
        return [(_safe_label(item[0]), f"array:{item[0]}", _pixels(item[1], item[0]))]
    if isinstance(item, np.ndarray):
        return [(f"image{number}", f"array:{number}", _pixels(item, f"image {number}"))]
    if not isinstance(item, str | Path):
        raise SweepError(f"an image is a path, a bundled name or an array, got {item!r}")
    path = Path(item)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            raise SweepError(f"no images ({', '.join(IMAGE_SUFFIXES)}) in directory {path}")
        return [_read(file, max_pixels) for file in files]
    if path.exists():
        return [_read(path, max_pixels)]
    if str(item) in BUNDLED_IMAGES:
        pixels = load_bundled(str(item), bundled_size)
        return [(str(item), bundled_image_source(str(item)), pixels)]
    raise SweepError(
        f"image not found: {item} (not a file, a directory or a bundled name: "
        f"{', '.join(BUNDLED_IMAGES)})"
    )


def _read(path: Path, max_pixels: int) -> tuple[str, str, np.ndarray]:
    try:
        loaded = read_image(path, max_pixels=max_pixels)
    except ImageError as error:
        raise SweepError(str(error)) from None
    return _safe_label(path.stem), str(path), loaded.pixels


def _pixels(array: Any, name: str) -> np.ndarray:
    """An array given from Python: (H, W, 3) floats in [0, 1], finite."""
    if not isinstance(array, np.ndarray) or array.dtype.kind != "f":
        raise SweepError(f"image {name} must be a float numpy array (H, W, 3), got {array!r:.60}")
    if array.ndim != 3 or array.shape[2] != 3 or 0 in array.shape:
        raise SweepError(f"image {name} must have shape (H, W, 3), got {array.shape}")
    if not np.all(np.isfinite(array)):
        raise SweepError(f"image {name} holds NaN or infinite values")
    return np.ascontiguousarray(array, np.float32)


def _safe_label(text: str) -> str:
    """A label usable as part of a directory name."""
    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("._")
    return cleaned or "image"
