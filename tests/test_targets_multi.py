"""Learn Four Images (gfxnn.fields.multi): four networks trained together, each with its own
weights, optimizer and hash-grid table; per-network metrics; one checkpoint for all."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from gfxnn.fields import display, multi
from gfxnn.fields.examples import four_images, make_targets
from gfxnn.fields.image import fused_trainer
from gfxnn.fields.presets import preset_settings
from gfxnn.io import CheckpointError, load_checkpoint, save_checkpoint


def four(size: int = 16, **changes: Any) -> multi.MultiFitController:
    settings = dataclasses.replace(preset_settings("mlpzen", "four_images"), **changes)
    targets = make_targets("four_images", images=four_images(size))
    return multi.MultiFitController(targets, settings, fused_trainer, blas_threads=1)


def tables(model: multi.MultiFitController) -> list[np.ndarray]:
    return [c.state_dict()["encoding.table"] for c in model.controllers]


def test_four_networks_learn_together_with_their_own_metrics() -> None:
    model = four(batch_size=512)
    before = model.psnrs()
    model.step(60)
    after = model.psnrs()
    assert model.steps == 60 and len(model.loss_history) == 60
    assert len(model.losses()) == 4 and all(np.isfinite(model.losses()))
    assert all(a > b + 3 for a, b in zip(after, before, strict=True)), (before, after)
    # The whole PSNR is that of the 2x2 composite (one MSE over all four).
    mse = np.mean([10 ** (-p / 10) for p in after])
    assert model.psnr() == pytest.approx(10 * np.log10(1 / mse), rel=1e-6)
    timings = model.timings_ms()
    assert timings["inference"] > 0
    # One schedule for all: every network's rate is the first one's.
    assert model.current_learning_rate == model.controllers[3].current_learning_rate


def test_max_steps_stops_every_network() -> None:
    model = four(batch_size=64, max_steps=7)
    model.step(5)
    assert not model.max_steps_reached
    model.step(5)
    assert model.max_steps_reached and [c.steps for c in model.controllers] == [7] * 4


def test_the_networks_share_no_state() -> None:
    model = four(batch_size=256)
    start = tables(model)
    # gfxnn gives all four MLPZen's one seed: identical weights at the start.
    assert all(np.array_equal(start[0], t) for t in start[1:])
    model.controllers[0].step(5)  # train only the first network
    moved = tables(model)
    assert not np.array_equal(moved[0], start[0])
    for index in (1, 2, 3):
        assert np.array_equal(moved[index], start[index]), index
        assert model.controllers[index].steps == 0
    # Freezing one network's grid leaves it bit-identical while the others train on.
    frozen = dataclasses.replace(model.settings, freeze_encoding=True)
    model.controllers[1].apply(frozen)
    model.step(5)
    after = tables(model)
    assert np.array_equal(after[1], moved[1])
    assert not np.array_equal(after[2], moved[2])
    assert not np.array_equal(after[2], after[3])  # different images, different tables


def test_apply_and_reset_reach_every_network() -> None:
    model = four(batch_size=128)
    model.step(3)
    model.apply(dataclasses.replace(model.settings, n_neurons=16))
    assert all(c.settings.n_neurons == 16 and c.steps == 0 for c in model.controllers)
    model.step(2)
    model.reset_weights()
    assert model.steps == 0 and model.loss_history == []
    with pytest.raises(ValueError, match="batch_size"):
        model.apply(dataclasses.replace(model.settings, batch_size=0))
    assert all(c.settings.n_neurons == 16 for c in model.controllers)


def test_the_composite_frame_tiles_the_four(tmp_path) -> None:
    model = four(size=8, batch_size=128)
    frames = display.render_frames(model)
    assert frames.reference.shape == frames.prediction.shape == (16, 16, 3)
    images = four_images(8)
    quadrants = [frames.reference[:8, :8], frames.reference[:8, 8:], frames.reference[8:, :8]]
    for quadrant, image in zip(quadrants, images, strict=False):
        np.testing.assert_array_equal(quadrant, np.round(image * 255))
    prediction = np.round(np.clip(model.controllers[3].predict(), 0, 1) * 255)
    np.testing.assert_array_equal(frames.prediction[8:, 8:], prediction)


def test_a_checkpoint_holds_all_four(tmp_path) -> None:
    model = four(batch_size=128)
    model.step(4)
    config = {"settings": model.settings.to_dict(), "app": "test"}
    path = tmp_path / "four.safetensors"
    multi.save(path, model, config, psnr=model.psnr(), steps=4, weights_step=4)
    settings, states, stored = multi.load(path)
    assert settings == model.settings and stored["networks"] == 4
    for state, controller in zip(states, model.controllers, strict=True):
        for name, value in controller.state_dict().items():
            np.testing.assert_array_equal(state[name], value)
    fresh = four(batch_size=128)
    fresh.load_state_dict(model.state_dict())
    assert np.array_equal(tables(fresh)[2], tables(model)[2])
    # A checkpoint missing a network, or with a foreign tensor, is refused by name.
    tensors, config = load_checkpoint(path)
    del tensors["networks.3.layers.0.bias"]
    save_checkpoint(tmp_path / "bad.safetensors", tensors, config, {})
    with pytest.raises(CheckpointError, match="layers.0.bias"):
        multi.load(tmp_path / "bad.safetensors")
    with pytest.raises(ValueError, match="'other.x' is not one of networks.0"):
        multi.split_state({"other.x": np.zeros(1)}, 4)
