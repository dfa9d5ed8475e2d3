"""IDX files, the format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).

An IDX file is a 4-byte magic number (two zero bytes, a type code, the number of
dimensions), one big-endian uint32 per dimension, then the values in C order, big-endian.
The datasets ship gzip-compressed; `read_idx` reads either form. Every inconsistency (wrong
magic, unknown type code, sizes that do not match the file) is an `IDXError` naming the file.
"""

from __future__ import annotations

import gzip
import io
import math
import struct
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.io import atomic_write_bytes, read_regular_file

__all__ = ["IDXError", "read_idx", "write_idx"]

# type code -> big-endian dtype
IDX_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

# Refuse files whose header promises more than this (a guard against hostile headers and
# gzip bombs; the full MNIST training images are 47 MB).
DEFAULT_MAX_BYTES = 2**31

_GZIP_MAGIC = b"\x1f\x8b"


class IDXError(ValueError):
    """A file that is not a valid IDX file; the message names the file and the problem."""


def read_idx(path: str | Path, max_bytes: int = DEFAULT_MAX_BYTES) -> np.ndarray:
    """Read an IDX file (optionally gzip-compressed) into an array.

    Args:
        path: the file, e.g. "train-images-idx3-ubyte.gz"; gzip is recognised by content.
        max_bytes: the largest data size accepted.

    Returns:
        An array of the shape the header gives (e.g. (60000, 28, 28) uint8 for MNIST
        images, (60000,) uint8 for labels) in native byte order.
    """
    path = Path(path)
    # A regular file only (a FIFO would block, /dev/zero never end), of at most the data limit
    # plus the largest header (4 bytes of magic, 255 dimensions of 4 bytes).
    raw = io.BytesIO(read_regular_file(path, max_bytes + 1024, noun="IDX file", error=IDXError))
    try:
        if raw.read(2) == _GZIP_MAGIC:
            raw.seek(0)
            with gzip.GzipFile(fileobj=raw) as handle:
                return _read_stream(path, handle, max_bytes)
        raw.seek(0)
        return _read_stream(path, raw, max_bytes)
    except (EOFError, zlib.error, gzip.BadGzipFile) as error:
        # gzip raises these for a damaged or cut-off compressed stream.
        raise IDXError(f"{path}: damaged or truncated gzip data ({error})") from None


def _read_exactly(path: Path, handle: Any, n_bytes: int, what: str) -> bytes:
    data = handle.read(n_bytes)
    if len(data) != n_bytes:
        raise IDXError(
            f"{path} is truncated: {what} needs {n_bytes} bytes, the file has {len(data)}"
        )
    return data


def _read_stream(path: Path, handle: Any, max_bytes: int) -> np.ndarray:
    magic = _read_exactly(path, handle, 4, "the magic number")
    if magic[:2] != b"\x00\x00":
        raise IDXError(
            f"{path} is not an IDX file: its magic number {magic.hex()} does not start with "
            "two zero bytes"
        )
    type_code, n_dims = magic[2], magic[3]
    if type_code not in IDX_DTYPES:
        known = ", ".join(f"0x{code:02X}" for code in IDX_DTYPES)
        raise IDXError(f"{path}: unknown IDX type code 0x{type_code:02X}; known: {known}")
    if n_dims == 0:
        raise IDXError(f"{path}: the IDX header declares 0 dimensions")
    shape = struct.unpack(f">{n_dims}I", _read_exactly(path, handle, 4 * n_dims, "the shape"))
    dtype = IDX_DTYPES[type_code]
    n_bytes = math.prod(shape) * dtype.itemsize
    if n_bytes > max_bytes:
        raise IDXError(
            f"{path}: the header declares shape {shape} ({n_bytes} bytes), more than the "
            f"limit of {max_bytes} bytes"
        )
    data = _read_exactly(path, handle, n_bytes, f"shape {shape} of {dtype.name}")
    if handle.read(1):
        raise IDXError(f"{path} has data after the {n_bytes} bytes its shape {shape} declares")
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(dtype.newbyteorder("="))


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write `array` as an IDX file (gzip-compressed when the name ends in .gz by default).

    The dtype must be one IDX can hold: uint8, int8, int16, int32, float32 or float64.
    """
    path = Path(path)
    array = np.asarray(array)
    codes = [
        code
        for code, dtype in IDX_DTYPES.items()
        if array.dtype.kind == dtype.kind and array.dtype.itemsize == dtype.itemsize
    ]
    if not codes:
        raise TypeError(
            f"IDX cannot hold dtype {array.dtype}; use uint8, int8, int16, int32, float32 "
            "or float64"
        )
    if not 1 <= array.ndim <= 255:
        raise ValueError(f"IDX holds arrays of 1 to 255 dimensions, got {array.ndim}")
    code = codes[0]
    dtype = IDX_DTYPES[code]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    payload = header + np.ascontiguousarray(array, dtype=dtype).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    atomic_write_bytes(path, gzip.compress(payload, mtime=0) if compress else payload)
