"""Argument checkers shared by the whole package: each raises ValueError naming the argument,
the value it got and what is allowed (never a traceback from deep inside NumPy)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def check_int(name: str, value: Any, low: int, high: int | None = None) -> None:
    """An integer (bool excluded) in low..high (no upper bound when high is None)."""
    allowed = f"{low}..{high}" if high is not None else f">= {low}"
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer in {allowed}, got {value!r}")
    if value < low or (high is not None and value > high):
        raise ValueError(f"{name} must be in {allowed}, got {value}")


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """One of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {value!r}")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(
        value, int | float | np.floating | np.integer
    )


def check_rate(name: str, value: Any) -> None:
    """A finite number > 0 (learning rates, epsilons)."""
    if not _is_number(value):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


def check_fraction(name: str, value: Any) -> None:
    """A number in [0, 1) (Adam's betas, l2_reg)."""
    if not _is_number(value):
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {value}")
