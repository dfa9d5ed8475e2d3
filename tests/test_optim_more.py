"""Rprop, RMSprop, Adagrad, Adadelta: 50 steps beside torch.optim, resume, clipping, checks."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from test_optim import (
    assert_matches_torch_in_float32,
    assert_matches_torch_in_float64,
    make_data,
    make_model,
    train_gfxnn,
)

import gfxnn
import gfxnn.losses
from gfxnn.optim import (
    Adadelta,
    Adagrad,
    RMSprop,
    Rprop,
    clip_grad_norm_,
    clip_grad_value_,
)
from gfxnn.optim.functional import adagrad_update, rprop_update

N_STEPS = 50

# (name, gfxnn constructor, torch.optim name, keyword arguments for both)
CASES: list[tuple[str, Callable[..., Any], str, dict[str, Any]]] = [
    ("rprop", Rprop, "Rprop", {}),
    ("rprop_etas", Rprop, "Rprop", {"lr": 0.02, "etas": (0.3, 1.5), "step_sizes": (1e-4, 0.05)}),
    (
        "rprop_maximize",
        Rprop,
        "Rprop",
        {"lr": 1e-3, "step_sizes": (1e-6, 5e-3), "maximize": True},
    ),
    ("rmsprop", RMSprop, "RMSprop", {"lr": 1e-2}),
    ("rmsprop_momentum", RMSprop, "RMSprop", {"lr": 1e-3, "momentum": 0.9, "alpha": 0.9}),
    ("rmsprop_centered", RMSprop, "RMSprop", {"lr": 1e-2, "centered": True, "eps": 1e-6}),
    (
        "rmsprop_all",
        RMSprop,
        "RMSprop",
        {"lr": 3e-3, "centered": True, "momentum": 0.5, "weight_decay": 0.05},
    ),
    ("rmsprop_maximize", RMSprop, "RMSprop", {"lr": 1e-3, "maximize": True}),
    ("adagrad", Adagrad, "Adagrad", {"lr": 0.1}),
    (
        "adagrad_decay",
        Adagrad,
        "Adagrad",
        {"lr": 0.2, "lr_decay": 0.05, "initial_accumulator_value": 0.1, "eps": 1e-6},
    ),
    ("adagrad_weight_decay", Adagrad, "Adagrad", {"lr": 0.1, "weight_decay": 0.1}),
    ("adadelta", Adadelta, "Adadelta", {"lr": 10.0}),
    ("adadelta_rho", Adadelta, "Adadelta", {"lr": 5.0, "rho": 0.5, "eps": 1e-4}),
    ("adadelta_weight_decay", Adadelta, "Adadelta", {"lr": 10.0, "weight_decay": 0.1}),
    ("adadelta_maximize", Adadelta, "Adadelta", {"lr": 1.0, "eps": 1e-4, "maximize": True}),
]


@pytest.mark.parametrize(("name", "make_optimizer", "torch_name", "kwargs"), CASES)
def test_matches_torch_optim_in_float64(
    name: str, make_optimizer: Callable[..., Any], torch_name: str, kwargs: dict[str, Any]
) -> None:
    assert_matches_torch_in_float64(name, make_optimizer, torch_name, kwargs)


@pytest.mark.parametrize(
    ("name", "make_optimizer", "torch_name", "kwargs"),
    [case for case in CASES if case[0] in ("rmsprop_all", "adagrad_decay", "adadelta")],
)
def test_matches_torch_optim_in_float32(
    name: str, make_optimizer: Callable[..., Any], torch_name: str, kwargs: dict[str, Any]
) -> None:
    assert_matches_torch_in_float32(make_optimizer, torch_name, kwargs)


@pytest.mark.parametrize(
    ("make_optimizer", "kwargs"),
    [
        (Rprop, {"lr": 0.02}),
        (RMSprop, {"lr": 1e-2, "momentum": 0.9, "centered": True, "weight_decay": 1e-3}),
        (Adagrad, {"lr": 0.1, "lr_decay": 0.01}),
        (Adadelta, {"lr": 1.0, "weight_decay": 1e-3}),
    ],
)
def test_state_dict_resumes_bit_identically(make_optimizer: Any, kwargs: dict[str, Any]) -> None:
    model = make_model(np.float32)
    optimizer = make_optimizer(model.parameters(), **kwargs)
    train_gfxnn(model, optimizer, 10, np.float32)
    saved_model, saved_optimizer = model.state_dict(), optimizer.state_dict()
    train_gfxnn(model, optimizer, 10, np.float32)
    uninterrupted = model.state_dict()

    resumed_model = make_model(np.float32, seed=123)
    resumed_model.load_state_dict(saved_model)
    resumed_optimizer = make_optimizer(resumed_model.parameters(), **kwargs)
    resumed_optimizer.load_state_dict(saved_optimizer)
    train_gfxnn(resumed_model, resumed_optimizer, 10, np.float32)

    resumed = resumed_model.state_dict()
    for key in uninterrupted:
        assert np.array_equal(resumed[key], uninterrupted[key]), key
        assert not np.array_equal(saved_model[key], uninterrupted[key]), key


def test_rmsprop_adds_buffers_when_switched_on_between_steps() -> None:
    # torch.optim.RMSprop fails with a KeyError here; we create the buffers when needed.
    model = make_model(np.float64)
    optimizer = RMSprop(model.parameters(), lr=1e-2)
    train_gfxnn(model, optimizer, 2, np.float64)
    weight = model.layers[0].weight
    assert "momentum_buffer" not in optimizer.state[weight]
    optimizer.param_groups[0]["momentum"] = 0.5
    optimizer.param_groups[0]["centered"] = True
    train_gfxnn(model, optimizer, 1, np.float64)
    assert np.abs(optimizer.state[weight]["momentum_buffer"]).max() > 0
    assert np.abs(optimizer.state[weight]["grad_avg"]).max() > 0


def test_rprop_by_hand() -> None:
    # Steps: first sign(g) * lr; same sign grows the step by eta+; a flip shrinks it by
    # eta- and skips the move; after the skip the step is applied again.
    param = np.array([1.0])
    prev, step_size = np.zeros(1), np.full(1, 0.1)
    settings = {"etaminus": 0.5, "etaplus": 1.2, "step_size_min": 1e-6, "step_size_max": 50.0}
    rprop_update(param, np.array([2.0]), prev, step_size, **settings)
    assert param[0] == pytest.approx(0.9) and step_size[0] == pytest.approx(0.1)
    rprop_update(param, np.array([3.0]), prev, step_size, **settings)
    assert param[0] == pytest.approx(0.9 - 0.12) and step_size[0] == pytest.approx(0.12)
    rprop_update(param, np.array([-1.0]), prev, step_size, **settings)
    assert param[0] == pytest.approx(0.78) and step_size[0] == pytest.approx(0.06)
    assert prev[0] == 0
    rprop_update(param, np.array([-1.0]), prev, step_size, **settings)
    assert param[0] == pytest.approx(0.84) and step_size[0] == pytest.approx(0.06)


def test_adagrad_by_hand() -> None:
    param, state_sum = np.array([1.0]), np.array([0.0])
    common = {"lr": 0.5, "lr_decay": 1.0, "weight_decay": 0.0, "eps": 0.0}
    adagrad_update(param, np.array([2.0]), state_sum, step=1, **common)
    assert param[0] == pytest.approx(1 - 0.5 * 2 / 2)  # lr * g / sqrt(g^2) = lr
    adagrad_update(param, np.array([2.0]), state_sum, step=2, **common)
    assert param[0] == pytest.approx(0.5 - 0.25 * 2 / math.sqrt(8))  # lr / (1 + lr_decay)


# ----- gradient clipping ----------------------------------------------------------------
def _with_grads(seed: int, scale: float) -> list[gfxnn.Tensor]:
    rng = np.random.default_rng(seed)
    tensors = [gfxnn.Tensor(np.zeros(shape), requires_grad=True) for shape in [(3, 4), (5,), (2,)]]
    for t in tensors:
        t.grad = scale * rng.standard_normal(t.shape)
    tensors.append(gfxnn.Tensor(np.zeros(2), requires_grad=True))  # no gradient: skipped
    return tensors


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize(("scale", "max_norm"), [(1.0, 0.5), (0.01, 1.0)])
def test_clip_grad_norm_matches_torch(norm_type: float, scale: float, max_norm: float) -> None:
    torch = pytest.importorskip("torch")
    ours = _with_grads(0, scale)
    theirs = [torch.zeros(t.shape, dtype=torch.float64, requires_grad=True) for t in ours]
    for t, u in zip(ours, theirs, strict=True):
        u.grad = None if t.grad is None else torch.tensor(t.grad)
    before = [None if t.grad is None else t.grad.copy() for t in ours]
    total = clip_grad_norm_(ours, max_norm, norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total == pytest.approx(expected.item(), rel=1e-12)
    for t, u in zip(ours, theirs, strict=True):
        if u.grad is None:
            assert t.grad is None
        else:
            np.testing.assert_allclose(t.grad, u.grad.numpy(), rtol=1e-12)
    clipped = scale == 1.0
    assert (not np.allclose(ours[0].grad, before[0])) == clipped


def test_clip_grad_value_clamps_in_place() -> None:
    tensors = _with_grads(1, 2.0)
    expected = [np.clip(t.grad, -0.5, 0.5) for t in tensors if t.grad is not None]
    clip_grad_value_(tensors, 0.5)
    for t, e in zip(tensors, expected, strict=False):
        np.testing.assert_array_equal(t.grad, e)
    assert max(np.abs(t.grad).max() for t in tensors[:3]) == 0.5


def test_clip_grad_norm_nonfinite() -> None:
    tensors = _with_grads(2, 1.0)
    tensors[0].grad[0, 0] = np.nan
    with pytest.raises(ValueError, match="total norm"):
        clip_grad_norm_(tensors, 1.0, error_if_nonfinite=True)


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda t: clip_grad_norm_(t, -1.0), ValueError, r"max_norm must be >= 0"),
        (lambda t: clip_grad_norm_(t, 1.0, norm_type=0), ValueError, r"norm_type must be > 0"),
        (lambda t: clip_grad_value_(t, -0.1), ValueError, r"clip_value must be >= 0"),
        (lambda t: clip_grad_norm_([np.zeros(3)], 1.0), TypeError, r"expected Tensors"),
    ],
)
def test_clipping_rejects_bad_arguments(call: Any, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        call(_with_grads(0, 1.0))


# ----- bad hyperparameters ----------------------------------------------------------------
def params() -> list[Any]:
    return make_model(np.float32).parameters()


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: Rprop(params(), lr=-1.0), r"lr must be >= 0, got -1\.0"),
        (lambda: Rprop(params(), etas=(1.2, 0.5)), r"0 < eta_minus < 1 < eta_plus"),
        (lambda: Rprop(params(), etas=(0.5,)), r"etas must be a pair"),
        (lambda: Rprop(params(), step_sizes=(1.0, 0.1)), r"min <= max"),
        (lambda: RMSprop(params(), alpha=1.5), r"alpha must be in \[0, 1\], got 1\.5"),
        (lambda: RMSprop(params(), momentum=-0.1), r"momentum must be >= 0"),
        (lambda: RMSprop(params(), eps=-1.0), r"eps must be >= 0"),
        (lambda: Adagrad(params(), lr_decay=-0.1), r"lr_decay must be >= 0"),
        (
            lambda: Adagrad(params(), initial_accumulator_value=-1),
            r"initial_accumulator_value must be >= 0",
        ),
        (lambda: Adadelta(params(), rho=1.1), r"rho must be in \[0, 1\], got 1\.1"),
        (lambda: Adadelta(params(), weight_decay=-1), r"weight_decay must be >= 0"),
        (lambda: Adadelta([{"params": params(), "alpha": 0.9}]), r"unknown hyperparameters"),
    ],
)
def test_bad_hyperparameters_raise_value_error(build: Callable[[], Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        build()


def test_bad_flag_types_raise_type_error() -> None:
    with pytest.raises(TypeError, match="centered must be a bool"):
        RMSprop(params(), centered=1)
    with pytest.raises(TypeError, match="maximize must be a bool"):
        Adagrad(params(), maximize="yes")


def test_functional_updates_keep_float32() -> None:
    x, y = make_data(np.float32)
    for optimizer_class in (Rprop, RMSprop, Adagrad, Adadelta):
        model = make_model(np.float32)
        optimizer = optimizer_class(model.parameters())
        for _ in range(2):
            optimizer.zero_grad()
            gfxnn.losses.mse(model(x), y).backward()
            optimizer.step()
        for p in model.parameters():
            assert p.data.dtype == np.float32
            for value in optimizer.state[p].values():
                if isinstance(value, np.ndarray):
                    assert value.dtype == np.float32
