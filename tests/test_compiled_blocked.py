"""The register-blocked products of the training kernel (gfxnn.compiled.blocked) against
float64 NumPy, in the three operand layouts the kernel uses, and its refusals."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from gfxnn.compiled import blocked  # noqa: E402

SHAPES = [(342, 32, 64), (341, 64, 64), (7, 64, 16), (1, 5, 32), (4, 1, 48), (9, 300, 16)]


def _close(got: np.ndarray, expected: np.ndarray, dtype: type) -> None:
    # each output is a sum along k of FMAs: within a few ulps per term of the exact sum
    tolerance = (4e-7 if dtype == np.float32 else 1e-15) * np.sqrt(expected.shape[0] + 64)
    scale = np.abs(expected).max()
    assert np.abs(got - expected).max() <= tolerance * scale


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("rows", "depth", "cols"), SHAPES)
def test_forward_input_and_weight_gradient_layouts(rows, depth, cols, dtype) -> None:
    rng = np.random.default_rng(rows * 1000 + depth)
    x = rng.standard_normal((rows, depth)).astype(dtype)
    w_t = rng.standard_normal((depth, cols)).astype(dtype)
    out = np.full((rows, cols), np.nan, dtype)  # every output written
    blocked.product(x, depth, 1, w_t, cols, out, rows, cols, depth)  # x W^T (forward)
    _close(out, x.astype(np.float64) @ w_t, dtype)
    # g^T x (the weight gradient): A read column-wise out of a row-major (depth, rows) array
    g = rng.standard_normal((depth, rows)).astype(dtype)
    x2 = rng.standard_normal((depth, cols)).astype(dtype)
    out2 = np.full((rows, cols), np.nan, dtype)
    blocked.product(g, 1, rows, x2, cols, out2, rows, cols, depth)
    _close(out2, g.T.astype(np.float64) @ x2, dtype)


def test_rows_left_over_round_like_the_blocked_ones() -> None:
    # a row's outputs do not depend on which block (4 rows or 1) computed it
    rng = np.random.default_rng(5)
    x = rng.standard_normal((10, 64)).astype(np.float32)
    w_t = rng.standard_normal((64, 32)).astype(np.float32)
    whole = np.empty((10, 32), np.float32)
    blocked.product(x, 64, 1, w_t, 32, whole, 10, 32, 64)
    for r in range(10):
        one = np.empty((1, 32), np.float32)
        blocked.product(x[r : r + 1], 64, 1, w_t, 32, one, 1, 32, 64)
        np.testing.assert_array_equal(one[0], whole[r])


def test_serves_float32_multiples_of_16_only() -> None:
    assert blocked.serves(4, 64) and blocked.serves(4, 16)
    assert not blocked.serves(4, 3) and not blocked.serves(4, 40)
    assert not blocked.serves(8, 64)  # float64 stays on BLAS (NumPy's order, the tests' 1e-10)


def test_other_dtypes_are_refused() -> None:
    a = np.ones((4, 4), np.int32)
    with pytest.raises(Exception, match="float32"):
        blocked.product(a, 4, 1, a, 16, a, 4, 16, 4)


def test_widths_that_are_not_multiples_of_16_are_refused() -> None:
    a = np.ones((4, 4), np.float32)
    out = np.zeros((4, 24), np.float32)
    with pytest.raises(ValueError, match="multiple of 16"):
        blocked.product(a, 4, 1, np.ones((4, 24), np.float32), 24, out, 4, 24, 4)
    assert not out.any()  # nothing written
    with pytest.raises(ValueError, match="n_rows n_cols"):  # out too small
        blocked.product(a, 4, 1, np.ones((4, 16), np.float32), 16, out[:1], 4, 16, 4)
