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

# Issue 5: IDX files (MNIST), mini-batches and splits, TensorFlow Playground problems.
from gfxnn.data import playground  # noqa: E402
from gfxnn.data.batching import iterate_minibatches, train_val_split  # noqa: E402
from gfxnn.data.idx import IDXError, read_idx, write_idx  # noqa: E402

__all__ += [
    "IDXError",
    "iterate_minibatches",
    "playground",
    "read_idx",
    "train_val_split",
    "write_idx",
]
