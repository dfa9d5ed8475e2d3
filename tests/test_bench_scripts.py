"""The encoding benchmarks run end to end in their smallest configuration (--quick) and print
their tables and write their pictures. The bars themselves are measured by running the scripts
(docs/encodings.md, "Measured: encodings on images"), not here: timed tests are not allowed."""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{name}", BENCHMARKS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def tables(text: str) -> list[list[list[str]]]:
    """The markdown tables in `text`, each a list of rows of cells (without |---| lines)."""
    found: list[list[list[str]]] = []
    previous_was_row = False
    for line in text.splitlines():
        is_row = line.startswith("|")
        if is_row and not line.startswith("|---"):
            if not previous_was_row:
                found.append([])
            found[-1].append([cell.strip() for cell in line.strip("|").split("|")])
        previous_was_row = is_row
    return found


def test_encodings_image_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script("encodings_image")
    script.main(["--quick", "--images-dir", str(tmp_path)])
    out = capsys.readouterr().out
    rows, bars = tables(out)[:2]
    assert rows[0][:3] == ["setup", "seed", "PSNR (dB)"]
    assert [row[0].split()[0] for row in rows[1:]] == ["frequency", "hash", "hash"]
    for row in rows[1:]:
        assert 5.0 < float(row[2]) < 60.0  # a PSNR, not NaN or garbage
        assert int(row[3]) >= 1  # steps
    assert bars[0][0] == "hash grid" and len(bars) == 3  # one line per hash-grid setup
    assert (tmp_path / "encodings_astronaut.png").stat().st_size > 0


def test_encodings_image_hash_settings_are_tcnn_config() -> None:
    """The bar's hash grid is tiny-cuda-nn's image sample config, batch and loss aside."""
    script = load_script("encodings_image")
    settings = script.hash_settings(batch_size=1024, loss="l2", log2_hashmap_size=14)
    assert settings.encoding == "hashgrid"
    assert settings.encoding_params == {
        "n_levels": 16,
        "n_features_per_level": 2,
        "log2_hashmap_size": 14,
        "base_resolution": 16,
        "per_level_scale": 1.5,
    }
    assert (settings.activation, settings.output_activation) == ("relu", "none")
    assert (settings.n_neurons, settings.n_layers) == (64, 4)
    assert (settings.learning_rate, settings.beta2, settings.epsilon) == (1e-2, 0.99, 1e-15)
    assert (settings.l2_reg, settings.loss, settings.batch_size) == (1e-6, "l2", 1024)


def test_fourier_table_quick(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    script = load_script("fourier_table")
    script.main(["--quick", "--images-dir", str(tmp_path)])
    out = capsys.readouterr().out
    rows = tables(out)[0]
    assert rows[0] == ["mapping", "astronaut", "texture"]
    assert [row[0] for row in rows[1:]] == list(script.MAPPINGS)
    for row in rows[1:]:
        for cell in row[1:]:
            test_psnr = float(re.match(r"\*\*([0-9.]+)\*\*", cell).group(1))  # type: ignore[union-attr]
            assert 3.0 < test_psnr < 60.0
    assert (tmp_path / "fourier_table.png").stat().st_size > 0


def test_fourier_table_pixel_splits_are_disjoint_parity_grids() -> None:
    script = load_script("fourier_table")
    image = np.random.default_rng(0).random((6, 8, 3)).astype(np.float32)
    train, test = script.pixel_split(image, 0, 0), script.pixel_split(image, 1, 1)
    assert train.uv.shape == test.uv.shape == (12, 2)
    # uv = (x / (W - 1), y / (H - 1)) and the colours are those pixels'.
    xs = np.rint(train.uv[:, 0] * 7).astype(int)
    ys = np.rint(train.uv[:, 1] * 5).astype(int)
    assert np.all(xs % 2 == 0) and np.all(ys % 2 == 0)
    np.testing.assert_array_equal(train.rgb, image[ys, xs])
    xs = np.rint(test.uv[:, 0] * 7).astype(int)
    ys = np.rint(test.uv[:, 1] * 5).astype(int)
    assert np.all(xs % 2 == 1) and np.all(ys % 2 == 1)
    np.testing.assert_array_equal(test.rgb, image[ys, xs])


def test_procedural_texture_is_deterministic_and_detailed() -> None:
    script = load_script("fourier_table")
    a, b = script.procedural_texture(64, seed=3), script.procedural_texture(64, seed=3)
    assert a.shape == (64, 64, 3) and a.dtype == np.float32
    np.testing.assert_array_equal(a, b)
    assert a.min() >= 0.0 and a.max() <= 1.0
    # Sharp edges: many neighbouring pixels differ by more than a tenth of the range.
    assert np.mean(np.abs(np.diff(a, axis=1)) > 0.1) > 0.02
