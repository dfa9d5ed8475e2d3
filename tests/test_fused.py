"""The fused path against its references: finite differences, PyTorch, and the autodiff engine."""

from __future__ import annotations

import numpy as np
import pytest

import gfxnn
from gfxnn.encodings import FrequencyEncoding, IdentityEncoding
from gfxnn.fields import choices
from gfxnn.fields.targets import ImageTarget
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec, Trainer
from gfxnn.fused import (
    FusedAdam,
    FusedFrequency,
    FusedIdentity,
    FusedMLP,
    FusedSGD,
    FusedTrainer,
    NearestTexelSampler,
    activations,
    set_training,
)
from gfxnn.fused import make_trainer as trainer_from_spec

ACTIVATIONS = ["leaky_relu", "relu", "sigmoid"]
ENCODINGS = ["frequency", "identity"]


def make_trainer(
    encoding: str, activation: str, dtype: type = np.float64, seed: int = 0, n_frequencies: int = 3
) -> FusedTrainer:
    encoder = FusedFrequency(n_frequencies) if encoding == "frequency" else FusedIdentity()
    mlp = FusedMLP(encoder.n_output_dims, 3, 8, 2, activation, dtype=dtype)
    mlp.initialize(np.random.default_rng(seed))
    # Random biases too, so a wrong bias gradient cannot hide behind zeros.
    for bias in mlp.biases:
        bias[...] = np.random.default_rng(seed + 1).uniform(-0.3, 0.3, bias.shape)
    return FusedTrainer(encoder, mlp, FusedSGD(mlp.params, mlp.grads, lr=0.0))


def batch(n: int, dtype: type = np.float64, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, 2)).astype(dtype), rng.random((n, 3)).astype(dtype)


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(encoding: str, activation: str) -> None:
    trainer = make_trainer(encoding, activation)
    uv, target = batch(16)
    trainer.compute_gradients(uv, target)
    analytic = trainer.mlp.grads.copy()
    params = trainer.mlp.params
    eps = 1e-6
    checked = np.random.default_rng(3).choice(params.size, size=40, replace=False)
    for i in checked:
        original = params[i]
        params[i] = original + eps
        up = trainer.compute_gradients(uv, target)
        params[i] = original - eps
        down = trainer.compute_gradients(uv, target)
        params[i] = original
        numeric = (up - down) / (2 * eps)
        assert numeric == pytest.approx(analytic[i], rel=1e-5, abs=1e-8), f"parameter {i}"


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_torch(encoding: str, activation: str) -> None:
    torch = pytest.importorskip("torch")
    trainer = make_trainer(encoding, activation)
    uv, target = batch(64)
    loss = trainer.compute_gradients(uv, target)
    mlp = trainer.mlp

    x = torch.from_numpy(uv)
    if encoding == "frequency":
        phase = x[:, :, None] * torch.from_numpy(np.pi * 2.0 ** np.arange(3))
        x = torch.stack((phase.sin(), phase.cos()), dim=-1).reshape(len(uv), -1)
    act = {
        "leaky_relu": lambda z: torch.nn.functional.leaky_relu(z, 0.01),
        "relu": torch.relu,
        "sigmoid": torch.sigmoid,
    }[activation]
    tensors = []
    for weight, bias in zip(mlp.weights, mlp.biases, strict=True):
        w = torch.tensor(weight, requires_grad=True)
        b = torch.tensor(bias, requires_grad=True)
        tensors += [w, b]
        x = act(x @ w.T + b)
    torch_loss = ((x - torch.from_numpy(target)) ** 2).mean()
    torch_loss.backward()
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    expected = np.concatenate([t.grad.numpy().ravel() for t in tensors])
    np.testing.assert_allclose(mlp.grads, expected, rtol=1e-9, atol=1e-12)


def test_fused_encodings_match_autodiff_encodings() -> None:
    uv = np.random.default_rng(0).random((32, 2), dtype=np.float32)
    for fused, autodiff in [
        (FusedFrequency(16), FrequencyEncoding(2, 16)),
        (FusedIdentity(), IdentityEncoding(2)),
    ]:
        out = np.empty((32, fused.n_output_dims), np.float32)
        fused.encode(uv, out, fused.make_scratch(32, np.dtype(np.float32)))
        assert autodiff.n_output_dims == fused.n_output_dims
        np.testing.assert_array_equal(out, autodiff(gfxnn.Tensor(uv)).data)
    # Feature order: sin then cos of pi 2^k u for k = 0.., then the same for v.
    out = np.empty((1, 8), np.float64)
    FusedFrequency(2).encode(np.array([[0.25, 0.5]]), out, np.empty((1, 2, 2)))
    s = np.sqrt(0.5)
    np.testing.assert_allclose(out[0], [s, s, 1, 0, 1, 0, 0, -1], atol=1e-15)


def test_autodiff_encodings_gradients_config_and_errors() -> None:
    uv = np.random.default_rng(1).random((6, 2))
    frequency, identity = FrequencyEncoding(2, 4), IdentityEncoding(2, scale=2.0, offset=-1.0)
    assert gfxnn.gradcheck(frequency, [uv])
    assert gfxnn.gradcheck(identity, [uv])
    np.testing.assert_allclose(identity(gfxnn.Tensor(uv)).data, 2 * uv - 1)
    assert frequency.hyperparams() == {"otype": "Frequency", "n_frequencies": 4}
    assert identity.hyperparams() == {"otype": "Identity", "scale": 2.0, "offset": -1.0}
    assert (frequency.n_input_dims, frequency.n_output_dims) == (2, 16)
    with pytest.raises(ValueError, match="n_frequencies"):
        FrequencyEncoding(2, 0)
    with pytest.raises(ValueError, match=r"shape \(batch, 2\)"):
        frequency(gfxnn.Tensor(np.zeros((4, 3))))


def test_sigmoid_is_stable_and_matches_torch() -> None:
    torch = pytest.importorskip("torch")
    z = np.linspace(-1000, 1000, 20001, dtype=np.float32)
    a, d = np.empty_like(z), np.empty_like(z)
    with np.errstate(all="raise"):
        activations.sigmoid(z, a, d)
    expected = torch.sigmoid(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(a, expected, atol=2e-7)
    np.testing.assert_allclose(d, expected * (1 - expected), atol=2e-7)
    assert np.all(np.isfinite(a)) and np.all((a >= 0) & (a <= 1))


def test_fused_adam_matches_torch_adam() -> None:
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    params = rng.standard_normal(50)
    grads = np.zeros(50)
    adam = FusedAdam(params, grads, lr=0.01)
    reference = torch.tensor(params.copy(), requires_grad=True)
    torch_adam = torch.optim.Adam([reference], lr=0.01)
    for _ in range(20):
        g = rng.standard_normal(50) * rng.choice([1e-6, 1.0, 1e3])
        grads[...] = g
        adam.step()
        reference.grad = torch.from_numpy(g.copy())
        torch_adam.step()
    np.testing.assert_allclose(params, reference.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_sampler_takes_nearest_texels() -> None:
    image = np.random.default_rng(0).random((5, 7, 3), dtype=np.float32)
    sampler = NearestTexelSampler(image, np.random.default_rng(1))
    uv = np.array([[0.0, 0.0], [0.999999, 0.999999], [0.5, 0.2], [1 / 7, 0.99]], np.float32)
    target = np.empty((4, 3), np.float32)
    sampler.texels_at(uv, target)
    expected = [image[0, 0], image[4, 6], image[1, 3], image[4, 1]]
    np.testing.assert_array_equal(target, expected)
    uv = np.empty((1000, 2), np.float32)
    target = np.empty((1000, 3), np.float32)
    sampler.sample(uv, target)
    assert uv.min() >= 0 and uv.max() < 1
    x = np.minimum((uv[:, 0] * 7).astype(int), 6)
    y = np.minimum((uv[:, 1] * 5).astype(int), 4)
    np.testing.assert_array_equal(target, image[y, x])


def train_both(
    optimizer: str, activation: str, dtype: type, steps: int = 200, batch_size: int = 128
) -> tuple[dict[str, np.ndarray], FusedMLP]:
    """Train Dx12NN's default network (frequency encoding, 32 -> 64 -> 64 -> 3) from seed 0 on
    the same UV batches with the autodiff engine and with the fused path."""
    from gfxnn.nn import MLP
    from gfxnn.optim import SGD, Adam

    lr = 1e-3 if optimizer == "adam" else 0.1
    net = MLP(32, 3, 64, 2, activation, output_activation=activation, rng=0, dtype=dtype)
    encoding = FrequencyEncoding(2, 8)
    autodiff_optimizer = (Adam if optimizer == "adam" else SGD)(net.parameters(), lr=lr)

    mlp = FusedMLP(32, 3, 64, 2, activation, dtype=dtype)
    mlp.initialize(np.random.default_rng(0))
    fused_optimizer = (FusedAdam if optimizer == "adam" else FusedSGD)(mlp.params, mlp.grads, lr)
    trainer = FusedTrainer(FusedFrequency(8), mlp, fused_optimizer)
    for i, weight in enumerate(mlp.weights):  # the same Xavier draws
        np.testing.assert_array_equal(net.state_dict()[f"layers.{i}.weight"], weight)

    image = np.random.default_rng(5).random((32, 32, 3))
    sampler = NearestTexelSampler(image, np.random.default_rng(1), dtype=dtype)
    uv, target = np.empty((batch_size, 2), dtype), np.empty((batch_size, 3), dtype)
    for _ in range(steps):
        sampler.sample(uv, target)
        fused_loss = trainer.compute_gradients(uv, target)
        trainer.update()

        autodiff_optimizer.zero_grad()
        prediction = net(encoding(gfxnn.Tensor(uv)))
        loss = ((prediction - gfxnn.Tensor(target)) ** 2).mean()
        loss.backward()
        autodiff_optimizer.step()
        assert fused_loss == pytest.approx(float(loss.data), rel=1e-4)
    return net.state_dict(), mlp


def max_weight_difference(state: dict[str, np.ndarray], mlp: FusedMLP) -> float:
    differences = []
    for i, (weight, bias) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        differences.append(np.max(np.abs(state[f"layers.{i}.weight"] - weight)))
        differences.append(np.max(np.abs(state[f"layers.{i}.bias"] - bias)))
    return float(max(differences))


@pytest.mark.parametrize(
    ("optimizer", "activation"),
    [("adam", "leaky_relu"), ("adam", "relu"), ("sgd", "sigmoid")],
)
def test_fused_and_autodiff_train_to_the_same_weights_float64(
    optimizer: str, activation: str
) -> None:
    # In float64 rounding cannot hide a different formula: 200 steps must agree to ~1e-12.
    state, mlp = train_both(optimizer, activation, np.float64, batch_size=64)
    assert max_weight_difference(state, mlp) < 1e-10


def test_fused_and_autodiff_train_to_the_same_weights_float32() -> None:
    # In float32 the two differ only by summation order (BLAS vs NumPy reductions); Adam can
    # amplify a rounding difference on a near-zero gradient to ~lr per step, so the tolerance
    # is a few float32 ulps of the weights (~0.1-0.4) rather than exact equality.
    state, mlp = train_both("adam", "leaky_relu", np.float32, batch_size=64)
    assert max_weight_difference(state, mlp) < 1e-5


def test_blas_thread_limit_applies_inside_and_restores_after() -> None:
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from gfxnn.fused.threads import blas_threads

    def counts() -> list[int]:
        return [
            i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
        ]

    before = counts()
    with blas_threads(1):
        assert all(n == 1 for n in counts())
    assert counts() == before
    with blas_threads(None):
        assert counts() == before


# ----- every activation, hidden and output ----------------------------------------------------
ALL_ACTIVATIONS = list(choices.ACTIVATIONS)
PAIRS = [(hidden, output) for hidden in ALL_ACTIVATIONS for output in ALL_ACTIVATIONS]


def pair_trainer(hidden: str, output: str, dtype: type = np.float64) -> FusedTrainer:
    encoder = FusedFrequency(2)
    mlp = FusedMLP(encoder.n_output_dims, 3, 6, 2, hidden, dtype=dtype, output_activation=output)
    mlp.initialize(np.random.default_rng(0))
    for bias in mlp.biases:  # random biases: a wrong bias gradient cannot hide behind zeros
        bias[...] = np.random.default_rng(1).uniform(-0.5, 0.5, bias.shape)
    return FusedTrainer(encoder, mlp, FusedSGD(mlp.params, mlp.grads, lr=0.0))


@pytest.mark.parametrize(("hidden", "output"), PAIRS)
def test_every_activation_pair_matches_the_autodiff_engine(hidden: str, output: str) -> None:
    """Loss and every parameter gradient of the fused path against gfxnn.nn.MLP (whose
    derivatives the autodiff engine's gradcheck tests), float64, for each hidden x output
    activation; plus central differences on a few parameters."""
    from gfxnn.nn import MLP

    trainer = pair_trainer(hidden, output)
    uv, target = batch(12)
    loss = trainer.compute_gradients(uv, target)
    net = MLP(8, 3, 6, 2, hidden, output, dtype=np.float64, rng=0)
    net.load_state_dict(trainer.state_dict())
    features = FrequencyEncoding(2, 2)(gfxnn.Tensor(uv)).data
    reference = ((net(gfxnn.Tensor(features)) - gfxnn.Tensor(target)) ** 2).mean()
    reference.backward()
    assert loss == pytest.approx(float(reference.data), rel=1e-12)
    expected = np.concatenate(
        [p.grad.ravel() for name, p in net.named_parameters()]  # weight, bias per layer
    )
    np.testing.assert_allclose(trainer.mlp.grads, expected, rtol=1e-9, atol=1e-13)
    params, analytic = trainer.mlp.params, trainer.mlp.grads.copy()
    for i in np.random.default_rng(3).choice(params.size, size=6, replace=False):
        original = params[i]
        params[i] = original + 1e-6
        up = trainer.compute_gradients(uv, target)
        params[i] = original - 1e-6
        down = trainer.compute_gradients(uv, target)
        params[i] = original
        assert (up - down) / 2e-6 == pytest.approx(analytic[i], rel=1e-5, abs=1e-9)


@pytest.mark.parametrize(("hidden", "output"), PAIRS)
def test_infer_equals_the_training_forward(hidden: str, output: str) -> None:
    """infer() (value-only activations, its own buffers) and render() give what the training
    forward pass computes, in float32, for each hidden x output activation."""
    trainer = pair_trainer(hidden, output, np.float32)
    uv, _ = batch(40, np.float32)
    features = np.empty((40, trainer.encoder.n_output_dims), np.float32)
    trainer.encoder.encode(uv, features, trainer.encoder.make_scratch(40, np.float32))
    trained = trainer.mlp.forward(features).copy()
    np.testing.assert_array_equal(trainer.infer(uv), trained)
    image = trainer.render((3, 4))  # (H, W): pixel (x, y) at (x / 3, y / 2)
    grid = np.stack(np.meshgrid(np.arange(4) / 3, np.arange(3) / 2), axis=-1).reshape(-1, 2)
    np.testing.assert_allclose(
        image.reshape(-1, 3), trainer.infer(grid.astype(np.float32)), rtol=1e-6, atol=1e-7
    )


# ----- the Trainer interface, built from a ModelSpec ------------------------------------------
def small_spec(**changes: object) -> ModelSpec:
    spec = ModelSpec(
        encoding={"otype": "Frequency", "n_frequencies": 4}, n_neurons=16, n_hidden_layers=2
    )
    return spec.replace(**changes)


def test_make_trainer_is_a_trainer_and_trains_as_the_hand_built_one() -> None:
    image = np.random.default_rng(0).random((9, 11, 3), dtype=np.float32)
    trainer = trainer_from_spec(small_spec(), ImageTarget(image))
    assert isinstance(trainer, Trainer)
    # The same steps by hand: Xavier from the seed, UVs from default_rng([seed, 1]).
    mlp = FusedMLP(16, 3, 16, 2, "leaky_relu")
    mlp.initialize(np.random.default_rng(0))
    np.testing.assert_array_equal(trainer.mlp.params, mlp.params)
    by_hand = FusedTrainer(FusedFrequency(4), mlp, FusedAdam(mlp.params, mlp.grads, 1e-3))
    sampler = NearestTexelSampler(image, np.random.default_rng([0, 1]))
    uv, target = np.empty((32, 2), np.float32), np.empty((32, 3), np.float32)
    losses = []
    for _ in range(5):
        sampler.sample(uv, target)
        losses.append(by_hand.compute_gradients(uv, target))
        by_hand.update()
    trainer.train(5, 32)
    assert trainer.read_losses() == losses
    assert trainer.read_losses() == []
    np.testing.assert_array_equal(trainer.mlp.params, mlp.params)
    assert trainer.diverged_at() == 0
    timings = trainer.timings_ms()
    assert timings["backpropagation"] > 0 and timings["optimization"] > 0
    assert trainer.render((9, 11)).shape == (9, 11, 3)


def test_train_stops_at_the_first_non_finite_loss() -> None:
    image = np.random.default_rng(0).random((4, 4, 3), dtype=np.float32)
    spec = small_spec(optimizer=OptimizerSpec("sgd", learning_rate=1e6))
    trainer = trainer_from_spec(spec, ImageTarget(image))
    trainer.train(50, 16)
    step = trainer.diverged_at()
    assert step > 0
    losses = trainer.read_losses()
    assert len(losses) == step - 1 and np.all(np.isfinite(losses))
    kept = trainer.state_dict()
    trainer.train(5, 16)  # a diverged trainer does not train on
    assert trainer.read_losses() == []
    for name, value in trainer.state_dict().items():
        np.testing.assert_array_equal(value, kept[name])


def test_state_dict_round_trip_and_errors() -> None:
    spec = small_spec(
        encoding={"otype": "HashGrid", "n_levels": 2, "log2_hashmap_size": 6},
        encoding_optimizer=OptimizerSpec(learning_rate=1e-2, epsilon=1e-15),
    )
    trainer = trainer_from_spec(spec)
    state = trainer.state_dict()
    assert set(state) == {f"layers.{i}.{k}" for i in range(3) for k in ("weight", "bias")} | {
        "encoding.table"
    }
    other = trainer_from_spec(spec.replace(seed=1))
    assert not np.array_equal(other.state_dict()["layers.0.weight"], state["layers.0.weight"])
    other.load_state_dict(state)
    for name, value in other.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    bad = {**state, "layers.0.weight": state["layers.0.weight"][:, :3]}
    with pytest.raises(ValueError, match=r"layers\.0\.weight has shape"):
        other.load_state_dict(bad)
    with pytest.raises(ValueError, match="missing"):
        other.load_state_dict({k: v for k, v in state.items() if k != "encoding.table"})
    with pytest.raises(ValueError, match="encoding_optimizer"):
        trainer_from_spec(spec.replace(encoding_optimizer=None))


def test_render_on_one_and_three_dimensional_grids() -> None:
    line = trainer_from_spec(small_spec(n_input_dims=1, n_output_dims=2))
    values = line.render((5,))
    np.testing.assert_array_equal(values, line.infer(np.linspace(0, 1, 5)[:, None]))
    volume = trainer_from_spec(small_spec(n_input_dims=3, n_output_dims=1))
    grid = volume.render((2, 3, 4))  # (z, y, x): x = input 0 along the last axis
    assert grid.shape == (2, 3, 4, 1)
    point = np.array([[1 / 3, 0.5, 1.0]], np.float32)  # x index 1, y index 1, z index 1
    np.testing.assert_allclose(grid[1, 1, 1], volume.infer(point)[0], rtol=1e-6)


def test_set_training_keeps_weights_and_moments_for_a_new_rate() -> None:
    image = np.random.default_rng(0).random((6, 6, 3), dtype=np.float32)
    trainer = trainer_from_spec(small_spec(), ImageTarget(image))
    trainer.train(3, 16)
    adam = trainer.optimizer
    moments = adam.m.copy()
    faster = small_spec(optimizer=OptimizerSpec(learning_rate=1e-2))
    set_training(trainer, faster)
    assert trainer.optimizer is adam and adam.lr == 1e-2
    np.testing.assert_array_equal(adam.m, moments)
    set_training(trainer, faster.replace(optimizer=OptimizerSpec("sgd", learning_rate=0.1)))
    assert isinstance(trainer.optimizer, FusedSGD)
    before = trainer.state_dict()
    with pytest.raises(ValueError, match="rebuild"):
        set_training(trainer, faster.replace(n_neurons=8))
    with pytest.raises(ValueError, match="loss must be one of"):
        set_training(trainer, trainer.spec.replace(loss="huber"))
    assert isinstance(trainer.optimizer, FusedSGD)
    for name, value in trainer.state_dict().items():
        np.testing.assert_array_equal(value, before[name])


def test_hand_built_trainer_reads_its_spec_back() -> None:
    trainer = make_trainer("frequency", "sigmoid", dtype=np.float32)
    spec = trainer.spec
    assert spec.encoding == {"otype": "Frequency", "n_frequencies": 3}
    assert (spec.n_neurons, spec.n_hidden_layers, spec.activation) == (8, 2, "sigmoid")
    assert spec.optimizer == OptimizerSpec("sgd", 0.0)
    rebuilt = trainer_from_spec(spec)
    assert rebuilt.mlp.sizes == trainer.mlp.sizes
    assert isinstance(trainer, Trainer)


def test_backends_and_export_do_not_import_app_settings() -> None:
    """The backends take components (ModelSpec), not the app's settings: no module of fused/,
    gpu/ (but the GPU fitter, an app-level controller) or export/ imports gfxnn.imagefit,
    gfxnn.fields.settings or gfxnn.apps, at module or function level."""
    import ast
    from pathlib import Path

    root = Path(gfxnn.__file__).parent
    forbidden = ("gfxnn.imagefit", "gfxnn.fields.settings", "gfxnn.apps")
    offenders = []
    for folder in ("fused", "gpu", "export"):
        for path in sorted((root / folder).glob("*.py")):
            if path.name == "fitter.py":
                continue
            for node in ast.walk(ast.parse(path.read_text())):
                names = []
                if isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                offenders += [
                    f"{folder}/{path.name}: {n}" for n in names if n.startswith(forbidden)
                ]
    assert offenders == []
