"""ImageFitter (moved from tests/test_imagefit.py): settings validation, Dx12NN's controls,
divergence, inference convention, quality."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gfxnn.fields.controller import DivergenceError
from gfxnn.fields.image import ImageFitter
from gfxnn.fields.render import render_state
from gfxnn.fields.settings import FitSettings


def disc_image(size: int = 32) -> np.ndarray:
    """A white disc on black, Dx12NN's "circle" test image."""
    centres = (np.arange(size) + 0.5) / size
    x, y = np.meshgrid(centres, centres)
    inside = (x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.25**2
    return np.repeat(inside[:, :, None], 3, axis=2).astype(np.float32)


def smooth_image(height: int = 16, width: int = 24) -> np.ndarray:
    v, u = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    return np.stack([u, v, 0.5 * (u + v)], axis=2).astype(np.float32)


@pytest.mark.parametrize(
    ("field", "value", "allowed"),
    [
        ("batch_size", 0, "1..65536"),
        ("batch_size", 65537, "1..65536"),
        ("batch_size", 2.5, "1..65536"),
        ("learning_rate", -1e-3, "> 0"),
        ("learning_rate", 0.0, "> 0"),
        ("learning_rate", math.nan, "> 0"),
        ("learning_rate", math.inf, "> 0"),
        ("optimizer", "rmsprop", "adam, sgd"),
        ("encoding", "sphericalharmonic", "frequency, identity, hashgrid"),
        ("encoding_params", {"n_levls": 4}, "valid keys"),
        ("encoding_learning_rate", 0.0, "> 0"),
        ("beta1", 1.0, "[0, 1)"),
        ("epsilon", -1.0, "> 0"),
        ("output_activation", "gelu", "leaky_relu, relu, sigmoid"),
        ("n_frequencies", 17, "2..16"),
        ("n_frequencies", 1, "2..16"),
        ("activation", "gelu", "leaky_relu, relu, sigmoid"),
        ("n_layers", 2, "3..8"),
        ("n_layers", 9, "3..8"),
        ("n_neurons", 0, "1..256"),
        ("n_neurons", 257, "1..256"),
        ("seed", -1, ">= 0"),
        ("seed", True, ">= 0"),
    ],
)
def test_settings_validation_names_field_value_and_range(
    field: str, value: object, allowed: str
) -> None:
    settings = dataclasses.replace(FitSettings(), **{field: value})
    with pytest.raises(ValueError) as error:
        settings.validate()
    message = str(error.value)
    assert field in message and allowed in message and repr(value).strip("'") in message
    with pytest.raises(ValueError):
        ImageFitter(smooth_image(), settings)


def test_settings_dict_round_trip_and_unknown_keys() -> None:
    settings = FitSettings(batch_size=64, optimizer="sgd", n_layers=5)
    assert FitSettings.from_dict(settings.to_dict()) == settings
    assert FitSettings.from_dict({}) == FitSettings()
    with pytest.raises(ValueError, match="valid settings are.*batch_size"):
        FitSettings.from_dict({"batchsize": 8})
    with pytest.raises(ValueError, match="n_frequencies"):
        FitSettings.from_dict({"n_frequencies": 17})


def test_defaults_are_dx12nn() -> None:
    fitter = ImageFitter(smooth_image())
    state = fitter.state_dict()
    assert [state[f"layers.{i}.weight"].shape for i in range(3)] == [(64, 32), (64, 64), (3, 64)]
    assert all(state[f"layers.{i}.bias"].dtype == np.float32 for i in range(3))
    assert not any(np.any(state[f"layers.{i}.bias"]) for i in range(3))  # zero biases
    limit = math.sqrt(6 / (32 + 64))
    assert np.abs(state["layers.0.weight"]).max() <= limit  # Xavier uniform
    assert np.abs(state["layers.0.weight"]).max() > 0.9 * limit


def test_sgd_with_huge_learning_rate_raises_divergence_error() -> None:
    fitter = ImageFitter(smooth_image(), FitSettings(optimizer="sgd", learning_rate=10.0))
    with pytest.raises(DivergenceError, match=r"diverged at step \d+.*learning rate 10") as error:
        fitter.step(100)
    failed_step = int(str(error.value).split("step ")[1].split(":")[0])
    assert fitter.steps == failed_step - 1 == len(fitter.loss_history)
    assert all(math.isfinite(loss) for loss in fitter.loss_history)
    assert all(np.all(np.isfinite(p)) for p in fitter.state_dict().values())  # not updated


def test_reset_weights_restarts_the_run_exactly() -> None:
    fitter = ImageFitter(smooth_image(), FitSettings(batch_size=64))
    initial = fitter.state_dict()
    fitter.step(5)
    first_run = (fitter.state_dict(), list(fitter.loss_history))
    assert fitter.steps == 5 and len(fitter.loss_history) == 5
    assert not np.array_equal(first_run[0]["layers.0.weight"], initial["layers.0.weight"])
    fitter.reset_weights()
    assert fitter.steps == 0 and fitter.loss_history == []
    for name, value in initial.items():
        np.testing.assert_array_equal(fitter.state_dict()[name], value)
    fitter.step(5)
    assert fitter.loss_history == first_run[1]  # same seed: same weights and same UVs


def test_apply_keeps_weights_for_training_settings_and_rebuilds_otherwise() -> None:
    fitter = ImageFitter(smooth_image(), FitSettings(batch_size=64))
    fitter.step(3)
    trained = fitter.state_dict()
    for change in [{"learning_rate": 1e-2}, {"batch_size": 32}, {"optimizer": "sgd"}]:
        fitter.apply(dataclasses.replace(fitter.settings, **change))
        assert fitter.steps == 3, change
        for name, value in trained.items():
            np.testing.assert_array_equal(fitter.state_dict()[name], value)
    fitter.step(2)  # still trains, with the new batch size and optimizer
    assert fitter.steps == 5 and fitter.settings.optimizer == "sgd"

    for change in [{"n_neurons": 16}, {"seed": 3}, {"encoding": "identity"}, {"n_layers": 3}]:
        fitter.step(1)
        fitter.apply(dataclasses.replace(fitter.settings, **change))
        assert fitter.steps == 0 and fitter.loss_history == [], change
    assert fitter.state_dict()["layers.0.weight"].shape == (16, 2)
    with pytest.raises(ValueError, match="n_layers"):
        fitter.apply(dataclasses.replace(fitter.settings, n_layers=2))
    assert fitter.settings.n_layers == 3  # a rejected apply changes nothing


def test_settings_property_is_a_copy() -> None:
    fitter = ImageFitter(smooth_image())
    fitter.settings.batch_size = 1
    assert fitter.settings.batch_size == 2048


def uv_network_state() -> dict[str, np.ndarray]:
    """Identity encoding, 2 -> 4 -> 3 ReLU network whose output is (u, v, 0) for uv in [0, 1]."""
    w0 = np.zeros((4, 2), np.float32)
    w0[0, 0] = w0[1, 1] = 1.0
    w1 = np.zeros((3, 4), np.float32)
    w1[0, 0] = w1[1, 1] = 1.0
    return {
        "layers.0.weight": w0,
        "layers.0.bias": np.zeros(4, np.float32),
        "layers.1.weight": w1,
        "layers.1.bias": np.zeros(3, np.float32),
    }


def test_predict_evaluates_pixel_x_y_at_uv_x_over_w_minus_1() -> None:
    settings = FitSettings(encoding="identity", activation="relu", n_layers=3, n_neurons=4)
    fitter = ImageFitter(smooth_image(), settings)
    fitter.load_state_dict(uv_network_state())
    image = fitter.predict(5, 3)
    assert image.shape == (3, 5, 3) and image.dtype == np.float32
    x, y = np.meshgrid(np.arange(5) / 4, np.arange(3) / 2)
    np.testing.assert_allclose(image[:, :, 0], x, atol=1e-7)
    np.testing.assert_allclose(image[:, :, 1], y, atol=1e-7)
    np.testing.assert_array_equal(image[:, :, 2], 0)
    assert fitter.predict().shape == (16, 24, 3)  # the reference's size by default
    big = fitter.predict(700, 40)  # more pixels than one inference chunk
    np.testing.assert_allclose(big[-1, -1], [1, 1, 0], atol=1e-7)
    np.testing.assert_array_equal(render_state(uv_network_state(), settings, (3, 5)), image)


def test_load_state_dict_checks_names_and_shapes() -> None:
    fitter = ImageFitter(smooth_image())
    state = fitter.state_dict()
    fitter.load_state_dict(state)
    wrong = dict(state, **{"layers.1.weight": np.zeros((64, 63), np.float32)})
    with pytest.raises(ValueError, match=r"layers\.1\.weight has shape \(64, 63\)"):
        fitter.load_state_dict(wrong)
    broken = dict(state, **{"layers.0.bias": np.full(64, np.nan, np.float32)})
    with pytest.raises(ValueError, match="layers.0.bias holds NaN"):
        fitter.load_state_dict(broken)
    with pytest.raises(ValueError, match="missing.*layers.2.bias"):
        fitter.load_state_dict({k: v for k, v in state.items() if k != "layers.2.bias"})


def test_state_dict_matches_gfxnn_nn_mlp() -> None:
    from gfxnn.nn import MLP

    fitter = ImageFitter(smooth_image(), FitSettings(seed=7))
    mlp = MLP(32, 3, 64, 2, "leaky_relu", output_activation="leaky_relu", rng=7)
    reference = mlp.state_dict()
    state = fitter.state_dict()
    assert list(state) == list(reference)
    for name, value in reference.items():
        np.testing.assert_array_equal(state[name], value)


def test_short_run_learns_a_disc_and_reports_timings() -> None:
    fitter = ImageFitter(disc_image(), FitSettings(batch_size=512))
    before = fitter.psnr()
    fitter.step(300)
    after = fitter.psnr()
    # Measured: about 7 dB at initialisation and 23 dB after 300 steps.
    assert before < 12 and after > 20
    assert np.mean(fitter.loss_history[-20:]) < 0.5 * np.mean(fitter.loss_history[:20])
    timings = fitter.timings_ms()
    assert set(timings) == {"initialize", "backpropagation", "optimization", "inference"}
    assert all(value > 0 for value in timings.values())


def test_step_and_image_arguments_are_checked() -> None:
    fitter = ImageFitter(smooth_image())
    assert math.isnan(fitter.step(0))
    with pytest.raises(ValueError, match="n must be"):
        fitter.step(-1)
    with pytest.raises(ValueError, match=r"shape \(H, W, 3\)"):
        ImageFitter(np.zeros((4, 4), np.float32))
    with pytest.raises(TypeError):
        ImageFitter([[0.0]])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="blas_threads"):
        ImageFitter(smooth_image(), blas_threads=0)
    fitter.set_image(disc_image(8))
    fitter.step(1)
    assert fitter.predict().shape == (8, 8, 3)


def test_predict_with_frequency_encoding_matches_autodiff_model() -> None:
    import gfxnn
    from gfxnn.encodings import FrequencyEncoding
    from gfxnn.nn import MLP

    settings = FitSettings(n_frequencies=4, n_neurons=16, seed=3, batch_size=64)
    fitter = ImageFitter(smooth_image(), settings)
    fitter.step(10)
    net = MLP(16, 3, 16, 2, "leaky_relu", output_activation="leaky_relu")
    net.load_state_dict(fitter.state_dict())
    width, height = 7, 5
    v, u = np.meshgrid(
        np.arange(height) / (height - 1), np.arange(width) / (width - 1), indexing="ij"
    )
    uv = np.stack([u.ravel(), v.ravel()], axis=1).astype(np.float32)
    expected = net(FrequencyEncoding(2, 4)(gfxnn.Tensor(uv))).data.reshape(height, width, 3)
    np.testing.assert_allclose(fitter.predict(width, height), expected, rtol=1e-5, atol=1e-6)
