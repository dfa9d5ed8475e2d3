"""Encoding nodes of the export IR for the smooth and periodic encodings (Identity, Frequency,
TriangleWave, GaussianFourier; the binned ones are in `gfxnn.export.bins`): each the formula of
one `gfxnn.encodings` class, with its NumPy meaning, its shader code (scalar features packed
into vec4 chunks) and its ONNX nodes.

The feature order is the encoding module's own (documented in its docstring); the tests check
each node's `evaluate` against the autodiff encoding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gfxnn.encodings import sincos
from gfxnn.export.ir import Node, PerDimensionEncode

if TYPE_CHECKING:
    from gfxnn.export.onnx import OnnxGraph
    from gfxnn.export.shader import ShaderWriter

__all__ = ["FrequencyEncode", "GaussianFourierEncode", "IdentityEncode", "TriangleWaveEncode"]


@dataclass(frozen=True)
class IdentityEncode(PerDimensionEncode):
    """features = scale * x + offset (gfxnn.encodings.IdentityEncoding)."""

    n_dims: int
    scale: float = 1.0
    offset: float = 0.0
    per_dimension = 1

    @property
    def _plain(self) -> bool:
        return self.scale == 1.0 and self.offset == 0.0

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        if self._plain:
            return x
        result: np.ndarray = x * x.dtype.type(self.scale) + x.dtype.type(self.offset)
        return result

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        features = []
        for d in range(self.n_dims):
            component = writer.component(value[0], d, self.n_dims)
            if not self._plain:
                scale, offset = writer.literal(self.scale), writer.literal(self.offset)
                component = f"{component} * {scale} + {offset}"
            features.append(component)
        return writer.pack("e", features)

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        if self._plain:
            return value
        scaled = graph.node("Mul", [value, graph.constant("scale", np.float32(self.scale))])
        return graph.node("Add", [scaled, graph.constant("offset", np.float32(self.offset))])

    def describe(self) -> str:
        extra = "" if self._plain else f"(scale={self.scale:g}, offset={self.offset:g})"
        return f"identity encoding{extra} {self.n_dims} -> {self.n_dims}"


@dataclass(frozen=True)
class FrequencyEncode(PerDimensionEncode):
    """sin(pi 2^k x_d), cos(pi 2^k x_d) for each dimension d, each k < n_frequencies, in that
    order (gfxnn.encodings.FrequencyEncoding), computed as sin, cos of 2 pi fract(2^(k-1) x_d):
    the phase reduced exactly, as every backend does (gfxnn.encodings.sincos); the shaders
    apply the language's sin/cos to the reduced phase, `evaluate` the shared polynomial."""

    n_dims: int
    n_frequencies: int

    @property
    def per_dimension(self) -> int:
        return 2 * self.n_frequencies

    @property
    def frequencies(self) -> np.ndarray:
        """pi 2^k, k < n_frequencies, float32."""
        return (np.pi * 2.0 ** np.arange(self.n_frequencies)).astype(np.float32)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        sines, cosines = sincos.sincos_octaves(x, self.n_frequencies)  # (batch, dims, F)
        pairs = np.stack([sines, cosines], axis=-1)  # (batch, dims, F, 2)
        return pairs.reshape(x.shape[0], self.n_outputs)

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        features = []
        two_pi = writer.literal(2 * np.pi)
        for d in range(self.n_dims):
            component = writer.component(value[0], d, self.n_dims)
            for k in range(self.n_frequencies):
                # fract(v) as v - floor(v): one spelling for GLSL, HLSL and WGSL
                v = f"{component} * {writer.literal(2.0 ** (k - 1))}"
                phase = f"{two_pi} * ({v} - floor({v}))"
                features += [f"sin({phase})", f"cos({phase})"]
        return writer.pack("e", features)

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        axis_2 = graph.constant("axis_2", np.array([2], np.int64))
        axis_3 = graph.constant("axis_3", np.array([3], np.int64))
        scales = graph.constant("octave_scales", (2.0 ** (np.arange(self.n_frequencies) - 1.0)))
        two_pi = graph.constant("two_pi", np.array([2 * np.pi], np.float32))
        turns = graph.node("Mul", [graph.node("Unsqueeze", [value, axis_2]), scales])
        turns = graph.node("Sub", [turns, graph.node("Floor", [turns])])  # fract
        phase = graph.node("Mul", [turns, two_pi])
        sines = graph.node("Unsqueeze", [graph.node("Sin", [phase]), axis_3])
        cosines = graph.node("Unsqueeze", [graph.node("Cos", [phase]), axis_3])
        pairs = graph.node("Concat", [sines, cosines], axis=3)  # (batch, dims, F, 2)
        shape = graph.constant("feature_shape", np.array([-1, self.n_outputs], np.int64))
        return graph.node("Reshape", [pairs, shape])

    def describe(self) -> str:
        return f"frequency encoding (n_frequencies={self.n_frequencies}) {self.n_dims} -> " + str(
            self.n_outputs
        )


@dataclass(frozen=True)
class TriangleWaveEncode(PerDimensionEncode):
    """4 |frac(2^(k-1) x_d + k/4) - 1/2| - 1 for each dimension d, each k < n_frequencies,
    in that order (gfxnn.encodings.TriangleWaveEncoding); frac(v) - 1/2 = v - (floor(v) + 1/2)."""

    n_dims: int
    n_frequencies: int

    @property
    def per_dimension(self) -> int:
        return self.n_frequencies

    @property
    def scales(self) -> np.ndarray:
        return (2.0 ** (np.arange(self.n_frequencies) - 1.0)).astype(np.float32)

    @property
    def phases(self) -> np.ndarray:
        return (0.25 * np.arange(self.n_frequencies)).astype(np.float32)

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        v = x[:, :, None] * self.scales.astype(x.dtype) + self.phases.astype(x.dtype)
        wave = 4 * np.abs(v - (np.floor(v) + x.dtype.type(0.5))) - 1
        return wave.reshape(x.shape[0], self.n_outputs).astype(x.dtype, copy=False)

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        features = []
        for d in range(self.n_dims):
            component = writer.component(value[0], d, self.n_dims)
            for scale, phase in zip(self.scales, self.phases, strict=True):
                v = f"({component} * {writer.literal(scale)} + {writer.literal(phase)})"
                features.append(f"4.0 * abs({v} - (floor({v}) + 0.5)) - 1.0")
        return writer.pack("e", features)

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        axis_2 = graph.constant("axis_2", np.array([2], np.int64))
        scaled = graph.node(
            "Mul", [graph.node("Unsqueeze", [value, axis_2]), graph.constant("scales", self.scales)]
        )
        v = graph.node("Add", [scaled, graph.constant("phases", self.phases)])
        floor = graph.node(
            "Add", [graph.node("Floor", [v]), graph.constant("half", np.float32(0.5))]
        )
        wave = graph.node("Mul", [graph.node("Abs", [graph.node("Sub", [v, floor])]),
                                  graph.constant("four", np.float32(4.0))])  # fmt: skip
        wave = graph.node("Sub", [wave, graph.constant("one", np.float32(1.0))])
        shape = graph.constant("feature_shape", np.array([-1, self.n_outputs], np.int64))
        return graph.node("Reshape", [wave, shape])

    def describe(self) -> str:
        return (
            f"triangle-wave encoding (n_frequencies={self.n_frequencies}) {self.n_dims} -> "
            f"{self.n_outputs}"
        )


@dataclass(frozen=True)
class GaussianFourierEncode(Node):
    """[sin(phase), cos(phase)], phase = x P with P = 2 pi B^T (n_dims, n_frequencies) rounded
    to float32 as gfxnn.encodings.GaussianFourierEncoding does: all sines, then all cosines."""

    projection: np.ndarray  # (n_dims, n_frequencies) float32

    @property
    def n_inputs(self) -> int:
        return int(self.projection.shape[0])

    @property
    def n_outputs(self) -> int:
        return 2 * int(self.projection.shape[1])

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        phase = x @ self.projection.astype(x.dtype)
        return np.concatenate([np.sin(phase), np.cos(phase)], axis=1)

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        phases = []
        for column in self.projection.T:
            terms = [
                f"{writer.component(value[0], d, self.n_inputs)} * {writer.literal(p)}"
                for d, p in enumerate(column)
            ]
            phases.append(" + ".join(terms))
        features = [f"sin({phase})" for phase in phases] + [f"cos({phase})" for phase in phases]
        return writer.pack("e", features)

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        phase = graph.node("MatMul", [value, graph.constant("projection", self.projection)])
        sines, cosines = graph.node("Sin", [phase]), graph.node("Cos", [phase])
        return graph.node("Concat", [sines, cosines], axis=1)

    def describe(self) -> str:
        return (
            f"Gaussian Fourier encoding (n_frequencies={self.projection.shape[1]}) "
            f"{self.n_inputs} -> {self.n_outputs}"
        )
