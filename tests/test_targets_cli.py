"""`gfxnn fit --example ... --preset ...`: each example from the command line, its outputs,
its checkpoint, and every bad combination as one line, exit 2, nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_cli import _one_line_error, _png  # the CLI tests' own readers

from gfxnn.cli import main
from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.fields import display, multi
from gfxnn.fields.examples import VolumeTarget
from gfxnn.io import CheckpointError

FILES = {
    "reference.png",
    "prediction.png",
    "comparison.png",
    "curves.png",
    "metrics.json",
    "config.json",
    "checkpoint.safetensors",
}


def _fit(out: Path, *args: str) -> dict:
    assert main(["fit", *args, "--quiet", "--out", str(out)]) == 0
    assert {p.name for p in out.iterdir()} == FILES | {".gfxnn-run.json"}
    return json.loads((out / "metrics.json").read_text())


def test_cosine_with_mlpzen_preset_learns_and_checkpoints(tmp_path: Path) -> None:
    out = tmp_path / "cosine"
    args = ["--example", "cosine", "--preset", "mlpzen", "--batch-size", "1024"]
    metrics = _fit(out, *args, "--steps", "150")
    assert metrics["example"] == "cosine" and metrics["psnr"] > 30
    assert metrics["frame_psnr"] > 30
    config = json.loads((out / "config.json").read_text())
    assert config["example"]["name"] == "cosine" and "image" not in config
    assert config["example"]["n_input_dims"] == config["example"]["n_output_dims"] == 1
    settings = config["settings"]
    assert (settings["encoding"], settings["lr_schedule"], settings["batch_size"]) == (
        "oneblob", "cosine", 1024
    )  # fmt: skip
    assert _png(out / "prediction.png").shape == (256, 256, 3)
    loaded = fit_checkpoint.load(out / "checkpoint.safetensors")  # 1-D network, read back
    assert loaded.state["layers.0.weight"].shape == (32, 16)


def test_render_and_export_refuse_a_non_image_network(tmp_path: Path, capsys) -> None:
    out = tmp_path / "bubbles"
    _fit(out, "--example", "bubbles", "--batch-size", "64", "--steps", "1")
    checkpoint = str(out / "checkpoint.safetensors")
    capsys.readouterr()
    for argv, name in (
        (["render", checkpoint], "never.png"),
        (["export", checkpoint, "--format", "glsl"], "never.glsl"),
    ):
        assert main([*argv, "-o", str(tmp_path / name)]) == 2
        line = _one_line_error(capsys)
        assert "holds a bubbles network (3 -> 3 values, not an image's 2 -> 3)" in line, line
    assert not (tmp_path / "never.png").exists() and not (tmp_path / "never.glsl").exists()


def test_four_images_writes_per_network_metrics_and_one_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / "four"
    args = ["--example", "four-images", "--preset", "mlpzen", "--batch-size", "256"]
    metrics = _fit(out, *args, "--steps", "30")
    networks = metrics["networks"]
    assert [n["image"] for n in networks] == [
        "bundled:astronaut", "bundled:circle", "bundled:half", "bundled:quarter"
    ]  # fmt: skip
    assert all(n["psnr"] > 10 and n["final_loss"] > 0 for n in networks)
    assert _png(out / "comparison.png").shape == (512, 1024, 3)
    settings, states, _ = multi.load(out / "checkpoint.safetensors")
    assert len(states) == 4 and settings.n_neurons == 32
    assert not np.array_equal(states[0]["encoding.table"], states[1]["encoding.table"])
    with pytest.raises(CheckpointError, match="4 networks.*gfxnn.fields.multi.load"):
        fit_checkpoint.load(out / "checkpoint.safetensors")


def test_a_volume_is_drawn_at_the_z_plane(tmp_path: Path) -> None:
    volume = np.random.default_rng(0).random((6, 7, 8, 3)).astype(np.float32)
    np.save(tmp_path / "v.npy", volume)
    out = tmp_path / "volume"
    metrics = _fit(out, "--volume", str(tmp_path / "v.npy"), "--z-plane", "0.25", "--steps", "5")
    assert (metrics["example"], metrics["z_plane"]) == ("volume", 0.25)
    expected = display.reference_frame(VolumeTarget(volume), z_plane=0.25)
    np.testing.assert_array_equal(_png(out / "reference.png"), expected)
    config = json.loads((out / "config.json").read_text())
    assert config["example"]["source"] == str(tmp_path / "v.npy")
    assert config["example"]["grid_shape"] == [6, 7, 8]


def test_bubbles_run_and_the_preset_yields_to_explicit_options(tmp_path: Path) -> None:
    out = tmp_path / "bubbles"
    args = ["--example", "bubbles", "--preset", "mlpzen", "--batch-size", "256"]
    metrics = _fit(
        out, *args, "--n-neurons", "16", "--encoding-param", "n_levels=2", "--steps", "3"
    )
    assert metrics["example"] == "bubbles" and metrics["z_plane"] == 0.5
    settings = json.loads((out / "config.json").read_text())["settings"]
    assert settings["n_neurons"] == 16 and settings["output_activation"] == "leaky_relu"
    assert settings["encoding_params"]["n_levels"] == 2  # given
    assert settings["encoding_params"]["log2_hashmap_size"] == 15  # the preset's
    assert settings["initialization"] == "he_gaussian"


def test_an_example_trains_on_webgpu(tmp_path: Path, capsys) -> None:
    from webgpu_reference import require_webgpu

    require_webgpu()
    out = tmp_path / "webgpu"
    args = ["--example", "cosine", "--device", "webgpu", "--batch-size", "256", "--steps", "8"]
    metrics = _fit(out, *args)
    assert metrics["adapter"] and metrics["steps"] == 8 and metrics["example"] == "cosine"
    assert json.loads((out / "config.json").read_text())["run"]["device"] == "webgpu"
    assert f"WebGPU adapter {metrics['adapter']}" in capsys.readouterr().err


def test_the_image_example_takes_the_mlpzen_preset(tmp_path: Path) -> None:
    out = tmp_path / "image"
    args = ["--image-name", "circle", "--preset", "mlpzen", "--batch-size", "256", "--steps", "2"]
    _fit(out, *args)
    settings = json.loads((out / "config.json").read_text())["settings"]
    assert (settings["encoding"], settings["n_neurons"]) == ("hashgrid", 32)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--example", "volume"], "--example volume needs --volume FILE.npy"),
        (["--example", "cosine", "--volume", "{volume}"], "--volume is the volume example's"),
        (["--example", "cosine", "--z-plane", "0.5"], "--z-plane applies to bubbles and volume"),
        (["--example", "bubbles", "--z-plane", "1.5"], "--z-plane: must be a number in [0, 1]"),
        (["--example", "bubbles", "--z-plane", "nan"], "--z-plane: must be a number in [0, 1]"),
        (["--example", "cosine", "{volume}"], "IMAGE and --image-name apply to --example image"),
        (["--example", "bubbles", "--device", "cuda"], "--device cuda fits images"),
        (["--example", "bubbles", "--max-pixels", "9"], "--max-pixels applies to --example image"),
        (["--example", "four_images"], "invalid choice: 'four_images'"),
        (["--example", "cosine", "--preset", "mlpzen", "--config", "{volume}"], "--preset or"),
        (["--example", "cosine", "--preset", "zen"], "invalid choice: 'zen'"),
        (["--volume", "{ints}"], "volume dtype int32 is not fitted"),
        (["--volume", "{flat}"], "(D, H, W) or (D, H, W, C) with C in 1..4"),
        (["--volume", "{missing}"], "cannot read volume file"),
        (["--example", "cosine", "--batch-size", "0"], "batch_size"),
    ],
)
def test_bad_example_input_is_one_line(tmp_path: Path, capsys, args, expected) -> None:
    np.save(tmp_path / "v.npy", np.zeros((2, 2, 2), np.float32))
    np.save(tmp_path / "ints.npy", np.zeros((2, 2, 2), np.int32))
    np.save(tmp_path / "flat.npy", np.zeros((2, 2), np.float32))
    names = {
        "volume": tmp_path / "v.npy",
        "ints": tmp_path / "ints.npy",
        "flat": tmp_path / "flat.npy",
        "missing": tmp_path / "missing.npy",
    }
    argv = ["fit", *(a.format(**names) for a in args), "--steps", "1", "--quiet"]
    assert main([*argv, "--out", str(tmp_path / "never")]) == 2
    line = _one_line_error(capsys)
    assert line.startswith("gfxnn fit: error: ") and expected in line, line
    assert not (tmp_path / "never").exists()
