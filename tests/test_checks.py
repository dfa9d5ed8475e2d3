"""gfxnn.checks: one error naming the argument, the value and what is allowed; a huge value is
quoted cut short, never echoed whole (nor refused by Python's int-to-str digit limit)."""

from __future__ import annotations

import numpy as np
import pytest

from gfxnn.checks import (
    MAX_SHOWN,
    check_choice,
    check_fraction,
    check_int,
    check_non_negative,
    check_rate,
    check_real,
    shown,
)


def test_short_values_are_quoted_as_they_are() -> None:
    assert shown("leaky_relu") == "'leaky_relu'"
    assert shown(3) == "3"
    assert shown(np.float64(1.5)) == "1.5"
    with pytest.raises(ValueError, match=r"^n_layers must be in 3\.\.8, got 9$"):
        check_int("n_layers", 9, 3, 8)
    with pytest.raises(ValueError, match=r"^loss must be one of l1, l2; got 'huber'$"):
        check_choice("loss", "huber", ("l1", "l2"))


def test_a_long_value_is_cut_with_its_length_stated() -> None:
    name = "x" * 5000
    with pytest.raises(ValueError) as error:
        check_choice("encoding", name, ("frequency", "hash_grid"))
    message = str(error.value)
    assert len(message) < 200
    assert "(5002 characters)" in message
    assert message.startswith("encoding must be one of frequency, hash_grid; got 'xxx")
    assert len(shown(name)) <= MAX_SHOWN + len(" (5002 characters)")


def test_an_integer_beyond_the_digit_limit_is_described_not_printed() -> None:
    huge = 10**5000  # str() of it raises ValueError in Python 3.11 (4300-digit limit)
    with pytest.raises(ValueError, match=r"^batch_size must be in 1\.\.65536, got an integer of "
                       r"about 5001 digits$"):  # fmt: skip
        check_int("batch_size", huge, 1, 65536)
    with pytest.raises(ValueError, match="about 5001 digits"):
        check_rate("learning_rate", -huge)


def test_an_integer_beyond_float_range_is_a_value_error_not_an_overflow() -> None:
    for check in (check_rate, check_fraction, check_real, check_non_negative):
        with pytest.raises(ValueError, match="about 401 digits"):
            check("epsilon", 10**400)
    with pytest.raises(ValueError, match="about 401 digits"):
        check_real("limit", 10**400, finite=False)
