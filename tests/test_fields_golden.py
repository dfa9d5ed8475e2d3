"""Checkpoints written by the code before the fields package (commit 0c808cc, see
tests/golden/fit_checkpoints/make_golden.py) still load and render identically: `gfxnn fit`'s
frequency and hash-grid runs, and a studio session's GaussianFourier checkpoint (its own
config dict, with the fixed matrix B)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gfxnn.apps.render import render_checkpoint
from gfxnn.data.images import load_image
from gfxnn.fields import checkpoint
from gfxnn.fields.render import render_state
from gfxnn.imagefit import model_from_checkpoint

GOLDEN = Path(__file__).parent / "golden" / "fit_checkpoints"
NAMES = ("fit_frequency", "fit_hashgrid", "studio_gaussianfourier")


@pytest.mark.parametrize("name", NAMES)
def test_golden_checkpoint_renders_as_before(name: str) -> None:
    loaded = checkpoint.load(GOLDEN / f"{name}.safetensors")
    pixels = render_state(loaded.state, loaded.settings, (30, 40))
    expected = np.load(GOLDEN / f"{name}_render_40x30.npy")
    assert pixels.shape == expected.shape == (30, 40, 3)
    np.testing.assert_array_equal(pixels, expected)


@pytest.mark.parametrize("name", NAMES)
def test_golden_checkpoint_through_gfxnn_render(name: str, tmp_path: Path) -> None:
    """`gfxnn render`'s PNG is the stored render, clipped and rounded to 8 bits."""
    path = render_checkpoint(GOLDEN / f"{name}.safetensors", tmp_path / "r.png", 40, 30)
    expected = np.load(GOLDEN / f"{name}_render_40x30.npy")
    written = load_image(path)
    np.testing.assert_allclose(written, np.clip(expected, 0, 1), atol=0.5 / 255 + 1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_golden_checkpoint_autodiff_model_agrees(name: str) -> None:
    """Export reads the same checkpoint as the autodiff model; it computes the stored render."""
    encoding, network, settings = model_from_checkpoint(GOLDEN / f"{name}.safetensors")
    v, u = np.meshgrid(np.arange(30) / 29, np.arange(40) / 39, indexing="ij")
    uv = np.stack([u.ravel(), v.ravel()], axis=1)
    from gfxnn.tensor import Tensor

    out = network(encoding(Tensor(uv.astype(np.float32)))).data.reshape(30, 40, 3)
    expected = np.load(GOLDEN / f"{name}_render_40x30.npy")
    np.testing.assert_allclose(out, expected, atol=2e-5)
