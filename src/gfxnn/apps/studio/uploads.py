"""Checking and decoding uploaded images before they reach the trainer.

An upload is untrusted bytes. In order: the size in bytes is capped (by the server, while it
reads the body); the first bytes must be the signature of a format on our allow-list (PNG, JPEG,
GIF, BMP, WebP), so Pillow never sees a format whose plugin runs external programs or parses
exotic containers; then `gfxnn.data.images.decode_image` decodes it from memory with only
those formats' decoders and its own safeguards (the pixel count is checked from the header
before any pixel is decoded; truncated or corrupt data is a clean error). The client's file
name is only ever shown, never used as a path.
"""

from __future__ import annotations

import io
import re

import numpy as np

from gfxnn.data.images import ImageError, LoadedImage, decode_image

__all__ = [
    "DEFAULT_MAX_UPLOAD_BYTES",
    "DEFAULT_MAX_UPLOAD_PIXELS",
    "UploadError",
    "decode_upload",
    "decode_volume_upload",
]

DEFAULT_MAX_UPLOAD_BYTES = 16 * 1024 * 1024
DEFAULT_MAX_UPLOAD_PIXELS = 2048 * 2048  # inference, hence every frame, grows with it
UPLOAD_FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")  # files may also be TIFF; uploads not

_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
)


class UploadError(ValueError):
    """An upload that is refused; the message says why, in one line, for the page."""


def image_format(data: bytes) -> str | None:
    """The allow-listed format whose signature `data` starts with, or None."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "WebP"
    for signature, name in _SIGNATURES:
        if data.startswith(signature):
            return name
    return None


def display_name(filename: str | None) -> str:
    """The client's file name reduced to a harmless label: base name, printable, <= 80 chars."""
    base = re.split(r"[\\/]", filename or "")[-1]
    cleaned = re.sub(r"[^\w .()+-]", "_", base).strip()[:80]
    return cleaned or "upload"


def decode_upload(
    data: bytes,
    filename: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS,
) -> LoadedImage:
    """Check and decode an uploaded image to (H, W, 3) float32 RGB in [0, 1].

    Args:
        data: the uploaded bytes.
        filename: the client's name for it (shown in messages and as the source, never opened).
        max_bytes: refuse larger uploads.
        max_pixels: refuse images with more pixels (checked from the header, before decoding).

    Raises:
        UploadError: empty, too large, not an allow-listed image format, too many pixels,
            truncated or corrupt.
    """
    name = display_name(filename)
    if not data:
        raise UploadError(f"{name}: the upload is empty")
    if len(data) > max_bytes:
        raise UploadError(f"{name}: {len(data)} bytes is too large; the limit is {max_bytes} bytes")
    kind = image_format(data)
    if kind is None:
        raise UploadError(f"{name} is not a PNG, JPEG, GIF, BMP or WebP image (by its first bytes)")
    try:
        # Decoded from memory (no temporary file) by the allow-listed decoders only.
        loaded = decode_image(data, name, max_pixels=max_pixels, formats=UPLOAD_FORMATS)
    except ImageError as error:
        raise UploadError(str(error)) from None
    return LoadedImage(loaded.pixels, f"upload:{name}", loaded.notes)


NPY_MAGIC = b"\x93NUMPY"


def decode_volume_upload(
    data: bytes,
    filename: str | None = None,
    *,
    max_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_voxels: int = DEFAULT_MAX_UPLOAD_PIXELS,
) -> tuple[np.ndarray, str]:
    """Check and decode an uploaded .npy volume: (float32 (D, H, W, C) in [0, 1], its source
    label). The caps are the images': `max_bytes` of file and `max_voxels` = D * H * W
    samples (an image's pixel cap), read from the .npy header before any data is; no pickle
    (object arrays are refused), and the data must be exactly as long as the header says.
    The values are checked by `gfxnn.fields.examples.check_volume` (shape, dtype, finite, in
    [0, 1] or an integer dtype scaled to it).

    Raises:
        UploadError: empty, too large, not .npy, a bad header, shape, dtype or value.
    """
    from gfxnn.fields.examples import VolumeError, check_volume

    name = display_name(filename)
    if not data:
        raise UploadError(f"{name}: the upload is empty")
    if len(data) > max_bytes:
        raise UploadError(f"{name}: {len(data)} bytes is too large; the limit is {max_bytes} bytes")
    if not data.startswith(NPY_MAGIC):
        raise UploadError(
            f"{name} is not a .npy array file (by its first bytes; np.save writes one)"
        )
    stream = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise ValueError(f"format version {version[0]}.{version[1]} (1.0 and 2.0 are read)")
    except ValueError as error:
        raise UploadError(f"{name}: a bad .npy header: {error}") from None
    if dtype.hasobject:
        raise UploadError(f"{name}: object arrays are not read (they would need pickle)")
    if len(shape) not in (3, 4):
        raise UploadError(
            f"{name}: a volume has shape (D, H, W) or (D, H, W, C) with C in 1..4, got {shape}"
        )
    voxels = int(np.prod(shape[:3], dtype=np.int64))
    if voxels > max_voxels:
        raise UploadError(
            f"{name}: the volume {shape} has {voxels} voxels; the limit is {max_voxels}"
        )
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - stream.tell() != expected:
        raise UploadError(
            f"{name}: the .npy data is {len(data) - stream.tell()} bytes; its header {shape} "
            f"{dtype} needs {expected} (truncated or padded)"
        )
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
        return check_volume(array, name), f"upload:{name}"
    except VolumeError as error:
        raise UploadError(str(error)) from None
    except (ValueError, OSError, EOFError) as error:
        raise UploadError(f"{name}: cannot be read as .npy: {error}") from None
