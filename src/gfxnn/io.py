"""Checkpoints and output files: safetensors + JSON, written atomically, loaded without pickle.

A checkpoint is one safetensors file: the tensors (float weights) plus, in the safetensors
header's string metadata, a JSON `config` (what rebuilds the model) and optional JSON
`metadata` (what the run measured). safetensors is a plain format (an 8-byte header length, a
JSON header, raw little-endian bytes), so loading runs no code. Before handing a file to the
safetensors library we check the header ourselves, so that a truncated, corrupt or hostile
file (a header length of terabytes, a dtype we do not know, offsets outside the file) gives one
clear `CheckpointError` instead of a crash or a huge allocation.

Every file we write goes through `atomic_write_bytes`: a temporary file in the same directory,
flushed, then `os.replace`d over the target, so a crash never leaves half a file behind.

Every JSON text from outside (checkpoint configs, CLI --config, studio messages) goes through
`parse_json`, which turns the inputs that escape `json.loads`'s own error (integer literals past
Python's 4300-digit conversion limit, nesting deep enough for a RecursionError, NaN/Infinity,
duplicate keys) into one ValueError naming where the text came from.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import stat
import struct
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "CHECKPOINT_FORMAT",
    "CheckpointError",
    "atomic_write_bytes",
    "atomic_write_json",
    "atomic_write_text",
    "load_checkpoint",
    "parse_json",
    "read_checkpoint_metadata",
    "read_regular_file",
    "save_checkpoint",
]

CHECKPOINT_FORMAT = "gfxnn-checkpoint/1"
"""Value of the "format" metadata key; files without it are not gfxnn checkpoints."""

MAX_HEADER_BYTES = 100 * 1024 * 1024  # the safetensors library's own limit
MAX_CHECKPOINT_BYTES = 4 * 1024**3

# safetensors dtype names that NumPy can hold (a dtype carries its own item size).
_DTYPES: dict[str, np.dtype] = {
    "F16": np.dtype("<f2"),
    "F32": np.dtype("<f4"),
    "F64": np.dtype("<f8"),
    "I8": np.dtype("i1"),
    "I16": np.dtype("<i2"),
    "I32": np.dtype("<i4"),
    "I64": np.dtype("<i8"),
    "U8": np.dtype("u1"),
    "U16": np.dtype("<u2"),
    "U32": np.dtype("<u4"),
    "U64": np.dtype("<u8"),
    "BOOL": np.dtype("bool"),
}


MAX_JSON_DEPTH = 100
"""Deepest nesting `parse_json` accepts; our configs and messages nest fewer than 10 levels."""

MAX_JSON_INT_DIGITS = 4300
"""Longest integer literal `parse_json` accepts (Python's default int/str conversion limit)."""


class CheckpointError(ValueError):
    """A checkpoint that cannot be loaded (or saved); the message names the file and the cause."""


def parse_json(text: str | bytes, source: str, *, max_depth: int = MAX_JSON_DEPTH) -> Any:
    """Parse one JSON text from outside; every way it can be bad is a ValueError naming `source`.

    Beyond `json.loads` this refuses: integer literals over MAX_JSON_INT_DIGITS digits (json
    raises a bare ValueError from int() for those, which handlers of JSONDecodeError miss),
    nesting deeper than `max_depth` (json raises RecursionError), NaN/Infinity (not JSON),
    numbers that overflow a float (1e400), duplicate object keys (which one wins is up to the
    parser), and bytes that are not UTF-8.

    Args:
        text: the JSON text (bytes are decoded as UTF-8; a leading BOM is allowed).
        source: what the text is, for the message (a path, "--config", "WebSocket message").
        max_depth: the deepest nesting of arrays/objects allowed.
    """
    if isinstance(text, bytes | bytearray):
        try:
            text = bytes(text).decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise ValueError(
                f"{source} is not valid JSON: not UTF-8 (byte {error.start})"
            ) from None
    try:
        value = json.loads(
            text,
            parse_int=lambda literal: _parse_int(literal, source),
            parse_float=lambda literal: _parse_float(literal, source),
            parse_constant=lambda name: _refuse_constant(name, source),
            object_pairs_hook=lambda pairs: _object(pairs, source),
        )
    except json.JSONDecodeError as error:
        raise ValueError(
            f"{source} is not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
        ) from None
    except RecursionError:
        raise ValueError(f"{source}: JSON nested too deep (limit {max_depth} levels)") from None
    # Only a text with more openers than max_depth can nest that deep; skip the walk otherwise.
    if text.count("[") + text.count("{") > max_depth and _deeper_than(value, max_depth):
        raise ValueError(f"{source}: JSON nested too deep (limit {max_depth} levels)")
    return value


def _parse_int(literal: str, source: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > min(MAX_JSON_INT_DIGITS, sys.get_int_max_str_digits() or MAX_JSON_INT_DIGITS):
        raise ValueError(
            f"{source}: integer literal of {digits} digits is too long "
            f"(limit {MAX_JSON_INT_DIGITS} digits)"
        )
    return int(literal)


def _parse_float(literal: str, source: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        shown = literal if len(literal) <= 20 else literal[:17] + "..."
        raise ValueError(f"{source}: number {shown} is out of range for a float")
    return value


def _refuse_constant(name: str, source: str) -> Any:
    # Python's json accepts NaN and Infinity, which JSON does not have.
    raise ValueError(f"{source} is not valid JSON: {name} is not a JSON number")


def _object(pairs: list[tuple[str, Any]], source: str) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise ValueError(f"{source}: duplicate key {key!r} in a JSON object")
            seen.add(key)
    return result


def _deeper_than(value: Any, limit: int) -> bool:
    """True when dicts/lists/tuples nest more than `limit` levels (a scalar is 0 levels).
    Iterative, so no recursion limit is hit, and it stops at limit + 1, so a structure that
    contains itself ends the walk too."""
    stack = [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, dict):
            children = list(node.values())
        elif isinstance(node, list | tuple):
            children = list(node)
        else:
            continue
        if level > limit:
            return True
        stack.extend((child, level + 1) for child in children)
    return False


def _check_writable_json(value: Any, what: str, error: type[ValueError]) -> None:
    # What we write, parse_json must read back: the same depth limit on both sides (and no
    # RecursionError from the encoder for a deep or self-referencing structure).
    if _deeper_than(value, MAX_JSON_DEPTH):
        raise error(f"{what} nests deeper than {MAX_JSON_DEPTH} levels (or contains itself)")


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically: temp file in the same directory, fsync, os.replace.

    The file gets the mode a plain open() would give it (0666 less the umask, or the mode of
    the file it replaces), not mkstemp's private 0600. An OSError names `path`, never the
    temporary file.
    """
    path = Path(path)
    try:
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as error:  # e.g. a missing directory: say which file could not be written
        raise type(error)(error.errno, error.strerror, str(path)) from None
    try:
        with os.fdopen(fd, "wb") as handle:
            if hasattr(os, "fchmod"):
                os.fchmod(handle.fileno(), _file_mode(path))
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException as error:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        if isinstance(error, OSError) and error.errno is not None:
            raise type(error)(error.errno, error.strerror, str(path)) from None
        raise


_UMASK_LOCK = threading.Lock()


def _file_mode(path: Path) -> int:
    """The permission bits open(path, "w") would leave: an existing file's own, else the
    umask's."""
    with contextlib.suppress(OSError):
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode):
            return stat.S_IMODE(info.st_mode)
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask. Linux shows it in /proc (no side effect); elsewhere it can only be
    read by setting it, which a lock keeps from racing with another writer of ours."""
    with contextlib.suppress(OSError, ValueError), open("/proc/self/status") as status:
        for line in status:
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Write `obj` as indented JSON atomically; NaN/inf floats become null (JSON has none).

    Lists of plain values stay on one line, so a history of [step, psnr] pairs reads as rows.
    """
    _check_writable_json(obj, f"the JSON for {Path(path).name}", ValueError)
    atomic_write_text(path, _dumps(_json_safe(obj), 0) + "\n")


def _dumps(obj: Any, depth: int) -> str:
    inner, outer = "  " * (depth + 1), "  " * depth
    if isinstance(obj, dict) and obj:
        items = [f"{inner}{json.dumps(k)}: {_dumps(v, depth + 1)}" for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + f"\n{outer}}}"
    if isinstance(obj, list) and any(isinstance(v, dict | list) and v for v in obj):
        rows = [f"{inner}{_dumps(v, depth + 1)}" for v in obj]
        return "[\n" + ",\n".join(rows) + f"\n{outer}]"
    return json.dumps(obj, allow_nan=False)


def _json_safe(obj: Any) -> Any:
    if isinstance(obj, float | np.floating):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, dict):
        return {str(key): _json_safe(value) for key, value in obj.items()}
    if isinstance(obj, list | tuple):
        return [_json_safe(value) for value in obj]
    return obj


def save_checkpoint(
    path: str | Path,
    tensors: dict[str, np.ndarray],
    config: dict,
    metadata: dict | None = None,
) -> None:
    """Save tensors plus a JSON config (and optional JSON metadata) as one safetensors file.

    Args:
        path: target file (conventionally `*.safetensors`); replaced atomically.
        tensors: name -> array; any NumPy numeric or bool dtype safetensors supports.
        config: JSON-able dict that rebuilds the model (e.g. FitSettings.to_dict()).
        metadata: optional JSON-able dict (metrics, provenance).

    Raises:
        CheckpointError: a tensor or the config cannot be stored.
        OSError: the file cannot be written.
    """
    from safetensors.numpy import save

    if not isinstance(tensors, dict):
        raise CheckpointError(f"tensors must be a dict of arrays, got {type(tensors).__name__}")
    if not isinstance(config, dict):
        raise CheckpointError(f"config must be a dict, got {type(config).__name__}")
    if metadata is not None and not isinstance(metadata, dict):
        # load_checkpoint reads only an object back: a list here would make the file unreadable
        raise CheckpointError(f"metadata must be a dict or None, got {type(metadata).__name__}")
    _check_writable_json(config, "the checkpoint's config", CheckpointError)
    _check_writable_json(metadata or {}, "the checkpoint's metadata", CheckpointError)
    arrays: dict[str, np.ndarray] = {}
    for name, value in tensors.items():
        if not isinstance(name, str) or not name or name == "__metadata__":
            raise CheckpointError(f"invalid tensor name {name!r}")
        array = np.asarray(value)
        if _dtype_name(array.dtype) is None:
            raise CheckpointError(f"tensor {name!r} has unsupported dtype {array.dtype}")
        arrays[name] = np.ascontiguousarray(array.astype(array.dtype.newbyteorder("<")))
    header = {"format": CHECKPOINT_FORMAT}
    try:
        header["config"] = json.dumps(_json_safe(config), allow_nan=False)
        header["metadata"] = json.dumps(_json_safe(metadata or {}), allow_nan=False)
    except (TypeError, ValueError) as error:
        raise CheckpointError(f"config/metadata is not JSON-serialisable: {error}") from None
    atomic_write_bytes(path, save(arrays, metadata=header))


def _dtype_name(dtype: np.dtype) -> str | None:
    for name, known in _DTYPES.items():
        if dtype.kind == known.kind and dtype.itemsize == known.itemsize:
            return name
    return None


def load_checkpoint(path: str | Path) -> tuple[dict[str, np.ndarray], dict]:
    """Load a checkpoint saved by `save_checkpoint`: (tensors, config).

    Never unpickles and never executes anything from the file. Raises `CheckpointError` with a
    one-line reason for a missing, truncated, corrupt, hostile or foreign file.
    """
    tensors, config, _ = _load(_checkpoint_path(path))
    return tensors, config


def read_checkpoint_metadata(path: str | Path) -> dict:
    """The JSON metadata stored with a checkpoint (empty dict if none)."""
    return _load(_checkpoint_path(path))[2]


def _checkpoint_path(path: str | Path) -> Path:
    if isinstance(path, str) and not path.strip():
        raise CheckpointError("the checkpoint path is empty")  # Path("") is the current directory
    return Path(path)


def _load(path: Path) -> tuple[dict[str, np.ndarray], dict, dict]:
    from safetensors import SafetensorError
    from safetensors.numpy import load

    data = _read_bytes(path)
    header = _parse_header(path, data)
    strings = header.get("__metadata__") or {}
    if strings.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is a safetensors file but not a gfxnn checkpoint "
            f"(metadata 'format' is {strings.get('format')!r}, expected {CHECKPOINT_FORMAT!r})"
        )
    config = _json_field(path, strings, "config")
    metadata = _json_field(path, strings, "metadata")
    try:
        tensors = load(data)
    except (SafetensorError, ValueError, TypeError, OverflowError) as error:
        raise CheckpointError(f"{path} is corrupt: {error}") from None
    return tensors, config, metadata


def _read_bytes(path: Path) -> bytes:
    return read_regular_file(path, MAX_CHECKPOINT_BYTES, noun="checkpoint", error=CheckpointError)


_NOT_REGULAR = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def read_regular_file(
    path: str | Path,
    max_bytes: int,
    *,
    noun: str = "file",
    error: type[ValueError] = ValueError,
) -> bytes:
    """The whole content of a regular file of at most `max_bytes`; anything else is refused
    with one `error(message)` naming the path, before a byte is read.

    `os.stat` (which never opens the file) refuses directories, FIFOs, devices (/dev/zero
    would be read until memory runs out; a FIFO would block until a writer comes) and files
    over the limit. The file is then opened non-blocking (so a path swapped for a FIFO after
    the stat cannot hang us either), checked again with fstat, and read with a bound, so a file
    growing meanwhile is refused too.

    Args:
        path: the file.
        max_bytes: the largest size accepted.
        noun: what the file should be, for messages ("checkpoint", "image file").
        error: the exception class raised (a ValueError subclass, e.g. CheckpointError).
    """
    if isinstance(path, str) and not path.strip():
        raise error(f"the {noun} path is empty")  # Path("") would mean the current directory
    path = Path(path)
    article = "an" if noun[:1].lower() in "aeiou" else "a"
    try:
        _check_regular(path, os.stat(path), max_bytes, noun, article, error)
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
        with os.fdopen(os.open(path, flags | getattr(os, "O_CLOEXEC", 0)), "rb") as handle:
            _check_regular(path, os.fstat(handle.fileno()), max_bytes, noun, article, error)
            data = handle.read(max_bytes + 1)
    except (FileNotFoundError, NotADirectoryError):
        raise error(f"{noun} not found: {path}") from None
    except PermissionError:
        raise error(f"cannot read {path}: permission denied") from None
    except OSError as failure:
        raise error(f"cannot read {path}: {failure.strerror or failure}") from None
    if len(data) > max_bytes:
        raise error(f"{path} grew past the limit of {max_bytes} bytes while it was read")
    return data


def _check_regular(
    path: Path,
    info: os.stat_result,
    max_bytes: int,
    noun: str,
    article: str,
    error: type[ValueError],
) -> None:
    for test, kind in _NOT_REGULAR:
        if test(info.st_mode):
            raise error(f"{path} is {kind}, not {article} {noun}")
    if not stat.S_ISREG(info.st_mode):
        raise error(f"{path} is not a regular file, not {article} {noun}")
    if info.st_size > max_bytes:
        raise error(
            f"{path} is {info.st_size} bytes, over the limit of {max_bytes} bytes for "
            f"{article} {noun}"
        )


def _parse_header(path: Path, data: bytes) -> dict:
    """Check the safetensors header: sane length, JSON object, known dtypes, in-bounds offsets."""
    if len(data) < 8:
        raise CheckpointError(f"{path} is not a checkpoint: only {len(data)} bytes (truncated?)")
    (header_length,) = struct.unpack("<Q", data[:8])
    if header_length > min(MAX_HEADER_BYTES, len(data) - 8):
        raise CheckpointError(
            f"{path} is truncated or not a safetensors file: header length {header_length} "
            f"does not fit in a {len(data)}-byte file"
        )
    try:
        header = parse_json(data[8 : 8 + header_length], f"{path}'s header")
    except ValueError as error:
        raise CheckpointError(
            f"{path} is not a safetensors file: header is not JSON ({error})"
        ) from None
    if not isinstance(header, dict):
        raise CheckpointError(f"{path} is corrupt: header is not a JSON object")
    n_data = len(data) - 8 - header_length
    for name, entry in header.items():
        if name == "__metadata__":
            if not isinstance(entry, dict) or not all(isinstance(v, str) for v in entry.values()):
                raise CheckpointError(f"{path} is corrupt: __metadata__ must map strings")
            continue
        _check_entry(path, name, entry, n_data)
    return header


def _check_entry(path: Path, name: str, entry: Any, n_data: int) -> None:
    if not isinstance(entry, dict) or set(entry) != {"dtype", "shape", "data_offsets"}:
        raise CheckpointError(f"{path} is corrupt: bad header entry for tensor {name!r}")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if dtype not in _DTYPES:
        raise CheckpointError(
            f"{path}: tensor {name!r} has unsupported dtype {dtype!r}; "
            f"allowed: {', '.join(_DTYPES)}"
        )
    valid_shape = isinstance(shape, list) and all(
        isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**40 for n in shape
    )
    valid_offsets = (
        isinstance(offsets, list)
        and len(offsets) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in offsets)
    )
    if not valid_shape or not valid_offsets:
        raise CheckpointError(f"{path} is corrupt: bad shape or offsets for tensor {name!r}")
    begin, end = offsets
    n_bytes = math.prod(shape) * _DTYPES[dtype].itemsize
    if not 0 <= begin <= end <= n_data or end - begin != n_bytes:
        raise CheckpointError(
            f"{path} is truncated or corrupt: tensor {name!r} ({dtype} {shape}) needs "
            f"{n_bytes} bytes at {begin}..{end}, the file holds {n_data} data bytes"
        )


def _json_field(path: Path, strings: dict, key: str) -> dict:
    text = strings.get(key, "{}" if key == "metadata" else None)
    if text is None:
        raise CheckpointError(f"{path} is corrupt: it has no {key}")
    try:
        value = parse_json(text, f"{path}'s {key}")
    except ValueError as error:
        raise CheckpointError(f"{path} is corrupt: its {key} is not valid JSON: {error}") from None
    if not isinstance(value, dict):
        raise CheckpointError(f"{path} is corrupt: its {key} is not a JSON object")
    return value
