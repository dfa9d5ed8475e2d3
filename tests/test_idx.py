"""IDX files (MNIST's format): round trips, gzip, and clear errors for broken files."""

from __future__ import annotations

import gzip
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from gfxnn.data import IDXError, read_idx, write_idx


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
@pytest.mark.parametrize("name", ["data-idx", "data-idx.gz"])
def test_round_trip(tmp_path: Path, dtype: type, name: str) -> None:
    array = (np.arange(2 * 3 * 4) * 3 - 7).reshape(2, 3, 4).astype(dtype)
    path = tmp_path / name
    write_idx(path, array)
    assert (path.read_bytes()[:2] == b"\x1f\x8b") == name.endswith(".gz")
    loaded = read_idx(path)
    assert loaded.dtype == array.dtype and loaded.dtype.isnative
    np.testing.assert_array_equal(loaded, array)


def test_reads_the_mnist_layout_by_hand(tmp_path: Path) -> None:
    # MNIST labels: magic 0x00000801 (ubyte, 1 dimension), count, then the labels.
    labels = bytes([5, 0, 4, 1, 9])
    (tmp_path / "labels").write_bytes(struct.pack(">II", 0x801, 5) + labels)
    np.testing.assert_array_equal(read_idx(tmp_path / "labels"), [5, 0, 4, 1, 9])
    # MNIST images: magic 0x00000803 (ubyte, 3 dimensions), count, rows, columns; big-endian.
    pixels = np.arange(2 * 3 * 2, dtype=np.uint8)
    header = struct.pack(">IIII", 0x803, 2, 3, 2)
    (tmp_path / "images.gz").write_bytes(gzip.compress(header + pixels.tobytes()))
    np.testing.assert_array_equal(read_idx(tmp_path / "images.gz"), pixels.reshape(2, 3, 2))
    # int16 values are big-endian in the file.
    (tmp_path / "shorts").write_bytes(struct.pack(">IIhh", 0xB01, 2, -2, 300))
    np.testing.assert_array_equal(read_idx(tmp_path / "shorts"), [-2, 300])


def _valid_bytes() -> bytes:
    return struct.pack(">III", 0x802, 3, 4) + bytes(range(12))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x00\x00", r"truncated: the magic number needs 4 bytes"),
        (b"\x01\x02\x08\x01" + bytes(8), r"not an IDX file: its magic number 01020801"),
        (struct.pack(">II", 0x0A01, 1) + b"\x00", r"unknown IDX type code 0x0A"),
        (struct.pack(">I", 0x800), r"declares 0 dimensions"),
        (struct.pack(">II", 0x803, 2), r"truncated: the shape needs 12 bytes, the file has 4"),
        (_valid_bytes()[:-3], r"truncated: shape \(3, 4\) of uint8 needs 12 bytes.*has 9"),
        (_valid_bytes() + b"\x00", r"data after the 12 bytes"),
        (struct.pack(">IIII", 0x803, 60000, 60000, 60000), r"more than the limit"),
    ],
)
def test_broken_files_raise_clear_errors(tmp_path: Path, content: bytes, message: str) -> None:
    for name, data in [("plain", content), ("zipped.gz", gzip.compress(content))]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(IDXError, match=message):
            read_idx(tmp_path / name)


def test_truncated_gzip_and_missing_files(tmp_path: Path) -> None:
    (tmp_path / "cut.gz").write_bytes(gzip.compress(_valid_bytes())[:-12])
    with pytest.raises(IDXError, match="damaged or truncated gzip"):
        read_idx(tmp_path / "cut.gz")
    with pytest.raises(IDXError, match="not found"):
        read_idx(tmp_path / "nothing")
    with pytest.raises(IDXError, match="is a directory"):
        read_idx(tmp_path)
    assert issubclass(IDXError, ValueError)


def test_write_rejects_what_idx_cannot_hold(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="IDX cannot hold dtype int64"):
        write_idx(tmp_path / "x", np.zeros(3, dtype=np.int64))
    with pytest.raises(ValueError, match="1 to 255 dimensions"):
        write_idx(tmp_path / "x", np.array(3, dtype=np.uint8))


# ----- issue 15's classes of fault, for IDX files -----------------------------------------------
@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "train-images-idx3-ubyte")
    with pytest.raises(IDXError, match=r"is a FIFO \(named pipe\), not an IDX file"):
        read_idx(tmp_path / "train-images-idx3-ubyte")  # before: open() blocked for ever


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused() -> None:
    with pytest.raises(IDXError, match="/dev/zero is a character device"):
        read_idx("/dev/zero")


def test_a_file_far_over_the_limit_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge"
    path.write_bytes(b"\x00\x00\x08\x01" + struct.pack(">I", 5000) + b"\x00" * 5000)
    with pytest.raises(IDXError, match="over the limit of 2024 bytes"):
        read_idx(path, max_bytes=1000)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_write_idx_is_atomic_and_replaces_a_fifo(tmp_path: Path) -> None:
    target = tmp_path / "labels.idx"
    os.mkfifo(target)  # before: write_bytes() blocked for ever waiting for a reader
    write_idx(target, np.arange(4, dtype=np.uint8))
    np.testing.assert_array_equal(read_idx(target), np.arange(4, dtype=np.uint8))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.idx"]
