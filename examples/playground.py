"""The TensorFlow Playground's 2-D problems, with its decision-boundary heat map as a PNG.

Pick a problem (circle, xor, gaussian, spiral), its noise and the train/test ratio as in
the Playground (playground.tensorflow.org); a small tanh MLP learns it from (x1, x2) and
the script writes the Playground's picture: the network's output over the plane as an
orange-to-blue heat map, training points with white edges, test points with black edges.

    python examples/playground.py --problem spiral --noise 0.1 --output spiral.png
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gfxnn import nn, optim
from gfxnn.data.playground import PROBLEMS, make_problem
from gfxnn.losses import binary_cross_entropy_with_logits
from gfxnn.training import History, Standardize, evaluate, fit, predict

N_SAMPLES = 500  # points in all, as in the Playground
TRAIN_FRACTION = 0.5  # the Playground's "ratio of training to test data"
HIDDEN = [64, 64]  # hidden layer widths
EPOCHS = 200  # passes over the training points
BATCH_SIZE = 50  # points per Adam step (the Playground's default is 10)
LEARNING_RATE = 0.01  # Adam's step size; 0.03 gets stuck on the spiral for some seeds
SEED = 0
EXTENT = 6.0  # the plot shows [-EXTENT, EXTENT]^2, like the Playground
RESOLUTION = 200  # heat-map pixels per side


def build_model(seed: int) -> nn.Sequential:
    """(x1, x2) -> logit of the positive class."""
    return nn.Sequential(
        Standardize(2), nn.MLP(2, 1, n_neurons=HIDDEN, activation="tanh", rng=seed)
    )


def boundary_grid(model: nn.Module) -> np.ndarray:
    """The network's probability of class 1 on a RESOLUTION^2 grid; row 0 is the top."""
    axis = np.linspace(-EXTENT, EXTENT, RESOLUTION)
    x1, x2 = np.meshgrid(axis, axis[::-1])
    logits = predict(model, np.stack([x1.ravel(), x2.ravel()], axis=1))
    return (1 / (1 + np.exp(-logits))).reshape(RESOLUTION, RESOLUTION)


def plot(path: Path, probability: np.ndarray, data: tuple[np.ndarray, ...], title: str) -> None:
    """Write the heat map with the training and test points to a PNG."""
    import matplotlib

    matplotlib.use("Agg")  # files only, no window
    import matplotlib.pyplot as plt
    from matplotlib.colors import LinearSegmentedColormap

    # The Playground's palette: orange for the negative class, blue for the positive.
    palette = LinearSegmentedColormap.from_list("playground", ["#f59322", "#e8eaeb", "#0877bd"])
    x_train, y_train, x_test, y_test = data
    figure, axes = plt.subplots(figsize=(5, 5), dpi=100)
    extent = (-EXTENT, EXTENT, -EXTENT, EXTENT)
    axes.imshow(probability, extent=extent, cmap=palette, vmin=0, vmax=1, alpha=0.8)
    for x, y, edge in ((x_train, y_train, "white"), (x_test, y_test, "black")):
        axes.scatter(x[:, 0], x[:, 1], c=y, cmap=palette, vmin=0, vmax=1, s=18,
                     edgecolors=edge, linewidths=0.8)  # fmt: skip
    axes.set(xlim=extent[:2], ylim=extent[2:], title=title)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def main(
    problem: str = "spiral",
    noise: float = 0.0,
    output: Path | None = None,
    epochs: int = EPOCHS,
    seed: int = SEED,
    verbose: bool = True,
) -> tuple[float, np.ndarray, History]:
    """Train on one problem; return (test accuracy, boundary grid, history), write the PNG."""
    data = make_problem(problem, N_SAMPLES, noise, TRAIN_FRACTION, rng=seed)
    x_train, y_train, x_test, y_test = data
    model = build_model(seed)
    history = fit(
        model, binary_cross_entropy_with_logits, optim.Adam(model.parameters(), lr=LEARNING_RATE),
        x_train, y_train[:, None].astype(np.float32), epochs=epochs, batch_size=BATCH_SIZE,
        validation_split=0, metrics=["accuracy"], rng=seed, progress=verbose,
    )  # fmt: skip
    test = evaluate(
        model, binary_cross_entropy_with_logits, x_test, y_test[:, None].astype(np.float32),
        metrics=["accuracy"],
    )  # fmt: skip
    probability = boundary_grid(model)
    title = f"{problem}, noise {noise:.0%}: test accuracy {test['accuracy']:.1%}"
    if output is not None:
        plot(output, probability, data, title)
    if verbose:
        print(f"{title} (train {history['accuracy'][-1]:.1%})")
        if output is not None:
            print(f"wrote {output}")
    return test["accuracy"], probability, history


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--problem", choices=sorted(PROBLEMS), default="spiral")
    parser.add_argument(
        "--noise", type=float, default=0.0, help="0 to 0.5, as the Playground's 0-50%%"
    )
    parser.add_argument("--epochs", type=int, default=EPOCHS)
    parser.add_argument("--seed", type=int, default=SEED)
    parser.add_argument("--output", type=Path, default=Path("playground.png"))
    arguments = parser.parse_args()
    main(arguments.problem, arguments.noise, arguments.output, arguments.epochs, arguments.seed)
