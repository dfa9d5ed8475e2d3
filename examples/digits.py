"""Handwritten digits (scikit-learn's 8x8 `load_digits`) with an MLP and softmax cross-entropy.

The 1 797 digits ship inside scikit-learn, so nothing is downloaded. They are split 80/20
at random (seed 0) into training and test sets; `fit` holds out another 20% of the
training set for validation, standardises the inputs on the training part, and trains
with Adam. The test accuracy is printed (>= 97% with these defaults).

    python examples/digits.py [--epochs 30] [--seed 0] [--optimizer adam]
    python examples/digits.py --compare docs/images/optimizers.png   # every optimizer
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn import nn, optim
from gfxnn.data import train_val_split
from gfxnn.losses import cross_entropy
from gfxnn.training import History, Standardize, evaluate, fit

EPOCHS = 30  # passes over the training digits
BATCH_SIZE = 32  # digits per step
N_NEURONS = 64  # width of the one hidden layer
TEST_FRACTION = 0.2  # held-out test digits, never seen in training
SEED = 0  # split, initial weights and batch order

# One learning rate per optimizer, each a usual choice for it (not tuned per problem).
OPTIMIZERS = {
    "sgd": lambda p: optim.SGD(p, lr=0.05),
    "sgd_momentum": lambda p: optim.SGD(p, lr=0.01, momentum=0.9),
    "sgd_nesterov": lambda p: optim.SGD(p, lr=0.01, momentum=0.9, nesterov=True),
    "adam": lambda p: optim.Adam(p, lr=1e-3),
    "rmsprop": lambda p: optim.RMSprop(p, lr=1e-3),
    "adagrad": lambda p: optim.Adagrad(p, lr=0.05),
    "adadelta": lambda p: optim.Adadelta(p, lr=1.0),
    "rprop": lambda p: optim.Rprop(p, lr=1e-3),
}


def load(seed: int = SEED) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test): x (N, 64) float32 pixel values 0..16, y labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    return train_val_split(digits.data.astype(np.float32), digits.target, TEST_FRACTION, seed)


def main(
    epochs: int = EPOCHS,
    seed: int = SEED,
    optimizer: str = "adam",
    batch_size: int = BATCH_SIZE,
    verbose: bool = True,
) -> tuple[float, History]:
    """Train and return (test accuracy, training history)."""
    x_train, y_train, x_test, y_test = load(seed)
    model = nn.Sequential(
        Standardize(64), nn.MLP(64, 10, n_neurons=N_NEURONS, n_hidden_layers=1, rng=seed)
    )
    history = fit(
        model, cross_entropy, OPTIMIZERS[optimizer](model.parameters()), x_train, y_train,
        epochs=epochs, batch_size=batch_size, metrics=["accuracy"], rng=seed, progress=verbose,
    )  # fmt: skip
    test = evaluate(model, cross_entropy, x_test, y_test, metrics=["accuracy"])
    if verbose:
        print(f"validation accuracy {history['val_accuracy'][-1]:.2%}")
        print(f"test accuracy {test['accuracy']:.2%} on {len(y_test)} digits")
    return test["accuracy"], history


def compare(output: Path, epochs: int = EPOCHS, seed: int = SEED) -> list[dict[str, Any]]:
    """Train with every optimizer from the same weights and batches; plot the training loss
    per epoch to `output` (PNG) and print a Markdown table of the results."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = []
    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    runs = [(name, epochs, BATCH_SIZE) for name in OPTIMIZERS]
    # Rprop is a full-batch method (mini-batch noise flips the gradient signs it relies on):
    # it also runs on the whole training set at once, one step per epoch, 10x the epochs.
    runs.append(("rprop", 10 * epochs, 2048))
    for name, n_epochs, batch_size in runs:
        start = time.perf_counter()
        accuracy, history = main(n_epochs, seed, name, batch_size, verbose=False)
        label = name if batch_size == BATCH_SIZE else f"{name} (full batch, {n_epochs} epochs)"
        rows.append(
            {
                "optimizer": label,
                "loss": history["loss"][-1],
                "val_accuracy": history["val_accuracy"][-1],
                "test_accuracy": accuracy,
                "seconds": time.perf_counter() - start,
            }
        )
        if batch_size == BATCH_SIZE:
            axes.plot(range(1, n_epochs + 1), history["loss"], label=name)
    title = f"digits 8x8, MLP 64-{N_NEURONS}-10, batch {BATCH_SIZE}, seed {seed}"
    axes.set(yscale="log", xlabel="epoch", ylabel="training loss (cross-entropy)", title=title)
    axes.legend(loc="lower left", fontsize="small", ncol=2)
    figure.tight_layout()
    figure.savefig(output)
    plt.close(figure)
    print("| optimizer | final training loss | validation accuracy | test accuracy | time (s) |")
    print("|---|---|---|---|---|")
    for row in rows:
        print(f"| {row['optimizer']} | {row['loss']:.4f} | {row['val_accuracy']:.2%} | "
              f"{row['test_accuracy']:.2%} | {row['seconds']:.1f} |")  # fmt: skip
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="adam")
    parser.add_argument("--compare", type=Path, help="train every optimizer, plot to this PNG")
    arguments = parser.parse_args()
    if arguments.compare:
        compare(arguments.compare, arguments.epochs, arguments.seed)
    else:
        main(arguments.epochs, arguments.seed, arguments.optimizer)
