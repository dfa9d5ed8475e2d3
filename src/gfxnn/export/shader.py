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

__all__ = ["ShaderWriter", "float_literal", "render_function"]

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

    def __init__(self, language: Language) -> None:
        self.language = language
        self.lines: list[str] = []

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
            chunks.append(self.declare(f"{prefix}{j // 4}", self.language.vector(values)))
        return chunks


def render_function(program: Program, language: Language, name: str) -> str:
    """The program as one `language` function `name(uv) -> output`, with a header comment."""
    check_function_name(name, language)
    n_in, n_out = program.n_inputs, program.n_outputs
    for what, n in (("inputs", n_in), ("outputs", n_out)):
        if not 1 <= n <= 4:
            raise ValueError(
                f"a shader function takes and returns 1..4 floats; this model has {n} {what}"
            )
    writer = ShaderWriter(language)
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
    return "\n".join([*header, signature + " {", *body, "}"]) + "\n"
