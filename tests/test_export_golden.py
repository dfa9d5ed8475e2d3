"""Golden files: the code emitted for two fixed tiny models, kept in tests/golden/ so that any
change to the emitted code shows up in review as a diff of these files.

Regenerate them (after checking that a change is intended) with
    GFXNN_UPDATE_GOLDEN=1 python -m pytest tests/test_export_golden.py
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from gfxnn.encodings import FrequencyEncoding, OneBlobEncoding
from gfxnn.encodings.hash_grid import HashGridEncoding
from gfxnn.export import export, export_with_data
from gfxnn.nn import MLP

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("GFXNN_UPDATE_GOLDEN") == "1"


def _exact_weights(network: MLP) -> MLP:
    """Weights and biases that are short binary fractions, so the literals are stable."""
    for i, layer in enumerate(network.layers):
        n_out, n_in = layer.weight.data.shape
        rows, columns = np.meshgrid(np.arange(n_out), np.arange(n_in), indexing="ij")
        layer.weight.data[...] = ((rows * 7 + columns * 3 + i) % 11 - 5) / 8
        layer.bias.data[...] = (np.arange(n_out) % 5 - 2) / 16
    return network


def frequency_model() -> tuple[FrequencyEncoding, MLP]:
    """2 -> frequency (2 octaves) -> 8 -> 4 (leaky ReLU) -> 3 (sigmoid)."""
    return FrequencyEncoding(2, 2), _exact_weights(MLP(8, 3, 4, 1, "leaky_relu", "sigmoid"))


def one_blob_model() -> tuple[OneBlobEncoding, MLP]:
    """2 -> one-blob (4 bins) -> 8 -> 5 (SiLU) -> 3 (no output activation)."""
    return OneBlobEncoding(2, 4), _exact_weights(MLP(8, 3, 5, 1, "silu", "none"))


def grid_model() -> tuple[HashGridEncoding, MLP]:
    """2 -> hash grid (2 levels x 2 features: one dense, one hashed) -> 4 -> 4 (ReLU) -> 3;
    the table is not in the code (it is the buffer at binding 1)."""
    encoding = HashGridEncoding(2, 2, 2, 4, 3, 2.0, rng=0)
    return encoding, _exact_weights(MLP(4, 3, 4, 1, "relu", "none"))


CASES = {
    "tiny.glsl": (frequency_model, "glsl", "none"),
    "tiny.hlsl": (frequency_model, "hlsl", "none"),
    "tiny.wgsl": (frequency_model, "wgsl", "none"),
    "tiny_compute.glsl": (frequency_model, "glsl", "compute"),
    "tiny_compute.hlsl": (frequency_model, "hlsl", "compute"),
    "tiny_compute.wgsl": (frequency_model, "wgsl", "compute"),
    "tiny_shadertoy.glsl": (frequency_model, "glsl", "shadertoy"),
    "tiny_one_blob.wgsl": (one_blob_model, "wgsl", "none"),
    "tiny_grid.glsl": (grid_model, "glsl", "none"),
    "tiny_grid_compute.hlsl": (grid_model, "hlsl", "compute"),
}


@pytest.mark.parametrize("file_name", sorted(CASES))
def test_emitted_code_equals_the_golden_file(file_name: str) -> None:
    make_model, language, wrapper = CASES[file_name]
    code, _ = export_with_data(*make_model(), language, name="tiny_texture", wrapper=wrapper)
    path = GOLDEN / f"export_{file_name}"
    if UPDATE:
        path.parent.mkdir(exist_ok=True)
        path.write_text(str(code))
    assert path.exists(), f"{path} is missing; regenerate: GFXNN_UPDATE_GOLDEN=1 pytest {__file__}"
    assert code == path.read_text(), (
        f"the code emitted for {file_name} changed; if intended, regenerate with "
        "GFXNN_UPDATE_GOLDEN=1 python -m pytest tests/test_export_golden.py"
    )


def test_golden_model_means_what_the_literals_say() -> None:
    """The golden weights are exact in float32, so the emitted literals are short."""
    code = str(export(*frequency_model(), "glsl", name="tiny_texture"))
    assert "-0.625" in code and "0.5" in code and "0.125" in code
    assert "e-" not in code  # no long scientific literals from rounding noise
