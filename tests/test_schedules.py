"""Learning-rate schedules: closed forms, torch.optim.lr_scheduler as oracle, resume."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import gfxnn
from gfxnn.optim import SGD, CosineWarmupLR, ExponentialLR, ReduceLROnPlateau, StepLR
from gfxnn.optim.schedules import cosine_warmup, exponential_decay, step_decay


def make_optimizer(lr: float = 0.1) -> SGD:
    return SGD([gfxnn.Tensor(np.zeros(3), requires_grad=True)], lr=lr)


def torch_optimizer(torch: Any, lr: float = 0.1) -> Any:
    return torch.optim.SGD([torch.zeros(3, requires_grad=True)], lr=lr)


def test_step_decay_closed_form() -> None:
    assert [step_decay(s, 1.0, 3, 0.5) for s in range(7)] == [1, 1, 1, 0.5, 0.5, 0.5, 0.25]


def test_exponential_decay_closed_form() -> None:
    for step in range(10):
        assert exponential_decay(step, 0.2, 0.9) == pytest.approx(0.2 * 0.9**step, rel=1e-15)


def test_cosine_warmup_closed_form() -> None:
    lr, warmup, total, low = 1.0, 4, 14, 0.1
    values = [cosine_warmup(s, lr, warmup, total, low) for s in range(20)]
    assert values[:4] == [0.25, 0.5, 0.75, 1.0]  # linear up to lr at step W - 1
    assert values[4] == lr  # the cosine starts at its top ...
    assert values[9] == pytest.approx(low + (lr - low) / 2)  # ... passes the middle ...
    assert values[14:] == [low] * 6  # ... and stays at min_lr from T on
    cosine = values[4:15]
    assert all(a > b for a, b in zip(cosine, cosine[1:], strict=False))
    assert values[12] == pytest.approx(low + (lr - low) * (1 + math.cos(math.pi * 0.8)) / 2)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: step_decay(-1, 0.1, 2), r"step must be an integer >= 0, got -1"),
        (lambda: step_decay(1, 0.1, 0), r"step_size must be an integer >= 1, got 0"),
        (lambda: exponential_decay(1, -0.1, 0.9), r"lr must be >= 0"),
        (lambda: cosine_warmup(0, 0.1, 10, 10), r"warmup_steps must be < total_steps"),
        (lambda: cosine_warmup(1.5, 0.1, 1, 10), r"step must be an integer"),
        (lambda: StepLR(make_optimizer(), step_size=0), r"step_size must be an integer >= 1"),
        (lambda: ReduceLROnPlateau(make_optimizer(), mode="up"), r"mode must be 'min' or 'max'"),
        (lambda: ReduceLROnPlateau(make_optimizer(), factor=1.0), r"factor must be in \[0, 1\)"),
        (lambda: ReduceLROnPlateau(make_optimizer(), patience=-1), r"patience must be"),
    ],
)
def test_bad_arguments(call: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        call()


def test_scheduler_needs_an_optimizer() -> None:
    with pytest.raises(TypeError, match="expected a gfxnn Optimizer"):
        StepLR("sgd", step_size=2)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda o: StepLR(o, step_size=3, gamma=0.5), lambda t, o: t.StepLR(o, 3, gamma=0.5)),
        (lambda o: ExponentialLR(o, gamma=0.9), lambda t, o: t.ExponentialLR(o, gamma=0.9)),
    ],
)
def test_schedulers_match_torch(ours: Any, theirs: Any) -> None:
    torch = pytest.importorskip("torch")
    our_optimizer, their_optimizer = make_optimizer(0.3), torch_optimizer(torch, 0.3)
    our_scheduler = ours(our_optimizer)
    their_scheduler = theirs(torch.optim.lr_scheduler, their_optimizer)
    for _ in range(12):
        assert our_scheduler.get_last_lr() == pytest.approx(their_scheduler.get_last_lr())
        our_optimizer.step()
        their_optimizer.step()
        our_scheduler.step()
        their_scheduler.step()


def test_cosine_warmup_matches_torch_linear_then_cosine() -> None:
    torch = pytest.importorskip("torch")
    lr, warmup, total, low = 0.4, 5, 25, 0.01
    optimizer = make_optimizer(lr)
    scheduler = CosineWarmupLR(optimizer, warmup, total, min_lr=low)
    their_optimizer = torch_optimizer(torch, lr)
    schedulers = torch.optim.lr_scheduler
    warm = schedulers.LinearLR(their_optimizer, 1 / warmup, 1.0, total_iters=warmup - 1)
    cosine = schedulers.CosineAnnealingLR(their_optimizer, T_max=total - warmup, eta_min=low)
    theirs = schedulers.SequentialLR(their_optimizer, [warm, cosine], milestones=[warmup])
    for step in range(total + 1):
        assert scheduler.get_last_lr()[0] == pytest.approx(theirs.get_last_lr()[0], rel=1e-9)
        assert scheduler.get_last_lr()[0] == cosine_warmup(step, lr, warmup, total, low)
        optimizer.step()
        their_optimizer.step()
        scheduler.step()
        theirs.step()


@pytest.mark.parametrize(
    "settings",
    [
        {"patience": 2},
        {"patience": 1, "cooldown": 2, "factor": 0.5, "min_lr": 0.02},
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.05, "patience": 0},
    ],
)
def test_reduce_on_plateau_matches_torch(settings: dict[str, Any]) -> None:
    torch = pytest.importorskip("torch")
    metrics = np.random.default_rng(0).uniform(0, 1, 40) + np.linspace(1, 0, 40)
    optimizer, their_optimizer = make_optimizer(0.1), torch_optimizer(torch, 0.1)
    ours = ReduceLROnPlateau(optimizer, **settings)
    theirs = torch.optim.lr_scheduler.ReduceLROnPlateau(their_optimizer, **settings)
    lrs = []
    for metric in metrics:
        ours.step(float(metric))
        theirs.step(float(metric))
        assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-12)
        lrs.append(ours.get_last_lr()[0])
    assert min(lrs) < 0.1  # the metric sequence did trigger reductions


def test_scheduler_state_dict_resumes() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = CosineWarmupLR(optimizer, 3, 20)
    for _ in range(7):
        scheduler.step()
    saved = scheduler.state_dict()
    expected = [(scheduler.step(), scheduler.get_last_lr()[0])[1] for _ in range(5)]
    resumed_optimizer = make_optimizer(1.0)
    resumed = CosineWarmupLR(resumed_optimizer, 3, 20)
    resumed.load_state_dict(saved)
    assert resumed.get_last_lr()[0] == cosine_warmup(7, 1.0, 3, 20)
    got = [(resumed.step(), resumed.get_last_lr()[0])[1] for _ in range(5)]
    assert got == expected


def test_plateau_state_dict_resumes() -> None:
    optimizer = make_optimizer(1.0)
    scheduler = ReduceLROnPlateau(optimizer, patience=1)
    for metric in [1.0, 0.5, 0.6]:
        scheduler.step(metric)
    other = ReduceLROnPlateau(make_optimizer(1.0), patience=1)
    other.load_state_dict(scheduler.state_dict())
    assert other.best == 0.5 and other.num_bad_epochs == 1


@pytest.mark.parametrize(
    "state",
    [
        None,
        [],
        {"last_epoch": 1},
        {"last_epoch": 1, "base_lrs": None},
        {"last_epoch": 2, "base_lrs": ["x"]},
    ],
)
def test_step_lr_refuses_a_broken_state_and_changes_nothing(state: Any) -> None:
    # Before: None gave "'NoneType' object is not iterable" and ["x"] set last_epoch first.
    scheduler = StepLR(make_optimizer(), step_size=1)
    with pytest.raises((ValueError, TypeError), match=r"state|base_lrs"):
        scheduler.load_state_dict(state)
    assert scheduler.state_dict() == {"last_epoch": 0, "base_lrs": [0.1]}


def test_plateau_refuses_a_broken_state_and_changes_nothing() -> None:
    scheduler = ReduceLROnPlateau(make_optimizer())
    before = scheduler.state_dict()
    bad = {**before, "num_bad_epochs": 2, "last_epoch": True}  # the last entry is bad
    with pytest.raises(ValueError, match=r"last_epoch must be an integer >= 0, got True"):
        scheduler.load_state_dict(bad)
    with pytest.raises(ValueError, match=r"expected a state dict"):
        scheduler.load_state_dict(None)  # type: ignore[arg-type]
    assert scheduler.state_dict() == before
