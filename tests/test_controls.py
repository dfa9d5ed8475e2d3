"""MLPZen's controls in the controller: the learning-rate schedule and the step limit."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from gfxnn.fields.controller import FitController
from gfxnn.fields.image import ImageFitter, fused_trainer
from gfxnn.fields.schedule import learning_rate_at, learning_rates_at
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import ImageTarget, Target
from gfxnn.fields.trainer import ModelSpec, Trainer

SMALL = dict(batch_size=32, n_neurons=8, n_frequencies=2)
STEPS = (0, 1, 99, 100, 101, 299, 300)


def image(height: int = 8, width: int = 8) -> np.ndarray:
    v, u = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    return np.stack([u, v, 0.5 * (u + v)], axis=2).astype(np.float32)


# MLPZen's formulas written out by hand for the default settings (base period 50: restart 0
# covers steps 0..99 (T = 100), restart 1 steps 100..299 (T = 200), restart 2 from 300 (T = 300)).
def cosine_by_hand(step: int) -> float:
    low, high = 1e-6, 0.05
    if step < 100:
        restart, into, period = 0, step, 100
    elif step < 300:
        restart, into, period = 1, step - 100, 200
    else:
        restart, into, period = 2, step - 300, 300
    peak = max(low, high * 0.8**restart)
    return low + 0.5 * (peak - low) * (1 + math.cos(math.pi * into / period))


def linear_by_hand(step: int) -> float:
    base, high, decay = 1e-3, 0.05, 500
    return base + (high - base) * (1 - min(max(step / decay, 0), 1))


def test_cosine_rate_at_the_restarts_equals_mlpzens_formula() -> None:
    settings = FitSettings(lr_schedule="cosine")
    for step in STEPS:
        assert learning_rate_at(settings, step) == pytest.approx(cosine_by_hand(step), rel=1e-12)
    assert learning_rate_at(settings, 0) == pytest.approx(0.05)
    assert learning_rate_at(settings, 100) == pytest.approx(0.04)  # peak x0.8
    assert learning_rate_at(settings, 300) == pytest.approx(0.032)
    assert learning_rate_at(settings, 99) < 1e-4  # near the floor just before a restart


def test_cosine_restart_boundaries_with_another_base_period() -> None:
    """Restart i starts at base_period i (i + 1): for 7 at 14, 42, 84, 140, ..."""
    settings = FitSettings(lr_schedule="cosine", base_period=7, min_learning_rate=1e-5)
    for i, start in enumerate((0, 14, 42, 84, 140, 210)):
        assert learning_rate_at(settings, start) == pytest.approx(max(1e-5, 0.05 * 0.8**i))
        if start:
            before = learning_rate_at(settings, start - 1)
            assert before < learning_rate_at(settings, start)


def test_linear_and_fixed_rates() -> None:
    linear = FitSettings(lr_schedule="linear")
    for step in (*STEPS, 499, 500, 501, 10_000):
        assert learning_rate_at(linear, step) == pytest.approx(linear_by_hand(step), rel=1e-12)
    assert learning_rate_at(linear, 500) == pytest.approx(1e-3)
    fixed = FitSettings(learning_rate=3e-3)
    assert {learning_rate_at(fixed, step) for step in STEPS} == {3e-3}


def test_encoding_rate_follows_the_same_factor() -> None:
    settings = FitSettings(lr_schedule="cosine", encoding_learning_rate=1e-2)
    network, encoding = learning_rates_at(settings, 100)
    assert network == pytest.approx(0.04)
    assert encoding == pytest.approx(1e-2 * 0.04 / 1e-3)
    assert learning_rates_at(FitSettings(encoding_learning_rate=1e-2), 7) == (1e-3, 1e-2)


class RecordingTrainer:
    """The fused trainer, recording the network rate of every step it trains."""

    def __init__(self, spec: ModelSpec, target: Target) -> None:
        self.inner = fused_trainer(spec, target)
        self.spec = spec
        self.rates: list[float] = []
        self.calls: list[tuple[float, float | None]] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def set_learning_rates(self, network: float, encoding: float | None) -> None:
        self.calls.append((network, encoding))
        self.inner.set_learning_rates(network, encoding)

    def train(self, n_steps: int, batch_size: int) -> None:
        self.rates.extend([self.inner.optimizer.lr] * n_steps)
        self.inner.train(n_steps, batch_size)


def recording_controller(**settings: Any) -> tuple[FitController, list[RecordingTrainer]]:
    made: list[RecordingTrainer] = []

    def factory(spec: ModelSpec, target: Target) -> Trainer:
        made.append(RecordingTrainer(spec, target))
        return made[-1]  # type: ignore[return-value]

    fitter = FitController(ImageTarget(image()), FitSettings(**SMALL, **settings), factory)
    return fitter, made


def test_the_trainer_receives_the_scheduled_rate_of_every_step() -> None:
    fitter, made = recording_controller(lr_schedule="cosine")
    assert fitter.current_learning_rate == pytest.approx(0.05)  # what step 0 will use
    fitter.step(150)
    fitter.step(151)
    rates = made[0].rates
    assert len(rates) == 301
    for step in STEPS:
        assert rates[step] == pytest.approx(cosine_by_hand(step), rel=1e-6), step
    assert fitter.current_learning_rate == pytest.approx(cosine_by_hand(300))


def test_a_fixed_schedule_never_touches_the_rates() -> None:
    fitter, made = recording_controller()
    fitter.step(20)
    assert made[0].calls == [] and set(made[0].rates) == {1e-3}
    # A linear schedule past its decay is one run of equal rates: one call, then none.
    fitter, made = recording_controller(lr_schedule="linear", decay_steps=5)
    fitter.step(30)
    assert len(made[0].calls) == 6  # steps 0..4 decay, step 5 on is the base rate
    assert made[0].rates[5:] == [pytest.approx(1e-3)] * 25


def test_reset_restarts_the_schedule_and_apply_switches_it_live() -> None:
    fitter, made = recording_controller(lr_schedule="cosine")
    fitter.step(120)
    assert fitter.current_learning_rate == pytest.approx(cosine_by_hand(119))
    fitter.reset_weights()
    fitter.step(1)
    assert made[-1].rates == [pytest.approx(0.05)]
    # Switching to fixed keeps the weights and sets the fixed rate at once.
    state = fitter.state_dict()
    fitter.apply(FitSettings(**SMALL, lr_schedule="fixed"))
    assert len(made) == 2 and made[-1].inner.optimizer.lr == 1e-3
    for name, value in state.items():
        np.testing.assert_array_equal(fitter.state_dict()[name], value)


def test_max_steps_caps_every_call() -> None:
    fitter = ImageFitter(image(), FitSettings(**SMALL, max_steps=10))
    fitter.step(4)
    assert not fitter.max_steps_reached
    fitter.step(100)
    assert fitter.steps == 10 and fitter.max_steps_reached
    losses = list(fitter.loss_history)
    fitter.step(5)
    assert fitter.steps == 10 and fitter.loss_history == losses
    # Raising the limit (live) lets training go on; a reset counts from zero again.
    fitter.apply(FitSettings(**SMALL, max_steps=12))
    fitter.step(5)
    assert fitter.steps == 12
    fitter.reset_weights()
    assert not fitter.max_steps_reached
    fitter.step(50)
    assert fitter.steps == 12


@pytest.mark.parametrize(
    "field, value",
    [
        ("lr_schedule", "step"),
        ("decay_steps", 0),
        ("base_period", -1),
        ("max_learning_rate", 0.0),
        ("min_learning_rate", math.nan),
        ("steps_per_frame", 1025),
        ("frame_budget_ms", -1.0),
        ("max_steps", 0),
        ("freeze_mlp", 1),
        ("gradient_clip", "global"),
        ("clip_value", 0.0),
        ("precision", "bf16"),
        ("initialization", "orthogonal"),
    ],
)
def test_bad_values_name_the_setting(field: str, value: Any) -> None:
    with pytest.raises(ValueError, match=field):
        FitSettings(**{field: value}).validate()
