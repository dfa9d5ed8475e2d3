"""Input encodings for the autodiff engine, one file per encoding (tiny-cuda-nn's taxonomy).

Each is an `Encoding` (a Module) with `n_input_dims`, `n_output_dims`, `forward(Tensor) ->
Tensor` and `hyperparams()`; docs/encodings.md gives each formula and feature order.
`gfxnn.fused` has the image-fitting encodings written into preallocated buffers.

`encoding_classes()` finds every concrete encoding of this package's modules by its declared
`otype`; the registry is built from it, so a new encoding is one new file. Its class is also
`gfxnn.encodings.<ClassName>` (resolved by `__getattr__` on first use) without an import line
below: those are for type checkers and readers.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from gfxnn.encodings.base import Encoding
from gfxnn.encodings.composite import CompositeEncoding
from gfxnn.encodings.dense_grid import DenseGridEncoding
from gfxnn.encodings.frequency import FrequencyEncoding
from gfxnn.encodings.gaussian_fourier import GaussianFourierEncoding
from gfxnn.encodings.hash_grid import HashGridEncoding
from gfxnn.encodings.identity import IdentityEncoding
from gfxnn.encodings.one_blob import OneBlobEncoding
from gfxnn.encodings.one_hot import OneHotEncoding
from gfxnn.encodings.spherical_harmonics import SphericalHarmonicsEncoding
from gfxnn.encodings.triangle_wave import TriangleWaveEncoding

__all__ = [
    "CompositeEncoding",
    "DenseGridEncoding",
    "Encoding",
    "FrequencyEncoding",
    "GaussianFourierEncoding",
    "HashGridEncoding",
    "IdentityEncoding",
    "OneBlobEncoding",
    "OneHotEncoding",
    "SphericalHarmonicsEncoding",
    "TriangleWaveEncoding",
    "encoding_classes",
]


@cache
def encoding_classes() -> dict[str, type[Encoding]]:
    """otype -> class of every concrete Encoding defined in a module of this package (in module
    order). A class counts when it sets `otype` itself (GridEncoding, which only annotates it,
    does not); two classes with one otype are an error, not a silent choice."""
    found: dict[str, type[Encoding]] = {}
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        for value in vars(module).values():
            if not (
                isinstance(value, type)
                and issubclass(value, Encoding)
                and value.__module__ == module.__name__
                and "otype" in vars(value)
            ):
                continue
            if value.otype in found:
                raise RuntimeError(
                    f"two encodings declare otype {value.otype!r}: "
                    f"{found[value.otype].__qualname__} and {value.__qualname__}"
                )
            found[value.otype] = value
    return found


def __getattr__(name: str) -> type[Encoding]:
    # An encoding file without an import line above is still `gfxnn.encodings.<Class>`.
    for cls in encoding_classes().values():
        if cls.__name__ == name:
            return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
