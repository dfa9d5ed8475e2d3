"""Data for gfxnn: image loading (safe, to float RGB) and the bundled test images."""

from gfxnn.data.images import (
    BUNDLED_IMAGES,
    DEFAULT_MAX_PIXELS,
    ImageError,
    LoadedImage,
    encode_png,
    load_bundled,
    load_image,
    read_image,
)

__all__ = [
    "BUNDLED_IMAGES",
    "DEFAULT_MAX_PIXELS",
    "ImageError",
    "LoadedImage",
    "encode_png",
    "load_bundled",
    "load_image",
    "read_image",
]
