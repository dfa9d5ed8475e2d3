"""Input encodings for the autodiff engine, one file per encoding (tiny-cuda-nn's taxonomy).

Each is an `Encoding` (a Module) with `n_input_dims`, `n_output_dims`, `forward(Tensor) ->
Tensor` and `hyperparams()`; docs/encodings.md gives each formula and feature order.
`gfxnn.fused` has the image-fitting encodings written into preallocated buffers.
"""

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
]
