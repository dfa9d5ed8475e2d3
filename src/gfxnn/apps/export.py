"""`gfxnn export`: a `gfxnn fit` checkpoint as GLSL, HLSL or WGSL code, or as an ONNX model."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gfxnn.apps.command import (
    EXIT_OK,
    UsageError,
    check_output_file,
    discard_stdout,
    nonempty_path,
    print_result,
)
from gfxnn.apps.outputs import same_file
from gfxnn.export import DEFAULT_NAME, ExportError, export_checkpoint_with_data, suffix
from gfxnn.io import atomic_write_bytes, atomic_write_text

__all__ = ["HELP", "add_arguments", "data_path", "default_export_path", "export_command", "run"]

HELP = "export a `gfxnn fit` checkpoint as GLSL, HLSL, WGSL or ONNX"


def default_export_path(checkpoint: str | Path, format: str) -> Path:
    """Where an ONNX export goes without -o: the checkpoint's name with the .onnx suffix."""
    return Path(checkpoint).with_suffix(suffix(format))


def data_path(output: str | Path) -> Path:
    """Where the grid table goes beside code written to `output`: NAME.grid.bin."""
    return Path(output).with_suffix(".grid.bin")


def export_command(
    checkpoint: str | Path,
    format: str,
    output: str | Path | None = None,
    name: str = DEFAULT_NAME,
    wrapper: str = "none",
) -> list[Path]:
    """Export `checkpoint`; write it to `output`, or print shader code to stdout when `output`
    is None (ONNX, being binary, then goes to `default_export_path`). A grid's table goes to
    `data_path(output)` (so a grid model needs `output`). No output may replace the checkpoint.

    Returns the paths written (empty for stdout). Raises gfxnn.io.CheckpointError and
    gfxnn.export.ExportError (both ValueErrors) for bad input, OSError when writing fails.
    """
    result, data = export_checkpoint_with_data(checkpoint, format, name=name, wrapper=wrapper)
    if isinstance(result, bytes):
        path = Path(output) if output is not None else default_export_path(checkpoint, format)
        _refuse_overwriting(checkpoint, path, given=output is not None)
        atomic_write_bytes(path, result)
        return [path]
    if output is None:
        if data is not None:
            raise ExportError(
                "this model's grid table goes into a buffer file beside the code; give -o FILE"
            )
        sys.stdout.write(result)
        return []
    _refuse_overwriting(checkpoint, Path(output), given=True)
    if data is None:
        atomic_write_text(output, result)
        return [Path(output)]
    _refuse_overwriting(checkpoint, data_path(output), given=True, what="the grid table")
    atomic_write_text(output, result)
    atomic_write_bytes(data_path(output), data)
    return [Path(output), data_path(output)]


def _refuse_overwriting(
    checkpoint: str | Path, path: Path, *, given: bool, what: str = "the output"
) -> None:
    """An export must never replace the checkpoint it reads (a typo in -o loses the fit)."""
    if same_file(Path(checkpoint), path):
        how = "give another -o FILE" if given else "give -o FILE"
        raise ExportError(f"{what} {path} would replace the checkpoint {checkpoint}; {how}")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `gfxnn export`'s arguments on `parser`."""
    from gfxnn.export import FORMATS, WRAPPERS

    parser.description = (
        "Write the network of a `gfxnn fit` checkpoint as one self-contained shader function "
        "(weights inlined), optionally wrapped in a compute shader or a Shadertoy mainImage, "
        "or as an ONNX model. Shader code goes to stdout unless -o is given; ONNX goes to "
        "CHECKPOINT with the .onnx suffix unless -o is given; a grid encoding's table goes to "
        "FILE's name with the suffix .grid.bin. No output replaces the checkpoint. See "
        "docs/export.md."
    )
    parser.add_argument(
        "checkpoint", type=nonempty_path, metavar="CHECKPOINT", help="written by gfxnn fit"
    )
    parser.add_argument("--format", required=True, choices=FORMATS, help="target")
    parser.add_argument("-o", "--output", metavar="FILE", type=nonempty_path, default=None)
    parser.add_argument(
        "--name", default=DEFAULT_NAME, help=f"the shader function's name ({DEFAULT_NAME})"
    )
    parser.add_argument(
        "--wrapper",
        choices=WRAPPERS,
        default="none",
        help="none: the function alone; compute: a compute shader writing an image; "
        "shadertoy: a GLSL mainImage (default: none)",
    )


def run(args: argparse.Namespace) -> int:
    """`gfxnn export`: returns the exit code; bad input is a UsageError."""
    if args.output is not None:
        check_output_file(args.output, "-o")
    try:
        paths = export_command(args.checkpoint, args.format, args.output, args.name, args.wrapper)
    except ValueError as error:  # CheckpointError, ExportError
        raise UsageError(error) from None
    except BrokenPipeError:  # the code went to stdout and its reader left: not an error
        discard_stdout()
        return EXIT_OK
    except OSError as error:
        raise UsageError(f"cannot write {args.output}: {error.strerror or error}") from None
    for path in paths:
        print_result(f"wrote {path}")
    return EXIT_OK
