"""HashGrid and DenseGrid: a slow reference written from the paper's formulas
(https://arxiv.org/abs/2201.05989, with tiny-cuda-nn's conventions), finite differences, and
the fused path against the autodiff encoding."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import gfxnn
from gfxnn.encodings.dense_grid import DenseGridEncoding
from gfxnn.encodings.grid import GridEncoding, grid_encode
from gfxnn.encodings.hash_grid import HashGridEncoding
from gfxnn.fused.grid import FusedGrid

PRIMES = [1, 2654435761, 805459861]
INTERPOLATIONS = ["Nearest", "Linear", "Smoothstep"]
# A tiny table (2^6 rows) so that the fine levels collide in the hash.
TINY = dict(n_levels=4, n_features_per_level=2, log2_hashmap_size=6, base_resolution=3,
            per_level_scale=1.7)  # fmt: skip


# ----- the reference: one point, one level, one corner at a time -----------------------------
def reference_levels(d: int, hashed: bool, p: dict) -> list[tuple[float, int, int, int, bool]]:
    """(scale, resolution, table size, offset, is hashed) per level, from the formulas."""
    levels, offset = [], 0
    for level in range(p["n_levels"]):
        scale = p["base_resolution"] * p["per_level_scale"] ** level - 1.0
        resolution = math.ceil(scale) + 1
        dense = math.ceil(resolution**d / 8) * 8  # tcnn pads each level to 8 rows
        size = min(dense, 2 ** p["log2_hashmap_size"]) if hashed else dense
        levels.append((scale, resolution, size, offset, resolution**d > size))
        offset += size
    return levels


def reference_row(vertex: tuple[int, ...], resolution: int, size: int, is_hashed: bool) -> int:
    if is_hashed:
        h = 0
        for k, v in enumerate(vertex):
            h ^= (v * PRIMES[k]) % 2**32
        return h % size
    return sum(v * resolution**k for k, v in enumerate(vertex)) % size


def smooth(t: float, interpolation: str) -> tuple[float, float]:
    """S(t) and S'(t)."""
    if interpolation == "Smoothstep":
        return t * t * (3 - 2 * t), 6 * t * (1 - t)
    return t, 1.0


def reference(x: np.ndarray, table: np.ndarray, g: np.ndarray, hashed: bool, p: dict, interp: str):
    """Features, dL/dtable and dL/dx for upstream gradient g, by loops."""
    n, d = x.shape
    n_features = table.shape[1]
    levels = reference_levels(d, hashed, p)
    out = np.zeros((n, len(levels) * n_features))
    d_table = np.zeros_like(table, dtype=np.float64)
    d_x = np.zeros((n, d))
    for i in range(n):
        for level, (scale, resolution, size, offset, is_hashed) in enumerate(levels):
            cols = slice(level * n_features, (level + 1) * n_features)
            position = [x[i, k] * scale + 0.5 for k in range(d)]
            cell = [math.floor(q) for q in position]
            if interp == "Nearest":
                row = offset + reference_row(tuple(cell), resolution, size, is_hashed)
                out[i, cols] = table[row]
                d_table[row] += g[i, cols]
                continue
            s, ds = zip(
                *(smooth(q - c, interp) for q, c in zip(position, cell, strict=True)), strict=True
            )
            for corner in itertools.product((0, 1), repeat=d):
                vertex = tuple(c + b for c, b in zip(cell, corner, strict=True))
                row = offset + reference_row(vertex, resolution, size, is_hashed)
                factors = [s[k] if corner[k] else 1 - s[k] for k in range(d)]
                out[i, cols] += math.prod(factors) * table[row]
                d_table[row] += math.prod(factors) * g[i, cols]
                for k in range(d):
                    slope = scale * ds[k] * (1 if corner[k] else -1)
                    others = math.prod(factors[j] for j in range(d) if j != k)
                    d_x[i, k] += slope * others * float(g[i, cols] @ table[row])
    return out, d_table, d_x


def away_from_cells(x: np.ndarray, encoding: GridEncoding, margin: float) -> np.ndarray:
    """Rows of x whose cell fractions are at least `margin` from 0 and 1 at every level, so
    that finite differences never step across a cell boundary (where Linear has a kink,
    Smoothstep a jump in its second derivative and Nearest a jump)."""
    keep = np.ones(len(x), bool)
    for scale in encoding.layout.scales:
        t = (x * scale + 0.5) % 1.0
        keep &= np.all((t > margin) & (t < 1 - margin), axis=1)
    return x[keep]


def make(cls: type[GridEncoding], d: int, interp: str, dtype=np.float64, **overrides):
    params = {**TINY, **overrides}
    encoding = cls(d, **params, interpolation=interp, rng=np.random.default_rng(d), dtype=dtype)
    # A table of order one (the init is +-1e-4) so that every term of the sums matters.
    encoding.table.data[...] = np.random.default_rng(10 + d).uniform(-1, 1, encoding.table.shape)
    return encoding, params


@pytest.mark.parametrize("cls", [HashGridEncoding, DenseGridEncoding])
@pytest.mark.parametrize("interp", INTERPOLATIONS)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_matches_reference(cls, interp, d):
    encoding, params = make(cls, d, interp)
    rng = np.random.default_rng(d)
    # Include the corners of the domain: x = 1 reaches the vertex R at dense levels (wraps).
    x = np.concatenate([rng.uniform(0, 1, (40, d)), np.zeros((1, d)), np.ones((1, d))])
    xt = gfxnn.Tensor(x, requires_grad=True)
    y = encoding(xt)
    g = rng.standard_normal(y.shape)
    y.backward(g)
    out, d_table, d_x = reference(
        x, encoding.table.data, g, cls is HashGridEncoding, params, interp
    )
    levels = reference_levels(d, cls is HashGridEncoding, params)
    assert encoding.layout.sizes == tuple(size for _, _, size, _, _ in levels)
    assert encoding.layout.hashed == tuple(h for *_, h in levels)
    np.testing.assert_allclose(y.data, out, atol=1e-12, rtol=1e-12)
    np.testing.assert_allclose(encoding.table.grad, d_table, atol=1e-12, rtol=1e-12)
    # Nearest: both are zero (the reference never adds to d_x).
    np.testing.assert_allclose(xt.grad, d_x, atol=1e-10, rtol=1e-10)


def test_tiny_hash_table_collides():
    """The reference test above is only meaningful for the hash if rows are shared."""
    encoding, _ = make(HashGridEncoding, 2, "Linear")
    assert any(encoding.layout.hashed)
    assert encoding.layout.sizes[-1] == 64
    assert encoding.layout.resolutions[-1] ** 2 > 64
    dense, _ = make(DenseGridEncoding, 2, "Linear")
    assert not any(dense.layout.hashed)
    assert dense.layout.sizes[-1] == math.ceil(dense.layout.resolutions[-1] ** 2 / 8) * 8


@pytest.mark.parametrize("cls", [HashGridEncoding, DenseGridEncoding])
@pytest.mark.parametrize("interp", INTERPOLATIONS)
@pytest.mark.parametrize("d", [1, 2, 3])
def test_gradcheck(cls, interp, d):
    # Each table entry costs two forward passes: keep the 3-D dense table to a few hundred rows.
    # Three levels still include a hashed one for every d (1-D: a table of 2^3 rows).
    size = {"log2_hashmap_size": 3} if d == 1 else {}
    encoding, _ = make(cls, d, interp, n_levels=3, base_resolution=2 if d == 3 else 3, **size)
    assert any(encoding.layout.hashed) == (cls is HashGridEncoding)
    x = away_from_cells(np.random.default_rng(5).uniform(0, 1, (60, d)), encoding, 1e-3)[:12]
    assert len(x) >= 4
    # In x: Linear and Smoothstep are smooth inside a cell (eps 1e-6 never leaves it); Nearest
    # is constant there, so its zero gradient is checked against differences that are zero.
    # In the table the encoding is linear, so central differences are exact up to rounding.
    gfxnn.gradcheck(
        lambda xs, table: grid_encode(xs, table, encoding.layout, interp),
        [x, encoding.table.data],
        eps=1e-6,
        atol=1e-6,
        rtol=1e-5,
    )


def test_default_layout_is_tcnns():
    """16 levels of 16 * 2^l vertices per axis: levels 0..5 (16^2 .. 512^2 rows) are dense,
    levels 6..15 hashed into 2^19 rows each."""
    encoding = HashGridEncoding(2, rng=0)
    assert encoding.n_output_dims == 32
    assert encoding.layout.resolutions == tuple(16 * 2**level for level in range(16))
    expected = sum((16 * 2**level) ** 2 for level in range(6)) + 10 * 2**19
    assert encoding.table.shape == (expected, 2)
    assert np.abs(encoding.table.data).max() <= 1e-4
    assert encoding.table.dtype == np.float32
    assert list(encoding.state_dict()) == ["table"]


@pytest.mark.parametrize("cls", [HashGridEncoding, DenseGridEncoding])
def test_hyperparams_rebuild(cls):
    encoding = cls(3, **TINY, interpolation="smoothstep", rng=3)
    params = encoding.hyperparams()
    assert params["otype"] == cls.otype
    assert params["interpolation"] == "Smoothstep"
    rebuilt = cls(3, **{k: v for k, v in params.items() if k != "otype"}, rng=3)
    assert rebuilt.layout == encoding.layout
    np.testing.assert_array_equal(rebuilt.table.data, encoding.table.data)


@pytest.mark.parametrize("hashed", [True, False])
@pytest.mark.parametrize("interp", INTERPOLATIONS)
def test_fused_grid_equals_autodiff(hashed, interp):
    cls = HashGridEncoding if hashed else DenseGridEncoding
    params = {**TINY, "log2_hashmap_size": 8}
    encoding = cls(2, **params, interpolation=interp, rng=7)
    fused = FusedGrid(2, **params, interpolation=interp, hashed=hashed)
    fused.initialize(np.random.default_rng(7))
    np.testing.assert_array_equal(fused.params, encoding.table.data.reshape(-1))
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (300, 2)).astype(np.float32)
    g = rng.standard_normal((300, fused.n_output_dims)).astype(np.float32)
    scratch = fused.make_scratch(512, np.float32)  # more rows than used, as render's chunks
    out = np.full((300, fused.n_output_dims), np.nan, np.float32)
    fused.encode(x, out, scratch)
    fused.grads[...] = np.nan  # backward overwrites
    fused.backward(g)
    y = encoding(x)
    y.backward(g)
    np.testing.assert_allclose(out, y.data, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(fused.grads, encoding.table.grad.reshape(-1), rtol=1e-5, atol=1e-6)


def test_default_fused_grid_float32_matches_float64():
    """The float32 kernels on the default 2^19 config, against the float64 encoding."""
    fused = FusedGrid()
    fused.initialize(np.random.default_rng(1))
    fused.table[...] = np.random.default_rng(2).uniform(-1, 1, fused.table.shape)
    encoding = HashGridEncoding(2, rng=0, dtype=np.float64)
    encoding.table.data[...] = fused.table
    x = np.random.default_rng(3).uniform(0, 1, (2000, 2)).astype(np.float32)
    out = np.empty((2000, 32), np.float32)
    fused.encode(x, out, fused.make_scratch(2000, np.float32))
    expected = encoding(x.astype(np.float64)).data
    # float32 places x at x * s_l + 0.5 within one ulp, ~(s_l + 1) 2^-23; linear interpolation
    # of table values in [-1, 1] moves at most 2 per unit along each of the 2 axes (and stays
    # continuous across cells), so level l may differ by 4 (s_l + 1) 2^-23 (doubled for margin;
    # 6e-7 at level 0, 0.5 at the finest level, whose cells float32 resolves to ~1/32).
    for level, scale in enumerate(fused.layout.scales):
        tolerance = 8 * (scale + 1) * 2.0**-23 + 1e-6
        cols = slice(2 * level, 2 * level + 2)
        np.testing.assert_allclose(out[:, cols], expected[:, cols], rtol=0, atol=tolerance)


def test_input_gradient_of_float32_matches_float64():
    x = np.random.default_rng(4).uniform(0.05, 0.95, (50, 2))
    grads = []
    for dtype in (np.float32, np.float64):
        encoding = HashGridEncoding(2, n_levels=6, log2_hashmap_size=10, rng=1, dtype=dtype)
        xt = gfxnn.Tensor(x.astype(dtype), requires_grad=True)
        encoding(xt).sum().backward()
        grads.append(xt.grad)
    assert grads[0].dtype == np.float32
    np.testing.assert_allclose(grads[0], grads[1], rtol=1e-3, atol=1e-6)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("n_input_dims", 0),
        ("n_input_dims", 8),
        ("n_levels", 0),
        ("n_levels", 2.0),
        ("n_features_per_level", 0),
        ("log2_hashmap_size", 0),
        ("log2_hashmap_size", 40),
        ("base_resolution", 0),
        ("per_level_scale", 0.5),
        ("per_level_scale", float("nan")),
        ("per_level_scale", "2"),
        ("interpolation", "Cubic"),
    ],
)
@pytest.mark.parametrize("cls", [HashGridEncoding, DenseGridEncoding])
def test_bad_parameters_raise(cls, name, value):
    kwargs = {"n_input_dims": 2, name: value}
    with pytest.raises(ValueError, match=name):
        cls(**kwargs)
    fused_kwargs = {**kwargs, "hashed": cls is HashGridEncoding}
    with pytest.raises(ValueError, match=name):
        FusedGrid(**fused_kwargs)


def test_dense_grid_ignores_log2_hashmap_size():
    """tcnn's DenseGrid lays out every level densely whatever log2_hashmap_size says."""
    small = DenseGridEncoding(2, **{**TINY, "log2_hashmap_size": 2}, rng=0)
    large = DenseGridEncoding(2, **{**TINY, "log2_hashmap_size": 24}, rng=0)
    assert small.layout.sizes == large.layout.sizes
    assert small.hyperparams()["log2_hashmap_size"] == 2  # kept for the round trip


def test_huge_dense_grid_is_refused():
    with pytest.raises(ValueError, match="DenseGrid table"):
        DenseGridEncoding(3)  # 16 levels up to 524288^3 vertices


def test_bad_inputs_raise():
    encoding = HashGridEncoding(2, **TINY, rng=0)
    with pytest.raises(ValueError, match="shape"):
        encoding(np.zeros((4, 3), np.float32))
    with pytest.raises(TypeError, match="float64"):
        encoding(np.zeros((4, 2), np.float64))
    fused = FusedGrid(2, **TINY)
    with pytest.raises(ValueError, match="scratch"):
        fused.encode(np.zeros((8, 2), np.float32), np.empty((8, 8), np.float32),
                     fused.make_scratch(4, np.float32))  # fmt: skip


def test_trains_to_fit_a_signal():
    """A few Adam steps on the table alone fit a 2-D function the grid can represent."""
    encoding = HashGridEncoding(2, n_levels=4, n_features_per_level=1, log2_hashmap_size=8,
                                base_resolution=4, per_level_scale=2.0, rng=0)  # fmt: skip
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 1, (512, 2)).astype(np.float32)
    target = np.sin(4 * x[:, :1]) * np.cos(3 * x[:, 1:])
    optimizer = gfxnn.optim.Adam(encoding.parameters(), lr=0.05, eps=1e-15)
    losses = []
    for _ in range(100):
        loss = ((encoding(x).sum(axis=1, keepdims=True) - target) ** 2).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.data))
    assert losses[-1] < 0.01 * losses[0]
