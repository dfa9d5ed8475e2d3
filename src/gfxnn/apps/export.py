"""`gfxnn export`: a `gfxnn fit` checkpoint as GLSL, HLSL or WGSL code, or as an ONNX model."""

from __future__ import annotations

import sys
from pathlib import Path

from gfxnn.export import DEFAULT_NAME, export_checkpoint, suffix
from gfxnn.io import atomic_write_bytes, atomic_write_text

__all__ = ["default_export_path", "export_command"]


def default_export_path(checkpoint: str | Path, format: str) -> Path:
    """Where an ONNX export goes without -o: the checkpoint's name with the .onnx suffix."""
    return Path(checkpoint).with_suffix(suffix(format))


def export_command(
    checkpoint: str | Path,
    format: str,
    output: str | Path | None = None,
    name: str = DEFAULT_NAME,
    wrapper: str = "none",
) -> Path | None:
    """Export `checkpoint`; write it to `output`, or print shader code to stdout when `output`
    is None (ONNX, being binary, then goes to `default_export_path`).

    Returns the path written (None for stdout). Raises gfxnn.io.CheckpointError and
    gfxnn.export.ExportError (both ValueErrors) for bad input, OSError when writing fails.
    """
    result = export_checkpoint(checkpoint, format, name=name, wrapper=wrapper)
    if isinstance(result, bytes):
        path = Path(output) if output is not None else default_export_path(checkpoint, format)
        atomic_write_bytes(path, result)
        return path
    if output is None:
        sys.stdout.write(result)
        return None
    atomic_write_text(output, result)
    return Path(output)
