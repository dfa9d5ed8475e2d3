"""Checkpoints: exact round trips, atomic writes, and one clear error for every bad file."""

from __future__ import annotations

import json
import os
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gfxnn.io import (
    CheckpointError,
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
    parse_json,
    read_checkpoint_metadata,
    read_regular_file,
    save_checkpoint,
)

CONFIG = {"settings": {"batch_size": 2048, "learning_rate": 1e-3, "optimizer": "adam"}}


def _tensors() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    return {
        "layers.0.weight": rng.standard_normal((64, 32)).astype(np.float32),
        "layers.0.bias": np.zeros(64, dtype=np.float32),
        "double": rng.standard_normal((3, 2, 2)),
        "counts": np.arange(5, dtype=np.int64),
        "empty": np.zeros((0, 4), dtype=np.float32),
    }


@pytest.fixture
def checkpoint(tmp_path: Path) -> Path:
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, _tensors(), CONFIG, {"psnr": 25.5, "steps": 5000})
    return path


def _header_file(tmp_path: Path, header: object, data: bytes = b"") -> Path:
    raw = json.dumps(header).encode()
    path = tmp_path / "hand.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data)
    return path


META = {"format": "gfxnn-checkpoint/1", "config": "{}"}


def test_round_trip_is_exact(checkpoint: Path) -> None:
    tensors, config = load_checkpoint(checkpoint)
    expected = _tensors()
    assert set(tensors) == set(expected)
    for name, value in expected.items():
        assert tensors[name].dtype == value.dtype
        np.testing.assert_array_equal(tensors[name], value)
    assert config == CONFIG
    assert read_checkpoint_metadata(checkpoint) == {"psnr": 25.5, "steps": 5000}


def test_non_finite_metadata_becomes_null(tmp_path: Path) -> None:
    path = tmp_path / "c.safetensors"
    save_checkpoint(path, {"w": np.ones(2, np.float32)}, {"a": 1}, {"psnr": float("inf")})
    assert read_checkpoint_metadata(path) == {"psnr": None}


def test_save_rejects_what_it_cannot_store(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="unsupported dtype complex128"):
        save_checkpoint(tmp_path / "c", {"w": np.ones(2, complex)}, {})
    with pytest.raises(CheckpointError, match="not JSON"):
        save_checkpoint(tmp_path / "c", {"w": np.ones(2)}, {"f": object()})
    assert not (tmp_path / "c").exists()


def test_atomic_write_replaces_and_leaves_no_temp_files(tmp_path: Path) -> None:
    path = tmp_path / "out.txt"
    atomic_write_text(path, "first")
    atomic_write_text(path, "second")
    assert path.read_text() == "second"
    assert os.listdir(tmp_path) == ["out.txt"]


def test_failed_atomic_write_keeps_the_old_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "out.bin"
    atomic_write_bytes(path, b"old")

    def broken_replace(src: str, dst: str) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(OSError, match="No space"):
        atomic_write_bytes(path, b"new")
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_json_is_strict_json(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    atomic_write_json(path, {"psnr": float("nan"), "steps": np.int64(3), "x": [np.float32(0.5)]})
    assert json.loads(path.read_text()) == {"psnr": None, "steps": 3, "x": [0.5]}


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize("keep", [0, 5, 8, 20, 100, -1])
def test_truncated_files(checkpoint: Path, tmp_path: Path, keep: int) -> None:
    data = checkpoint.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:keep])
    with pytest.raises(CheckpointError):
        load_checkpoint(cut)


def test_huge_header_length_is_refused_without_allocating(tmp_path: Path) -> None:
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(struct.pack("<Q", 2**63) + b"{}" + b"\x00" * 100)
    with pytest.raises(CheckpointError, match="header length 9223372036854775808"):
        load_checkpoint(path)


def test_header_not_json(tmp_path: Path) -> None:
    path = tmp_path / "x.safetensors"
    path.write_bytes(struct.pack("<Q", 4) + b"\xff\xfe{[")
    with pytest.raises(CheckpointError, match="not JSON"):
        load_checkpoint(path)
    with pytest.raises(CheckpointError, match="not a JSON object"):
        load_checkpoint(_header_file(tmp_path, [1, 2, 3]))


@pytest.mark.parametrize("dtype", ["BF16", "F8_E4M3", "Q99", "object"])
def test_unknown_dtype(tmp_path: Path, dtype: str) -> None:
    header = {"__metadata__": META, "w": {"dtype": dtype, "shape": [2], "data_offsets": [0, 4]}}
    with pytest.raises(CheckpointError, match=f"unsupported dtype '{dtype}'"):
        load_checkpoint(_header_file(tmp_path, header, b"\x00" * 4))


@pytest.mark.parametrize(
    ("shape", "offsets"),
    [([4], [0, 8]), ([2], [0, 80]), ([2], [4, 0]), ([2], [-8, 0]), ([-1], [0, 8]), ("2", [0, 8])],
)
def test_offsets_that_do_not_match_the_data(tmp_path: Path, shape: object, offsets: list) -> None:
    header = {"__metadata__": META, "w": {"dtype": "F32", "shape": shape, "data_offsets": offsets}}
    with pytest.raises(CheckpointError, match="corrupt"):
        load_checkpoint(_header_file(tmp_path, header, b"\x00" * 8))


def test_foreign_safetensors_file(tmp_path: Path) -> None:
    from safetensors.numpy import save_file

    path = tmp_path / "foreign.safetensors"
    save_file({"w": np.ones(3, np.float32)}, str(path))
    with pytest.raises(CheckpointError, match="not a gfxnn checkpoint"):
        load_checkpoint(path)


@pytest.mark.parametrize("config", ["{not json", "[1, 2]", None])
def test_bad_config(tmp_path: Path, config: str | None) -> None:
    meta = {"format": "gfxnn-checkpoint/1"}
    if config is not None:
        meta["config"] = config
    header = {"__metadata__": meta, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    with pytest.raises(CheckpointError, match="config"):
        load_checkpoint(_header_file(tmp_path, header, b"\x00" * 4))


class _Payload:
    """Unpickling this would create a file: proof that code ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_pickles_are_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    for name, data in [
        ("model.safetensors", pickle.dumps(_Payload(str(marker)))),
        ("model.npz", pickle.dumps({"w": _Payload(str(marker))})),
    ]:
        path = tmp_path / name
        path.write_bytes(data)
        with pytest.raises(CheckpointError):
            load_checkpoint(path)
    assert not marker.exists()


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_any_corruption_loads_or_raises_checkpoint_error(
    tmp_path: Path, data: st.DataObject
) -> None:
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, {"w": np.arange(6, dtype=np.float32).reshape(2, 3)}, CONFIG)
    raw = bytearray(path.read_bytes())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        raw[position] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    path.write_bytes(bytes(raw[:cut]))
    try:
        tensors, config = load_checkpoint(path)
    except CheckpointError as error:
        assert "\n" not in str(error)
    else:
        assert isinstance(config, dict)
        assert all(isinstance(value, np.ndarray) for value in tensors.values())


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1" * 5000, "integer literal of 5000 digits"),
        ('{"n": -' + "9" * 4301 + "}", "integer literal of 4301 digits"),
        ("[" * 100_000 + "]" * 100_000, "nested too deep"),  # RecursionError inside json
        ("[" * 101 + "]" * 101, "nested too deep"),  # parses, but deeper than the bound
        ('{"a": ' * 101 + "1" + "}" * 101, "nested too deep"),
        ('{"lr": NaN}', "NaN is not a JSON number"),
        ("[Infinity]", "Infinity is not a JSON number"),
        ("1e400", "out of range for a float"),
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ("{not json", "is not valid JSON: Expecting property name"),
        (b"\xff\xfe", "not UTF-8"),
    ],
)
def test_parse_json_refuses_with_a_value_error_naming_the_source(
    text: str | bytes, reason: str
) -> None:
    with pytest.raises(ValueError, match=reason) as caught:
        parse_json(text, "config.json")
    assert type(caught.value) is ValueError  # not JSONDecodeError, not RecursionError
    assert str(caught.value).startswith("config.json")
    assert "\n" not in str(caught.value)


def test_parse_json_accepts_what_configs_hold() -> None:
    text = '{"a": [1, 2.5, -3e2, "x", true, null], "b": {"c": {"d": []}}, "n": ' + "9" * 4300 + "}"
    assert parse_json(text.encode("utf-8"), "s")["a"] == [1, 2.5, -300.0, "x", True, None]
    assert parse_json("[" * 100 + "]" * 100, "s") is not None
    assert parse_json(b"\xef\xbb\xbf{}", "s") == {}  # a BOM from a Windows editor


@pytest.mark.parametrize(
    ("config", "reason"),
    [
        ('{"n": ' + "1" * 5000 + "}", "5000 digits"),
        ('{"a": ' * 100_000 + "1" + "}" * 100_000, "nested too deep"),
    ],
)
def test_hostile_checkpoint_config_is_a_checkpoint_error(
    tmp_path: Path, config: str, reason: str
) -> None:
    meta = {"format": "gfxnn-checkpoint/1", "config": config}
    header = {"__metadata__": meta, "w": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]}}
    with pytest.raises(CheckpointError, match=reason) as caught:
        load_checkpoint(_header_file(tmp_path, header, b"\x00" * 4))
    assert "hand.safetensors" in str(caught.value)


# ----- issue 15: output modes, missing directories, files that are not files --------------------
@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX modes")
@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_atomic_writes_honour_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        save_checkpoint(tmp_path / "c.safetensors", {"w": np.ones(2, np.float32)}, {})
    finally:
        os.umask(old)
    for name in ("a.txt", "c.safetensors"):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX modes")
def test_atomic_write_keeps_the_mode_of_the_file_it_replaces(tmp_path: Path) -> None:
    path = tmp_path / "shared.json"
    path.write_text("{}")
    path.chmod(0o640)
    atomic_write_json(path, {"a": 1})
    assert path.stat().st_mode & 0o777 == 0o640


def test_save_into_a_missing_directory_names_the_target(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "model.safetensors"
    with pytest.raises(FileNotFoundError) as caught:
        save_checkpoint(target, {"w": np.ones(2, np.float32)}, {})
    assert caught.value.filename == str(target)
    assert ".tmp" not in str(caught.value)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "model.safetensors"
    os.mkfifo(fifo)
    with pytest.raises(CheckpointError, match=r"is a FIFO \(named pipe\), not a checkpoint"):
        load_checkpoint(fifo)  # before the fix: open() waits for a writer for ever


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_before_reading() -> None:
    with pytest.raises(CheckpointError, match="/dev/zero is a character device"):
        load_checkpoint("/dev/zero")  # before the fix: read until memory runs out


def test_read_regular_file_bounds_the_read(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(b"x" * 101)
    with pytest.raises(ValueError, match="101 bytes, over the limit of 100 bytes for a blob"):
        read_regular_file(path, 100, noun="blob")
    assert read_regular_file(path, 101) == b"x" * 101

    # A file that grows between the stat and the read is cut at the bound, then refused.
    def claims_10_bytes(real):
        return lambda *args, **kwargs: os.stat_result((*real(*args, **kwargs)[:6], 10, 0, 0, 0))

    monkeypatch.setattr(os, "stat", claims_10_bytes(os.stat))
    monkeypatch.setattr(os, "fstat", claims_10_bytes(os.fstat))
    with pytest.raises(ValueError, match="grew past the limit of 100 bytes"):
        read_regular_file(path, 100)


# ----- the same classes of fault, found beyond issue 15's cases ----------------------------------
def _nested(depth: int) -> dict:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value  # type: ignore[return-value]


@pytest.mark.parametrize("depth", [150, 5000])
def test_save_refuses_a_config_that_load_would_refuse(tmp_path: Path, depth: int) -> None:
    """Before: 150 levels were written and then refused by load_checkpoint (a checkpoint that
    cannot be read back); 5000 levels gave a RecursionError from the encoder."""
    target = tmp_path / "deep.safetensors"
    with pytest.raises(CheckpointError, match="config nests deeper than 100 levels"):
        save_checkpoint(target, {"w": np.ones(2, np.float32)}, _nested(depth))
    assert not target.exists()
    save_checkpoint(target, {"w": np.ones(2, np.float32)}, _nested(99))
    assert load_checkpoint(target)[1] == _nested(99)


def test_save_refuses_a_structure_that_contains_itself(tmp_path: Path) -> None:
    config: dict = {"a": []}
    config["a"].append(config)
    with pytest.raises(CheckpointError, match="contains itself"):
        save_checkpoint(tmp_path / "c", {"w": np.ones(2)}, config)
    with pytest.raises(ValueError, match="contains itself"):
        atomic_write_json(tmp_path / "m.json", config)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    ("tensors", "metadata", "message"),
    [
        ([np.ones(2)], None, "tensors must be a dict of arrays, got list"),
        (None, None, "tensors must be a dict of arrays, got NoneType"),
        ({"w": np.ones(2)}, [1, 2], "metadata must be a dict or None, got list"),
    ],
)
def test_save_refuses_wrong_container_types(
    tmp_path: Path, tensors: object, metadata: object, message: str
) -> None:
    """Before: AttributeError for the tensors; a list as metadata was written, and the file
    was then unreadable ("its metadata is not a JSON object")."""
    with pytest.raises(CheckpointError, match=message):
        save_checkpoint(tmp_path / "c", tensors, {}, metadata)  # type: ignore[arg-type]
    assert os.listdir(tmp_path) == []


def test_an_empty_path_is_not_the_current_directory() -> None:
    with pytest.raises(CheckpointError, match="the checkpoint path is empty"):
        load_checkpoint("")
