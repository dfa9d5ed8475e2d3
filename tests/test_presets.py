"""Presets (gfxnn.fields.presets): Dx12NN's and MLPZen's defaults per example, as stated."""

from __future__ import annotations

import pytest

from gfxnn.fields.examples import EXAMPLES
from gfxnn.fields.presets import PRESETS, preset_settings
from gfxnn.fields.schedule import learning_rate_at
from gfxnn.fields.settings import FitSettings

MLPZEN_GRID = {
    "n_levels": 4,
    "n_features_per_level": 4,
    "base_resolution": 16,
    "log2_hashmap_size": 12,
    "per_level_scale": 2.0,
}


@pytest.mark.parametrize("example", EXAMPLES)
def test_dx12nn_is_the_default_settings(example: str) -> None:
    assert preset_settings("dx12nn", example) == FitSettings()


@pytest.mark.parametrize("example", ["image", "four_images"])
def test_mlpzen_image_preset(example: str) -> None:
    s = preset_settings("mlpzen", example)
    assert (s.encoding, s.encoding_params) == ("hashgrid", MLPZEN_GRID)
    assert (s.n_layers, s.n_neurons, s.activation, s.output_activation) == (
        4, 32, "leaky_relu", "sigmoid"
    )  # fmt: skip
    assert (s.batch_size, s.learning_rate, s.optimizer) == (32768, 1e-3, "adam")
    assert (s.lr_schedule, s.max_learning_rate, s.base_period) == ("cosine", 0.05, 50)
    assert s.min_learning_rate == 1e-6 and s.initialization == "he_gaussian"
    # The schedule these settings drive: 0.05 at the first step, the first restart at 100.
    assert learning_rate_at(s, 0) == pytest.approx(0.05)
    assert learning_rate_at(s, 100) == pytest.approx(0.05 * 0.8)


def test_mlpzen_cosine_and_bubbles_presets() -> None:
    cosine = preset_settings("mlpzen", "cosine")
    assert (cosine.encoding, cosine.encoding_params) == ("oneblob", {"n_bins": 16})
    assert cosine.output_activation == "sigmoid" and cosine.lr_schedule == "cosine"
    bubbles = preset_settings("mlpzen", "bubbles")
    assert bubbles.encoding_params == dict(MLPZEN_GRID, log2_hashmap_size=15)
    assert bubbles.output_activation == "leaky_relu" and bubbles.batch_size == 32768
    volume = preset_settings("mlpzen", "volume")
    assert volume.encoding_params == bubbles.encoding_params
    assert volume.output_activation == "sigmoid"


def test_a_bad_preset_or_example_is_named() -> None:
    assert PRESETS == ("dx12nn", "mlpzen")
    with pytest.raises(ValueError, match="preset must be one of dx12nn, mlpzen; got 'zen'"):
        preset_settings("zen", "image")
    with pytest.raises(ValueError, match="example must be one of .*; got 'cube'"):
        preset_settings("mlpzen", "cube")
