"""Argument checkers shared by the whole package: each raises one error naming the argument,
the value it got and what is allowed (never a traceback from deep inside NumPy). Each returns
the checked value (as int, float, bool or a pair), so a constructor checks and stores in one
line. Bools are never integers or numbers here: True is not a layer count or a rate."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

MAX_SHOWN = 80  # characters of a value quoted in an error message


def shown(value: Any) -> str:
    """`value` as an error message quotes it: its repr, cut to MAX_SHOWN characters with the
    full length stated (a 5000-character name or a 10**5000 count is not echoed whole; Python
    refuses to print an int of more than 4300 digits at all)."""
    if _is_integer(value) and abs(int(value)).bit_length() > 256:
        return f"an integer of about {int(abs(int(value)).bit_length() * 0.30103) + 1} digits"
    text = str(value) if _is_number(value) else repr(value)
    if len(text) <= MAX_SHOWN:
        return text
    return f"{text[: MAX_SHOWN - 3]}... ({len(text)} characters)"


def check_int(name: str, value: Any, low: int, high: int | None = None) -> int:
    """An integer (bool excluded) in low..high (no upper bound when high is None), as int."""
    if high is None:
        if not _is_integer(value) or value < low:
            raise ValueError(f"{name} must be an integer >= {low}, got {shown(value)}")
        return int(value)
    if not _is_integer(value):
        raise ValueError(f"{name} must be an integer in {low}..{high}, got {shown(value)}")
    if not low <= value <= high:
        raise ValueError(f"{name} must be in {low}..{high}, got {shown(value)}")
    return int(value)


def check_positive_int(name: str, value: Any) -> int:
    """An integer >= 1 (bool excluded: True is not a size), as int."""
    if not _is_integer(value) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {shown(value)}")
    return int(value)


def check_seed(name: str, value: Any) -> int:
    """A seed for np.random.default_rng: an integer >= 0 (bool excluded), as int."""
    if not _is_integer(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0 (a seed), got {shown(value)}")
    return int(value)


def _is_integer(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | np.integer)


def check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    """One of `choices`."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(choices)}; got {shown(value)}")


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float | np.floating | np.integer)


def _is_finite(value: Any) -> bool:
    # An int beyond float's range (10**400) counts as infinite: it cannot become a float, and
    # math.isfinite would raise OverflowError converting it.
    if _is_integer(value):
        return abs(int(value)).bit_length() <= 1023
    return math.isfinite(value)


def check_rate(name: str, value: Any) -> float:
    """A finite number > 0 (learning rates, epsilons), as float."""
    if not _is_number(value):
        raise ValueError(f"{name} must be a finite number > 0, got {shown(value)}")
    if not (_is_finite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {shown(value)}")
    return float(value)


def check_fraction(name: str, value: Any) -> float:
    """A number in [0, 1) (Adam's betas, l2_reg), as float."""
    if not _is_number(value):
        raise ValueError(f"{name} must be a number in [0, 1), got {shown(value)}")
    if not 0 <= value < 1:
        raise ValueError(f"{name} must be in [0, 1), got {shown(value)}")
    return float(value)


# ----- hyperparameters of optimizers, losses and layers (torch.optim's conventions) ------
# A wrong type is a TypeError, a wrong value a ValueError; NaN and infinity are wrong values
# everywhere: an infinite learning rate or epsilon only ever produces NaN weights later.
def check_real(name: str, value: Any, *, finite: bool = True) -> float:
    """A real number (bools excluded), finite unless `finite` is False, as float."""
    if not _is_number(value):
        raise TypeError(f"{name} must be a real number, got {shown(value)}")
    if (finite or _is_integer(value)) and not _is_finite(value):
        raise ValueError(f"{name} must be a finite number, got {shown(value)}")
    return float(value)


def check_non_negative(name: str, value: Any, *, finite: bool = True) -> float:
    """A number >= 0 (NaN refused; +inf only when `finite` is False), as float."""
    number = check_real(name, value, finite=False)
    if not number >= 0:  # also refuses NaN
        raise ValueError(f"{name} must be >= 0, got {shown(value)}")
    if finite and math.isinf(number):
        raise ValueError(f"{name} must be a finite number >= 0, got {shown(value)}")
    return number


def check_interval(name: str, value: Any, low: float, high: float, *, closed: bool) -> float:
    """A number in [low, high] (closed) or [low, high) (not closed), as float."""
    number = check_real(name, value)
    inside = low <= number <= high if closed else low <= number < high
    if not inside:
        raise ValueError(
            f"{name} must be in [{low:g}, {high:g}{']' if closed else ')'}, got {shown(value)}"
        )
    return number


def check_bool(name: str, value: Any) -> bool:
    """True or False (NumPy's bool too); 0 and 1 are refused, they are not flags."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{name} must be a bool, got {shown(value)}")
    return bool(value)


def check_pair(name: str, value: Any, check: Callable[[str, Any], float]) -> tuple[float, float]:
    """A pair (tuple or list of two), each entry checked by `check` as name[0] and name[1]."""
    if not isinstance(value, tuple | list) or len(value) != 2:
        raise ValueError(f"{name} must be a pair of numbers, got {shown(value)}")
    return check(f"{name}[0]", value[0]), check(f"{name}[1]", value[1])


def check_unit_interval(name: str, value: Any) -> float:
    """A number in [0, 1) (Adam's betas), as float."""
    return check_interval(name, value, 0.0, 1.0, closed=False)


def check_closed_unit_interval(name: str, value: Any) -> float:
    """A number in [0, 1] (RMSprop's alpha, Adadelta's rho), as float."""
    return check_interval(name, value, 0.0, 1.0, closed=True)


def check_unit_pair(name: str, value: Any) -> tuple[float, float]:
    """A pair of numbers in [0, 1) (Adam's betas)."""
    return check_pair(name, value, check_unit_interval)


def check_non_negative_pair(name: str, value: Any) -> tuple[float, float]:
    """A pair of numbers >= 0 (Rprop's step sizes)."""
    return check_pair(name, value, check_non_negative)


def check_real_pair(name: str, value: Any) -> tuple[float, float]:
    """A pair of finite numbers (Rprop's etas)."""
    return check_pair(name, value, check_real)
