"""Optimizers: 50 steps beside torch.optim, bit-identical resume, and hyperparameter checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gfxnn.losses
import gfxnn.optim
from gfxnn.nn import MLP
from gfxnn.optim import SGD, Adam, AdamW
from gfxnn.optim.functional import adam_update, sgd_update

N_STEPS = 50


def make_model(dtype: Any, seed: int = 0) -> MLP:
    """The small test network: 3 -> 16 -> 16 -> 2, tanh hidden units, linear output."""
    return MLP(3, 2, n_neurons=16, n_hidden_layers=2, activation="tanh", rng=seed, dtype=dtype)


def make_data(dtype: Any, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """A fixed regression batch: 32 points in [-1, 1]^3 and smooth 2-D targets."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-1, 1, size=(32, 3))
    y = np.stack([np.sin(2 * x[:, 0]) * x[:, 1], np.cos(x[:, 2]) - x[:, 0]], axis=1)
    return x.astype(dtype), y.astype(dtype)


def train_gfxnn(model: MLP, optimizer: gfxnn.optim.Optimizer, n_steps: int, dtype: Any) -> None:
    x, y = make_data(dtype)
    for _ in range(n_steps):
        optimizer.zero_grad()
        gfxnn.losses.mse(model(x), y).backward()
        optimizer.step()


def torch_twin(model: MLP, torch: Any) -> Any:
    """A torch.nn.Sequential with the same layers and a copy of `model`'s weights."""
    dtype = torch.float64 if model.layers[0].weight.dtype == np.float64 else torch.float32
    layers: list[Any] = []
    for i, layer in enumerate(model.layers):
        linear = torch.nn.Linear(layer.in_features, layer.out_features, dtype=dtype)
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(layer.weight.data.copy()))
            linear.bias.copy_(torch.from_numpy(layer.bias.data.copy()))
        layers.append(linear)
        if i < len(model.layers) - 1:
            layers.append(torch.nn.Tanh())
    return torch.nn.Sequential(*layers)


def train_torch(net: Any, optimizer: Any, n_steps: int, dtype: Any, torch: Any) -> None:
    x, y = (torch.from_numpy(a) for a in make_data(dtype))
    for _ in range(n_steps):
        optimizer.zero_grad()
        torch.nn.functional.mse_loss(net(x), y).backward()
        optimizer.step()


# (name, gfxnn constructor, torch constructor name, keyword arguments for both)
CASES: list[tuple[str, Callable[..., Any], str, dict[str, Any]]] = [
    ("sgd", SGD, "SGD", {"lr": 0.1}),
    ("sgd_momentum", SGD, "SGD", {"lr": 0.05, "momentum": 0.9}),
    ("sgd_nesterov", SGD, "SGD", {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd_weight_decay", SGD, "SGD", {"lr": 0.1, "momentum": 0.5, "weight_decay": 0.05}),
    ("sgd_dampening", SGD, "SGD", {"lr": 0.1, "momentum": 0.9, "dampening": 0.3}),
    # Gradient ascent on a squared error runs away; a small rate keeps 50 steps tame.
    ("sgd_maximize", SGD, "SGD", {"lr": 0.003, "momentum": 0.5, "maximize": True}),
    ("adam", Adam, "Adam", {"lr": 1e-2}),
    ("adam_betas", Adam, "Adam", {"lr": 3e-2, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("adam_weight_decay", Adam, "Adam", {"lr": 1e-2, "weight_decay": 0.1}),
    ("adamw", AdamW, "AdamW", {"lr": 1e-2}),
    ("adamw_strong_decay", AdamW, "AdamW", {"lr": 1e-2, "weight_decay": 0.5}),
    ("adam_maximize", Adam, "Adam", {"lr": 1e-2, "maximize": True}),
]


def run_side_by_side(
    make_optimizer: Callable[..., Any], torch_name: str, kwargs: dict[str, Any], dtype: Any
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Initial, gfxnn and torch parameters after N_STEPS from the same weights and data."""
    torch = pytest.importorskip("torch")
    model = make_model(dtype)
    initial = model.state_dict()
    net = torch_twin(model, torch)
    train_gfxnn(model, make_optimizer(model.parameters(), **kwargs), N_STEPS, dtype)
    train_torch(
        net, getattr(torch.optim, torch_name)(net.parameters(), **kwargs), N_STEPS, dtype, torch
    )
    ours = model.state_dict()
    # torch's Sequential numbers its Tanh modules too: "2.weight" is our "layers.1.weight".
    theirs = {}
    for key, value in net.state_dict().items():
        index, name = key.split(".")
        theirs[f"layers.{int(index) // 2}.{name}"] = value.numpy()
    return initial, ours, theirs


def assert_matches_torch_in_float64(
    name: str, make_optimizer: Callable[..., Any], torch_name: str, kwargs: dict[str, Any]
) -> None:
    """After N_STEPS in float64, gfxnn's parameters equal torch's within 1e-5 relative."""
    initial, ours, theirs = run_side_by_side(make_optimizer, torch_name, kwargs, np.float64)
    assert ours.keys() == theirs.keys()
    for key in ours:
        np.testing.assert_allclose(ours[key], theirs[key], rtol=1e-5, atol=1e-12, err_msg=key)
    # The comparison only means something if training moved the weights a lot.
    moved = max(np.abs(ours[k] - initial[k]).max() for k in ours)
    assert moved > 0.05, f"{name}: parameters moved only {moved}"


def assert_matches_torch_in_float32(
    make_optimizer: Callable[..., Any], torch_name: str, kwargs: dict[str, Any]
) -> None:
    """After N_STEPS in float32, parameters stay float32 and agree with torch's."""
    _, ours, theirs = run_side_by_side(make_optimizer, torch_name, kwargs, np.float32)
    for key in ours:
        assert ours[key].dtype == np.float32
        # float32 rounding differs between the frameworks' kernels and compounds over 50
        # steps; 1e-4 of the weights' scale still catches any error in the update rule.
        scale = np.abs(theirs[key]).max()
        np.testing.assert_allclose(
            ours[key], theirs[key], rtol=1e-4, atol=1e-4 * scale, err_msg=key
        )


@pytest.mark.parametrize(("name", "make_optimizer", "torch_name", "kwargs"), CASES)
def test_matches_torch_optim_in_float64(
    name: str, make_optimizer: Callable[..., Any], torch_name: str, kwargs: dict[str, Any]
) -> None:
    assert_matches_torch_in_float64(name, make_optimizer, torch_name, kwargs)


@pytest.mark.parametrize(
    ("name", "make_optimizer", "torch_name", "kwargs"),
    [case for case in CASES if case[0] in ("sgd_nesterov", "adam", "adamw")],
)
def test_matches_torch_optim_in_float32(
    name: str, make_optimizer: Callable[..., Any], torch_name: str, kwargs: dict[str, Any]
) -> None:
    assert_matches_torch_in_float32(make_optimizer, torch_name, kwargs)


def test_param_groups_use_their_own_hyperparameters() -> None:
    torch = pytest.importorskip("torch")
    model = make_model(np.float64)
    net = torch_twin(model, torch)
    first, rest = (
        model.layers[0].parameters(),
        [*model.layers[1].parameters(), *model.layers[2].parameters()],
    )
    ours = Adam([{"params": first, "lr": 0.05}, {"params": rest}], lr=1e-2, betas=(0.8, 0.9))
    torch_params = list(net.parameters())
    theirs = torch.optim.Adam(
        [{"params": torch_params[:2], "lr": 0.05}, {"params": torch_params[2:]}],
        lr=1e-2,
        betas=(0.8, 0.9),
    )
    assert ours.param_groups[0]["lr"] == 0.05 and ours.param_groups[1]["lr"] == 1e-2
    train_gfxnn(model, ours, 20, np.float64)
    train_torch(net, theirs, 20, np.float64, torch)
    for p, q in zip(model.parameters(), torch_params, strict=True):
        np.testing.assert_allclose(p.data, q.detach().numpy(), rtol=1e-5, atol=1e-12)


# ----- state_dict resume -----------------------------------------------------------------------
RESUME_CASES = [
    (SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 1e-3}),
    (Adam, {"lr": 1e-2, "weight_decay": 1e-3}),
    (AdamW, {"lr": 1e-2}),
]


@pytest.mark.parametrize(("make_optimizer", "kwargs"), RESUME_CASES)
def test_state_dict_resumes_bit_identically(make_optimizer: Any, kwargs: dict[str, Any]) -> None:
    model = make_model(np.float32)
    optimizer = make_optimizer(model.parameters(), **kwargs)
    train_gfxnn(model, optimizer, 10, np.float32)
    saved_model, saved_optimizer = model.state_dict(), optimizer.state_dict()
    train_gfxnn(model, optimizer, 10, np.float32)
    uninterrupted = model.state_dict()

    # A fresh model and optimizer (other initial weights, fresh state) loaded from step 10.
    resumed_model = make_model(np.float32, seed=123)
    resumed_model.load_state_dict(saved_model)
    resumed_optimizer = make_optimizer(resumed_model.parameters(), **kwargs)
    resumed_optimizer.load_state_dict(saved_optimizer)
    train_gfxnn(resumed_model, resumed_optimizer, 10, np.float32)

    resumed = resumed_model.state_dict()
    for key in uninterrupted:
        assert np.array_equal(resumed[key], uninterrupted[key]), key
        assert not np.array_equal(saved_model[key], uninterrupted[key]), key


def test_state_dict_is_a_copy_and_has_torch_layout() -> None:
    model = make_model(np.float64)
    optimizer = Adam(model.parameters(), lr=1e-2)
    train_gfxnn(model, optimizer, 2, np.float64)
    saved = optimizer.state_dict()
    assert sorted(saved) == ["param_groups", "state"]
    assert saved["param_groups"][0]["params"] == list(range(6))
    assert saved["state"][0]["step"] == 2
    snapshot = saved["state"][0]["exp_avg"].copy()
    train_gfxnn(model, optimizer, 1, np.float64)
    assert np.array_equal(saved["state"][0]["exp_avg"], snapshot)


def test_load_state_dict_restores_hyperparameters() -> None:
    model = make_model(np.float64)
    source = SGD(model.parameters(), lr=0.3, momentum=0.5)
    target = SGD(model.parameters(), lr=0.1)
    target.load_state_dict(source.state_dict())
    assert target.param_groups[0]["lr"] == 0.3 and target.param_groups[0]["momentum"] == 0.5


def test_load_state_dict_rejects_a_different_model() -> None:
    small = MLP(3, 2, n_neurons=4, n_hidden_layers=1, rng=0)
    optimizer = Adam(small.parameters())
    train_gfxnn(small, optimizer, 1, np.float32)
    with pytest.raises(ValueError, match="parameters in the state dict"):
        Adam(make_model(np.float32).parameters()).load_state_dict(optimizer.state_dict())
    other = MLP(3, 2, n_neurons=5, n_hidden_layers=1, rng=0)
    with pytest.raises(ValueError, match="shape"):
        Adam(other.parameters()).load_state_dict(optimizer.state_dict())


# ----- stepping rules ----------------------------------------------------------------------------
def test_zero_grad_sets_gradients_to_none() -> None:
    model = make_model(np.float32)
    optimizer = SGD(model.parameters(), lr=0.1)
    x, y = make_data(np.float32)
    gfxnn.losses.mse(model(x), y).backward()
    assert all(p.grad is not None for p in model.parameters())
    optimizer.zero_grad()
    assert all(p.grad is None for p in model.parameters())


def test_parameters_without_gradient_are_left_alone() -> None:
    model = make_model(np.float64)
    optimizer = Adam(model.parameters(), lr=0.1)
    frozen = model.layers[0].weight
    before = frozen.data.copy()
    x, y = make_data(np.float64)
    gfxnn.losses.mse(model(x), y).backward()
    frozen.grad = None
    optimizer.step()
    assert np.array_equal(frozen.data, before)
    assert frozen not in optimizer.state
    assert model.layers[1].weight in optimizer.state


def test_step_returns_the_closure_loss() -> None:
    model = make_model(np.float64)
    optimizer = SGD(model.parameters(), lr=0.1)
    x, y = make_data(np.float64)

    def closure() -> float:
        optimizer.zero_grad()
        loss = gfxnn.losses.mse(model(x), y)
        loss.backward()
        return loss.item()

    first = optimizer.step(closure)
    second = optimizer.step(closure)
    assert second < first


def test_functional_updates_keep_float32() -> None:
    param = np.ones(3, dtype=np.float32)
    grad = np.full(3, 0.5, dtype=np.float32)
    buffer = sgd_update(
        param, grad, None, lr=0.1, momentum=0.9, dampening=0.0, nesterov=False, weight_decay=0.1
    )
    assert buffer is not None and buffer.dtype == np.float32 and param.dtype == np.float32
    np.testing.assert_allclose(param, 1 - 0.1 * (0.5 + 0.1), rtol=1e-6)
    m, v = np.zeros(3, np.float32), np.zeros(3, np.float32)
    adam_update(
        param,
        grad,
        m,
        v,
        step=1,
        lr=0.1,
        beta1=0.9,
        beta2=0.999,
        eps=0.0,
        weight_decay=0.0,
        decoupled_weight_decay=False,
    )
    # On the first step the bias-corrected update is lr * sign(g).
    np.testing.assert_allclose(param, 1 - 0.1 * 0.6 - 0.1, rtol=1e-6)
    assert m.dtype == v.dtype == param.dtype == np.float32


# ----- bad hyperparameters --------------------------------------------------------------------------
def params() -> list[Any]:
    return make_model(np.float32).parameters()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SGD(params(), lr=-0.1), r"lr must be >= 0, got -0\.1"),
        (lambda: SGD(params(), lr=float("nan")), r"lr must be >= 0, got nan"),
        (lambda: SGD(params(), lr=0.1, momentum=-0.5), r"momentum must be >= 0, got -0\.5"),
        (
            lambda: SGD(params(), lr=0.1, weight_decay=-1e-4),
            r"weight_decay must be >= 0, got -0\.0001",
        ),
        (
            lambda: SGD(params(), lr=0.1, nesterov=True),
            r"nesterov=True requires momentum > 0.*momentum=0\.0",
        ),
        (
            lambda: SGD(params(), lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
            r"dampening == 0.*dampening=0\.1",
        ),
        (lambda: Adam(params(), lr=-1e-3), r"lr must be >= 0, got -0\.001"),
        (lambda: Adam(params(), betas=(1.0, 0.999)), r"betas\[0\] must be in \[0, 1\), got 1\.0"),
        (lambda: Adam(params(), betas=(0.9, -0.1)), r"betas\[1\] must be in \[0, 1\), got -0\.1"),
        (lambda: Adam(params(), betas=(0.9,)), r"betas must be a pair"),
        (lambda: Adam(params(), eps=-1e-8), r"eps must be >= 0, got -1e-08"),
        (lambda: Adam(params(), weight_decay=-0.1), r"weight_decay must be >= 0, got -0\.1"),
        (lambda: AdamW(params(), weight_decay=-0.01), r"weight_decay must be >= 0, got -0\.01"),
        (lambda: AdamW(params(), betas=(0.9, 1.5)), r"betas\[1\] must be in \[0, 1\), got 1\.5"),
        (lambda: Adam([{"params": params(), "lr": -2.0}]), r"lr must be >= 0, got -2\.0"),
        (
            lambda: Adam([{"params": params(), "momentum": 0.9}]),
            r"unknown hyperparameters \['momentum'\]",
        ),
        (lambda: SGD([], lr=0.1), r"empty parameter list"),
        (lambda: Adam(iter([])), r"empty parameter list"),
        (lambda: Adam([{"params": []}]), r"empty parameter list"),
        (lambda: Adam(_duplicated()), r"more than once"),
    ],
)
def test_bad_hyperparameters_raise_value_error(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def _duplicated() -> list[Any]:
    p = params()
    return [p[0], p[1], p[0]]


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: SGD(params()[0], lr=0.1), r"single Tensor"),
        (lambda: SGD([np.zeros(3)], lr=0.1), r"optimizers update Tensors, got ndarray"),
        (lambda: SGD(params(), lr="0.1"), r"lr must be a real number, got '0\.1'"),
        (lambda: Adam(params(), maximize=1), r"maximize must be a bool"),
    ],
)
def test_bad_argument_types_raise_type_error(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(TypeError, match=message):
        build()


def test_a_parameter_in_two_groups_is_rejected() -> None:
    p = params()
    with pytest.raises(ValueError, match="more than one parameter group"):
        SGD([{"params": p[:2]}, {"params": p[1:]}], lr=0.1)


def test_load_state_dict_rejects_another_optimizers_state() -> None:
    model = make_model(np.float32)
    sgd = SGD(model.parameters(), lr=0.1, momentum=0.9)
    with pytest.raises(
        ValueError, match=r"unknown hyperparameters \['dampening', 'momentum', 'nesterov'\]"
    ):
        Adam(model.parameters()).load_state_dict(sgd.state_dict())


# ----- issue 15: infinite hyperparameters and broken state dicts ---------------------------
@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Adam(params(), lr=math.inf), r"lr must be a finite number >= 0, got inf"),
        (lambda: AdamW(params(), eps=math.inf), r"eps must be a finite number >= 0, got inf"),
        (lambda: SGD(params(), lr=0.1, momentum=math.inf), r"momentum must be a finite"),
        (lambda: SGD(params(), lr=0.1, dampening=math.nan), r"dampening must be a finite"),
        (lambda: Adam(params(), betas=(0.9, math.nan)), r"betas\[1\] must be a finite"),
        (lambda: Adam([{"params": params(), "lr": math.inf}]), r"lr must be a finite"),
    ],
)
def test_infinite_hyperparameters_are_refused(build: Callable[[], Any], message: str) -> None:
    # Before: an infinite lr or eps was accepted (only NaN was refused) and gave NaN weights.
    with pytest.raises(ValueError, match=message):
        build()


@pytest.mark.parametrize(
    "state",
    [
        None,
        [],
        {"state": {}},
        {"state": None, "param_groups": None},
        {"state": {}, "param_groups": [{}]},
    ],
)
def test_load_state_dict_refuses_what_state_dict_never_returns(state: Any) -> None:
    optimizer = Adam(params())
    before = optimizer.state_dict()
    with pytest.raises(ValueError, match=r"load_state_dict|param|state dict"):
        optimizer.load_state_dict(state)
    assert optimizer.state_dict() == before
