"""Image files in and out: safe loading to float RGB, bundled test images, PNG writing.

Every loaded image comes back as an `(H, W, 3)` float32 array in [0, 1], whatever the file held
(grayscale, palette, RGBA, 16-bit). What the conversion did to the pixels (alpha composited,
16-bit scaled, ...) is reported as human-readable notes, never silently.

Loading is defensive: only regular files of bounded size are read (a FIFO or /dev/zero is
refused by os.stat, before it is opened); only the decoders in IMAGE_FORMATS ever see the bytes
(Pillow would otherwise try all of its plugins, EPS among them, which runs Ghostscript); the
pixel count is checked from the file header *before* any pixel data is decoded, so a small file
that claims a huge image (a "decompression bomb") is refused cheaply.
"""

from __future__ import annotations

import io
import re
import warnings
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from gfxnn.checks import check_int
from gfxnn.io import read_regular_file

__all__ = [
    "BUNDLED_IMAGES",
    "DEFAULT_MAX_IMAGE_BYTES",
    "DEFAULT_MAX_PIXELS",
    "IMAGE_FORMATS",
    "ImageError",
    "LoadedImage",
    "bundled_image_source",
    "decode_image",
    "encode_png",
    "load_bundled",
    "load_image",
    "read_image",
    "to_uint8",
]

DEFAULT_MAX_PIXELS = 4096 * 4096
"""Largest image (width * height) that `load_image` accepts unless told otherwise."""

DEFAULT_MAX_IMAGE_BYTES = 512 * 1024**2
"""Largest image file read (a 4096x4096 uncompressed float RGB TIFF is 201 MB)."""

IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP", "TIFF")
"""The only Pillow decoders an image is opened with (names as `Image.open(formats=...)`)."""

_FORMAT_NAMES = {"WEBP": "WebP"}

MAX_BUNDLED_SIZE = 4096  # a bundled image is at most DEFAULT_MAX_PIXELS, like a loaded one

BUNDLED_IMAGES = ("astronaut", "circle", "half", "quarter")
"""Names accepted by `load_bundled`: one photograph shipped as a PNG, three generated patterns."""


class ImageError(ValueError):
    """An image file that cannot be used; the message is one line naming the file and the cause."""


@dataclass
class LoadedImage:
    """An image converted for fitting.

    Attributes:
        pixels: (H, W, 3) float32 in [0, 1], row 0 at the top.
        source: where it came from (a file path, or "bundled:<name>").
        notes: what the conversion did that a user may want to know (alpha, bit depth, ...).
    """

    pixels: np.ndarray
    source: str
    notes: list[str] = field(default_factory=list)


def read_image(
    path: str | Path,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_IMAGE_BYTES,
) -> LoadedImage:
    """Load an image file as (H, W, 3) float32 RGB in [0, 1], with notes on the conversion.

    Args:
        path: a regular file in one of IMAGE_FORMATS (PNG, JPEG, GIF, BMP, WebP, TIFF); the
            content decides, not the name, and no other Pillow decoder is ever tried.
        max_pixels: refuse images with more than this many pixels (checked from the header).
        max_bytes: refuse larger files (checked with os.stat before reading).

    Raises:
        ImageError: missing, unreadable or not a regular file (a FIFO, a device), too large,
            not an allowed image format, truncated or corrupt data, too many pixels.
    """
    check_int("max_pixels", max_pixels, 1)
    check_int("max_bytes", max_bytes, 1)
    data = read_regular_file(path, max_bytes, noun="image file", error=ImageError)
    return decode_image(data, str(path), max_pixels=max_pixels)


def decode_image(
    data: bytes,
    name: str,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    formats: tuple[str, ...] = IMAGE_FORMATS,
) -> LoadedImage:
    """Decode image bytes as `read_image` does; `name` is the source shown in messages.

    Only Pillow's decoders for `formats` (a subset of IMAGE_FORMATS) see the bytes: Pillow
    otherwise tries every plugin it has, EPS among them, which runs Ghostscript.
    """
    unknown = sorted(set(formats) - set(IMAGE_FORMATS))
    if unknown or not formats:
        raise ValueError(f"formats must be a subset of {IMAGE_FORMATS}, got {formats!r}")
    with warnings.catch_warnings():
        # Pillow's own bomb warning is redundant: our limit is checked below, from the header.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=list(formats)) as opened:
                _check_size(name, opened.size, max_pixels)
                notes: list[str] = []
                image = _first_frame(opened, notes)
                image.load()  # decode now, inside the try, so truncation is reported here
                pixels = _to_float_rgb(name, _upright(image, notes), notes)
        except ImageError:
            raise
        except UnidentifiedImageError:
            allowed = ", ".join(_FORMAT_NAMES.get(f, f) for f in formats)
            raise ImageError(
                f"{name} is not an image Pillow can read with the allowed decoders ({allowed})"
            ) from None
        except Image.DecompressionBombError as error:
            # Pillow refuses absurd sizes already at open, before our check; its message
            # holds the pixel count.
            found = re.search(r"\((\d+) pixels\)", str(error))
            size = f"{found.group(1)} pixels" if found else "far too large"
            raise ImageError(
                f"{name} is {size} (a possible decompression bomb); "
                f"the limit is {max_pixels} pixels"
            ) from None
        except (OSError, SyntaxError, ValueError, EOFError) as error:
            # Pillow reports truncated or corrupt data as OSError/SyntaxError/ValueError.
            reason = str(error).splitlines()[0] if str(error) else type(error).__name__
            raise ImageError(f"{name} is truncated or corrupt: {reason}") from None
    return LoadedImage(pixels=pixels, source=name, notes=notes)


def load_image(path: str | Path, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Load an image file as (H, W, 3) float32 RGB in [0, 1]; see `read_image`."""
    return read_image(path, max_pixels=max_pixels).pixels


def _check_size(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(
            f"{name} is {width}x{height} = {width * height} pixels; the limit is {max_pixels} "
            f"pixels (e.g. {_side(max_pixels)}x{_side(max_pixels)})"
        )


def _side(n_pixels: int) -> int:
    return int(np.sqrt(n_pixels))


def _first_frame(image: Image.Image, notes: list[str]) -> Image.Image:
    # is_animated looks at the second frame only. n_frames would walk them all: for a GIF
    # that means decoding every frame (a 14 MB upload of 19000 tiny frames took 5 s of CPU).
    if getattr(image, "is_animated", False):
        image.seek(0)
        # PNG (acTL) and WebP give the count in a header; elsewhere it costs a walk.
        count = getattr(image, "n_frames", None) if image.format in ("PNG", "WEBP") else None
        frames = f"{count} frames" if count else "several frames"
        notes.append(f"animated image with {frames}: using the first frame")
    return image


def _upright(image: Image.Image, notes: list[str]) -> Image.Image:
    # Cameras store portrait photos sideways plus an EXIF orientation tag; honour it.
    orientation = image.getexif().get(0x0112, 1)
    if orientation in (1, None):
        return image
    notes.append(f"EXIF orientation {orientation}: image rotated/flipped upright")
    return ImageOps.exif_transpose(image)


def _to_float_rgb(name: str, image: Image.Image, notes: list[str]) -> np.ndarray:
    """Convert any Pillow mode to (H, W, 3) float32 in [0, 1], noting what happened."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        # 16-bit grayscale PNGs open as "I;16" (or "I"): full range is 0..65535.
        gray = np.asarray(image).astype(np.float64)
        if gray.min() < 0 or gray.max() > 65535:
            raise ImageError(
                f"{name}: unsupported {mode} (integer) image with values "
                f"{gray.min():.0f}..{gray.max():.0f}, outside 0..65535"
            )
        notes.append("16-bit grayscale: scaled by 1/65535 and replicated to RGB")
        return _replicate(gray / 65535.0)
    if mode == "F":
        gray = np.asarray(image).astype(np.float64)
        if not np.all(np.isfinite(gray)):
            raise ImageError(f"{name}: floating-point image contains NaN or infinite values")
        notes.append("floating-point grayscale: clipped to [0, 1] and replicated to RGB")
        return _replicate(np.clip(gray, 0.0, 1.0))
    has_alpha = "A" in image.getbands() or "a" in image.getbands()
    if mode == "P" and "transparency" in image.info:
        has_alpha = True
    if has_alpha:
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        alpha = rgba[..., 3:4]
        n_transparent = int(np.count_nonzero(alpha[..., 0] < 1.0))
        if n_transparent == 0:
            notes.append(f"{mode} image: alpha is fully opaque, dropped")
        else:
            share = 100.0 * n_transparent / alpha[..., 0].size
            notes.append(
                f"{mode} image: alpha composited over black "
                f"({share:.1f}% of pixels not fully opaque)"
            )
        return np.ascontiguousarray(rgba[..., :3] * alpha, dtype=np.float32)
    if mode in ("1", "L"):
        notes.append("grayscale image: replicated to RGB")
    elif mode == "P":
        notes.append("palette image: converted to RGB")
    elif mode != "RGB":
        notes.append(f"{mode} image: converted to RGB")
    return np.asarray(image.convert("RGB"), dtype=np.float32) / np.float32(255.0)


def _replicate(gray: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.repeat(gray[..., None], 3, axis=2), dtype=np.float32)


def load_bundled(name: str, size: int = 256) -> np.ndarray:
    """A bundled image as (size, size, 3) float32 RGB in [0, 1].

    - "astronaut": NASA's portrait of Eileen Collins (public domain, via scikit-image), shipped
      as a 256x256 PNG; resized with Lanczos when another `size` is asked for.
    - "circle": a white disc (diameter half the image width) centred on black.
    - "half": the left half white, the right half black.
    - "quarter": the top-left quadrant white, the rest black.

    The three patterns are the simple test images of Dx12NN, drawn here by code with hard
    edges (a pixel is white when its centre lies inside the shape).
    """
    if name not in BUNDLED_IMAGES:
        shown = repr(name) if len(repr(name)) <= 60 else f"{repr(name)[:57]}... ({len(name)} chars)"
        raise ValueError(f"unknown bundled image {shown}; choose from {', '.join(BUNDLED_IMAGES)}")
    if isinstance(size, bool) or not isinstance(size, int) or not 1 <= size <= MAX_BUNDLED_SIZE:
        raise ValueError(f"size must be an int in 1..{MAX_BUNDLED_SIZE}, got {size!r}")
    if name == "astronaut":
        data = resources.files("gfxnn.data").joinpath("images/astronaut.png").read_bytes()
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            rgb = image.convert("RGB")
            if rgb.size != (size, size):
                rgb = rgb.resize((size, size), Image.Resampling.LANCZOS)
            return np.asarray(rgb, dtype=np.float32) / np.float32(255.0)
    centres = (np.arange(size) + 0.5) / size  # pixel centres in (0, 1)
    x, y = np.meshgrid(centres, centres)
    if name == "circle":
        mask = (x - 0.5) ** 2 + (y - 0.5) ** 2 <= 0.25**2
    elif name == "half":
        mask = x < 0.5
    else:
        mask = (x < 0.5) & (y < 0.5)
    return _replicate(mask.astype(np.float32))


def bundled_image_source(name: str) -> str:
    """The `source` string recorded for a bundled image, e.g. "bundled:astronaut"."""
    return f"bundled:{name}"


def to_uint8(pixels: np.ndarray) -> np.ndarray:
    """(H, W, 3) floats -> uint8, clipping to [0, 1] and rounding to nearest; NaN becomes 0."""
    clean = np.nan_to_num(np.asarray(pixels, dtype=np.float32), nan=0.0, posinf=1.0, neginf=0.0)
    return np.round(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)


def encode_png(pixels: np.ndarray) -> bytes:
    """Encode (H, W, 3) floats in [0, 1] (clipped) or uint8 as PNG bytes."""
    array = pixels if pixels.dtype == np.uint8 else to_uint8(pixels)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) image, got shape {array.shape}")
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format="PNG")
    return buffer.getvalue()
