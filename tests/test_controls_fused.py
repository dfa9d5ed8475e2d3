"""MLPZen's controls in the NumPy fused backend: freezing, gradient clipping (against torch),
float16 inference and the six initialisation schemes."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from gfxnn.fields.image import ImageFitter
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import ImageTarget
from gfxnn.fused import FusedMLP, FusedTrainer, make_trainer
from gfxnn.nn import init

GRID = {"n_levels": 2, "n_features_per_level": 2, "log2_hashmap_size": 8, "base_resolution": 4}


def image(size: int = 8) -> np.ndarray:
    v, u = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    return np.stack([u, v, np.sin(6 * u * v)], axis=2).astype(np.float32)


def settings(**changes: Any) -> FitSettings:
    base: dict[str, Any] = dict(
        batch_size=64, n_neurons=16, encoding="hashgrid", encoding_params=GRID, seed=3
    )
    return FitSettings(**{**base, **changes})


def trainer(dtype: type = np.float32, **changes: Any) -> FusedTrainer:
    spec = settings(**changes).model_spec()
    return make_trainer(spec, ImageTarget(image()), dtype=dtype)


def adam_state(optimizer: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    return optimizer.params.copy(), optimizer.m.copy(), optimizer.v.copy(), optimizer.t


# ----- freezing -------------------------------------------------------------------------------
@pytest.mark.parametrize("frozen", ["freeze_mlp", "freeze_encoding"])
def test_a_frozen_part_keeps_weights_and_adam_state_bit_for_bit(frozen: str) -> None:
    fused = trainer(**{frozen: True})
    fused.train(2, 64)  # Adam has moments to keep
    still, learning = fused.optimizer, fused.encoder_optimizer
    if frozen == "freeze_encoding":
        still, learning = learning, still
    assert still is not None and learning is not None
    before, other = adam_state(still), learning.params.copy()
    fused.train(5, 64)
    after = adam_state(still)
    for old, new in zip(before[:3], after[:3], strict=True):
        assert old.tobytes() == new.tobytes()
    assert before[3] == after[3] == 0
    assert not np.array_equal(learning.params, other)  # the other part still learns
    assert np.any(still.grads != 0)  # gradients are computed all the same


def test_freezing_live_through_the_controller_keeps_adam_state() -> None:
    fitter = ImageFitter(image(), settings())
    fitter.step(3)
    inner = fitter._trainer
    moments = inner.optimizer.m.copy()
    fitter.apply(settings(freeze_mlp=True))
    assert fitter._trainer is inner and inner.optimizer.m.tobytes() == moments.tobytes()
    weights = fitter.state_dict()["layers.0.weight"]
    fitter.step(4)
    assert fitter.state_dict()["layers.0.weight"].tobytes() == weights.tobytes()
    assert fitter.steps == 7
    fitter.apply(settings())
    fitter.step(1)
    assert not np.array_equal(fitter.state_dict()["layers.0.weight"], weights)


# ----- gradient clipping, against torch ---------------------------------------------------
def torch_run(fused: FusedTrainer, steps: int, clip: str, bound: float) -> list[np.ndarray]:
    """`steps` steps of torch.optim.Adam (the fused trainer's hyperparameters, l2_reg as its
    coupled weight_decay) on the fused trainer's own raw gradients, clipped by torch."""
    torch = pytest.importorskip("torch")
    network = torch.tensor(fused.mlp.params.copy(), requires_grad=True)
    table = torch.tensor(fused.encoder.params.copy(), requires_grad=True)
    spec = fused.spec
    grid = spec.encoding_optimizer
    assert grid is not None
    optimizer = torch.optim.Adam(
        [
            {"params": [network], "lr": spec.optimizer.learning_rate,
             "eps": spec.optimizer.epsilon, "weight_decay": spec.optimizer.l2_reg},
            {"params": [table], "lr": grid.learning_rate, "eps": grid.epsilon},
        ],
        betas=spec.optimizer.betas,
    )  # fmt: skip
    rng = np.random.default_rng(5)
    clipped = 0
    for _ in range(steps):
        uv = rng.random((64, 2))
        targets = rng.random((64, 3))
        fused.compute_gradients(uv, targets)
        raw = (fused.mlp.grads.copy(), fused.encoder.grads.copy())
        clipped += int(np.sum(np.abs(np.concatenate(raw)) > bound))
        network.grad = torch.tensor(raw[0])
        table.grad = torch.tensor(raw[1])
        if clip == "value":
            torch.nn.utils.clip_grad_value_([network, table], bound)
        else:
            norm = float(torch.nn.utils.clip_grad_norm_([network, table], bound))
            assert norm > bound  # the clip is active
        optimizer.step()
        fused.update()
    assert clipped > 0
    return [network.detach().numpy(), table.detach().numpy()]


@pytest.mark.parametrize("clip, bound", [("value", 2e-3), ("norm", 1e-2)])
def test_clipping_matches_torch_then_adam(clip: str, bound: float) -> None:
    fused = trainer(
        np.float64, gradient_clip=clip, clip_value=bound, l2_reg=1e-2, learning_rate=1e-2
    )
    network, table = torch_run(fused, 4, clip, bound)
    np.testing.assert_allclose(fused.mlp.params, network, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(fused.encoder.params, table, rtol=1e-10, atol=1e-12)
    # Without clipping the same run ends elsewhere: the test sees the clip.
    unclipped = trainer(np.float64, l2_reg=1e-2, learning_rate=1e-2)
    rng = np.random.default_rng(5)
    for _ in range(4):
        unclipped.compute_gradients(rng.random((64, 2)), rng.random((64, 3)))
        unclipped.update()
    assert np.max(np.abs(unclipped.mlp.params - network)) > 1e-4


# ----- float16 inference -------------------------------------------------------------------
def half_reference(fused: FusedTrainer, inputs: np.ndarray) -> np.ndarray:
    """The network by hand: inputs, weights, biases and each layer's leaky ReLU output rounded
    to float16, products in float32."""
    features = np.empty((len(inputs), fused.encoder.n_output_dims), np.float32)
    fused.encoder.encode(inputs, features, fused.encoder.make_scratch(len(inputs), np.float32))
    a = features.astype(np.float16).astype(np.float32)
    for weight, bias in zip(fused.mlp.weights, fused.mlp.biases, strict=True):
        w16 = weight.astype(np.float16).astype(np.float32)
        b16 = bias.astype(np.float16).astype(np.float32)
        z = a @ w16.T + b16
        a = np.where(z > 0, z, np.float32(0.01) * z).astype(np.float16).astype(np.float32)
    return a


def test_fp16_inference_is_the_float16_rounded_network_and_training_stays_fp32() -> None:
    full, half = trainer(), trainer(precision="fp16")
    full.train(20, 64)
    half.train(20, 64)
    # Training is untouched: the same weights bit for bit.
    assert full.mlp.params.tobytes() == half.mlp.params.tobytes()
    inputs = np.random.default_rng(1).random((300, 2)).astype(np.float32)
    expected = half_reference(half, inputs)
    got = half.infer(inputs)
    assert np.all(got == got.astype(np.float16))  # every output is a float16 value
    np.testing.assert_allclose(got, expected, rtol=2e-3, atol=1e-4)  # one float16 ulp
    difference = np.max(np.abs(got - full.infer(inputs)))
    assert 1e-5 < difference < 5e-2
    rendered = half.render((5, 7)).reshape(-1, 3)
    assert np.all(rendered == rendered.astype(np.float16))


# ----- initialisation --------------------------------------------------------------------
SIGMAS = {
    "xavier_gaussian": lambda n_in, n_out: math.sqrt(2 / (n_in + n_out)),
    "he_gaussian": lambda n_in, n_out: math.sqrt(2 / n_in),
    "lecun_gaussian": lambda n_in, n_out: math.sqrt(1 / n_in),
}
LIMITS = {
    "xavier_uniform": lambda n_in, n_out: math.sqrt(6 / (n_in + n_out)),
    "he_uniform": lambda n_in, n_out: math.sqrt(6 / n_in),
    "lecun_uniform": lambda n_in, n_out: math.sqrt(3 / n_in),
}


def layer_weights(scheme: str) -> tuple[np.ndarray, int, int]:
    """The first layer (out 256, in 128) of a freshly initialised network, and its fans."""
    mlp = FusedMLP(128, 3, n_neurons=256, n_hidden_layers=2, dtype=np.float64)
    mlp.initialize(np.random.default_rng(0), scheme)
    return mlp.weights[0], 128, 256


@pytest.mark.parametrize("scheme", sorted(SIGMAS))
def test_gaussian_schemes_have_their_sigma_and_are_clamped_at_3_sigma(scheme: str) -> None:
    weights, n_in, n_out = layer_weights(scheme)
    sigma = SIGMAS[scheme](n_in, n_out)
    # Clamping at 3 sigma leaves a standard deviation of 0.9866 sigma.
    assert np.std(weights) == pytest.approx(0.9866 * sigma, rel=0.02)
    assert np.max(np.abs(weights)) <= 3 * sigma * (1 + 1e-12)
    # Clamped, not redrawn: the 0.27 % beyond 3 sigma sit at the bound itself.
    at_bound = np.isclose(np.abs(weights), 3 * sigma, rtol=1e-12).sum()
    assert 60 < at_bound < 400
    assert np.all(layer_weights(scheme)[0] == weights)  # the seed decides


@pytest.mark.parametrize("scheme", sorted(LIMITS))
def test_uniform_schemes_fill_their_limits(scheme: str) -> None:
    weights, n_in, n_out = layer_weights(scheme)
    limit = LIMITS[scheme](n_in, n_out)
    assert np.max(np.abs(weights)) <= limit
    assert np.max(np.abs(weights)) > 0.999 * limit
    assert np.std(weights) == pytest.approx(limit / math.sqrt(3), rel=0.02)


def test_every_scheme_through_the_spec_and_biases_zero() -> None:
    for scheme in (*SIGMAS, *LIMITS):
        fused = trainer(initialization=scheme, encoding="frequency", encoding_params={})
        assert all(np.all(bias == 0) for bias in fused.mlp.biases)
    # The default draws exactly what xavier_uniform drew before the schemes existed.
    mlp = FusedMLP(32, 3, 16, 2)
    mlp.initialize(np.random.default_rng(9))
    rng = np.random.default_rng(9)
    for weight in mlp.weights:
        expected = init.xavier_uniform(np.empty(weight.shape), rng).astype(np.float32)
        assert weight.tobytes() == expected.tobytes()
    with pytest.raises(ValueError, match="initialization"):
        mlp.initialize(np.random.default_rng(0), "orthogonal")
