"""Image loading: every kind of file becomes (H, W, 3) float32 in [0, 1], or one clear ImageError."""

from __future__ import annotations

import io
import os
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gfxnn.data import BUNDLED_IMAGES, ImageError, encode_png, load_bundled, load_image, read_image


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return (
        struct.pack(">I", len(payload))
        + kind
        + payload
        + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)
    )


def _png(width: int, height: int, bit_depth: int, color_type: int, rows: bytes) -> bytes:
    """A PNG written by hand (Pillow cannot write 16-bit RGB, and cannot write lies)."""
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", zlib.compress(rows))
        + _chunk(b"IEND", b"")
    )


def _save(tmp_path: Path, name: str, image: Image.Image) -> Path:
    path = tmp_path / name
    image.save(path)
    return path


def test_rgb_png_round_trips_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    loaded = read_image(_save(tmp_path, "a.png", Image.fromarray(pixels)))
    assert loaded.pixels.shape == (7, 5, 3)
    assert loaded.pixels.dtype == np.float32
    np.testing.assert_array_equal(loaded.pixels, pixels.astype(np.float32) / 255)
    assert loaded.notes == []


def test_grayscale_is_replicated_with_a_note(tmp_path: Path) -> None:
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    loaded = read_image(_save(tmp_path, "g.png", Image.fromarray(gray)))
    for channel in range(3):
        np.testing.assert_array_equal(loaded.pixels[..., channel], gray / np.float32(255))
    assert any("grayscale" in note for note in loaded.notes)


def test_rgba_is_composited_over_black_and_says_so(tmp_path: Path) -> None:
    rgba = np.zeros((2, 2, 4), dtype=np.uint8)
    rgba[..., :3] = 200
    rgba[..., 3] = [[255, 0], [51, 255]]
    loaded = read_image(_save(tmp_path, "a.png", Image.fromarray(rgba)))
    expected = 200 / 255 * np.array([[1.0, 0.0], [0.2, 1.0]], dtype=np.float32)
    np.testing.assert_allclose(loaded.pixels[..., 0], expected, atol=1e-6)
    assert any("alpha composited over black" in note and "50.0%" in note for note in loaded.notes)


def test_opaque_rgba_drops_alpha_and_says_so(tmp_path: Path) -> None:
    rgba = np.full((3, 3, 4), 255, dtype=np.uint8)
    rgba[..., 0] = 10
    loaded = read_image(_save(tmp_path, "a.png", Image.fromarray(rgba)))
    np.testing.assert_allclose(loaded.pixels[..., 0], 10 / 255)
    assert any("fully opaque" in note for note in loaded.notes)


def test_16bit_grayscale_scales_by_65535(tmp_path: Path) -> None:
    values = np.array([[0, 32768], [65535, 1000]], dtype=np.uint16)
    path = tmp_path / "g16.png"
    path.write_bytes(
        _png(2, 2, 16, 0, b"".join(b"\x00" + row.astype(">u2").tobytes() for row in values))
    )
    loaded = read_image(path)
    np.testing.assert_allclose(loaded.pixels[..., 1], values / 65535, atol=1e-7)
    assert any("16-bit" in note for note in loaded.notes)


def test_16bit_rgb_scales_to_unit_range(tmp_path: Path) -> None:
    # 0xFFFF must become 1.0 and 0x8000 about 0.5: a wrong scale (e.g. /255) would clip to 1.
    row = np.array([[0xFFFF, 0x8000, 0x0000], [0x0000, 0x4000, 0xFFFF]], dtype=">u2")
    rows = b"".join(b"\x00" + row.tobytes() for _ in range(2))
    path = tmp_path / "rgb16.png"
    path.write_bytes(_png(2, 2, 16, 2, rows))
    pixels = load_image(path)
    np.testing.assert_allclose(pixels[0, 0], [1.0, 0.5, 0.0], atol=1 / 255)
    np.testing.assert_allclose(pixels[1, 1], [0.0, 0.25, 1.0], atol=1 / 255)


def test_palette_images_with_and_without_transparency(tmp_path: Path) -> None:
    rgb = np.zeros((4, 4, 3), dtype=np.uint8)
    rgb[:2] = (255, 0, 0)
    rgb[2:] = (0, 0, 255)
    palette = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=2)
    pixels = load_image(_save(tmp_path, "p.png", palette))
    np.testing.assert_array_equal(pixels, rgb / np.float32(255))
    red_index = palette.getpixel((0, 0))
    palette.info["transparency"] = red_index
    loaded = read_image(_save(tmp_path, "pt.png", palette))
    np.testing.assert_array_equal(loaded.pixels[:2], 0.0)  # transparent red over black
    np.testing.assert_array_equal(loaded.pixels[2:, :, 2], 1.0)
    assert any("alpha" in note for note in loaded.notes)


def test_jpeg_loads(tmp_path: Path) -> None:
    pixels = np.full((8, 8, 3), 128, dtype=np.uint8)
    loaded = load_image(_save(tmp_path, "a.jpg", Image.fromarray(pixels)))
    np.testing.assert_allclose(loaded, 128 / 255, atol=3 / 255)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="directory"):
        load_image(tmp_path)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.png"
    path.write_text("hello, I am text\n")
    with pytest.raises(ImageError, match="not an image"):
        load_image(path)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.9])
def test_truncated_png(tmp_path: Path, keep: float) -> None:
    rng = np.random.default_rng(1)
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(buffer, "PNG")
    data = buffer.getvalue()
    path = tmp_path / "cut.png"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ImageError, match="truncated or corrupt"):
        load_image(path)


def test_too_many_pixels_is_refused_with_the_limit(tmp_path: Path) -> None:
    path = _save(tmp_path, "a.png", Image.new("RGB", (40, 30)))
    with pytest.raises(ImageError, match=r"40x30 = 1200 pixels; the limit is 1000 pixels"):
        load_image(path, max_pixels=1000)
    assert load_image(path, max_pixels=1200).shape == (30, 40, 3)


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path) -> None:
    # A 50-byte-ish file claiming 100000 x 100000 pixels (30 GB decoded): refused from the header.
    path = tmp_path / "bomb.png"
    path.write_bytes(_png(100_000, 100_000, 8, 2, b"\x00" * 100))
    start = time.perf_counter()
    with pytest.raises(ImageError, match=r"10000000000 pixels .*the limit is 16777216 pixels"):
        load_image(path)
    assert time.perf_counter() - start < 1.0


def test_one_pixel_wide_image_loads(tmp_path: Path) -> None:
    path = _save(tmp_path, "a.png", Image.new("RGB", (1, 5), (255, 0, 0)))
    pixels = load_image(path)
    assert pixels.shape == (5, 1, 3)
    np.testing.assert_array_equal(pixels[:, 0], [[1.0, 0.0, 0.0]] * 5)


def test_errors_are_one_line(tmp_path: Path) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 30)
    with pytest.raises(ImageError) as info:
        load_image(path)
    assert "\n" not in str(info.value)
    assert str(path) in str(info.value)


def test_bundled_patterns() -> None:
    circle, half, quarter = (load_bundled(n, size=64) for n in ("circle", "half", "quarter"))
    for image in (circle, half, quarter):
        assert image.shape == (64, 64, 3) and image.dtype == np.float32
        assert set(np.unique(image)) <= {0.0, 1.0}
    # A disc of radius 1/4 covers pi/16 of the square; centre white, corners black.
    assert circle[32, 32, 0] == 1.0 and circle[0, 0, 0] == 0.0 and circle[63, 63, 0] == 0.0
    assert circle[..., 0].mean() == pytest.approx(np.pi / 16, abs=0.01)
    np.testing.assert_array_equal(circle, circle[::-1])  # symmetric
    assert half[:, :32].min() == 1.0 and half[:, 32:].max() == 0.0
    assert quarter[:32, :32].min() == 1.0 and quarter.sum() == 32 * 32 * 3


def test_bundled_astronaut_is_the_photo() -> None:
    photo = load_bundled("astronaut")
    assert photo.shape == (256, 256, 3) and photo.dtype == np.float32
    assert photo.min() >= 0.0 and photo.max() <= 1.0
    # A colour photo: many distinct values, channels differ (orange suit: red > blue).
    assert len(np.unique(photo)) > 200
    assert photo[..., 0].mean() > photo[..., 2].mean() + 0.05
    small = load_bundled("astronaut", size=32)
    assert small.shape == (32, 32, 3)
    assert abs(small.mean() - photo.mean()) < 0.02


def test_every_bundled_name_loads_and_unknown_names_are_listed() -> None:
    for name in BUNDLED_IMAGES:
        assert load_bundled(name, size=8).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="astronaut, circle, half, quarter"):
        load_bundled("mandrill")
    # A hostile name (a studio message may carry 60 KiB) is not echoed whole.
    with pytest.raises(ValueError, match=r"'aaa+\.\.\. \(60000 chars\); choose from") as caught:
        load_bundled("a" * 60_000)
    assert len(str(caught.value)) < 200


def test_encode_png_round_trip() -> None:
    pixels = np.linspace(0, 1, 4 * 6 * 3, dtype=np.float32).reshape(4, 6, 3)
    decoded = np.asarray(Image.open(io.BytesIO(encode_png(pixels))))
    np.testing.assert_allclose(decoded / 255, pixels, atol=0.5 / 255 + 1e-6)
    clipped = np.asarray(Image.open(io.BytesIO(encode_png(pixels * 3 - 1))))
    assert clipped.min() == 0 and clipped.max() == 255


# ----- issue 15: hostile files ------------------------------------------------------------------
EPS = b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\nnewpath 0 0 moveto 8 8 lineto stroke\n"


def test_eps_named_png_never_reaches_the_eps_plugin(tmp_path: Path, monkeypatch) -> None:
    """Pillow's EPS plugin runs Ghostscript; with the allow-list it is never consulted."""
    from PIL import EpsImagePlugin

    calls: list[str] = []

    def spy(self: object) -> None:
        calls.append("eps")
        raise SyntaxError("spy: the EPS plugin was asked")

    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", spy)
    path = tmp_path / "photo.png"
    path.write_bytes(EPS)
    with pytest.raises(ImageError, match="photo.png is not an image Pillow can read"):
        load_image(path)
    assert calls == []


@pytest.mark.parametrize("kind", ["PPM", "TGA", "ICO", "PCX", "SGI", "IM", "DDS", "QOI"])
def test_formats_off_the_allow_list_are_refused_whatever_the_name(
    tmp_path: Path, kind: str
) -> None:
    buffer = io.BytesIO()
    try:
        Image.new("RGB", (4, 4), (10, 20, 30)).save(buffer, format=kind)
    except (KeyError, OSError, ValueError):
        pytest.skip(f"this Pillow cannot write {kind}")
    path = tmp_path / "image.png"
    path.write_bytes(buffer.getvalue())
    with pytest.raises(ImageError, match="allowed decoders .*PNG, JPEG, GIF, BMP, WebP, TIFF"):
        load_image(path)


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("GIF", "a.gif"),
        ("BMP", "a.bmp"),
        ("WEBP", "a.webp"),
        ("TIFF", "a.tif"),
        ("PNG", "really-a-png.jpg"),
    ],
)
def test_allowed_formats_load_by_content(tmp_path: Path, kind: str, name: str) -> None:
    path = tmp_path / name
    Image.new("RGB", (4, 3), (255, 0, 0)).save(
        path, format=kind, **({"lossless": True} if kind == "WEBP" else {})
    )
    pixels = load_image(path)
    assert pixels.shape == (3, 4, 3)
    np.testing.assert_allclose(pixels[..., 0], 1.0, atol=1 / 255)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "image.png"
    os.mkfifo(fifo)
    with pytest.raises(ImageError, match=r"image.png is a FIFO \(named pipe\), not an image file"):
        load_image(fifo)  # before the fix: open() waited for a writer for ever


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_a_device_is_refused_before_reading() -> None:
    with pytest.raises(ImageError, match="/dev/zero is a character device, not an image file"):
        load_image("/dev/zero")


def test_oversized_files_are_refused_before_reading(tmp_path: Path) -> None:
    path = _save(tmp_path, "a.png", Image.new("RGB", (8, 8)))
    size = path.stat().st_size
    with pytest.raises(ImageError, match=f"{size} bytes, over the limit of {size - 1} bytes"):
        read_image(path, max_bytes=size - 1)


def test_nan_float_tiff_names_the_file(tmp_path: Path) -> None:
    values = np.array([[0.5, np.nan], [0.25, 1.0]], dtype=np.float32)
    path = _save(tmp_path, "nan.tif", Image.fromarray(values, mode="F"))
    with pytest.raises(ImageError, match=r"nan.tif: floating-point image contains NaN"):
        load_image(path)


def test_int32_tiff_out_of_range_names_the_file(tmp_path: Path) -> None:
    values = np.array([[0, 70_000], [-5, 12]], dtype=np.int32)
    path = _save(tmp_path, "deep.tif", Image.fromarray(values, mode="I"))
    with pytest.raises(
        ImageError, match=r"deep.tif: unsupported I \(integer\) image with values -5..70000"
    ):
        load_image(path)


def test_bad_limits_and_sizes_are_named(tmp_path: Path) -> None:
    path = _save(tmp_path, "a.png", Image.new("RGB", (2, 2)))
    with pytest.raises(ValueError, match="max_pixels must be an integer >= 1, got 'x'"):
        read_image(path, max_pixels="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_pixels must be an integer >= 1, got 0"):
        read_image(path, max_pixels=0)
    # Before: 10**6 asked NumPy for 7 TiB (MemoryError).
    with pytest.raises(ValueError, match=r"size must be an int in 1..4096, got 1000000"):
        load_bundled("circle", size=10**6)
    assert load_bundled("circle", size=4096).shape == (4096, 4096, 3)


def test_an_animated_gif_is_not_walked_frame_by_frame(monkeypatch) -> None:
    """Before: counting the frames walked the whole GIF; 14 MB of 19000 tiny frames (under the
    studio's upload cap) took 5 s of CPU. Only the first frame is used, so only the first two
    are looked at."""
    from PIL import GifImagePlugin

    from gfxnn.data.images import decode_image

    rng = np.random.default_rng(0)
    frames = [
        Image.fromarray(rng.integers(0, 2, (2, 2), dtype=np.uint8) * 255).convert("P")
        for _ in range(300)
    ]
    buffer = io.BytesIO()
    frames[0].save(buffer, format="GIF", save_all=True, append_images=frames[1:], optimize=False)
    seeks: list[int] = []
    real_seek = GifImagePlugin.GifImageFile._seek

    def counting_seek(self, frame: int, *args, **kwargs):  # type: ignore[no-untyped-def]
        seeks.append(frame)
        return real_seek(self, frame, *args, **kwargs)

    monkeypatch.setattr(GifImagePlugin.GifImageFile, "_seek", counting_seek)
    loaded = decode_image(buffer.getvalue(), "many.gif")
    assert loaded.pixels.shape == (2, 2, 3)
    assert any("animated image" in note and "first frame" in note for note in loaded.notes)
    assert max(seeks) <= 1, f"looked at {max(seeks) + 1} frames"
