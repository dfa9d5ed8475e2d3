"""Render a Program as one self-contained shader function, in any `Language`.

The function takes the input (uv) and returns the output as float vectors of 1..4 components.
Inside, every value is a list of vec4 locals (features padded with zeros to a multiple of 4), and
a dense layer is a sum of 4x4 matrix-vector products plus a bias vec4: the form GPUs execute well
and a reader can follow. The weights are inlined as float32 literals printed with the fewest
digits that read back to the same float32.
"""

from __future__ import annotations

import numpy as np

from gfxnn.export.ir import Program
from gfxnn.export.languages import Language, check_function_name

__all__ = ["ShaderWriter", "float_literal", "render_function", "render_function_with_data"]

_INDENT = "    "


def float_literal(value: float) -> str:
    """The shortest decimal that reads back as the same float32, always with '.' or 'e'
    (valid as a float literal in GLSL, HLSL and WGSL)."""
    single = np.float32(value)
    if not np.isfinite(single):
        raise ValueError(f"cannot export the non-finite value {value!r}")
    text = np.format_float_positional(single, unique=True, trim="0")
    if len(text) > 12:  # very large or small magnitudes read better in scientific notation
        text = np.format_float_scientific(single, unique=True, trim="0").replace(".e", ".0e")
    return text


class ShaderWriter:
    """Collects the statements of one function body; nodes call it to emit themselves."""

    def __init__(self, language: Language, name: str) -> None:
        self.language = language
        self.name = name
        self.lines: list[str] = []
        self.declarations: list[str] = []  # global: storage buffers
        self.buffers: dict[int, np.ndarray] = {}  # binding -> float32 data

    def add_buffer(self, data: np.ndarray, binding: int) -> str:
        """Declare a read-only float buffer at `binding` holding `data`; returns its name."""
        buffer = f"{self.name}_grid"
        self.declarations.append(self.language.storage_buffer.format(name=buffer, binding=binding))
        self.buffers[binding] = np.ascontiguousarray(data, np.float32)
        return buffer

    def declare_typed(self, type_name: str, name: str, value: str) -> str:
        self.lines.append(
            _INDENT + self.language.declare_typed.format(type=type_name, name=name, value=value)
        )
        return name

    def literal(self, value: float) -> str:
        return float_literal(value)

    def splat(self, value: float) -> str:
        """A vec4 with all four components `value`."""
        return self.language.vector([self.literal(value)] * 4)

    def zero4(self) -> str:
        return self.splat(0.0)

    def vec4_literal(self, values: np.ndarray) -> str:
        return self.language.vector([self.literal(v) for v in values])

    def component(self, parameter: str, index: int, n_components: int) -> str:
        """Component `index` of the function's parameter (the parameter itself if scalar)."""
        return parameter if n_components == 1 else f"{parameter}.{'xyzw'[index]}"

    def declare(self, name: str, value: str) -> str:
        self.lines.append(_INDENT + self.language.declare.format(name=name, value=value))
        return name

    def declare_sum(self, name: str, terms: list[str]) -> str:
        """Declare name = terms[0] + terms[1] + ..., one term per line."""
        value = f"\n{_INDENT * 2}+ ".join(terms)
        return self.declare(name, value)

    def matvec(self, block: np.ndarray, vector: str) -> str:
        """The product of the 4x4 float32 `block` with the vec4 variable `vector`."""
        matrix = self.language.matrix_constructor(block, self.literal)
        return self.language.matvec.format(m=matrix, v=vector)

    def pack(self, prefix: str, features: list[str]) -> list[str]:
        """Declare vec4 locals prefix0, prefix1, ... holding the scalar `features` (zero-padded)."""
        chunks = []
        for j in range(0, len(features), 4):
            values = features[j : j + 4] + ["0.0"] * (4 - len(features[j : j + 4]))
            vector = self.language.vector(values)
            if len(vector) > 200:  # long features (grid reads) one per line
                separator = ",\n" + _INDENT * 2
                vector = f"{self.language.types[4]}(\n{_INDENT * 2}{separator.join(values)})"
            chunks.append(self.declare(f"{prefix}{j // 4}", vector))
        return chunks


def render_function(program: Program, language: Language, name: str) -> str:
    """The program as one `language` function `name(uv) -> output`, with a header comment."""
    return render_function_with_data(program, language, name)[0]


def render_function_with_data(
    program: Program, language: Language, name: str
) -> tuple[str, dict[int, np.ndarray]]:
    """(the code of `render_function`, binding -> float32 data of the buffers it reads)."""
    check_function_name(name, language)
    n_in, n_out = program.n_inputs, program.n_outputs
    for what, n in (("inputs", n_in), ("outputs", n_out)):
        if not 1 <= n <= 4:
            raise ValueError(
                f"a shader function takes and returns 1..4 floats; this model has {n} {what}"
            )
    writer = ShaderWriter(language, name)
    value = ["uv"]
    for node in program.nodes:
        value = node.emit_shader(writer, value)
    swizzle = "" if n_out == 4 else "." + "xyzw"[:n_out]
    signature = language.signature(name, language.types[n_in], language.types[n_out])
    header = [
        f"// {name}: a neural network exported by gfxnn, weights inlined as float32 constants.",
        f"// {program.describe()}.",
        f"// Input: uv in [0, 1]^{n_in}; gfxnn render evaluates pixel (x, y) of a W x H image "
        "at uv = (x / (W - 1), y / (H - 1)).",
    ]
    body = [*writer.lines, f"{_INDENT}return {value[0]}{swizzle};"]
    code = "\n".join([*header, *writer.declarations, signature + " {", *body, "}"]) + "\n"
    return code, writer.buffers
