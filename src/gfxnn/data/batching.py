"""Mini-batches and train/validation splits, every shuffle drawn from an explicit generator."""

from __future__ import annotations

import numbers
from collections.abc import Iterator
from typing import Any

import numpy as np

from gfxnn.rng import as_generator  # the one RNG helper (None is its documented fixed seed)

__all__ = ["as_generator", "iterate_minibatches", "train_val_split"]


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
    return int(value)


def iterate_minibatches(
    n: int,
    batch_size: int,
    rng: np.random.Generator | int | None = None,
    shuffle: bool = True,
    drop_last: bool = False,
) -> Iterator[np.ndarray]:
    """Index arrays that cover range(n) once, `batch_size` at a time.

    Args:
        n: the number of samples, >= 1.
        batch_size: indices per batch, >= 1; the last batch may be smaller.
        rng: the generator that draws the order; required when shuffling. Pass one
            Generator for a whole run so that every epoch gets a new order (an int seed
            makes a fresh generator, so the same seed gives the same order every call).
        shuffle: visit the samples in a random order (a fresh permutation per call).
        drop_last: skip a last batch smaller than batch_size (every batch then has the
            same size; with n < batch_size nothing is yielded).

    Yields:
        int64 arrays of indices into the samples, shape (batch_size,) or smaller.
    """
    n = _check_positive_int("n (the number of samples)", n)
    batch_size = _check_positive_int("batch_size", batch_size)
    if shuffle:
        if rng is None:
            raise ValueError("shuffle=True needs an rng (a numpy.random.Generator or a seed)")
        order = as_generator(rng).permutation(n)
    else:
        order = np.arange(n)
    stop = n - n % batch_size if drop_last else n
    for start in range(0, stop, batch_size):
        yield order[start : start + batch_size]


def split_indices(
    n: int, fraction: float, rng: np.random.Generator | int
) -> tuple[np.ndarray, np.ndarray]:
    """A random partition of range(n): (train indices, validation indices), each sorted.

    The validation part holds round(n * fraction) samples, at least 1 and at most n - 1.
    """
    n = _check_positive_int("n (the number of samples)", n)
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
        raise TypeError(f"fraction must be a number in (0, 1), got {fraction!r}")
    if not 0 < fraction < 1:
        raise ValueError(f"fraction must be in (0, 1), got {fraction!r}")
    if n < 2:
        raise ValueError(f"cannot split {n} sample into training and validation sets")
    n_val = min(max(round(n * fraction), 1), n - 1)
    order = as_generator(rng).permutation(n)
    return np.sort(order[n_val:]), np.sort(order[:n_val])


def train_val_split(
    x: np.ndarray, y: np.ndarray, fraction: float, rng: np.random.Generator | int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Split samples at random into training and validation sets.

    Args:
        x: inputs (N, ...).
        y: targets (N, ...), the same N.
        fraction: the share of samples for validation, in (0, 1); 0.2 is the usual 80/20.
        rng: the generator (or seed) that draws the partition.

    Returns:
        (x_train, y_train, x_val, y_val); the samples keep their original relative order.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"x and y must hold the same number of samples, got shapes {x.shape} and {y.shape}"
        )
    train, val = split_indices(len(x), fraction, rng)
    return x[train], y[train], x[val], y[val]
