"""The export IR: a trained model as a straight line of nodes, encode -> dense -> activation -> ...

A `Program` is the model with nothing but numbers left in it: an encoding node, then for every
layer a `Dense` node (float32 weight (out, in) and bias (out,)) and, unless it is the identity,
an `Activation` node. Every node knows three things about itself:

- `evaluate(x)`: its meaning, in NumPy (x (batch, n_inputs) -> (batch, n_outputs)); running the
  nodes in order is the reference interpreter that tests compare with `model(x)` and with what
  the emitted code computes;
- `emit_shader(writer, value)`: its shader code, written through a `ShaderWriter` whose language
  table supplies the syntax (so GLSL, HLSL and WGSL differ only in that table);
- `emit_onnx(graph, value)`: its ONNX nodes.

Shader values are lists of vec4 variables ("chunks", zero-padded); ONNX values are tensor names.
The interpreter uses the same formulas as the emitted code (e.g. sigmoid = 1 / (1 + exp(-x))),
so it also tells what the shader should compute, to float32 rounding.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

if TYPE_CHECKING:
    from gfxnn.export.onnx import OnnxGraph
    from gfxnn.export.shader import ShaderWriter

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Dense",
    "ExportError",
    "Node",
    "PerDimensionEncode",
    "Program",
]


class ExportError(ValueError):
    """The model cannot be exported as asked: an unknown format or wrapper, a component with
    no emitter (the message names it), or an invalid function name for the language."""


@runtime_checkable
class Node(Protocol):
    """One step of a Program: n_inputs features in, n_outputs features out.

    A Protocol, so that a component can define its node in its own file without importing
    gfxnn.export (an encoding's `lower()` may return any object with these members); the
    nodes here subclass it explicitly.
    """

    @property
    @abstractmethod
    def n_inputs(self) -> int:
        """Width of the input."""

    @property
    @abstractmethod
    def n_outputs(self) -> int:
        """Width of the output."""

    @abstractmethod
    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """x (batch, n_inputs) -> (batch, n_outputs), in x's float dtype."""

    @abstractmethod
    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        """Write this node's statements; value/result: vec4 chunk variables (the input of an
        encoding node is [the function's parameter name])."""

    @abstractmethod
    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        """Add this node's ONNX nodes reading tensor `value`; return the output tensor name."""

    @abstractmethod
    def describe(self) -> str:
        """A short human-readable summary for the header comment."""


class PerDimensionEncode(Node):
    """An encoding node that gives `per_dimension` features for each of its `n_dims` inputs
    (subclasses are dataclasses with an `n_dims` field)."""

    n_dims: int

    @property
    @abstractmethod
    def per_dimension(self) -> int:
        """Features per input dimension."""

    @property
    def n_inputs(self) -> int:
        return self.n_dims

    @property
    def n_outputs(self) -> int:
        return self.per_dimension * self.n_dims


@dataclass(frozen=True)
class Dense(Node):
    """y = x W^T + b with W (n_outputs, n_inputs) and b (n_outputs,), float32."""

    weight: np.ndarray
    bias: np.ndarray
    index: int  # the layer number, for variable names (z{index}_{chunk})

    @property
    def n_inputs(self) -> int:
        return int(self.weight.shape[1])

    @property
    def n_outputs(self) -> int:
        return int(self.weight.shape[0])

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        result: np.ndarray = x @ self.weight.T.astype(x.dtype) + self.bias.astype(x.dtype)
        return result

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        n_chunks_out = -(-self.n_outputs // 4)
        weight = _pad(self.weight, 4 * n_chunks_out, 4 * len(value))
        bias = _pad(self.bias[:, None], 4 * n_chunks_out, 1)[:, 0]
        result = []
        for j in range(n_chunks_out):
            rows = slice(4 * j, 4 * j + 4)
            terms = [writer.vec4_literal(bias[rows])]
            for i, chunk in enumerate(value):
                block = weight[rows, 4 * i : 4 * i + 4]
                if np.any(block):  # padding and all-zero blocks add nothing
                    terms.append(writer.matvec(block, chunk))
            result.append(writer.declare_sum(f"z{self.index}_{j}", terms))
        return result

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        weight = graph.constant(f"layers.{self.index - 1}.weight", self.weight)
        bias = graph.constant(f"layers.{self.index - 1}.bias", self.bias)
        return graph.node("Gemm", [value, weight, bias], transB=1)

    def describe(self) -> str:
        return f"{self.n_inputs} -> {self.n_outputs}"


def _pad(array: np.ndarray, rows: int, columns: int) -> np.ndarray:
    padded = np.zeros((rows, columns), np.float32)
    padded[: array.shape[0], : array.shape[1]] = array
    return padded


@dataclass(frozen=True)
class ActivationKind:
    """One activation: its NumPy formula, its shader expression and its ONNX ops.

    `shader` is a template: {x} is the vec4 variable, {zero} a zero vec4, {p} the parameter
    (LeakyReLU's slope, Sine's omega_0) as a literal. The NumPy formula is the same expression.
    """

    numpy: Callable[[np.ndarray, float], np.ndarray]
    shader: Callable[[float], str]
    onnx: Callable[[OnnxGraph, str, float], str]


def _leaky_relu_shader(slope: float) -> str:
    # max(x, s x) is x for x > 0 and s x for x < 0 whenever s <= 1; min() when s > 1.
    return "max({x}, {p} * {x})" if slope <= 1.0 else "min({x}, {p} * {x})"


def _leaky_relu_numpy(x: np.ndarray, slope: float) -> np.ndarray:
    scaled = x * x.dtype.type(slope)
    return np.maximum(x, scaled) if slope <= 1.0 else np.minimum(x, scaled)


def _exp(x: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(large) = inf is intended: 1 / (1 + inf) = 0
        return np.exp(x)


def _onnx_silu(graph: OnnxGraph, x: str, _: float) -> str:
    return graph.node("Mul", [x, graph.node("Sigmoid", [x])])


def _onnx_sine(graph: OnnxGraph, x: str, omega: float) -> str:
    if omega != 1.0:
        x = graph.node("Mul", [x, graph.constant("omega_0", np.float32(omega))])
    return graph.node("Sin", [x])


ACTIVATIONS: dict[str, ActivationKind] = {
    "relu": ActivationKind(
        lambda x, _: np.maximum(x, x.dtype.type(0)),
        lambda _: "max({x}, {zero})",
        lambda graph, x, _: graph.node("Relu", [x]),
    ),
    "leaky_relu": ActivationKind(
        _leaky_relu_numpy,
        _leaky_relu_shader,
        lambda graph, x, slope: graph.node("LeakyRelu", [x], alpha=slope),
    ),
    "sigmoid": ActivationKind(
        lambda x, _: 1 / (1 + _exp(-x)),
        lambda _: "1.0 / (1.0 + exp(-{x}))",
        lambda graph, x, _: graph.node("Sigmoid", [x]),
    ),
    "tanh": ActivationKind(
        # 2 sigmoid(2x) - 1 stays finite where (e^2x - 1) / (e^2x + 1) would give inf / inf.
        lambda x, _: 2 / (1 + _exp(-2 * x)) - 1,
        lambda _: "2.0 / (1.0 + exp(-2.0 * {x})) - 1.0",
        lambda graph, x, _: graph.node("Tanh", [x]),
    ),
    "sine": ActivationKind(
        lambda x, omega: np.sin(x * x.dtype.type(omega)) if omega != 1.0 else np.sin(x),
        lambda omega: "sin({p} * {x})" if omega != 1.0 else "sin({x})",
        _onnx_sine,
    ),
    "softplus": ActivationKind(
        lambda x, _: np.maximum(x, x.dtype.type(0)) + np.log(1 + np.exp(-np.abs(x))),
        lambda _: "max({x}, {zero}) + log(1.0 + exp(-abs({x})))",
        lambda graph, x, _: graph.node("Softplus", [x]),
    ),
    "silu": ActivationKind(
        lambda x, _: x / (1 + _exp(-x)),
        lambda _: "{x} / (1.0 + exp(-{x}))",
        _onnx_silu,
    ),
}


@dataclass(frozen=True)
class Activation(Node):
    """An elementwise activation `kind` (a key of ACTIVATIONS) with its parameter."""

    kind: str
    width: int
    index: int  # the layer number, for variable names (a{index}_{chunk})
    parameter: float = 0.0  # LeakyReLU's negative_slope, Sine's omega_0

    @property
    def n_inputs(self) -> int:
        return self.width

    @property
    def n_outputs(self) -> int:
        return self.width

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        return ACTIVATIONS[self.kind].numpy(x, self.parameter).astype(x.dtype, copy=False)

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        template = ACTIVATIONS[self.kind].shader(self.parameter)
        fields = {"zero": writer.zero4(), "p": writer.literal(self.parameter)}
        return [
            writer.declare(f"a{self.index}_{j}", template.format(x=chunk, **fields))
            for j, chunk in enumerate(value)
        ]

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        return ACTIVATIONS[self.kind].onnx(graph, value, self.parameter)

    def describe(self) -> str:
        if self.kind in ("leaky_relu", "sine"):
            return f"{self.kind}({self.parameter:g})"
        return self.kind


@dataclass(frozen=True)
class Program:
    """A lowered model: nodes[0] is the encoding, then Dense/Activation nodes in order."""

    nodes: tuple[Node, ...]

    @property
    def n_inputs(self) -> int:
        return self.nodes[0].n_inputs

    @property
    def n_outputs(self) -> int:
        return self.nodes[-1].n_outputs

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        """The reference interpreter: x (batch, n_inputs) float -> (batch, n_outputs)."""
        x = np.asarray(x)
        if x.dtype.kind != "f":
            x = x.astype(np.float32)
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise ValueError(f"expected inputs of shape (batch, {self.n_inputs}), got {x.shape}")
        for node in self.nodes:
            x = node.evaluate(x)
        return x

    def describe(self) -> str:
        """One line: encoding, layer sizes and activations."""
        encoding, *rest = self.nodes
        parts = [encoding.describe()]
        for node in rest:
            parts.append(f"dense {node.describe()}" if isinstance(node, Dense) else node.describe())
        return ", ".join(parts)
