"""The 2-D grid scatter (gfxnn.compiled.grid2d) against the general N-D scatter, bit for bit.

grid2d finds the corners with 32-bit hashes and a one-subtraction wrap for dense levels, and
falls back to the exact formula where that could differ; every case here must give the very
bits of encode.grid_scatter's per-point, 64-bit path."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import numba  # noqa: E402

from gfxnn.compiled import encode, grid2d  # noqa: E402
from gfxnn.compiled.activations import make_consts  # noqa: E402
from gfxnn.compiled.threads import max_threads  # noqa: E402
from gfxnn.encodings.grid_kernels import GridLayout, grid_layout  # noqa: E402


def layout(hashed: bool) -> GridLayout:
    # base 4, x2 per level, 2^8 entries: the first levels are dense (4^2..16^2 <= 256) and,
    # when hashed, the finer ones hash into 256 entries
    return grid_layout(2, 5, 2, 8, 4, 2.0, hashed)


def points(kind: str, rng: np.random.Generator, dtype: type) -> np.ndarray:
    if kind == "unit":  # the sampler's range, with its corners and edges
        x = rng.random((3000, 2))
        x[:6] = [[0, 0], [1, 1], [1, 0], [0, 1], [0.5, 1], [1, 0.25]]
    elif kind == "outside":  # the dense wrap needs the true modulo here
        x = rng.random((3000, 2)) * 3 - 1
    else:  # so far out that 32-bit corners would overflow: the exact fallback
        x = rng.random((3000, 2)) * 1e9
    return x.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("interpolation", ["Linear", "Smoothstep", "Nearest"])
@pytest.mark.parametrize("hashed", [True, False])
@pytest.mark.parametrize("kind", ["unit", "outside", "huge"])
def test_scatter_equals_the_general_scatter(kind, hashed, interpolation, dtype) -> None:
    grid = encode.GridArrays(layout(hashed), interpolation, np.dtype(dtype))
    rng = np.random.default_rng(7)
    x = points(kind, rng, dtype)
    grad_features = rng.standard_normal((len(x), 5 * grid.n_features)).astype(dtype)
    k = make_consts(np.dtype(dtype), 1e-2, 1.0)
    n_entries = int(grid.offsets[-1] + grid.sizes[-1]) * 2
    arrays = (grid.scales, grid.offsets, grid.sizes, grid.resolutions, grid.hashed)
    expected = np.zeros(n_entries, dtype)
    encode.grid_scatter(x, grad_features, *arrays, 2, grid.interpolation, k, expected)
    # the test touches the table (float32 points near 1e9 sit on grid vertices: fewer rows)
    assert np.count_nonzero(expected) > (n_entries // 4 if kind != "huge" else 100)
    for threads in sorted({1, min(2, max_threads())}):
        numba.set_num_threads(threads)
        got = np.zeros(n_entries, dtype)
        grid2d.scatter(x, grad_features, *arrays, 2, grid.interpolation, k, got)
        np.testing.assert_array_equal(got, expected)
    numba.set_num_threads(max_threads())


def test_corners_of_a_block_are_the_exact_corners() -> None:
    grid = encode.GridArrays(layout(True), "Linear", np.dtype(np.float32))
    x = points("unit", np.random.default_rng(3), np.float32)[:100]
    k = make_consts(np.dtype(np.float32), 1e-2, 1.0)
    arrays = (grid.scales, grid.offsets, grid.sizes, grid.resolutions)
    for level in range(len(grid.scales)):
        index = np.zeros((4, 100), np.int32)
        weight = np.zeros((4, 100), np.float32)
        grid2d.level_corners(
            x[:, 0].copy(), x[:, 1].copy(), level, *arrays, bool(grid.hashed[level]), 2,
            grid.interpolation, k, index, weight,
        )  # fmt: skip
        for t in (0, 1, 4, 99):
            exact = encode.corners_2d(
                x[t, 0], x[t, 1], level, grid.scales, grid.sizes, grid.resolutions,
                bool(grid.hashed[level]), grid.interpolation, k,
            )  # fmt: skip
            rows = (index[:, t] // 2 - grid.offsets[level]).tolist()
            assert rows == list(exact[:4])
            assert weight[:, t].tolist() == [np.float32(w) for w in exact[4:]]


@pytest.mark.parametrize("interpolation", ["Linear", "Smoothstep", "Nearest"])
@pytest.mark.parametrize("hashed", [True, False])
@pytest.mark.parametrize("kind", ["unit", "outside", "huge"])
def test_gather_equals_the_general_gather(kind, hashed, interpolation) -> None:
    dtype = np.float32
    grid = encode.GridArrays(layout(hashed), interpolation, np.dtype(dtype))
    rng = np.random.default_rng(11)
    x = points(kind, rng, dtype)
    n_entries = int(grid.offsets[-1] + grid.sizes[-1]) * 2
    table = rng.standard_normal(n_entries).astype(dtype)
    k = make_consts(np.dtype(dtype), 1e-2, 1.0)
    arrays = (grid.scales, grid.offsets, grid.sizes, grid.resolutions, grid.hashed)
    expected = np.zeros((len(x), 5 * grid.n_features), dtype)
    # the general path, one corner at a time (what grid_rows does for every dimension but 2)
    encode.grid_rows(x, 0, len(x), table, *arrays, 2, grid.interpolation, k, expected)
    assert len(x) > grid2d.BLOCK  # more than one block of corners per level
    for threads in sorted({1, min(2, max_threads())}):
        numba.set_num_threads(threads)
        levels = np.zeros((5 * len(x), grid.n_features), dtype)  # level-major
        grid2d.gather(x, table, *arrays, 2, grid.interpolation, k, levels)
        got = levels.reshape(5, len(x), grid.n_features).transpose(1, 0, 2).reshape(len(x), -1)
        np.testing.assert_array_equal(got.view(np.int32), expected.view(np.int32))
    numba.set_num_threads(max_threads())
