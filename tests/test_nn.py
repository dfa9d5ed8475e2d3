"""Modules, layers, initialisers and a small network that really learns."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import gfxnn
from gfxnn import functional as F
from gfxnn import nn, ops
from gfxnn.nn import init
from gfxnn.rng import DEFAULT_SEED


def test_linear_layout_and_forward_match_pytorch():
    torch = pytest.importorskip("torch")
    layer = nn.Linear(4, 3, rng=np.random.default_rng(0), dtype="float64")
    assert layer.weight.shape == (3, 4) and layer.bias is not None and layer.bias.shape == (3,)
    reference = torch.nn.Linear(4, 3).double()
    with torch.no_grad():
        reference.weight.copy_(torch.tensor(layer.weight.data))
        reference.bias.copy_(torch.tensor(layer.bias.data))
    x = np.random.default_rng(1).standard_normal((5, 4))
    np.testing.assert_allclose(
        layer(x).data, reference(torch.tensor(x)).detach().numpy(), atol=1e-12
    )


def test_mlp_names_structure_and_per_layer_widths():
    mlp = nn.MLP(2, 3, n_neurons=[8, 16, 4], activation="leaky_relu", rng=0)
    names = [name for name, _ in mlp.named_parameters()]
    assert names == [f"layers.{i}.{kind}" for i in range(4) for kind in ("weight", "bias")]
    assert [layer.weight.shape for layer in mlp.layers] == [(8, 2), (16, 8), (4, 16), (3, 4)]
    assert nn.MLP(2, 3, 64, 0).layers[0].weight.shape == (3, 2)


def test_mlp_matches_a_torch_mlp_with_the_same_weights():
    torch = pytest.importorskip("torch")
    mlp = nn.MLP(
        3, 2, 16, 2, activation="tanh", output_activation="sigmoid", rng=0, dtype="float64"
    )
    ref = torch.nn.Sequential(
        torch.nn.Linear(3, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 16),
        torch.nn.Tanh(),
        torch.nn.Linear(16, 2),
        torch.nn.Sigmoid(),
    ).double()
    ref.load_state_dict(
        {
            f"{2 * i}.{kind}": torch.tensor(mlp.state_dict()[f"layers.{i}.{kind}"])
            for i in range(3)
            for kind in ("weight", "bias")
        }
    )
    x = np.random.default_rng(1).standard_normal((7, 3))
    out = mlp(gfxnn.tensor(x))
    expected = ref(torch.tensor(x))
    np.testing.assert_allclose(out.data, expected.detach().numpy(), atol=1e-12)
    out.sum().backward()
    expected.sum().backward()
    np.testing.assert_allclose(mlp.layers[0].weight.grad, ref[0].weight.grad.numpy(), atol=1e-12)


def test_state_dict_round_trip_and_mismatch_errors():
    a, b = nn.MLP(2, 1, 4, 1, rng=0), nn.MLP(2, 1, 4, 1, rng=1)
    b.load_state_dict(a.state_dict())
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    with pytest.raises(ValueError, match=r"missing \['layers.1.bias'\]"):
        b.load_state_dict({k: v for k, v in a.state_dict().items() if k != "layers.1.bias"})
    with pytest.raises(ValueError, match="has shape"):
        nn.MLP(2, 1, 5, 1).load_state_dict(a.state_dict())


def test_train_eval_zero_grad():
    mlp = nn.MLP(2, 1, 4, 1, rng=0)
    mlp.eval()
    assert not any(m.training for m in mlp.modules())
    mlp.train()
    assert all(m.training for m in mlp.modules())
    mlp(np.ones((1, 2))).sum().backward()
    assert all(p.grad is not None for p in mlp.parameters())
    mlp.zero_grad()
    assert all(p.grad is None for p in mlp.parameters())


def test_bad_arguments_are_clear():
    with pytest.raises(ValueError, match="in_features must be a positive integer, got 0"):
        nn.Linear(0, 3)
    with pytest.raises(ValueError, match="unknown activation 'swish2'"):
        nn.MLP(2, 1, activation="swish2")
    with pytest.raises(ValueError, match=r"expects inputs of shape \(\.\.\., 4\), got \(2, 3\)"):
        nn.Linear(4, 2)(np.ones((2, 3)))
    with pytest.raises(TypeError, match="rng must be"):
        nn.Linear(2, 2, rng="seed")
    with pytest.raises(TypeError, match="np.random.Generator"):
        init.xavier_uniform(nn.Parameter(np.zeros((2, 2))), rng=3)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "initializer, expected_std",
    [
        (init.xavier_uniform, math.sqrt(2 / (200 + 100))),
        (init.xavier_normal, math.sqrt(2 / (200 + 100))),
        (init.he_uniform, math.sqrt(2 / 200)),
        (init.he_normal, math.sqrt(2 / 200)),
        (init.lecun_uniform, math.sqrt(1 / 200)),
        (init.lecun_normal, math.sqrt(1 / 200)),
    ],
)
def test_initialisers_have_the_variance_of_their_formula(initializer, expected_std):
    weight = nn.Parameter(np.zeros((100, 200)))
    initializer(weight, np.random.default_rng(0))
    assert weight.data.std() == pytest.approx(expected_std, rel=0.03)
    assert abs(weight.data.mean()) < 0.01 * expected_std * 10


def test_xavier_uniform_limit_and_same_seed_same_numbers():
    a = nn.MLP(32, 3, 64, 2, rng=np.random.default_rng(7))
    b = nn.MLP(32, 3, 64, 2, rng=np.random.default_rng(7))
    limit = math.sqrt(6 / (32 + 64))
    first = a.layers[0].weight.data
    assert first.max() <= limit and first.min() >= -limit and first.max() > 0.9 * limit
    np.testing.assert_array_equal(first, b.layers[0].weight.data)
    assert all(np.all(layer.bias.data == 0) for layer in a.layers)


def test_small_mlp_learns_xor_with_hand_written_sgd():
    """2-4-1 network, tanh hidden, sigmoid output, full-batch gradient descent on MSE."""
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)
    y = np.array([[0], [1], [1], [0]], dtype=np.float32)

    def train(seed):
        mlp = nn.MLP(2, 1, 4, 1, activation="tanh", output_activation="sigmoid", rng=seed)
        losses = []
        for _ in range(2000):
            loss = ((mlp(x) - y) ** 2).mean()
            mlp.zero_grad()
            loss.backward()
            for p in mlp.parameters():
                p.data -= 2.0 * p.grad
            losses.append(loss.item())
        return mlp, losses

    mlp, losses = train(3)
    assert losses[-1] < 0.01, losses[-1]
    np.testing.assert_array_equal((mlp(x).data > 0.5).astype(np.float32), y)
    _, again = train(3)
    assert again == losses


def test_sequential_and_activation_modules():
    model = nn.Sequential(nn.Linear(2, 3, rng=0), nn.LeakyReLU(0.2), nn.Linear(3, 1, rng=1))
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    x = np.array([[1.0, -2.0]], dtype=np.float32)
    manual = F.leaky_relu(model[0](x), 0.2)
    np.testing.assert_allclose(model(x).data, model[2](manual).data)
    assert "LeakyReLU(negative_slope=0.2)" in repr(model)


# ----- issue 15: clear messages, no OS entropy, atomic loads ---------------------------------
@pytest.mark.parametrize("n_neurons", [8.5, "64", None, float("nan")])
def test_mlp_names_a_bad_width(n_neurons: Any) -> None:
    # Before: "'float' object is not iterable" from deep inside the constructor.
    with pytest.raises(ValueError, match=r"n_neurons must be a positive integer or a list"):
        nn.MLP(2, 1, n_neurons=n_neurons)
    with pytest.raises(ValueError, match=r"n_neurons\[1\] must be a positive integer, got 0"):
        nn.MLP(2, 1, n_neurons=[4, 0])


@pytest.mark.parametrize("state", [None, [("weight", np.zeros((2, 2)))], "weights"])
def test_load_state_dict_names_what_it_expects(state: Any) -> None:
    # Before: "'NoneType' object is not iterable".
    with pytest.raises(TypeError, match=r"load_state_dict expects a dict of arrays"):
        nn.Linear(2, 2).load_state_dict(state)


def test_a_refused_state_dict_changes_nothing() -> None:
    mlp = nn.MLP(2, 1, n_neurons=4, n_hidden_layers=1, rng=0)
    before = mlp.state_dict()
    state = nn.MLP(2, 1, n_neurons=4, n_hidden_layers=1, rng=1).state_dict()
    state["layers.1.bias"] = np.zeros(7)  # the last entry is bad: nothing may be copied
    with pytest.raises(ValueError, match="has shape"):
        mlp.load_state_dict(state)
    for name, array in mlp.state_dict().items():
        np.testing.assert_array_equal(array, before[name], err_msg=name)


@pytest.mark.parametrize(
    "build",
    [
        lambda rng: nn.Linear(3, 4, rng=rng),
        lambda rng: nn.MLP(3, 2, n_neurons=8, rng=rng),
        lambda rng: nn.Conv2d(2, 3, 3, rng=rng),
        lambda rng: nn.ConvTranspose2d(2, 3, 3, rng=rng),
    ],
)
def test_rng_none_is_the_documented_fixed_seed(build: Any) -> None:
    # Before: rng=None drew OS entropy, so the same call gave different weights.
    first, again, seeded = build(None), build(None), build(DEFAULT_SEED)
    for name, array in first.state_dict().items():
        np.testing.assert_array_equal(array, again.state_dict()[name], err_msg=name)
        np.testing.assert_array_equal(array, seeded.state_dict()[name], err_msg=name)
    different = build(DEFAULT_SEED + 1).state_dict()
    assert any(not np.array_equal(a, different[k]) for k, a in first.state_dict().items())


@pytest.mark.parametrize(
    ("build", "error", "message"),
    [
        (lambda: nn.Linear(2, 2, rng=-1), ValueError, r"rng must be an integer >= 0"),
        (lambda: nn.Linear(2, 2, bias=1), TypeError, r"bias must be a bool, got 1"),
        (lambda: nn.Linear(True, 2), ValueError, r"in_features must be a positive integer"),
        (lambda: nn.Linear(2, 2, init="glorot"), ValueError, r"init must be one of"),
        (lambda: nn.Linear(2, 2, init=["x"]), ValueError, r"init must be one of"),
        (lambda: nn.MLP(2, 1, activation=["relu"]), ValueError, r"unknown activation"),
        (lambda: nn.MLP(2, 1, n_hidden_layers=True), ValueError, r"n_hidden_layers.*True"),
        (lambda: nn.LeakyReLU(float("nan")), ValueError, r"negative_slope must be a finite"),
        (lambda: nn.LeakyReLU(True), TypeError, r"negative_slope must be a real number"),
        (lambda: nn.Sine(float("inf")), ValueError, r"omega_0 must be a finite"),
        (lambda: nn.Softmax(1.5), ValueError, r"axis must be an integer"),
        (lambda: nn.Flatten(True), ValueError, r"start_dim must be an integer"),
        (lambda: nn.Upsample(float("nan")), ValueError, r"scale_factor must be >= 0"),
        (lambda: nn.Upsample(True), TypeError, r"scale_factor must be a real number"),
        (lambda: nn.BatchNorm2d(3, eps=float("inf")), ValueError, r"eps must be a finite"),
        (lambda: nn.BatchNorm2d(3, momentum=True), TypeError, r"momentum must be a real"),
        (lambda: nn.BatchNorm2d(3, affine=1), TypeError, r"affine must be a bool"),
    ],
)
def test_hostile_layer_arguments_are_refused_by_name(
    build: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        build()


# ----- gradcheck_module: finite differences on a module's own parameters -------------------
@pytest.mark.parametrize(
    ("build", "shape"),
    [
        (lambda: nn.Linear(3, 4, rng=0), (5, 3)),
        (lambda: nn.MLP(3, 2, n_neurons=6, activation="tanh", output_activation="sigmoid"), (4, 3)),
        (lambda: nn.Conv2d(2, 3, 3, padding=1, rng=0), (2, 2, 5, 5)),
        (lambda: nn.ConvTranspose2d(2, 3, 3, stride=2, rng=0), (1, 2, 3, 3)),
        (lambda: nn.BatchNorm2d(2), (3, 2, 2, 2)),
    ],
)
def test_layers_pass_gradcheck_module(build: Any, shape: tuple[int, ...]) -> None:
    module = build()
    before = {name: (p.data.copy(), p.dtype) for name, p in module.named_parameters()}
    x = np.random.default_rng(5).uniform(-1, 1, shape)
    assert gfxnn.gradcheck_module(module, [x], atol=1e-6, rtol=1e-4)
    for name, p in module.named_parameters():  # restored: values and float32
        np.testing.assert_array_equal(p.data, before[name][0])
        assert p.dtype == before[name][1] and p.grad is None


class _WrongScale(nn.Module):
    """y = x * w with the weight's VJP scaled by 3: the bug gradcheck_module must catch."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(np.array([0.5, -1.5, 2.0]))

    def forward(self, x: gfxnn.Tensor) -> gfxnn.Tensor:
        w = self.weight

        def vjp(g: np.ndarray) -> Any:
            return g * w.data, 3 * (g * x.data).sum(axis=0)

        return ops.record(x.data * w.data, (x, w), vjp)


def test_gradcheck_module_catches_a_wrongly_scaled_parameter_gradient() -> None:
    x = np.random.default_rng(0).uniform(-1, 1, (4, 3))
    with pytest.raises(gfxnn.GradcheckError, match=r"parameter 'weight'.*wrong"):
        gfxnn.gradcheck_module(_WrongScale(), [x])
    # The input gradient is right: checking only it passes, so the failure is the weight's.
    assert gfxnn.gradcheck(lambda t: _WrongScale()(t), [x])
