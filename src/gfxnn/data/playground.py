"""The 2-D classification problems of the TensorFlow Playground (playground.tensorflow.org).

Each generator follows the Playground's `dataset.ts`: points in [-6, 6]^2 from two classes,
`noise` in [0, 0.5] (the Playground's 0..50 % slider) jitters them, and the label is 1 for
the Playground's positive class (+1) and 0 for its negative class (-1), ready for binary
cross-entropy. Every generator takes an explicit generator or seed.
"""

from __future__ import annotations

import functools
import math
import numbers
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from gfxnn.data.batching import as_generator, split_indices

__all__ = ["PROBLEMS", "circle", "gaussian", "make_problem", "spiral", "xor"]

RADIUS = 5.0  # the Playground's circle radius, and the spiral's outer radius
XOR_PADDING = 0.3  # keeps XOR points off the axes


def _check(n_samples: Any, noise: Any) -> tuple[int, float]:
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral):
        raise TypeError(f"n_samples must be an integer, got {n_samples!r}")
    if n_samples < 2:
        raise ValueError(f"n_samples must be >= 2, got {n_samples}")
    if (
        isinstance(noise, bool)
        or not isinstance(noise, numbers.Real)
        or not 0 <= float(noise) <= 0.5
    ):
        raise ValueError(
            f"noise must be a number in [0, 0.5] (the Playground's 0-50%), got {noise!r}"
        )
    return int(n_samples), float(noise)


Points = tuple[np.ndarray, np.ndarray]  # x (n_samples, 2) float64 and y (n_samples,) int64


class Problem(Protocol):
    """A Playground generator as callers see it: rng may still be a seed."""

    def __call__(self, n_samples: int, noise: float, rng: np.random.Generator | int) -> Points: ...


def _problem(generate: Callable[[int, float, np.random.Generator], Points]) -> Problem:
    """`generate` behind the checks all four problems share, in one place: n_samples an integer
    >= 2, noise in [0, 0.5], and rng made a Generator from a seed."""

    @functools.wraps(generate, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
    def checked(n_samples: int, noise: float, rng: np.random.Generator | int) -> Points:
        n_samples, noise = _check(n_samples, noise)
        return generate(n_samples, noise, as_generator(rng))

    del checked.__wrapped__  # help() shows checked's own signature, where rng may be a seed
    return checked


@_problem
def circle(n_samples: int, noise: float, rng: np.random.Generator) -> Points:
    """A disc of radius 2.5 (label 1) inside a ring from 3.5 to 5 (label 0).

    Labels come from the noisy point's distance to the centre (inside radius 2.5 or not),
    as in the Playground. Returns x (n_samples, 2) float64 and y (n_samples,) int64.
    """
    n_inside = n_samples // 2
    low = np.where(np.arange(n_samples) < n_inside, 0.0, 0.7 * RADIUS)
    high = np.where(np.arange(n_samples) < n_inside, 0.5 * RADIUS, RADIUS)
    r = rng.uniform(low, high)
    angle = rng.uniform(0, 2 * math.pi, n_samples)
    x = np.stack([r * np.sin(angle), r * np.cos(angle)], axis=1)
    x += rng.uniform(-RADIUS, RADIUS, size=x.shape) * noise
    y = (np.linalg.norm(x, axis=1) < 0.5 * RADIUS).astype(np.int64)
    return x, y


@_problem
def xor(n_samples: int, noise: float, rng: np.random.Generator) -> Points:
    """Uniform points in the four quadrants; label 1 where x1 * x2 >= 0 (after the noise)."""
    x = rng.uniform(-5, 5, size=(n_samples, 2))
    x += np.where(x > 0, XOR_PADDING, -XOR_PADDING)
    x += rng.uniform(-5, 5, size=x.shape) * noise
    y = (x[:, 0] * x[:, 1] >= 0).astype(np.int64)
    return x, y


@_problem
def gaussian(n_samples: int, noise: float, rng: np.random.Generator) -> Points:
    """Two Gaussian blobs at (2, 2) (label 1) and (-2, -2) (label 0).

    The variance grows linearly with the noise, from 0.5 (noise 0) to 4 (noise 0.5).
    """
    variance = 0.5 + noise / 0.5 * 3.5
    y = (np.arange(n_samples) < n_samples // 2).astype(np.int64)
    centres = np.where(y[:, None] == 1, 2.0, -2.0)
    x = centres + math.sqrt(variance) * rng.standard_normal((n_samples, 2))
    return x, y


@_problem
def spiral(n_samples: int, noise: float, rng: np.random.Generator) -> Points:
    """Two interleaved spirals of 1.75 turns out to radius 5 (label 1, and 0 turned by pi)."""
    n_first = n_samples // 2
    index = np.concatenate([np.arange(n_first), np.arange(n_samples - n_first)])
    count = np.where(np.arange(n_samples) < n_first, n_first, n_samples - n_first)
    y = (np.arange(n_samples) < n_first).astype(np.int64)
    r = index / count * RADIUS
    t = 1.75 * index / count * 2 * math.pi + np.where(y == 1, 0.0, math.pi)
    x = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    x += rng.uniform(-1, 1, size=x.shape) * noise
    return x, y


PROBLEMS: dict[str, Problem] = {
    "circle": circle,
    "xor": xor,
    "gaussian": gaussian,
    "spiral": spiral,
}


def make_problem(
    name: str,
    n_samples: int = 500,
    noise: float = 0.0,
    train_fraction: float = 0.5,
    rng: np.random.Generator | int = 0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A Playground problem split into training and test points (Playground defaults).

    Args:
        name: "circle", "xor", "gaussian" or "spiral".
        n_samples: points in all (the Playground uses 500).
        noise: in [0, 0.5].
        train_fraction: the share of points for training, in (0, 1) (the Playground's
            "ratio of training to test data", 50 % by default).
        rng: generator or seed for the points and the split.

    Returns:
        (x_train, y_train, x_test, y_test): x (n, 2) float64, y (n,) int64 in {0, 1}.
    """
    if name not in PROBLEMS:
        raise ValueError(f"unknown Playground problem {name!r}; choose one of {list(PROBLEMS)}")
    rng = as_generator(rng)
    x, y = PROBLEMS[name](n_samples, noise, rng)
    if isinstance(train_fraction, bool) or not isinstance(train_fraction, numbers.Real):
        raise TypeError(f"train_fraction must be a number in (0, 1), got {train_fraction!r}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction!r}")
    train, test = split_indices(len(x), 1 - train_fraction, rng)
    return x[train], y[train], x[test], y[test]
