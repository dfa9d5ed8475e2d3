"""Lower an autodiff model (encoding + nn.MLP) to the export IR, reading only its numbers.

An encoding lowers itself (its `lower()`, in the encoding's own file, builds its IR node); the
MLP's layers and activations are lowered here. Anything else is an ExportError naming the
component, so an unsupported model fails before any code is written.
"""

from __future__ import annotations

import numpy as np

from gfxnn.export.ir import ACTIVATIONS, Activation, Dense, ExportError, Node, Program
from gfxnn.nn import MLP, Identity, LeakyReLU, Linear, Module, Sine
from gfxnn.nn.activation import ACTIVATION_MODULES

__all__ = ["lower", "lower_activation", "lower_encoding", "lowerable_encodings"]

# gfxnn.nn's own name of each activation module (the identity lowers to nothing); the IR's
# ACTIVATIONS table has the formula of each.
_ACTIVATION_KINDS: dict[type[Module], str] = {
    module: name for name, module in ACTIVATION_MODULES.items() if module is not Identity
}


def lower_encoding(encoding: Module) -> Node:
    """The IR node of an encoding: the one its own `lower()` gives, or an ExportError naming
    it (an encoding without `lower()` has no emitter)."""
    lower_method = getattr(encoding, "lower", None)
    if not callable(lower_method):
        raise ExportError(
            f"no emitter for the encoding {_describe(encoding)}: it has no lower() method; "
            f"export supports the {', '.join(lowerable_encodings())} encodings"
        )
    node = lower_method()
    if not isinstance(node, Node):
        raise ExportError(f"{_describe(encoding)}.lower() gave {node!r}, not an export IR node")
    return node


def lowerable_encodings() -> list[str]:
    """The registered encodings (otypes) that lower themselves to the IR."""
    from gfxnn import registry

    return [
        otype
        for otype in registry.ENCODINGS
        if callable(getattr(registry.component_class("encoding", otype), "lower", None))
    ]


def lower_activation(module: Module, width: int, index: int) -> Activation | None:
    """The IR node of an activation module (None for the identity), or an ExportError."""
    if type(module) is Identity:
        return None
    kind = _ACTIVATION_KINDS.get(type(module))
    if kind is None or kind not in ACTIVATIONS:
        raise ExportError(
            f"no emitter for the activation {_describe(module)}; export supports "
            f"{', '.join(sorted(ACTIVATIONS))} and none"
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
        encoding: a gfxnn.encodings Encoding with a `lower()` method (see
            `lowerable_encodings()`).
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
