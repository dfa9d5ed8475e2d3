"""Rosenblatt's perceptron (1957) on a linearly separable set of 2-D points.

One neuron, prediction step(w . x + b). Rosenblatt's rule, w <- w + lr * t * x for each
misclassified point x of class t in {-1, +1}, is exactly SGD with batch size 1 on the
perceptron criterion max(0, -t (w . x + b)), so gfxnn's `fit` runs it unchanged. The
perceptron convergence theorem says it separates the two classes in finitely many updates.

    python examples/perceptron.py [--seed 0]
"""

from __future__ import annotations

import argparse

import numpy as np

from gfxnn import nn, ops
from gfxnn.optim import SGD
from gfxnn.tensor import Tensor
from gfxnn.training import fit, predict

N_POINTS = 100  # points per class
MARGIN = 0.5  # half the gap between the classes along the separating direction
EPOCHS = 20  # passes over the points (the rule usually converges in a few)
SEED = 0


def separable_points(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Points on both sides of a random line through the origin; labels t in {-1, +1}."""
    angle = rng.uniform(0, np.pi)
    normal = np.array([np.cos(angle), np.sin(angle)])
    x = rng.uniform(-3, 3, size=(4 * N_POINTS, 2))
    distance = x @ normal
    keep = np.abs(distance) > MARGIN
    x, distance = x[keep][: 2 * N_POINTS], distance[keep][: 2 * N_POINTS]
    return x.astype(np.float32), np.where(distance > 0, 1.0, -1.0).astype(np.float32)[:, None]


def perceptron_criterion(output: Tensor, target: np.ndarray) -> Tensor:
    """mean(max(0, -t * output)): zero for correct points, |w . x + b| for wrong ones."""
    return ops.mean(ops.maximum(ops.mul(output, -target), 0.0))


def main(seed: int = SEED, verbose: bool = True) -> float:
    rng = np.random.default_rng(seed)
    x, t = separable_points(rng)
    neuron = nn.Linear(2, 1, rng=rng)
    history = fit(
        neuron, perceptron_criterion, SGD(neuron.parameters(), lr=1.0), x, t,
        epochs=EPOCHS, batch_size=1, validation_split=0, rng=rng, progress=False,
    )  # fmt: skip
    accuracy = float(np.mean(np.where(predict(neuron, x) > 0, 1.0, -1.0) == t))
    if verbose:
        w, b = neuron.weight.data[0], neuron.bias.data[0]
        errors = [round(loss, 4) for loss in history["loss"][:5]]
        print(f"criterion in the first epochs: {errors}")
        print(f"learned line {w[0]:.3f} x1 + {w[1]:.3f} x2 + {b:.3f} = 0")
        print(f"training accuracy {accuracy:.1%}")
    return accuracy


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=SEED)
    main(parser.parse_args().seed)
