"""MLPZen's controls in checkpoints, configs and `gfxnn fit`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gfxnn.cli import main
from gfxnn.data.images import encode_png
from gfxnn.fields import checkpoint
from gfxnn.fields.controller import FitController, steps_per_check
from gfxnn.fields.image import ImageFitter
from gfxnn.fields.settings import FitSettings

GOLDEN = Path(__file__).parent / "golden" / "fit_checkpoints"
# Every new control away from its default.
CONTROLS: dict[str, Any] = dict(
    initialization="he_gaussian",
    lr_schedule="cosine",
    max_learning_rate=0.02,
    decay_steps=40,
    base_period=3,
    min_learning_rate=1e-5,
    freeze_mlp=True,
    freeze_encoding=True,
    gradient_clip="norm",
    clip_value=0.25,
    precision="fp16",
    steps_per_frame=4,
    frame_budget_ms=12.5,
    max_steps=9,
)
NEW_FIELDS = tuple(CONTROLS)


def picture(size: int = 12) -> np.ndarray:
    v, u = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    return np.stack([u, v, u * v], axis=2).astype(np.float32)


def test_controls_cover_every_new_setting() -> None:
    defaults = FitSettings()
    assert all(getattr(defaults, name) != value for name, value in CONTROLS.items())


def test_a_checkpoint_stores_and_restores_every_control(tmp_path: Path) -> None:
    settings = FitSettings(batch_size=32, n_neurons=8, n_frequencies=2, **CONTROLS)
    fitter = ImageFitter(picture(), settings)
    fitter.step(2)
    path = tmp_path / "c.safetensors"
    config = checkpoint.checkpoint_config(settings, image={"width": 12, "height": 12}, app="t")
    checkpoint.save(path, fitter.state_dict(), config, psnr=None, steps=2, weights_step=2)
    loaded = checkpoint.load(path)
    assert loaded.settings == settings
    # The restored settings build the same model: fp16 inference renders the same image.
    again = ImageFitter(picture(), loaded.settings)
    again.load_state_dict(loaded.state)
    np.testing.assert_array_equal(again.predict(), fitter.predict())


@pytest.mark.parametrize("name", ["fit_frequency", "fit_hashgrid", "studio_gaussianfourier"])
def test_golden_checkpoints_from_before_the_controls_load_with_defaults(name: str) -> None:
    loaded = checkpoint.load(GOLDEN / f"{name}.safetensors")
    defaults = FitSettings()
    for field in NEW_FIELDS:
        assert getattr(loaded.settings, field) == getattr(defaults, field)


def test_gfxnn_config_json_round_trips_every_control_and_tcnn_keeps_its_part() -> None:
    settings = FitSettings(encoding="hashgrid", batch_size=512, seed=7, **CONTROLS)
    own = checkpoint.checkpoint_config(settings, image={"width": 4}, app="gfxnn fit", run={})
    assert FitSettings.from_config(json.loads(json.dumps(own))) == settings
    assert FitSettings.from_config(own, clip_value=0.75).clip_value == 0.75  # options win
    # The tcnn format has no name for the controls: they come back at their defaults, the
    # model itself unchanged.
    back = FitSettings.from_config(settings.to_config())
    tcnn_part = ("encoding", "encoding_params", "n_layers", "n_neurons", "learning_rate")
    assert all(getattr(back, name) == getattr(settings, name) for name in tcnn_part)
    assert all(getattr(back, name) == getattr(FitSettings(), name) for name in NEW_FIELDS)
    with pytest.raises(ValueError, match="unknown section"):
        FitSettings.from_config({**own, "network": {"otype": "MLP"}})
    with pytest.raises(ValueError, match="JSON object"):
        FitSettings.from_config({"settings": [1, 2]})


# ----- pacing ---------------------------------------------------------------------------
def test_steps_per_check_counts_whole_frames_or_fills_the_budget() -> None:
    frames = FitSettings(steps_per_frame=8)
    assert steps_per_check(frames, 1e-3, 0.05) == 48  # 50 steps' time: 6 whole frames
    assert steps_per_check(frames, 1.0, 0.05) == 8  # at least one frame
    assert steps_per_check(FitSettings(), 1e-3, 0.05) == 50  # Dx12NN's default: single steps
    assert steps_per_check(FitSettings(), 1e-9, 0.05) == 1000
    budget = FitSettings(frame_budget_ms=20.0, steps_per_frame=8)
    assert steps_per_check(budget, 1e-3, 0.05) == 20
    assert steps_per_check(budget, 1.0, 0.05) == 1


def test_fit_trains_whole_frames_and_stops_at_max_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    image = tmp_path / "p.png"
    image.write_bytes(encode_png(picture(16)))
    calls: list[int] = []
    step = FitController.step

    def recording_step(self: FitController, n: int = 1) -> float:
        calls.append(n)
        return step(self, n)

    monkeypatch.setattr(FitController, "step", recording_step)
    out = tmp_path / "run"
    base = ["fit", str(image), "--quiet", "--batch-size", "32", "--n-neurons", "8"]
    assert main([*base, "--steps", "64", "--steps-per-frame", "8", "--out", str(out)]) == 0
    assert calls and all(n % 8 == 0 for n in calls), calls
    assert json.loads((out / "metrics.json").read_text())["steps"] == 64
    capped = tmp_path / "capped"
    argv = [*base, "--steps", "500", "--max-steps", "7", "--out", str(capped)]
    assert main(argv) == 0
    assert json.loads((capped / "metrics.json").read_text())["steps"] == 7


def test_every_control_reaches_gfxnn_fit_and_its_checkpoint(tmp_path: Path) -> None:
    image = tmp_path / "p.png"
    image.write_bytes(encode_png(picture(16)))
    options = []
    for name, value in CONTROLS.items():
        flag = "--" + name.replace("_", "-")
        options += [flag] if value is True else [flag, str(value)]
    out = tmp_path / "run"
    argv = ["fit", str(image), "--quiet", "--steps", "20", "--batch-size", "32", "--out", str(out)]
    assert main([*argv, "--encoding", "hashgrid", *options]) == 0
    saved = json.loads((out / "config.json").read_text())["settings"]
    assert {name: saved[name] for name in CONTROLS} == CONTROLS
    assert checkpoint.load(out / "checkpoint.safetensors").settings == FitSettings.from_dict(saved)
    assert json.loads((out / "metrics.json").read_text())["steps"] == 9  # max_steps
    # --config of that run repeats it; --no-freeze-mlp overrides the file.
    again = tmp_path / "again"
    argv = ["fit", str(image), "--quiet", "--steps", "20", "--out", str(again)]
    assert main([*argv, "--config", str(out / "config.json"), "--no-freeze-mlp"]) == 0
    repeated = json.loads((again / "config.json").read_text())["settings"]
    assert repeated == {**saved, "freeze_mlp": False}


@pytest.mark.parametrize(
    "args, expected",
    [
        (["--steps-per-frame", "0"], "steps_per_frame must be in 1..1024, got 0"),
        (["--max-steps", "0"], "max_steps must be an integer >= 1, got 0"),
        (["--frame-budget-ms", "0"], "frame_budget_ms must be a finite number > 0"),
        (["--clip-value", "-1"], "clip_value must be a finite number > 0"),
        (["--lr-schedule", "step"], "choose from 'fixed', 'linear', 'cosine'"),
        (["--initialization", "orthogonal"], "choose from 'xavier_uniform'"),
        (["--freeze-mlp", "yes"], "unrecognized arguments: yes"),
    ],
)
def test_bad_control_values_are_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    image = tmp_path / "p.png"
    image.write_bytes(encode_png(picture()))
    out = tmp_path / "never"
    assert main(["fit", str(image), "--quiet", *args, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("gfxnn fit: error: ") and expected in err, err
    assert not out.exists()
