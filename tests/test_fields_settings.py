"""FitSettings: each setting declared once (range, choices, help), read by validation, the CLI
and the studio; the encoders' own ranges and sizes checked without building anything large."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from gfxnn.apps.settings_options import encoding_choices
from gfxnn.apps.studio.schema import settings_schema
from gfxnn.fields import choices
from gfxnn.fields.settings import (
    MAX_ENCODED_FEATURES,
    TRAINING_ONLY,
    FitSettings,
    settings_fields,
)


@pytest.mark.parametrize(
    ("encoding", "params", "message"),
    [
        ("oneblob", {"n_bins": 100_000_000}, r"n_bins=100000000 is too large"),
        ("onehot", {"n_bins": 10**12}, r"n_bins=\d+ is too large"),
        ("gaussianfourier", {"n_frequencies": 10**9}, r"n_frequencies=\d+ is too large"),
        ("oneblob", {"n_bins": 4096}, r"gives 8192 features.*at most 4096"),
        ("trianglewave", {"n_frequencies": 1000}, r"n_frequencies.*1\.\.32"),
        ("trianglewave", {"n_frequencies": 0}, r"n_frequencies.*1\.\.32"),
        ("gaussianfourier", {"sigma": -1.0}, r"sigma must be a finite number > 0"),
        ("hashgrid", {"log2_hashmap_size": 40}, r"log2_hashmap_size"),
        ("densegrid", {"n_levels": 16, "per_level_scale": 4.0}, r"table would hold"),
        ("oneblob", {"n_bins": "8"}, r"n_bins"),
    ],
)
def test_encoders_own_ranges_and_sizes_are_checked(encoding: str, params: dict, message: str):
    """Issue 15 item 2: `--encoding oneblob --encoding-param n_bins=100000000` was a traceback."""
    settings = FitSettings(encoding=encoding, encoding_params=params)
    start = time.perf_counter()
    with pytest.raises(ValueError, match=message):
        settings.validate()
    assert time.perf_counter() - start < 1.0  # refused before allocating anything large


@pytest.mark.parametrize(
    ("nested", "message"),
    [
        ([{"otype": "OneBlob", "n_bins": 10**8}], "too large"),
        ([{"otype": "HashGrid"}], "not nested in a Composite"),
        ([{"otype": "TriangleWave", "n_frequencies": 99}], r"1\.\.32"),
        ([{"otype": "Identity", "n_dims_to_encode": 1}], "add up to n_input_dims"),
        ("OneBlob", "non-empty list"),
    ],
)
def test_composite_is_checked_child_by_child(nested: object, message: str) -> None:
    settings = FitSettings(encoding="composite", encoding_params={"nested": nested})
    with pytest.raises(ValueError, match=message):
        settings.validate()


def test_a_valid_composite_passes_and_trains() -> None:
    import numpy as np

    from gfxnn.fields.image import ImageFitter

    nested = [
        {"otype": "Frequency", "n_frequencies": 3, "n_dims_to_encode": 1},
        {"otype": "OneBlob", "n_bins": 8},
    ]
    settings = FitSettings(
        encoding="composite", encoding_params={"nested": nested}, batch_size=32, n_neurons=8
    )
    settings.validate()
    assert settings.model_spec().encoding["nested"][1] == {"otype": "OneBlob", "n_bins": 8}
    fitter = ImageFitter(np.full((4, 4, 3), 0.5, np.float32), settings)
    fitter.step(2)
    assert fitter.state_dict()["layers.0.weight"].shape == (8, 6 + 8)


def test_every_field_declares_its_check_help_and_kind() -> None:
    fields = list(settings_fields())
    assert [f.name for f in fields] == [f.name for f in dataclasses.fields(FitSettings)]
    for field in fields:
        assert field.help and field.allowed, field.name
        assert field.kind in ("int", "float", "str", "bool", "json"), field.name
    assert tuple(f.name for f in fields if f.live) == TRAINING_ONLY


@pytest.mark.parametrize("field", [f for f in settings_fields() if f.kind == "int"])
def test_validation_enforces_the_declared_range(field) -> None:  # type: ignore[no-untyped-def]
    """The range a field declares is the range validate() applies (one place for both)."""
    low, high = field.range
    for bad in (low - 1, None if high is None else high + 1):
        if bad is None:
            continue
        with pytest.raises(ValueError, match=field.allowed.replace(".", r"\.")):
            dataclasses.replace(FitSettings(), **{field.name: bad}).validate()
    dataclasses.replace(FitSettings(), **{field.name: low}).validate()


def test_studio_form_and_cli_read_the_declarations() -> None:
    schema = {entry["name"]: entry for entry in settings_schema()}
    for field in settings_fields():
        entry = schema[field.name]
        assert entry["choices"] == (list(field.choices) if field.choices else None)
        assert entry["live"] == field.live and entry["help"] == field.help
    assert schema["encoding"]["choices"] == list(choices.ENCODINGS)
    assert set(choices.ENCODINGS) <= set(encoding_choices())


def test_hidden_layers_true_is_not_one() -> None:
    """Issue 15: `"n_hidden_layers": true` was accepted as 1."""
    config = {"network": {"otype": "MLP", "n_hidden_layers": True}}
    with pytest.raises(ValueError, match="n_hidden_layers must be an integer, got True"):
        FitSettings.from_config(config)


NEW_ENCODING = '''
"""A parameter-free 2-D encoding registered only in the registry (the test's own)."""
import numpy as np
from gfxnn import ops
from gfxnn.encodings.base import Encoding, check_input, check_positive_int
from gfxnn.ops import as_tensor


class SquaredEncoding(Encoding):
    def __init__(self, n_input_dims: int = 2) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        self.n_output_dims = 2 * self.n_input_dims

    def forward(self, x):
        x = as_tensor(x)
        check_input(self, x)
        return ops.concatenate([x, ops.mul(x, x)], axis=1)

    def hyperparams(self):
        return {"otype": "Squared"}
'''

CHECK = """
import numpy as np
from gfxnn import registry
registry.ENCODINGS["Squared"] = "squared_encoding:SquaredEncoding"
from gfxnn.apps.settings_options import encoding_choices
from gfxnn.apps.studio.schema import settings_schema
from gfxnn.fields import choices
from gfxnn.fields.image import ImageFitter
from gfxnn.fields.settings import FitSettings

assert "squared" in choices.ENCODINGS, choices.ENCODINGS
menu = next(f for f in settings_schema() if f["name"] == "encoding")["choices"]
assert "squared" in menu, menu
assert "squared" in encoding_choices()
fitter = ImageFitter(np.full((4, 4, 3), 0.5, np.float32), FitSettings(encoding="squared"))
fitter.step(2)
assert fitter.state_dict()["layers.0.weight"].shape[1] == 4
print("offered everywhere")
"""


def test_a_registered_encoding_reaches_the_fitter_cli_and_studio(tmp_path: Path) -> None:
    """Registering an encoding is all it takes: the menus and the fitter derive from it, so a
    new encoding cannot miss the studio or the CLI (a fresh interpreter: the tables are built
    at import)."""
    (tmp_path / "squared_encoding.py").write_text(textwrap.dedent(NEW_ENCODING))
    result = subprocess.run(
        [sys.executable, "-c", CHECK],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stderr
    assert "offered everywhere" in result.stdout


def test_max_encoded_features_allows_the_defaults() -> None:
    """The cap refuses only what no image fit needs: every encoding's defaults pass (but
    DenseGrid's: tcnn's 16 dense levels would hold more than 2^30 values)."""
    for name in choices.ENCODINGS:
        if name != "densegrid":
            FitSettings(encoding=name).validate()
    assert MAX_ENCODED_FEATURES >= 2 * 256  # GaussianFourier's default 256 pairs
