"""The fit checkpoint: one writer and one reader, used by fit, the studio, render and export."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest

from gfxnn.apps.render import render_checkpoint
from gfxnn.cli import main
from gfxnn.data.images import LoadedImage, load_image
from gfxnn.export import export_checkpoint
from gfxnn.fields import checkpoint
from gfxnn.fields.image import ImageFitter
from gfxnn.fields.settings import FitSettings
from gfxnn.io import CheckpointError, load_checkpoint, save_checkpoint

SETTINGS = FitSettings(batch_size=64, n_neurons=8, n_frequencies=2, seed=4)


def gradient(height: int = 9, width: int = 13) -> np.ndarray:
    v, u = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    return np.stack([u, v, 1 - u * v], axis=2).astype(np.float32)


def check_readers(path: Path, expected: np.ndarray, tmp_path: Path) -> None:
    """The reader, `gfxnn render` and export all see the network that was saved."""
    loaded = checkpoint.load(path)
    assert loaded.image_size() == (expected.shape[1], expected.shape[0])
    png = render_checkpoint(path, tmp_path / "render.png")
    np.testing.assert_allclose(load_image(png), np.clip(expected, 0, 1), atol=0.5 / 255 + 1e-6)
    code = export_checkpoint(path, "glsl")
    assert isinstance(code, str) and "vec3" in code
    encoding, network, settings = checkpoint.load_model(path)
    assert settings == loaded.settings


def test_fit_writes_what_the_reader_reads(tmp_path: Path) -> None:
    image_path = tmp_path / "image.png"
    from gfxnn.data.images import encode_png

    image_path.write_bytes(encode_png(gradient()))
    out = tmp_path / "run"
    args = ["fit", str(image_path), "--steps", "5", "--quiet", "--out", str(out)]
    assert main([*args, "--batch-size", "64", "--n-neurons", "8", "--device", "cpu"]) == 0
    path = out / "checkpoint.safetensors"
    _, config = load_checkpoint(path)
    assert config["app"] == "gfxnn fit" and config["run"]["steps"] == 5
    assert config == json.loads((out / "config.json").read_text())  # one config, two files
    loaded = checkpoint.load(path)
    fitter = ImageFitter(load_image(image_path), loaded.settings)
    fitter.load_state_dict(loaded.state)
    check_readers(path, fitter.predict(), tmp_path)


def test_studio_session_writes_what_the_reader_reads(tmp_path: Path) -> None:
    from gfxnn.apps.studio.session import TrainingSession

    pixels = gradient()
    session = TrainingSession(LoadedImage(pixels, "test"), SETTINGS, out_dir=tmp_path / "s")
    try:
        session.step(3)
        saved = session.save_checkpoint()
    finally:
        session.close()
    _, config = load_checkpoint(saved.path)
    assert config["app"] == "gfxnn studio" and config["image"]["source"] == "test"
    loaded = checkpoint.load(saved.path)
    assert loaded.settings == SETTINGS
    fitter = ImageFitter(pixels, SETTINGS)
    fitter.load_state_dict(loaded.state)
    check_readers(saved.path, fitter.predict(), tmp_path)


def saved(tmp_path: Path, state: dict, settings: dict) -> Path:
    path = tmp_path / "ck.safetensors"
    config = {"settings": settings, "image": {"width": 4, "height": 4}}
    save_checkpoint(path, state, config)
    return path


def test_tampered_configs_are_one_clear_error(tmp_path: Path) -> None:
    """Issue 15 item 2: a tampered checkpoint config crashed render and export."""
    fitter = ImageFitter(gradient(), SETTINGS)
    state = fitter.state_dict()
    for change, message in [
        ({"encoding": "oneblob", "encoding_params": {"n_bins": 10**8}}, "too large"),
        ({"encoding": "trianglewave", "encoding_params": {"n_frequencies": 1000}}, "1..32"),
        ({"n_neurons": 9}, "does not match its settings"),
        ({"n_layerz": 3}, "unknown setting"),
    ]:
        path = saved(tmp_path, state, SETTINGS.to_dict() | change)
        for read in (checkpoint.load, render_checkpoint, lambda p: export_checkpoint(p, "glsl")):
            with pytest.raises(CheckpointError, match=message):
                read(path)


def test_float64_overflow_is_an_error_without_a_warning(tmp_path: Path) -> None:
    fitter = ImageFitter(gradient(), SETTINGS)
    state = {k: v.astype(np.float64) for k, v in fitter.state_dict().items()}
    state["layers.0.bias"][0] = 1e300
    path = saved(tmp_path, state, SETTINGS.to_dict())
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # issue 15: a RuntimeWarning was printed first
        with pytest.raises(CheckpointError, match="beyond float32"):
            checkpoint.load(path)


def test_save_needs_the_settings(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="needs its settings"):
        checkpoint.save(tmp_path / "x.safetensors", {}, {}, psnr=None, steps=0, weights_step=0)
