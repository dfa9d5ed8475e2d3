"""Lower an autodiff model (encoding + nn.MLP) to the export IR, reading only its numbers.

Each supported component maps to one IR node; anything else is an ExportError naming the
component, so an unsupported model fails before any code is written.
"""

from __future__ import annotations

import numpy as np

from gfxnn.encodings import (
    FrequencyEncoding,
    GaussianFourierEncoding,
    IdentityEncoding,
    OneBlobEncoding,
    OneHotEncoding,
    TriangleWaveEncoding,
)
from gfxnn.encodings.grid import GridEncoding
from gfxnn.export.bins import OneBlobEncode, OneHotEncode
from gfxnn.export.encoders import (
    FrequencyEncode,
    GaussianFourierEncode,
    IdentityEncode,
    TriangleWaveEncode,
)
from gfxnn.export.grid import GridEncode
from gfxnn.export.ir import Activation, Dense, ExportError, Node, Program
from gfxnn.nn import (
    MLP,
    Identity,
    LeakyReLU,
    Linear,
    Module,
    ReLU,
    Sigmoid,
    SiLU,
    Sine,
    Softplus,
    Tanh,
)

__all__ = ["lower", "lower_activation", "lower_encoding"]

_ACTIVATION_KINDS: dict[type[Module], str] = {
    ReLU: "relu",
    LeakyReLU: "leaky_relu",
    Sigmoid: "sigmoid",
    Tanh: "tanh",
    Sine: "sine",
    Softplus: "softplus",
    SiLU: "silu",
}


def lower_encoding(encoding: Module) -> Node:
    """The IR node of an encoding, or an ExportError naming it."""
    if isinstance(encoding, IdentityEncoding):
        return IdentityEncode(encoding.n_input_dims, encoding.scale, encoding.offset)
    if isinstance(encoding, FrequencyEncoding):
        return FrequencyEncode(encoding.n_input_dims, encoding.n_frequencies)
    if isinstance(encoding, TriangleWaveEncoding):
        return TriangleWaveEncode(encoding.n_input_dims, encoding.n_frequencies)
    if isinstance(encoding, GaussianFourierEncoding):
        # The same float32 rounding of 2 pi B^T as the encoding's forward.
        projection = (2.0 * np.pi * encoding.B.data.T).astype(np.float32)
        return GaussianFourierEncode(projection)
    if isinstance(encoding, OneBlobEncoding):
        return OneBlobEncode(encoding.n_input_dims, encoding.n_bins)
    if isinstance(encoding, OneHotEncoding):
        return OneHotEncode(encoding.n_input_dims, encoding.n_bins)
    if isinstance(encoding, GridEncoding):
        layout = encoding.layout
        return GridEncode(
            otype=encoding.otype,
            n_dims=layout.n_input_dims,
            scales=tuple(float(np.float32(s)) for s in layout.scales),
            resolutions=layout.resolutions,
            sizes=layout.sizes,
            offsets=layout.offsets,
            hashed=layout.hashed,
            interpolation=encoding.interpolation,
            table=np.array(encoding.table.data, np.float32),
        )
    raise ExportError(
        f"no emitter for the encoding {_describe(encoding)}; export supports the Identity, "
        "Frequency, TriangleWave, GaussianFourier, OneBlob, OneHot, HashGrid and DenseGrid "
        "encodings"
    )


def lower_activation(module: Module, width: int, index: int) -> Activation | None:
    """The IR node of an activation module (None for the identity), or an ExportError."""
    if type(module) is Identity:
        return None
    kind = _ACTIVATION_KINDS.get(type(module))
    if kind is None:
        raise ExportError(
            f"no emitter for the activation {_describe(module)}; export supports "
            f"{', '.join(sorted(_ACTIVATION_KINDS.values()))} and none"
        )
    parameter = 0.0
    if isinstance(module, LeakyReLU):
        parameter = module.negative_slope
    elif isinstance(module, Sine):
        parameter = module.omega_0
    return Activation(kind, width, index, parameter)


def lower(encoding: Module, network: Module) -> Program:
    """The Program computing network(encoding(x)).

    Args:
        encoding: a gfxnn.encodings Encoding (Identity, Frequency or OneBlob).
        network: a gfxnn.nn.MLP; its weights are copied as float32.
    """
    if not isinstance(network, MLP):
        raise ExportError(f"no emitter for the network {_describe(network)}; export takes an MLP")
    encode = lower_encoding(encoding)
    if encode.n_outputs != network.n_input_dims:
        raise ExportError(
            f"the encoding gives {encode.n_outputs} features but the network takes "
            f"{network.n_input_dims} inputs"
        )
    nodes = [encode]
    layers = list(network.layers)
    for i, layer in enumerate(layers):
        assert isinstance(layer, Linear)
        weight = np.asarray(layer.weight.data, np.float32)
        bias_tensor = getattr(layer, "bias", None)
        bias = (
            np.zeros(weight.shape[0], np.float32)
            if bias_tensor is None
            else np.asarray(bias_tensor.data, np.float32)
        )
        if not (np.all(np.isfinite(weight)) and np.all(np.isfinite(bias))):
            raise ExportError(f"layer {i} of the network holds NaN or infinite weights")
        nodes.append(Dense(weight.copy(), bias.copy(), i + 1))
        module = network.activation if i < len(layers) - 1 else network.output_activation
        activation = lower_activation(module, weight.shape[0], i + 1)
        if activation is not None:
            nodes.append(activation)
    return Program(tuple(nodes))


def _describe(component: object) -> str:
    hyperparams = getattr(component, "hyperparams", None)
    if callable(hyperparams):
        otype = hyperparams().get("otype")
        if otype:
            return f"{type(component).__name__} (otype {otype!r})"
    return type(component).__name__
