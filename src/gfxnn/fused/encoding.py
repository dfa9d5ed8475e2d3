"""Input encodings of the fused path, writing into caller-owned buffers.

Feature order of the frequency encoding (the same as `gfxnn.encodings.FrequencyEncoding`, the
seed's gamma(p) and tiny-cuda-nn): for each input dimension d, for each k < F,
    sin(pi 2^k x_d), cos(pi 2^k x_d)
so for uv with F = 8 the 32 features are [sin(pi u), cos(pi u), sin(2 pi u), ..., cos(128 pi u),
sin(pi v), ..., cos(128 pi v)]. The raw input is not passed through (Dx12NN).
"""

from __future__ import annotations

import numpy as np


class FusedIdentity:
    """Identity encoding: the features are the inputs."""

    name = "identity"

    def __init__(self, n_input_dims: int = 2) -> None:
        self.n_input_dims = n_input_dims
        self.n_output_dims = n_input_dims

    def make_scratch(self, n_rows: int, dtype: np.dtype) -> np.ndarray:
        return np.empty((0,), dtype)

    def encode(self, x: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
        """x (n, n_input_dims) -> out (n, n_output_dims)."""
        np.copyto(out, x)


class FusedFrequency:
    """Frequency (NeRF positional) encoding with `n_frequencies` octaves per input dimension."""

    name = "frequency"

    def __init__(self, n_frequencies: int = 8, n_input_dims: int = 2) -> None:
        self.n_input_dims = n_input_dims
        self.n_frequencies = n_frequencies
        self.n_output_dims = 2 * n_frequencies * n_input_dims
        # float64 constants, cast per call to the buffers' dtype (pi 2^k is rounded once).
        self.frequencies = np.pi * 2.0 ** np.arange(n_frequencies)
        self._cast: dict[np.dtype, np.ndarray] = {}

    def make_scratch(self, n_rows: int, dtype: np.dtype) -> np.ndarray:
        """The phase buffer encode() needs for `n_rows` inputs."""
        return np.empty((n_rows, self.n_input_dims, self.n_frequencies), dtype)

    def encode(self, x: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
        """x (n, n_input_dims) -> out (n, n_output_dims); scratch from make_scratch(n)."""
        n = x.shape[0]
        frequencies = self._cast.get(out.dtype)
        if frequencies is None:
            frequencies = self._cast.setdefault(out.dtype, self.frequencies.astype(out.dtype))
        np.multiply(x[:, :, None], frequencies, out=scratch)
        pairs = out.reshape(n, self.n_input_dims, self.n_frequencies, 2)
        np.sin(scratch, out=pairs[..., 0])
        np.cos(scratch, out=pairs[..., 1])


def make_encoder(name: str, n_frequencies: int = 8) -> FusedIdentity | FusedFrequency:
    """The fused encoder called `name` ("frequency" or "identity") for 2-D inputs."""
    if name == "frequency":
        return FusedFrequency(n_frequencies)
    if name == "identity":
        return FusedIdentity()
    raise ValueError(f"unknown encoding {name!r}; choose 'frequency' or 'identity'")
