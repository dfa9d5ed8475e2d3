"""The one controller: atomic apply, any trainer, N-D-ready targets, clear errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest

from gfxnn.fields.controller import DivergenceError, FitController
from gfxnn.fields.image import ImageFitter, fused_trainer
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import ImageTarget, Target
from gfxnn.fields.trainer import ModelSpec, Trainer

SMALL = FitSettings(batch_size=64, n_neurons=8, n_frequencies=2)


def smooth_image(height: int = 12, width: int = 10) -> np.ndarray:
    v, u = np.meshgrid(np.linspace(0, 1, height), np.linspace(0, 1, width), indexing="ij")
    return np.stack([u, v, 0.5 * (u + v)], axis=2).astype(np.float32)


def snapshot(fitter: FitController) -> tuple[FitSettings, dict[str, np.ndarray], int, list[float]]:
    return fitter.settings, fitter.state_dict(), fitter.steps, list(fitter.loss_history)


def assert_unchanged(fitter: FitController, before: tuple) -> None:
    settings, state, steps, history = before
    assert fitter.settings == settings
    assert fitter.steps == steps and fitter.loss_history == history
    for name, value in state.items():
        np.testing.assert_array_equal(fitter.state_dict()[name], value)


def test_refused_encoding_change_changes_nothing() -> None:
    """Issue 15 item 1: trianglewave with n_frequencies 1000 was stored, then failed to build."""
    fitter = ImageFitter(smooth_image(), SMALL)
    fitter.step(3)
    before = snapshot(fitter)
    refused = dataclasses.replace(
        fitter.settings, encoding="trianglewave", encoding_params={"n_frequencies": 1000}
    )
    with pytest.raises(ValueError, match=r"n_frequencies.*1\.\.32"):
        fitter.apply(refused)
    assert_unchanged(fitter, before)
    assert fitter.predict().shape == (12, 10, 3)  # frames keep rendering


class RefusingFactory:
    """The fused trainer, except that building a spec `refuse(spec)` names fails, as a backend
    refuses what it cannot run (the GPU path: other encodings or losses)."""

    def __init__(self, refuse) -> None:  # type: ignore[no-untyped-def]
        self.refuse = refuse

    def __call__(self, spec: ModelSpec, target: Target) -> Trainer:
        if self.refuse(spec):
            raise ValueError("this backend cannot run that")
        return fused_trainer(spec, target)


@pytest.mark.parametrize(
    ("change", "refuse"),
    [
        ({"n_neurons": 16}, lambda spec: spec.n_neurons == 16),  # a rebuild
        ({"optimizer": "sgd"}, lambda spec: spec.optimizer.name == "sgd"),  # weights kept
        ({"loss": "l1"}, lambda spec: spec.loss == "l1"),
    ],
)
def test_apply_builds_first_and_swaps_only_on_success(change: dict, refuse) -> None:  # type: ignore[no-untyped-def]
    """A change the backend refuses leaves settings, weights and optimizer state as they
    were: training on gives exactly the run that never tried the change."""
    image = smooth_image()
    fitter = FitController(ImageTarget(image), SMALL, RefusingFactory(refuse))
    twin = FitController(ImageTarget(image), SMALL, fused_trainer)
    fitter.step(4)
    twin.step(4)
    before = snapshot(fitter)
    with pytest.raises(ValueError, match="cannot run that"):
        fitter.apply(dataclasses.replace(fitter.settings, **change))
    assert_unchanged(fitter, before)
    fitter.step(4)
    twin.step(4)  # Adam's moments and the batch generator were untouched
    assert fitter.loss_history == twin.loss_history
    for name, value in twin.state_dict().items():
        np.testing.assert_array_equal(fitter.state_dict()[name], value)


def test_learning_rate_change_keeps_optimizer_state() -> None:
    """A new learning rate keeps Adam's moments: two runs that differ only by a rate change
    applied and undone at once are identical."""
    fitter = ImageFitter(smooth_image(), SMALL)
    twin = ImageFitter(smooth_image(), SMALL)
    fitter.step(3)
    twin.step(3)
    fitter.apply(dataclasses.replace(fitter.settings, learning_rate=0.5))
    fitter.apply(dataclasses.replace(fitter.settings, learning_rate=SMALL.learning_rate))
    fitter.step(3)
    twin.step(3)
    assert fitter.loss_history == twin.loss_history


def test_settings_of_the_wrong_type_are_a_clear_error() -> None:
    with pytest.raises(TypeError, match="FitSettings.from_dict reads a dict"):
        ImageFitter(smooth_image(), {"batch_size": 8})  # type: ignore[arg-type]
    fitter = ImageFitter(smooth_image(), SMALL)
    with pytest.raises(TypeError, match="state must be a dict"):
        fitter.load_state_dict(None)  # type: ignore[arg-type]


def test_nan_image_is_reported_as_the_image() -> None:
    """Issue 15: a NaN image reported 'training diverged ... lower the learning rate'."""
    image = smooth_image()
    image[3, 4, 1] = np.nan
    with pytest.raises(ValueError, match=r"image holds 1 NaN.*x=4, y=3"):
        ImageFitter(image)
    fitter = ImageFitter(smooth_image(), SMALL)
    with pytest.raises(ValueError, match="NaN or infinite"):
        fitter.set_image(np.full((4, 4, 3), np.inf, np.float32))


class OneDimensionalTarget:
    """A 1-D function sampled at N points: the controller must not assume 2 inputs or 3
    outputs (MLPZen's Learn Cosine)."""

    n_input_dims = 1
    n_output_dims = 1

    def __init__(self, n: int = 32) -> None:
        self.values = (0.5 + 0.5 * np.cos(2 * np.pi * np.arange(n) / (n - 1)))[:, None]
        self.values = self.values.astype(np.float32)
        self.grid_shape = (n,)

    def sample(self, rng: np.random.Generator, inputs: np.ndarray, targets: np.ndarray) -> None:
        rng.random(out=inputs, dtype=np.float32)
        index = np.minimum((inputs[:, 0] * len(self.values)).astype(int), len(self.values) - 1)
        targets[:] = self.values[index]

    def reference(self) -> np.ndarray:
        return self.values


def test_controller_fits_a_one_dimensional_target() -> None:
    target = OneDimensionalTarget()
    assert isinstance(target, Target)
    settings = FitSettings(batch_size=128, n_neurons=16, n_frequencies=4, learning_rate=1e-2)
    fitter = FitController(target, settings, fused_trainer)
    before = fitter.psnr()
    fitter.step(300)
    assert fitter.render().shape == (32, 1)
    assert fitter.psnr() > before + 5


def test_divergence_keeps_the_last_good_step() -> None:
    fitter = ImageFitter(smooth_image(), FitSettings(optimizer="sgd", learning_rate=10.0))
    with pytest.raises(DivergenceError, match=r"diverged at step (\d+)") as error:
        fitter.step(100)
    failed = int(str(error.value).split("step ")[1].split(":")[0])
    assert fitter.steps == failed - 1 == len(fitter.loss_history)
    assert all(math.isfinite(v) for v in fitter.loss_history)
    fitter.reset_weights()  # a fresh start trains again
    assert fitter.steps == 0 and fitter.loss_history == []
