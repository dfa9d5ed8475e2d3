"""Input encodings for the autodiff engine, one file per encoding (tiny-cuda-nn's taxonomy).

Each is a small class with `n_input_dims`, `n_output_dims`, `__call__(Tensor) -> Tensor` and
`hyperparams()`; `gfxnn.fused` has the same encodings written into preallocated buffers.
"""

from gfxnn.encodings.base import Encoding
from gfxnn.encodings.frequency import FrequencyEncoding
from gfxnn.encodings.identity import IdentityEncoding

__all__ = ["Encoding", "FrequencyEncoding", "IdentityEncoding"]
