"""Export a trained network as shader code (GLSL, HLSL, WGSL) or as an ONNX model.

The model (an encoding and an MLP) is first lowered to a tiny IR (`gfxnn.export.ir`):
encode -> dense -> activation -> ... -> output activation, nothing but float32 numbers. Each
IR node emits itself; the shading languages differ only in a table of syntax
(`gfxnn.export.languages`). See docs/export.md for what each format supports.

    code = gfxnn.export.export(encoding, mlp, "glsl", name="my_texture")
    onnx_bytes = gfxnn.export.export(encoding, mlp, "onnx")
    code = gfxnn.export.export_checkpoint("run/checkpoint.safetensors", "wgsl", wrapper="compute")
"""

from __future__ import annotations

from pathlib import Path

from gfxnn.export.ir import ExportError, Program
from gfxnn.export.languages import LANGUAGES, check_function_name
from gfxnn.export.lower import lower
from gfxnn.export.shader import render_function_with_data
from gfxnn.export.wrappers import WRAPPERS, wrap
from gfxnn.nn import Module

__all__ = [
    "DEFAULT_NAME",
    "FORMATS",
    "WRAPPERS",
    "ExportError",
    "Program",
    "export",
    "export_checkpoint",
    "export_checkpoint_with_data",
    "export_program",
    "export_with_data",
    "lower",
    "suffix",
]

FORMATS = ("glsl", "hlsl", "wgsl", "onnx")
DEFAULT_NAME = "gfxnn_network"


def suffix(format: str) -> str:
    """The file suffix of `format`: ".glsl", ".hlsl", ".wgsl" or ".onnx"."""
    _check_format(format)
    return f".{format}"


def _check_format(format: object) -> None:
    if format not in FORMATS:
        raise ExportError(f"unknown export format {format!r}; choose one of {', '.join(FORMATS)}")


def export_program(
    program: Program, format: str, name: str = DEFAULT_NAME, wrapper: str = "none"
) -> tuple[str | bytes, bytes | None]:
    """Render a lowered Program: (code or ONNX bytes, the grid buffer's bytes or None)."""
    _check_format(format)
    if wrapper not in WRAPPERS:
        raise ExportError(f"unknown wrapper {wrapper!r}; choose one of {', '.join(WRAPPERS)}")
    if format == "onnx":
        if wrapper != "none":
            raise ExportError(f"the {wrapper} wrapper is for shader formats, not onnx")
        if not isinstance(name, str) or not name:
            raise ExportError(f"invalid model name {name!r}")
        from gfxnn.export.onnx import render_onnx

        return render_onnx(program, name), None
    language = LANGUAGES[format]
    try:
        check_function_name(name, language)
        function, buffers = render_function_with_data(program, language, name)
    except ExportError:
        raise
    except ValueError as error:
        raise ExportError(str(error)) from None
    if buffers and wrapper == "shadertoy":
        raise ExportError("the shadertoy wrapper cannot bind the grid table's buffer")
    code = wrap(function, format, name, wrapper, program.n_inputs, program.n_outputs)
    data = None
    if buffers:
        (table,) = buffers.values()
        data = table.astype("<f4").tobytes()
    return code, data


def export_with_data(
    encoding: Module,
    network: Module,
    format: str,
    name: str = DEFAULT_NAME,
    wrapper: str = "none",
) -> tuple[str | bytes, bytes | None]:
    """`export`, plus the bytes of the buffer the code reads (None when it reads none).

    A grid encoding's table (HashGrid, DenseGrid) is too large to inline: the shader reads it
    from a read-only storage buffer at set/group 0, binding 1, named NAME_grid, holding these
    bytes (little-endian float32, n_entries x n_features_per_level, entry-major).
    """
    _check_format(format)
    return export_program(lower(encoding, network), format, name, wrapper)


def export(
    encoding: Module,
    network: Module,
    format: str,
    name: str = DEFAULT_NAME,
    wrapper: str = "none",
) -> str | bytes:
    """Export network(encoding(x)) as code or an ONNX model.

    Args:
        encoding: a gfxnn.encodings Encoding: Identity, Frequency, TriangleWave,
            GaussianFourier, OneBlob or OneHot (grids: see `export_with_data`).
        network: a gfxnn.nn.MLP with any activation except softmax.
        format: "glsl", "hlsl", "wgsl" (returns str) or "onnx" (returns the model's bytes).
        name: the shader function's name (or the ONNX graph's); must be a valid identifier
            that is not reserved in the language.
        wrapper: "none" (the function alone), "compute" (a compute shader writing an image) or
            "shadertoy" (GLSL with a mainImage); see gfxnn.export.wrappers.

    Raises:
        ExportError (a ValueError): unknown format or wrapper, a component with no emitter,
            an invalid name, a model whose code needs a buffer (use `export_with_data`).
    """
    code, data = export_with_data(encoding, network, format, name, wrapper)
    if data is not None:
        raise ExportError(
            f"the {type(encoding).__name__}'s table ({len(data) // 4} floats) goes into a "
            "buffer beside the code: use gfxnn.export.export_with_data (gfxnn export -o FILE)"
        )
    return code


def export_checkpoint(
    path: str | Path, format: str, name: str = DEFAULT_NAME, wrapper: str = "none"
) -> str | bytes:
    """`export` for a checkpoint written by `gfxnn fit`.

    Raises:
        gfxnn.io.CheckpointError: unreadable file or not a `gfxnn fit` checkpoint.
        ExportError: as `export`.
    """
    _check_format(format)
    from gfxnn.fields.checkpoint import load_model

    encoding, network, _ = load_model(path)
    return export(encoding, network, format, name, wrapper)


def export_checkpoint_with_data(
    path: str | Path, format: str, name: str = DEFAULT_NAME, wrapper: str = "none"
) -> tuple[str | bytes, bytes | None]:
    """`export_with_data` for a checkpoint written by `gfxnn fit`."""
    _check_format(format)
    from gfxnn.fields.checkpoint import load_model

    encoding, network, _ = load_model(path)
    return export_with_data(encoding, network, format, name, wrapper)
