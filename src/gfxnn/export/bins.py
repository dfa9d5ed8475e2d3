"""Encoding nodes of the export IR for the binned encodings, OneBlob and OneHot: each input
x_d in [0, 1] is spread over n_bins features (all bins of input 0 first, then input 1, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gfxnn.export.ir import PerDimensionEncode

if TYPE_CHECKING:
    from gfxnn.export.onnx import OnnxGraph
    from gfxnn.export.shader import ShaderWriter

__all__ = ["OneBlobEncode", "OneHotEncode"]


# The quartic kernel's CDF, F(u) = clamp(15/16 u (1 - 2/3 u^2 + 1/5 u^4) + 1/2, 0, 1), written
# with the same operation order as gfxnn.encodings.one_blob.quartic_cdf.
_CDF_SHADER = (
    "clamp(0.9375 * {u} * (1.0 - 0.6666667 * ({u} * {u}) + 0.2 * ({u} * {u}) * ({u} * {u}))"
    " + 0.5, {zero}, {one})"
)


def _quartic_cdf(u: np.ndarray) -> np.ndarray:
    u2 = u * u
    cdf = (15.0 / 16.0) * u * (1.0 - (2.0 / 3.0) * u2 + 0.2 * u2 * u2) + 0.5
    return np.clip(cdf, 0.0, 1.0)


@dataclass(frozen=True)
class BinnedEncode(PerDimensionEncode):
    """An encoding with `n_bins` features per input dimension, all bins of input 0 first."""

    n_dims: int
    n_bins: int

    @property
    def per_dimension(self) -> int:
        return self.n_bins

    def _onnx_scaled(self, graph: OnnxGraph, value: str) -> str:
        """n_bins x, shaped (batch, dims, 1)."""
        axis_2 = graph.constant("axis_2", np.array([2], np.int64))
        return graph.node(
            "Mul", [graph.node("Unsqueeze", [value, axis_2]), _f32(graph, self.n_bins)]
        )


@dataclass(frozen=True)
class OneBlobEncode(BinnedEncode):
    """One-blob with tcnn's quartic kernel (gfxnn.encodings.OneBlobEncoding): feature k of
    input d is C(k + 1) - C(k), where C(k) = sum over s in {-1, 0, 1} of F(k - n x_d - n s)
    (the blob wraps around [0, 1]); n = n_bins; all bins of input 0 first."""

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        n = self.n_bins
        u = np.arange(n + 1, dtype=x.dtype) - n * x[:, :, None]  # the bin boundaries around x
        cdf = _quartic_cdf(u - n) + _quartic_cdf(u) + _quartic_cdf(u + n)
        return np.diff(cdf, axis=-1).reshape(x.shape[0], self.n_outputs).astype(x.dtype)

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        n = self.n_bins
        fields = {"zero": writer.splat(0.0), "one": writer.splat(1.0)}
        n_literal = writer.literal(n)
        features = []
        for d in range(self.n_dims):
            component = writer.component(value[0], d, self.n_dims)
            boundaries = []  # C(0), ..., C(n) as components of vec4 locals
            for g in range(0, n + 1, 4):
                ks = writer.language.vector([writer.literal(k) for k in range(g, g + 4)])
                u = writer.declare(f"t{d}_{g // 4}", f"{ks} - {n_literal} * {component}")
                cdfs = [
                    _CDF_SHADER.format(u=shifted, **fields)
                    for shifted in (f"({u} - {n_literal})", u, f"({u} + {n_literal})")
                ]
                cdf = writer.declare(f"c{d}_{g // 4}", "\n        + ".join(cdfs))
                boundaries += [f"{cdf}.{axis}" for axis in "xyzw"]
            features += [f"{boundaries[k + 1]} - {boundaries[k]}" for k in range(n)]
        return writer.pack("e", features)

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        n = self.n_bins
        scaled = self._onnx_scaled(graph, value)
        u = graph.node("Sub", [graph.constant("bins", np.arange(n + 1, dtype=np.float32)), scaled])
        cdfs = [_onnx_cdf(graph, graph.node(op, [u, _f32(graph, n)])) for op in ("Sub", "Add")]
        total = graph.node("Sum", [cdfs[0], _onnx_cdf(graph, u), cdfs[1]])
        high = graph.node("Slice", [total, *_ints(graph, [1], [n + 1], [2])])
        low = graph.node("Slice", [total, *_ints(graph, [0], [n], [2])])
        shape = graph.constant("feature_shape", np.array([-1, self.n_outputs], np.int64))
        return graph.node("Reshape", [graph.node("Sub", [high, low]), shape])

    def describe(self) -> str:
        return f"one-blob encoding (n_bins={self.n_bins}) {self.n_dims} -> {self.n_outputs}"


def _f32(graph: OnnxGraph, value: float) -> str:
    return graph.constant("c", np.float32(value))


def _ints(graph: OnnxGraph, *lists: list[int]) -> list[str]:
    return [graph.constant("slice", np.array(values, np.int64)) for values in lists]


def _onnx_cdf(graph: OnnxGraph, u: str) -> str:
    """F(u) as ONNX nodes, in the operation order of _quartic_cdf."""
    u2 = graph.node("Mul", [u, u])
    inner = graph.node(
        "Add",
        [
            graph.node("Sub", [_f32(graph, 1.0), graph.node("Mul", [_f32(graph, 2 / 3), u2])]),
            graph.node("Mul", [graph.node("Mul", [_f32(graph, 0.2), u2]), u2]),
        ],
    )
    cdf = graph.node("Mul", [graph.node("Mul", [_f32(graph, 15 / 16), u]), inner])
    cdf = graph.node("Add", [cdf, _f32(graph, 0.5)])
    return graph.node("Clip", [cdf, _f32(graph, 0.0), _f32(graph, 1.0)])


@dataclass(frozen=True)
class OneHotEncode(BinnedEncode):
    """Feature k of input d is 1 where k = clamp(floor(n x_d), 0, n - 1), else 0
    (gfxnn.encodings.OneHotEncoding); n = n_bins."""

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        n = self.n_bins
        bins = np.clip(np.floor(x * x.dtype.type(n)), 0, n - 1)
        features = bins[:, :, None] == np.arange(n, dtype=x.dtype)
        return features.reshape(x.shape[0], self.n_outputs).astype(x.dtype)

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        n, to_float = self.n_bins, writer.language.types[1]
        last, n_literal = writer.literal(n - 1), writer.literal(n)
        features = []
        for d in range(self.n_dims):
            component = writer.component(value[0], d, self.n_dims)
            bin_index = f"clamp(floor({component} * {n_literal}), 0.0, {last})"
            features += [f"{to_float}({bin_index} == {writer.literal(k)})" for k in range(n)]
        return writer.pack("e", features)

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        n = self.n_bins
        scaled = self._onnx_scaled(graph, value)
        bins = graph.node(
            "Clip", [graph.node("Floor", [scaled]), _f32(graph, 0), _f32(graph, n - 1)]
        )
        hits = graph.node("Equal", [bins, graph.constant("bins", np.arange(n, dtype=np.float32))])
        features = graph.node("Cast", [hits], to=1)  # 1: FLOAT
        shape = graph.constant("feature_shape", np.array([-1, self.n_outputs], np.int64))
        return graph.node("Reshape", [features, shape])

    def describe(self) -> str:
        return f"one-hot encoding (n_bins={self.n_bins}) {self.n_dims} -> {self.n_outputs}"
