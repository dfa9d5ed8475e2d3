"""Deprecated name of `gfxnn.image_ops` (the image primitives: conv2d, pooling, upsample, ...).

The module was renamed because `gfxnn.nn.conv` (the Conv2d layers) shares its old name; this
shim keeps `from gfxnn import conv` and `from gfxnn.conv import conv2d` working. Import
`gfxnn.image_ops` in new code.
"""

from __future__ import annotations

import warnings

from gfxnn.image_ops import *  # noqa: F403 - every public name, under the old module name

warnings.warn(
    "gfxnn.conv is deprecated; import gfxnn.image_ops instead", DeprecationWarning, stacklevel=2
)
