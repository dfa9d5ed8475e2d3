"""Input encodings of the fused path, writing into caller-owned buffers.

Feature order of the frequency encoding (the same as `gfxnn.encodings.FrequencyEncoding`, the
seed's gamma(p) and tiny-cuda-nn): for each input dimension d, for each k < F,
    sin(pi 2^k x_d), cos(pi 2^k x_d)
so for uv with F = 8 the 32 features are [sin(pi u), cos(pi u), sin(2 pi u), ..., cos(128 pi u),
sin(pi v), ..., cos(128 pi v)]. The raw input is not passed through (Dx12NN).

Both are separable (`separable = True`): the first half of the features depends on u only and
the second half on v only, which full-frame inference exploits. Any other parameter-free
encoding of `gfxnn.encodings` runs through `FusedAutodiffEncoding`; the trainable grids have
their own kernels in `gfxnn.fused.grid`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gfxnn import registry
from gfxnn.autograd import no_grad
from gfxnn.encodings import sincos
from gfxnn.tensor import Tensor


class FusedIdentity:
    """Identity encoding: the features are the inputs."""

    name = "identity"
    separable = True

    def __init__(self, n_input_dims: int = 2) -> None:
        self.n_input_dims = n_input_dims
        self.n_output_dims = n_input_dims

    def make_scratch(self, n_rows: int, dtype: np.dtype) -> np.ndarray:
        return np.empty((0,), dtype)

    def encode(self, x: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
        """x (n, n_input_dims) -> out (n, n_output_dims)."""
        np.copyto(out, x)

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": "Identity", "scale": 1.0, "offset": 0.0}


class FusedFrequency:
    """Frequency (NeRF positional) encoding with `n_frequencies` octaves per input dimension."""

    name = "frequency"
    separable = True

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
        # sin(pi 2^k x) = sin(2 pi fract(2^(k-1) x)): the phase reduced exactly, then one
        # polynomial (gfxnn.encodings.sincos), so every backend (WebGPU's too) agrees to ~1e-7.
        scratch[...] = sincos.octave_turns(x.astype(out.dtype, copy=False), self.n_frequencies)
        pairs = out.reshape(n, self.n_input_dims, self.n_frequencies, 2)
        pairs[..., 0], pairs[..., 1] = sincos.sincos_turns(scratch)

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": "Frequency", "n_frequencies": self.n_frequencies}


class FusedAutodiffEncoding:
    """A parameter-free `gfxnn.encodings` encoding (one-blob, Gaussian Fourier features, ...)
    in the fused path: its forward pass runs without building a graph. The fitter trains no
    inputs, so these encodings need no backward here."""

    separable = False

    def __init__(self, encoding: Any) -> None:
        if any(True for _ in encoding.parameters()):
            raise ValueError(
                f"{type(encoding).__name__} has trainable parameters; the fused path needs "
                "its own kernels for it"
            )
        self.encoding = encoding
        self.name = encoding.hyperparams()["otype"].lower()
        self.n_input_dims = encoding.n_input_dims
        self.n_output_dims = encoding.n_output_dims

    def make_scratch(self, n_rows: int, dtype: np.dtype) -> np.ndarray:
        return np.empty((0,), dtype)

    def encode(self, x: np.ndarray, out: np.ndarray, scratch: np.ndarray) -> None:
        """x (n, n_input_dims) -> out (n, n_output_dims)."""
        with no_grad():
            features = self.encoding(Tensor(x, dtype=out.dtype)).data
        np.copyto(out, features)

    def hyperparams(self) -> dict[str, Any]:
        config: dict[str, Any] = self.encoding.hyperparams()
        return config


def make_encoder(
    name: str,
    n_frequencies: int = 8,
    params: Mapping[str, Any] | None = None,
    dtype: type = np.float32,
    n_input_dims: int = 2,
) -> Any:
    """The fused encoder called `name` (a `gfxnn.registry` encoding name) for `n_input_dims`-D
    inputs: hand-written kernels for frequency and identity (without extra parameters) and the
    grids, the autodiff encoding's forward pass for every other one. `params` are the
    encoding's other tcnn parameters; the frequency encoding takes `n_frequencies` (Dx12NN's
    control)."""
    params = dict(params or {})
    otype = registry.canonical_name("encoding", name)
    if otype == "Frequency" and not params:
        return FusedFrequency(n_frequencies, n_input_dims)
    if otype == "Identity" and not params:
        return FusedIdentity(n_input_dims)
    if otype in ("HashGrid", "DenseGrid"):
        from gfxnn.fused.grid import FusedGrid

        # The autodiff class's defaults; FusedGrid validates the values as that class does.
        cls = registry.component_class("encoding", otype)
        config = registry.complete_encoding_params(cls, params)
        return FusedGrid(n_input_dims, **config, hashed=otype == "HashGrid", dtype=dtype)
    if otype == "Frequency":
        params = {"n_frequencies": n_frequencies, **params}
    return FusedAutodiffEncoding(registry.build_encoding({"otype": otype, **params}, n_input_dims))


def encoder_from_config(
    config: Mapping[str, Any], n_input_dims: int = 2, dtype: type = np.float32
) -> Any:
    """The fused encoder of a tcnn encoding config ({"otype": ..., **parameters}, e.g. a
    `ModelSpec.encoding`): the hand-written kernels whenever the parameters allow them
    (Identity at scale 1 and offset 0, Frequency with only n_frequencies)."""
    otype, params = registry.encoding_parts(dict(config))
    if otype == "Identity" and params.get("scale", 1.0) == 1.0 and params.get("offset", 0.0) == 0:
        params = {}
    n_frequencies = 8
    if otype == "Frequency":  # missing octaves mean the constructor's default, as gfxnn.build
        cls = registry.component_class("encoding", otype)
        n_frequencies = registry.complete_encoding_params(cls, params).pop("n_frequencies")
        params.pop("n_frequencies", None)
    return make_encoder(otype, n_frequencies, params, dtype, n_input_dims)
