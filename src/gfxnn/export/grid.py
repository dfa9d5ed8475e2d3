"""The grid encodings (HashGrid, DenseGrid) in the export IR: the code computes the cell, the
table rows (hashed or dense) and the interpolation weights of every level; the table itself
is too large to inline, so it goes into a storage buffer beside the code.

Buffer: the table as little-endian float32, entry-major (n_entries rows of
n_features_per_level values, level after level: tcnn's parameter order), bound read-only at
set/group 0, binding 1 and named NAME_grid. The maths are `gfxnn.encodings.grid_kernels`'s
(Instant-NGP with tcnn's conventions), with the same float32 operations in the same order, so
`evaluate` below (written independently of those kernels) and the shader agree with them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gfxnn.export.ir import ExportError, Node

if TYPE_CHECKING:
    from gfxnn.export.onnx import OnnxGraph
    from gfxnn.export.shader import ShaderWriter

__all__ = ["GRID_BINDING", "GridEncode"]

GRID_BINDING = 1
PRIMES = (1, 2654435761, 805459861, 3674653429, 2097192037, 1434869437, 2165219737)


@dataclass(frozen=True, eq=False)
class GridEncode(Node):
    """A multiresolution grid: per level l, p = x s_l + 1/2, cell g = floor(p), t = p - g,
    features sum over the 2^d cell corners c of w_c table[offset_l + index_c]."""

    otype: str  # "HashGrid" or "DenseGrid", for messages
    n_dims: int
    scales: tuple[float, ...]  # s_l
    resolutions: tuple[int, ...]  # R_l
    sizes: tuple[int, ...]  # T_l
    offsets: tuple[int, ...]
    hashed: tuple[bool, ...]
    interpolation: str  # "Nearest", "Linear" or "Smoothstep"
    table: np.ndarray  # (n_entries, n_features) float32

    @property
    def n_features(self) -> int:
        return int(self.table.shape[1])

    @property
    def n_inputs(self) -> int:
        return self.n_dims

    @property
    def n_outputs(self) -> int:
        return len(self.scales) * self.n_features

    def _corners(self) -> list[tuple[int, ...]]:
        """Corner offsets, dimension 0 the least significant bit (tcnn's order)."""
        if self.interpolation == "Nearest":
            return [(0,) * self.n_dims]
        return [tuple((c >> k) & 1 for k in range(self.n_dims)) for c in range(2**self.n_dims)]

    def _row(self, level: int, vertex: list[np.ndarray]) -> np.ndarray:
        """Level-local table rows of integer vertices (each (n,) uint64)."""
        size = self.sizes[level]
        if self.hashed[level]:
            index = np.zeros_like(vertex[0])
            for k, v in enumerate(vertex):
                index ^= (v * PRIMES[k]) & 0xFFFFFFFF
            return index & (size - 1)
        index, stride = np.zeros_like(vertex[0]), 1
        for v in vertex:
            index = index + v * stride
            stride *= self.resolutions[level]
        return index % size

    def evaluate(self, x: np.ndarray) -> np.ndarray:
        dtype = x.dtype
        out = np.empty((x.shape[0], self.n_outputs), dtype)
        table = self.table.astype(dtype)
        for level, scale in enumerate(self.scales):
            p = x * dtype.type(scale) + dtype.type(0.5)
            cell = np.floor(p)
            t = p - cell
            if self.interpolation == "Smoothstep":
                t = t * t * (3 - 2 * t)
            base = cell.astype(np.int64).astype(np.uint64)
            total = None
            for corner in self._corners():
                rows = self._row(level, [base[:, k] + c for k, c in enumerate(corner)])
                weight = np.ones(x.shape[0], dtype)
                for k in reversed(range(self.n_dims)):  # the kernels' product order
                    weight = weight * (t[:, k] if corner[k] else 1 - t[:, k])
                if self.interpolation == "Nearest":
                    weight = np.ones(x.shape[0], dtype)
                value = table[self.offsets[level] + rows.astype(np.int64)] * weight[:, None]
                total = value if total is None else total + value
            features = slice(level * self.n_features, (level + 1) * self.n_features)
            out[:, features] = total
        return out

    def emit_shader(self, writer: ShaderWriter, value: list[str]) -> list[str]:
        language, d = writer.language, self.n_dims
        buffer = writer.add_buffer(self.table, GRID_BINDING)
        features = []
        for level, scale in enumerate(self.scales):
            p = writer.declare_typed(
                language.types[d], f"p{level}", f"{value[0]} * {writer.literal(scale)} + 0.5"
            )
            cell = writer.declare_typed(language.types[d], f"g{level}", f"floor({p})")
            t = f"({p} - {cell})"
            if self.interpolation == "Smoothstep":
                t = f"({t} * {t} * (3.0 - 2.0 * {t}))"
            t = writer.declare_typed(language.types[d], f"f{level}", t)
            vertex = writer.declare_typed(
                language.uint_types[d], f"v{level}", f"{language.uint_types[d]}({cell})"
            )
            terms = []
            for n, corner in enumerate(self._corners()):
                row = writer.declare_typed(
                    language.uint_types[1],
                    f"i{level}_{n}",
                    self._row_code(writer, level, vertex, corner),
                )
                weights = [
                    writer.component(t, k, d)
                    if corner[k]
                    else f"(1.0 - {writer.component(t, k, d)})"
                    for k in reversed(range(d))
                ]
                weight = " * ".join(weights) if self.interpolation != "Nearest" else "1.0"
                terms.append((row, weight))
            offset, width = self.offsets[level], self.n_features
            for f in range(width):
                reads = [
                    f"{weight} * {buffer}[({offset}u + {row}) * {width}u + {f}u]"
                    for row, weight in terms
                ]
                features.append(" + ".join(reads))
        return writer.pack("e", features)

    def _row_code(
        self, writer: ShaderWriter, level: int, vertex: str, corner: tuple[int, ...]
    ) -> str:
        d = self.n_dims
        coordinates = [
            f"({writer.component(vertex, k, d)} + {c}u)" if c else writer.component(vertex, k, d)
            for k, c in enumerate(corner)
        ]
        if self.hashed[level]:
            hashed = " ^ ".join(f"({v} * {PRIMES[k]}u)" for k, v in enumerate(coordinates))
            return f"({hashed}) & {self.sizes[level] - 1}u"
        terms, stride = [], 1
        for v in coordinates:
            terms.append(v if stride == 1 else f"{v} * {stride}u")
            stride *= self.resolutions[level]
        return f"({' + '.join(terms)}) % {self.sizes[level]}u"

    def emit_onnx(self, graph: OnnxGraph, value: str) -> str:
        raise ExportError(f"no ONNX emitter for the encoding {self.otype}; export it as a shader")

    def data(self) -> np.ndarray:
        return self.table

    def describe(self) -> str:
        return (
            f"{self.otype} encoding ({len(self.scales)} levels x {self.n_features} features, "
            f"{self.interpolation}, table in buffer binding {GRID_BINDING}) {self.n_dims} -> "
            f"{self.n_outputs}"
        )
