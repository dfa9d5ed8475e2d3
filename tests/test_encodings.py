"""The autodiff engine's input encodings: closed forms, oracles, gradients, configs, errors.

Every encoding is checked for the same invariants (shape, finite-difference gradients,
inference = training forward, hyperparams round trip); then each against values that do not
come from its own code: hand-worked numbers, numerical integration, scipy's spherical
harmonics, textbook polynomials and PyTorch.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import gfxnn
from gfxnn.encodings import (
    CompositeEncoding,
    Encoding,
    FrequencyEncoding,
    GaussianFourierEncoding,
    IdentityEncoding,
    OneBlobEncoding,
    OneHotEncoding,
    SphericalHarmonicsEncoding,
    TriangleWaveEncoding,
)
from tests.helpers import check_against_torch

# name -> a small instance with non-default parameters, so a dropped parameter shows.
CASES: dict[str, Callable[[], Encoding]] = {
    "identity": lambda: IdentityEncoding(3, scale=2.0, offset=-0.5),
    "frequency": lambda: FrequencyEncoding(2, 4),
    "one_blob": lambda: OneBlobEncoding(2, 8),
    "one_hot": lambda: OneHotEncoding(2, 8),
    "triangle_wave": lambda: TriangleWaveEncoding(2, 5),
    "gaussian_fourier": lambda: GaussianFourierEncoding(2, 16, sigma=2.0, seed=3),
    "spherical_harmonics": lambda: SphericalHarmonicsEncoding(3, 8),
    "composite": lambda: CompositeEncoding(
        6, [FrequencyEncoding(2, 3), OneBlobEncoding(1, 4), SphericalHarmonicsEncoding(3, 3)]
    ),
}
EXPECTED_WIDTH = {
    "identity": 3,
    "frequency": 16,
    "one_blob": 16,
    "one_hot": 16,
    "triangle_wave": 10,
    "gaussian_fourier": 32,
    "spherical_harmonics": 64,
    "composite": 12 + 4 + 9,
}


def away_from_kinks(encoding: Encoding, n: int, seed: int, margin: float = 1e-3) -> np.ndarray:
    """n inputs in [0, 1]^d at least `margin` (in the encoding's own units) from every point
    where it is not differentiable: one-hot bin edges and triangle-wave corners."""
    rng = np.random.default_rng(seed)
    kept = np.empty((0, encoding.n_input_dims))
    while len(kept) < n:
        x = rng.uniform(0.02, 0.98, size=(4 * n, encoding.n_input_dims))
        if isinstance(encoding, OneHotEncoding):
            edges = x * encoding.n_bins
        elif isinstance(encoding, TriangleWaveEncoding):
            # Corners where 2^(k-1) x + k/4 is a multiple of 1/2.
            k = np.arange(encoding.n_frequencies)
            edges = 2 * (x[..., None] * 2.0 ** (k - 1.0) + k / 4)
        else:
            edges = np.full_like(x, 0.5)
        distance = np.abs(edges - np.round(edges)).reshape(len(x), -1).min(axis=1)
        kept = np.concatenate([kept, x[distance > margin]])
    return kept[:n]


# ----- invariants of every encoding -----------------------------------------------------------
@pytest.mark.parametrize("name", CASES)
def test_shape_dtype_and_inference_equals_training(name: str) -> None:
    encoding = CASES[name]()
    assert encoding.n_output_dims == EXPECTED_WIDTH[name]
    for dtype in (np.float32, np.float64):
        x = np.random.default_rng(0).random((7, encoding.n_input_dims)).astype(dtype)
        out = encoding(gfxnn.Tensor(x, requires_grad=True))
        assert out.shape == (7, encoding.n_output_dims)
        assert out.dtype == dtype
        with gfxnn.no_grad():
            inferred = encoding(gfxnn.Tensor(x, requires_grad=True))
        assert not inferred.requires_grad
        np.testing.assert_array_equal(inferred.data, out.data)
    with pytest.raises(ValueError, match="expects inputs of shape"):
        encoding(gfxnn.Tensor(np.zeros((4, encoding.n_input_dims + 1))))


@pytest.mark.parametrize("name", CASES)
def test_gradients_match_finite_differences(name: str) -> None:
    encoding = CASES[name]()
    x = away_from_kinks(encoding, 5, seed=1)
    assert gfxnn.gradcheck(encoding, [x], eps=1e-6, atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name", sorted(set(CASES) - {"composite"}))
def test_hyperparams_rebuild_the_same_encoding(name: str) -> None:
    encoding = CASES[name]()
    params = encoding.hyperparams()
    otype = params.pop("otype")
    assert isinstance(otype, str)
    rebuilt = type(encoding)(encoding.n_input_dims, **params)
    assert rebuilt.hyperparams() == encoding.hyperparams()
    x = gfxnn.Tensor(np.random.default_rng(2).random((5, encoding.n_input_dims)))
    np.testing.assert_array_equal(rebuilt(x).data, encoding(x).data)


def test_composite_hyperparams_rebuild_through_its_children() -> None:
    # What the registry does with tcnn's nested format: build each child from its
    # n_dims_to_encode and parameters, then the composite from the children.
    composite = CASES["composite"]()
    config = composite.hyperparams()
    assert config["otype"] == "Composite"
    assert [c["n_dims_to_encode"] for c in config["nested"]] == [2, 1, 3]
    classes = {child.hyperparams()["otype"]: type(child) for child in composite.nested}
    children = []
    for child_config in config["nested"]:
        params = dict(child_config)
        n_dims, otype = params.pop("n_dims_to_encode"), params.pop("otype")
        children.append(classes[otype](n_dims, **params))
    rebuilt = CompositeEncoding(composite.n_input_dims, children)
    assert rebuilt.hyperparams() == config
    x = gfxnn.Tensor(np.random.default_rng(3).random((4, 6)))
    np.testing.assert_array_equal(rebuilt(x).data, composite(x).data)


def test_otype_names_and_defaults_follow_tcnn() -> None:
    assert FrequencyEncoding(2).hyperparams() == {"otype": "Frequency", "n_frequencies": 12}
    assert IdentityEncoding(2).hyperparams() == {"otype": "Identity", "scale": 1.0, "offset": 0.0}
    assert OneBlobEncoding(2).hyperparams() == {"otype": "OneBlob", "n_bins": 16}
    assert OneHotEncoding(2).hyperparams() == {"otype": "OneHot", "n_bins": 16}
    assert TriangleWaveEncoding(2).hyperparams() == {"otype": "TriangleWave", "n_frequencies": 12}
    assert SphericalHarmonicsEncoding(3).hyperparams() == {
        "otype": "SphericalHarmonics",
        "degree": 4,
    }
    assert GaussianFourierEncoding(2).hyperparams() == {
        "otype": "GaussianFourier",
        "n_frequencies": 256,
        "sigma": 10.0,
        "seed": 0,
    }


@pytest.mark.parametrize(
    ("build", "name"),
    [
        (lambda: FrequencyEncoding(2, 0), "n_frequencies"),
        (lambda: FrequencyEncoding(0, 4), "n_input_dims"),
        (lambda: IdentityEncoding(2, scale=float("nan")), "scale"),
        (lambda: IdentityEncoding(2, offset="1"), "offset"),
        (lambda: OneBlobEncoding(2, 0), "n_bins"),
        (lambda: OneBlobEncoding(2, 2.5), "n_bins"),
        (lambda: OneHotEncoding(2, -1), "n_bins"),
        (lambda: TriangleWaveEncoding(2, 33), "n_frequencies"),
        (lambda: GaussianFourierEncoding(2, 0), "n_frequencies"),
        (lambda: GaussianFourierEncoding(2, sigma=0.0), "sigma"),
        (lambda: GaussianFourierEncoding(2, sigma=float("inf")), "sigma"),
        (lambda: GaussianFourierEncoding(2, seed=-1), "seed"),
        (lambda: SphericalHarmonicsEncoding(2), "n_input_dims"),
        (lambda: SphericalHarmonicsEncoding(3, 0), "degree"),
        (lambda: SphericalHarmonicsEncoding(3, 9), "degree"),
        (lambda: CompositeEncoding(2, []), "nested"),
        (lambda: CompositeEncoding(2, [FrequencyEncoding(3)]), "n_input_dims"),
    ],
)
def test_bad_parameters_raise_value_errors_that_name_them(
    build: Callable[[], Encoding], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        build()


# ----- Frequency ----------------------------------------------------------------------------
def test_frequency_values_and_order() -> None:
    x = np.random.default_rng(4).random((6, 2))
    out = FrequencyEncoding(2).forward(gfxnn.Tensor(x)).data.reshape(6, 2, 12, 2)
    for k in range(12):
        np.testing.assert_allclose(out[:, :, k, 0], np.sin(np.pi * 2**k * x), atol=1e-12)
        np.testing.assert_allclose(out[:, :, k, 1], np.cos(np.pi * 2**k * x), atol=1e-12)


# ----- OneBlob ------------------------------------------------------------------------------
def test_one_blob_at_a_bin_centre_matches_the_hand_computed_quartic_masses() -> None:
    # Centred on bin 2 of 4, the kernel (radius = one bin) puts F(1/2) - F(-1/2) =
    # 15/8 (1/2 - 1/12 + 1/160) = 203/256 into bin 2 and (1 - 203/256) / 2 into bins 1 and 3.
    out = OneBlobEncoding(1, 4)(gfxnn.Tensor(np.array([[2.5 / 4]]))).data[0]
    side = (1 - 203 / 256) / 2
    np.testing.assert_allclose(out, [0.0, side, 203 / 256, side], atol=1e-15)


@pytest.mark.parametrize("n_bins", [1, 2, 3, 8])
def test_one_blob_matches_numerical_integration_of_the_wrapped_kernel(n_bins: int) -> None:
    # n_bins < 3: the kernel's three bins overlap after wrapping, and must add up.
    x = np.array([0.0, 0.01, 0.3, 0.5, 0.77, 0.999, 1.0])
    out = OneBlobEncoding(1, n_bins)(gfxnn.Tensor(x[:, None])).data
    # Feature k = integral over bin k of the blob n K(n (t - x)), repeated with period 1.
    t = np.linspace(0.0, 1.0, n_bins * 4000 + 1)
    for row, centre in zip(out, x, strict=True):
        u = n_bins * (t[:, None] - centre - np.array([-1.0, 0.0, 1.0]))
        density = (n_bins * 15 / 16 * np.maximum(1 - u**2, 0) ** 2).sum(axis=1)
        pieces = np.split(np.arange(len(t) - 1), n_bins)
        steps = (density[1:] + density[:-1]) / 2 * np.diff(t)  # trapezoid rule
        expected = [steps[p].sum() for p in pieces]
        np.testing.assert_allclose(row, expected, atol=1e-7)
        assert row.sum() == pytest.approx(1.0, abs=1e-12)
    np.testing.assert_allclose(out[0], out[-1], atol=1e-15)  # wraps around, as tcnn's


# ----- OneHot -------------------------------------------------------------------------------
def test_one_hot_values() -> None:
    x = np.array([[0.0, 1.0], [0.2499, 0.25], [0.74, 0.999]])
    out = OneHotEncoding(2, 4)(gfxnn.Tensor(x)).data.reshape(3, 2, 4)
    expected_bins = [[0, 3], [0, 1], [2, 3]]
    np.testing.assert_array_equal(out, np.eye(4)[expected_bins])


# ----- TriangleWave -------------------------------------------------------------------------
def test_triangle_wave_matches_arcsine_of_cosine() -> None:
    # A unit triangle wave of period 1 is (2 / pi) arcsin(cos(2 pi v)); tcnn's octave k uses
    # v = 2^(k-1) x + k / 4.
    x = np.random.default_rng(5).random((50, 3))
    out = TriangleWaveEncoding(3)(gfxnn.Tensor(x)).data.reshape(50, 3, 12)
    k = np.arange(12)
    v = x[..., None] * 2.0 ** (k - 1.0) + k / 4
    np.testing.assert_allclose(out, 2 / np.pi * np.arcsin(np.cos(2 * np.pi * v)), atol=1e-6)


@pytest.mark.parametrize("name", ["triangle_wave", "one_hot"])
def test_piecewise_gradients_match_finite_differences_almost_everywhere(name: str) -> None:
    # On uniform samples (not nudged away from kinks) a few central differences straddle a
    # corner or bin edge, where no derivative exists; an exact elementwise check would fail
    # there by construction. So check that 99% of the samples agree tightly instead.
    encoding = TriangleWaveEncoding(2) if name == "triangle_wave" else OneHotEncoding(2, 64)
    x = np.random.default_rng(6).random((4000, 2))
    upstream = np.random.default_rng(7).standard_normal((4000, encoding.n_output_dims))
    leaf = gfxnn.Tensor(x.copy(), requires_grad=True)
    encoding(leaf).backward(upstream)
    assert leaf.grad is not None
    eps = 1e-7
    numeric = np.empty_like(x)
    for d in range(2):  # rows are independent, so one shift of a column gives all of them
        shift = np.zeros_like(x)
        shift[:, d] = eps
        above = (upstream * encoding(gfxnn.Tensor(x + shift)).data).sum(axis=1)
        below = (upstream * encoding(gfxnn.Tensor(x - shift)).data).sum(axis=1)
        numeric[:, d] = (above - below) / (2 * eps)
    error = np.abs(leaf.grad - numeric) / (1 + np.abs(numeric))
    assert np.percentile(error, 99) < 1e-5


# ----- GaussianFourier ----------------------------------------------------------------------
def test_gaussian_fourier_matrix_comes_from_the_seed_and_is_saved() -> None:
    encoding = GaussianFourierEncoding(2, 64, sigma=3.0, seed=7, dtype=np.float64)
    expected = np.random.default_rng(7).normal(0.0, 3.0, size=(64, 2))
    np.testing.assert_array_equal(encoding.B.data, expected)
    assert encoding.parameters() == []  # a Buffer: optimizers leave it alone
    state = encoding.state_dict()
    assert list(state) == ["B"]
    np.testing.assert_array_equal(state["B"], expected)
    # Same seed -> same features; another seed differs until its state is loaded.
    x = gfxnn.Tensor(np.random.default_rng(8).random((5, 2)))
    again = GaussianFourierEncoding(2, 64, sigma=3.0, seed=7, dtype=np.float64)
    np.testing.assert_array_equal(again(x).data, encoding(x).data)
    other = GaussianFourierEncoding(2, 64, sigma=3.0, seed=8, dtype=np.float64)
    assert not np.allclose(other(x).data, encoding(x).data)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other(x).data, encoding(x).data)
    assert GaussianFourierEncoding(2).B.dtype == np.float32


def test_gaussian_fourier_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    encoding = GaussianFourierEncoding(3, 32, sigma=4.0, seed=1, dtype=np.float64)
    b = torch.from_numpy(encoding.B.data)

    def torch_features(x: object) -> object:
        phase = 2 * np.pi * x @ b.T
        return torch.cat([torch.sin(phase), torch.cos(phase)], dim=1)

    x = np.random.default_rng(9).random((10, 3))
    check_against_torch(encoding, torch_features, [x])


# ----- SphericalHarmonics -------------------------------------------------------------------
def test_spherical_harmonics_match_scipy_on_the_unit_sphere() -> None:
    special = pytest.importorskip("scipy.special")
    rng = np.random.default_rng(10)
    directions = rng.standard_normal((40, 3))
    directions /= np.linalg.norm(directions, axis=1, keepdims=True)
    out = SphericalHarmonicsEncoding(3, 8)(gfxnn.Tensor((directions + 1) / 2)).data
    theta = np.arccos(directions[:, 2])  # polar angle
    phi = np.arctan2(directions[:, 1], directions[:, 0])
    for l in range(8):  # noqa: E741
        for m in range(-l, l + 1):
            # scipy's complex Y_l^m carries the Condon-Shortley phase; tcnn's real basis is
            # sqrt(2) Re(Y_l^m) for m > 0 and sqrt(2) Im(Y_l^|m|) for m < 0.
            y = special.sph_harm_y(l, abs(m), theta, phi)
            real = y.real if m == 0 else np.sqrt(2) * (y.real if m > 0 else y.imag)
            np.testing.assert_allclose(out[:, l * l + l + m], real, atol=1e-12, err_msg=f"{l},{m}")


def test_spherical_harmonics_match_textbook_polynomials_off_the_sphere_in_torch() -> None:
    # The real SH with the Condon-Shortley phase up to l = 3 (Sloan 2008, table 1), each
    # written as (polynomial in z) x (polynomial in x, y) with r^2 = 1 substituted in the z
    # factor, the form tcnn evaluates; raw inputs need not be unit vectors.
    torch = pytest.importorskip("torch")
    pi = np.pi

    def textbook(inputs: object) -> object:
        x, y, z = (2 * inputs - 1).unbind(dim=1)
        c1, c2, c3 = np.sqrt(3 / (4 * pi)), np.sqrt(15 / pi), np.sqrt(35 / (2 * pi))
        c4, c5 = np.sqrt(21 / (2 * pi)), np.sqrt(105 / pi)
        columns = [
            torch.full_like(x, 0.5 / np.sqrt(pi)),
            -c1 * y,
            c1 * z,
            -c1 * x,
            0.5 * c2 * x * y,
            -0.5 * c2 * y * z,
            0.25 * np.sqrt(5 / pi) * (3 * z**2 - 1),
            -0.5 * c2 * x * z,
            0.25 * c2 * (x**2 - y**2),
            -0.25 * c3 * y * (3 * x**2 - y**2),
            0.5 * c5 * x * y * z,
            -0.25 * c4 * y * (5 * z**2 - 1),
            0.25 * np.sqrt(7 / pi) * z * (5 * z**2 - 3),
            -0.25 * c4 * x * (5 * z**2 - 1),
            0.25 * c5 * z * (x**2 - y**2),
            -0.25 * c3 * x * (x**2 - 3 * y**2),
        ]
        return torch.stack(columns, dim=1)

    x = np.random.default_rng(11).random((20, 3))  # 2x - 1 is mostly not a unit vector
    check_against_torch(SphericalHarmonicsEncoding(3, 4), textbook, [x], atol=1e-12)
    degree_two = SphericalHarmonicsEncoding(3, 2)(gfxnn.Tensor(x)).data
    np.testing.assert_allclose(degree_two, textbook(torch.from_numpy(x))[:, :4].numpy())


# ----- Composite ----------------------------------------------------------------------------
def test_composite_concatenates_its_children_on_their_input_ranges() -> None:
    frequency, blob = FrequencyEncoding(2, 3), OneBlobEncoding(1, 4)
    gaussian = GaussianFourierEncoding(2, 4, seed=5)
    composite = CompositeEncoding(6, [frequency, blob, gaussian])  # input 5 is left unencoded
    x = np.random.default_rng(12).random((8, 6))
    out = composite(gfxnn.Tensor(x)).data
    expected = np.concatenate(
        [
            frequency(gfxnn.Tensor(x[:, 0:2])).data,
            blob(gfxnn.Tensor(x[:, 2:3])).data,
            gaussian(gfxnn.Tensor(x[:, 3:5])).data,
        ],
        axis=1,
    )
    np.testing.assert_array_equal(out, expected)
    assert list(composite.state_dict()) == ["nested.2.B"]
    leaf = gfxnn.Tensor(x, requires_grad=True)
    # A random upstream gradient: with a plain sum the one-blob part, whose features sum
    # to 1 for every x, would give zero gradients legitimately.
    composite(leaf).backward(np.random.default_rng(13).standard_normal(out.shape))
    assert leaf.grad is not None
    assert np.all(leaf.grad[:, 5] == 0) and np.all(leaf.grad[:, :5] != 0)


# ----- docs ---------------------------------------------------------------------------------
DOCS = Path(__file__).resolve().parents[1] / "docs" / "encodings.md"


def test_docs_python_examples_run() -> None:
    blocks = re.findall(r"```python\n(.*?)```", DOCS.read_text(), re.S)
    assert len(blocks) >= 2
    for index, block in enumerate(blocks):
        exec(compile(block, f"docs/encodings.md block {index}", "exec"), {})
