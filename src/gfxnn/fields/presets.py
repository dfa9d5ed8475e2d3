"""Presets: the two anchor apps' defaults for an example, as `FitSettings`.

    preset_settings("mlpzen", "bubbles")  # MLPZen's Bubbles 3-D defaults
    preset_settings("dx12nn", "image")    # FitSettings(): Dx12NN's panel defaults

- "dx12nn": `FitSettings()` (Dx12NN's defaults: frequency encoding with 8 octaves, 4 layers of
  64, leaky ReLU everywhere, Adam at 1e-3, batch 2048, Xavier uniform, fixed rate) for every
  example; the frequency encoding takes any number of inputs (2 F features per input), so
  nothing needs adapting to 1-D or 3-D inputs.
- "mlpzen": MLPZen's start-up values (its `main.cpp`, see ../shared/reference/mlpzen.md): 4
  layers of 32 neurons, leaky ReLU hidden, Adam at 1e-3, batch 32768, cosine annealing with
  warm restarts (max 0.05, base period 50, floor 1e-6), He Gaussian weights; per example:
  - image, four_images: hash grid of 4 levels x 4 features, base resolution 16, per-level
    scale 2, table 4096 entries (log2_hashmap_size 12), sigmoid output;
  - cosine: one-blob with 16 bins of the one input, sigmoid output;
  - bubbles: the same hash grid in 3-D with a 32768-entry table (log2_hashmap_size 15) and a
    leaky ReLU output;
  - volume (not an MLPZen example): bubbles' 3-D settings, but a sigmoid output, since a
    volume's values lie in [0, 1] as an image's do.

Where gfxnn's maths differ from MLPZen's, gfxnn keeps its own (and says so in
docs/flagship.md "Controls"): the output gradient is that of the mean squared error, 2 (a - t)
/ (B C), where MLPZen back-propagates (a - t); Adam is torch's (epsilon outside the square
root; MLPZen puts it inside); the grid table starts uniform in +-1e-4 (MLPZen's +-1e-3) and
keeps tiny-cuda-nn's grid Adam epsilon 1e-15; MLPZen rounds a batch up to a multiple of 32,
gfxnn trains exactly batch_size samples.
"""

from __future__ import annotations

from typing import Any

from gfxnn.checks import check_choice
from gfxnn.fields.examples import check_example
from gfxnn.fields.settings import FitSettings

__all__ = ["PRESETS", "mlpzen_values", "preset_settings"]

PRESETS = ("dx12nn", "mlpzen")
"""The presets by name: Dx12NN's defaults and MLPZen's."""

# MLPZen's hash grid (its "Input Encoding" panel): Levels 4, Feature Vector Length Four, Base
# Resolution 16, Max. Level Feature Vectors 4096; the resolution doubles per level.
_MLPZEN_GRID = {
    "n_levels": 4,
    "n_features_per_level": 4,
    "base_resolution": 16,
    "log2_hashmap_size": 12,
    "per_level_scale": 2.0,
}
# What every MLPZen example shares: its "Training:" and "MLP Architecture:" panels.
_MLPZEN_COMMON: dict[str, Any] = {
    "batch_size": 32768,
    "learning_rate": 1e-3,
    "optimizer": "adam",
    "activation": "leaky_relu",
    "n_layers": 4,
    "n_neurons": 32,
    "initialization": "he_gaussian",
    "lr_schedule": "cosine",
    "max_learning_rate": 0.05,
    "base_period": 50,
    "min_learning_rate": 1e-6,
}


def mlpzen_values(example: str) -> dict[str, Any]:
    """The FitSettings values MLPZen's preset sets for `example` (the rest are defaults)."""
    check_example(example)
    values = dict(_MLPZEN_COMMON)
    if example == "cosine":
        values.update(encoding="oneblob", encoding_params={"n_bins": 16})
        values["output_activation"] = "sigmoid"
    elif example in ("bubbles", "volume"):
        grid = dict(_MLPZEN_GRID, log2_hashmap_size=15)  # Bubbles sets mHashgridMapSize=32768
        values.update(encoding="hashgrid", encoding_params=grid)
        values["output_activation"] = "leaky_relu" if example == "bubbles" else "sigmoid"
    else:  # image, four_images
        values.update(encoding="hashgrid", encoding_params=dict(_MLPZEN_GRID))
        values["output_activation"] = "sigmoid"
    return values


def preset_settings(name: str, example: str = "image") -> FitSettings:
    """The settings of preset `name` ("dx12nn" or "mlpzen") for `example` (one of
    `gfxnn.fields.examples.EXAMPLES`), validated. A ValueError names a bad name or example."""
    check_choice("preset", name, PRESETS)
    check_example(example)
    if name == "dx12nn":
        return FitSettings()
    settings = FitSettings(**mlpzen_values(example))
    settings.validate()
    return settings
