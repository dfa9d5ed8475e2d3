"""`MLP`: the fully connected network of the seeds, with tiny-cuda-nn's parameter names."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gfxnn.checks import check_bool, check_int, check_positive_int
from gfxnn.nn.activation import make_activation
from gfxnn.nn.linear import Linear
from gfxnn.nn.module import Module, ModuleList
from gfxnn.rng import RNG, as_generator
from gfxnn.tensor import Tensor


def hidden_widths(n_neurons: Any, n_hidden_layers: Any) -> list[int]:
    """The hidden layers' widths: n_hidden_layers times n_neurons, or n_neurons itself when it
    is a sequence of widths (n_hidden_layers is then ignored, as documented in MLP)."""
    if isinstance(n_neurons, Sequence) and not isinstance(n_neurons, str):
        return [check_positive_int(f"n_neurons[{i}]", w) for i, w in enumerate(n_neurons)]
    if isinstance(n_neurons, bool) or not isinstance(n_neurons, int | np.integer):
        raise ValueError(
            "n_neurons must be a positive integer or a list of them (one width per hidden "
            f"layer), got {n_neurons!r}"
        )
    width = check_positive_int("n_neurons", n_neurons)
    return [width] * check_int("n_hidden_layers", n_hidden_layers, 0)


class MLP(Module):
    """Multilayer perceptron: Linear -> activation, repeated, then Linear -> output activation.

    Args:
        n_input_dims, n_output_dims: input and output widths.
        n_neurons: width of every hidden layer, or a sequence of per-layer widths (then
            `n_hidden_layers` is taken from its length).
        n_hidden_layers: number of hidden layers (0 gives a single Linear layer).
        activation, output_activation: names from `gfxnn.nn.activation.ACTIVATION_MODULES`
            or Module instances.
        bias: whether the Linear layers have biases.
        rng: Generator, seed, or None for `gfxnn.rng.DEFAULT_SEED` (never OS entropy);
            the layers draw their weights from it first to last.
        init: weight initialiser name (Xavier uniform by default, as Dx12NN).

    Linear layer i is `self.layers[i]`, so parameters are named "layers.0.weight", ...
    Shapes: x (..., n_input_dims) -> y (..., n_output_dims).
    """

    def __init__(
        self,
        n_input_dims: int,
        n_output_dims: int,
        n_neurons: int | Sequence[int] = 64,
        n_hidden_layers: int = 2,
        activation: str | Module = "relu",
        output_activation: str | Module = "none",
        bias: bool = True,
        *,
        rng: RNG = None,
        init: str = "xavier_uniform",
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        self.n_output_dims = check_positive_int("n_output_dims", n_output_dims)
        widths = hidden_widths(n_neurons, n_hidden_layers)
        self.hidden_widths = widths
        self.bias = check_bool("bias", bias)
        # Names kept for hyperparams(); a Module passed in has none (hyperparams() then fails).
        self._activation_names = (
            activation if isinstance(activation, str) else None,
            output_activation if isinstance(output_activation, str) else None,
        )
        self.activation = make_activation(activation)
        self.output_activation = make_activation(output_activation)
        generator = as_generator(rng)
        sizes = [self.n_input_dims, *widths, self.n_output_dims]
        self.layers = ModuleList(
            Linear(n_in, n_out, bias, rng=generator, init=init, dtype=dtype)
            for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True)
        )

    def forward(self, x: Any) -> Tensor:
        *hidden, last = list(self.layers)
        for layer in hidden:
            x = self.activation(layer(x))
        out: Tensor = self.output_activation(last(x))
        return out

    def hyperparams(self) -> dict[str, Any]:
        """The tiny-cuda-nn-style network config that rebuilds this MLP (weights aside)."""
        activation, output_activation = self._activation_names
        if activation is None or output_activation is None:
            raise ValueError(
                "hyperparams() needs activations given by name, not as Module instances"
            )
        widths = self.hidden_widths
        config: dict[str, Any] = {"otype": "MLP", "n_hidden_layers": len(widths)}
        if widths:  # with no hidden layer the width means nothing
            config["n_neurons"] = widths[0] if len(set(widths)) == 1 else list(widths)
        config.update(
            activation=activation.lower(),
            output_activation=output_activation.lower(),
            bias=self.bias,
        )
        return config

    def extra_repr(self) -> str:
        return f"{self.n_input_dims} -> {self.hidden_widths} -> {self.n_output_dims}"
