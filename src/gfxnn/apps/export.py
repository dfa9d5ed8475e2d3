"""`gfxnn export`: a `gfxnn fit` checkpoint as GLSL, HLSL or WGSL code, or as an ONNX model."""

from __future__ import annotations

import sys
from pathlib import Path

from gfxnn.export import DEFAULT_NAME, ExportError, export_checkpoint_with_data, suffix
from gfxnn.io import atomic_write_bytes, atomic_write_text

__all__ = ["data_path", "default_export_path", "export_command"]


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
    `data_path(output)` (so a grid model needs `output`).

    Returns the paths written (empty for stdout). Raises gfxnn.io.CheckpointError and
    gfxnn.export.ExportError (both ValueErrors) for bad input, OSError when writing fails.
    """
    result, data = export_checkpoint_with_data(checkpoint, format, name=name, wrapper=wrapper)
    if isinstance(result, bytes):
        path = Path(output) if output is not None else default_export_path(checkpoint, format)
        atomic_write_bytes(path, result)
        return [path]
    if output is None:
        if data is not None:
            raise ExportError(
                "this model's grid table goes into a buffer file beside the code; give -o FILE"
            )
        sys.stdout.write(result)
        return []
    atomic_write_text(output, result)
    if data is None:
        return [Path(output)]
    atomic_write_bytes(data_path(output), data)
    return [Path(output), data_path(output)]
