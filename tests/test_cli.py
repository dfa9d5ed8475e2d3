"""The `gfxnn` command: quick real fits, the files they write, render, and every bad input."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gfxnn.cli import main
from gfxnn.imagefit import FitSettings
from gfxnn.io import load_checkpoint

QUICK = ["--steps", "50", "--batch-size", "256", "--quiet"]


def _image(size: int = 32) -> np.ndarray:
    """A small test picture: a smooth gradient with a bright square."""
    x, y = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size))
    pixels = np.stack([x, y, 0.5 * (x + y)], axis=2)
    pixels[size // 4 : size // 2, size // 4 : size // 2] = 1.0
    return (pixels * 255).round().astype(np.uint8)


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    path = tmp_path / "picture.png"
    Image.fromarray(_image()).save(path)
    return path


def _png(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    lines = err.splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_quick_fit_writes_sane_outputs(tmp_path: Path, image_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["fit", str(image_path), *QUICK, "--out", str(out)]) == 0
    for name in [
        "reference.png",
        "prediction.png",
        "comparison.png",
        "curves.png",
        "metrics.json",
        "config.json",
        "checkpoint.safetensors",
    ]:
        assert (out / name).stat().st_size > 0, name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] == 50 and metrics["stopped_by"] == "steps"
    assert 0 < metrics["psnr"] < 60
    assert metrics["steps_per_second"] > 0
    assert metrics["samples_per_second"] == pytest.approx(256 * metrics["steps_per_second"])
    assert metrics["seconds"] >= metrics["training_seconds"] > 0
    assert metrics["steps"] / metrics["steps_per_second"] == pytest.approx(
        metrics["training_seconds"]
    )
    phases = {"initialize", "backpropagation", "optimization", "inference"}
    assert set(metrics["timings_ms"]) == phases
    assert all(value >= 0 for value in metrics["timings_ms"].values())
    assert metrics["timings_ms"]["backpropagation"] > 0

    config = json.loads((out / "config.json").read_text())
    assert config["settings"]["batch_size"] == 256
    assert config["settings"]["learning_rate"] == 1e-3  # Dx12NN's default, untouched
    assert config["image"] == {
        "source": str(image_path),
        "notes": [],
        "width": 32,
        "height": 32,
    }
    reference, prediction = _png(out / "reference.png"), _png(out / "prediction.png")
    np.testing.assert_array_equal(reference, _image())
    np.testing.assert_array_equal(_png(out / "comparison.png"), np.hstack([reference, prediction]))
    assert _png(out / "curves.png").shape[1] > 400

    # The checkpoint holds the weights that made prediction.png.
    from gfxnn.imagefit import render_image

    tensors, saved = load_checkpoint(out / "checkpoint.safetensors")
    rendered = render_image(tensors, FitSettings.from_dict(saved["settings"]), 32, 32)
    assert np.abs(np.clip(rendered, 0, 1) * 255 - prediction).max() <= 1.0
    summary = capsys.readouterr().out
    assert "PSNR" in summary and str(out) in summary


def test_training_improves_psnr(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    args = ["fit", str(image_path), "--steps", "300", "--batch-size", "512", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    history = metrics["psnr_history"]
    assert history[0][0] == 0 and history[-1][0] == 300
    assert history[-1][1] == pytest.approx(metrics["psnr"])
    assert metrics["psnr"] > history[0][1] + 3.0


def test_settings_reach_the_fit(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    args = ["--optimizer", "sgd", "--lr", "0.05", "--encoding", "identity", "--activation", "relu"]
    args += ["--n-layers", "3", "--n-neurons", "16", "--seed", "7", "--n-frequencies", "4"]
    assert main(["fit", str(image_path), *QUICK, *args, "--out", str(out)]) == 0
    settings = json.loads((out / "config.json").read_text())["settings"]
    assert FitSettings.from_dict(settings) == FitSettings(**settings)
    assert {key: settings[key] for key in list(settings)[:9]} == {
        "batch_size": 256,
        "learning_rate": 0.05,
        "optimizer": "sgd",
        "encoding": "identity",
        "n_frequencies": 4,
        "activation": "relu",
        "n_layers": 3,
        "n_neurons": 16,
        "seed": 7,
    }
    tensors, _ = load_checkpoint(out / "checkpoint.safetensors")
    assert tensors["layers.0.weight"].shape == (16, 2)  # identity encoding: (u, v) in
    assert tensors["layers.1.weight"].shape == (3, 16)


def test_same_seed_same_result(tmp_path: Path, image_path: Path) -> None:
    results = []
    for run in ("a", "b"):
        out = tmp_path / run
        assert main(["fit", str(image_path), *QUICK, "--seed", "3", "--out", str(out)]) == 0
        results.append(load_checkpoint(out / "checkpoint.safetensors")[0])
    for name, value in results[0].items():
        np.testing.assert_array_equal(value, results[1][name])


def test_seconds_limit_stops_first(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    start = time.perf_counter()
    args = ["fit", str(image_path), "--steps", "100000000", "--seconds", "1", "--quiet"]
    assert main([*args, "--out", str(out)]) == 0
    assert time.perf_counter() - start < 30
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by"] == "seconds"
    assert 0 < metrics["steps"] < 100000000
    assert metrics["seconds"] < 5


def test_bundled_image_and_default_output_dir(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert main(["fit", "--image-name", "circle", "--steps", "5", "--quiet"]) == 0
    (run,) = (tmp_path / "runs").iterdir()
    assert run.name.startswith("fit-")
    config = json.loads((run / "config.json").read_text())
    assert config["image"]["source"] == "bundled:circle"
    assert _png(run / "reference.png").shape == (256, 256, 3)


def test_divergence_keeps_the_last_good_weights(tmp_path: Path, image_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["fit", str(image_path), "--optimizer", "sgd", "--lr", "10", "--steps", "2000"]
    assert main([*args, "--batch-size", "256", "--quiet", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "diverged" in err and "Traceback" not in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by"] == "diverged"
    assert metrics["weights_step"] <= metrics["steps"] < 2000
    tensors, _ = load_checkpoint(out / "checkpoint.safetensors")
    assert all(np.all(np.isfinite(value)) for value in tensors.values())
    assert metrics["psnr"] is not None and np.isfinite(metrics["psnr"])
    assert (out / "comparison.png").exists()


def test_ctrl_c_stops_cleanly_and_writes_outputs(tmp_path: Path, image_path: Path, monkeypatch):
    from gfxnn.imagefit import ImageFitter

    original = ImageFitter.step

    def step_then_ctrl_c(self: ImageFitter, n: int = 1) -> float:
        loss = original(self, n)
        if self.steps >= 20:
            signal.raise_signal(signal.SIGINT)  # what a terminal's Ctrl-C delivers
        return loss

    monkeypatch.setattr(ImageFitter, "step", step_then_ctrl_c)
    out = tmp_path / "run"
    # default_int_handler in a terminal; SIG_IGN where the shell started us in the background
    before = signal.getsignal(signal.SIGINT)
    assert main(["fit", str(image_path), *QUICK[2:], "--steps", "5000", "--out", str(out)]) == 130
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by"] == "interrupted"
    assert 20 <= metrics["steps"] < 5000
    assert (out / "checkpoint.safetensors").exists() and (out / "curves.png").exists()
    assert signal.getsignal(signal.SIGINT) is before  # handler restored


def test_render(tmp_path: Path, image_path: Path, capsys) -> None:
    out = tmp_path / "run"
    assert main(["fit", str(image_path), *QUICK, "--out", str(out)]) == 0
    checkpoint = out / "checkpoint.safetensors"
    assert main(["render", str(checkpoint)]) == 0
    default = out / "render-32x32.png"
    # Same size as the fit: the same pixels as prediction.png.
    diff = np.abs(_png(default).astype(int) - _png(out / "prediction.png").astype(int))
    assert diff.max() <= 1
    target = tmp_path / "big.png"
    assert main(["render", str(checkpoint), "-o", str(target), "--width", "80"]) == 0
    assert _png(target).shape == (32, 80, 3)
    assert (
        main(["render", str(checkpoint), "-o", str(target), "--width", "64", "--height", "48"]) == 0
    )
    big = _png(target)
    assert big.shape == (48, 64, 3)
    # Corners are evaluated at the same UVs (0,0) and (1,1) at every resolution.
    np.testing.assert_allclose(big[0, 0], _png(default)[0, 0], atol=1)
    np.testing.assert_allclose(big[-1, -1], _png(default)[-1, -1], atol=1)
    assert str(target) in capsys.readouterr().out


def _bad_png(tmp_path: Path) -> Path:
    path = tmp_path / "cut.png"
    full = tmp_path / "full.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64, 3), np.uint8)).save(full)
    path.write_bytes(full.read_bytes()[:500])
    return path


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["{missing}"], "not found"),
        (["{text}"], "not an image"),
        (["{truncated}"], "truncated or corrupt"),
        (["{image}", "--max-pixels", "100"], "the limit is 100 pixels"),
        (["{image}", "--batch-size", "0"], "batch_size"),
        (["{image}", "--lr", "-1"], "learning_rate"),
        (["{image}", "--lr", "nan"], "learning_rate"),
        (["{image}", "--n-frequencies", "17"], "n_frequencies"),
        (["{image}", "--n-layers", "2"], "n_layers"),
        (["{image}", "--n-neurons", "0"], "n_neurons"),
        (["{image}", "--seed", "-1"], "seed"),
        (["{image}", "--optimizer", "rmsprop"], "choose from 'adam', 'sgd'"),
        (["{image}", "--activation", "gelu"], "choose from 'leaky_relu', 'relu', 'sigmoid'"),
        (["{image}", "--encoding-param", "n_levels"], "KEY=VALUE"),
        (["{image}", "--encoding", "hashgrid", "--encoding-param", "n_levls=4"], "valid keys"),
        (["{image}", "--config", "{image}"], "not valid JSON"),
        (["{image}", "--config", "missing.json"], "cannot read"),
        (["{image}", "--batch-size", "many"], "invalid int value"),
        (["{image}", "--steps", "0"], "--steps: must be an integer >= 1"),
        (["{image}", "--seconds", "-2"], "--seconds: must be a number > 0"),
        (["{image}", "--image-name", "circle"], "either IMAGE or --image-name"),
        (["--image-name", "mandrill"], "choose from 'astronaut'"),
        (["{image}", "--out", "{file}/sub"], "cannot write to output directory"),
        (["{image}", "--out", "{file}"], "a file has that name"),
        (["{image}", "--colour", "red"], "unrecognized arguments: --colour"),
    ],
)
def test_fit_bad_input(tmp_path: Path, image_path: Path, capsys, args, expected) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not a picture")
    regular_file = tmp_path / "regular"
    regular_file.write_text("x")
    names = {
        "missing": tmp_path / "missing.png",
        "text": text,
        "truncated": _bad_png(tmp_path),
        "image": image_path,
        "file": regular_file,
    }
    argv = ["fit", *(a.format(**names) for a in args), "--steps", "1", "--quiet"]
    if "--out" not in args:
        argv += ["--out", str(tmp_path / "never")]
    assert main(argv) == 2
    line = _one_line_error(capsys)
    assert line.startswith("gfxnn fit: error: ")
    assert expected in line
    assert not (tmp_path / "never").exists()  # nothing written for bad input


def test_settings_errors_name_the_allowed_range(tmp_path: Path, image_path: Path, capsys) -> None:
    for flag, value, allowed in [
        ("--batch-size", "0", "65536"),
        ("--n-frequencies", "17", "16"),
        ("--n-layers", "2", "8"),
    ]:
        assert main(["fit", str(image_path), flag, value, "--out", str(tmp_path / "x")]) == 2
        line = _one_line_error(capsys)
        assert value in line and allowed in line, line


@pytest.mark.parametrize("content", ["missing", b"", b"garbage" * 10, "foreign", "truncated"])
def test_render_bad_checkpoint(tmp_path: Path, image_path: Path, capsys, content) -> None:
    path = tmp_path / "c.safetensors"
    if content == "foreign":
        from safetensors.numpy import save_file

        save_file({"w": np.ones(3, np.float32)}, str(path))
    elif content == "truncated":
        assert main(["fit", str(image_path), *QUICK, "--out", str(tmp_path / "r")]) == 0
        data = (tmp_path / "r" / "checkpoint.safetensors").read_bytes()
        path.write_bytes(data[: len(data) // 2])
        capsys.readouterr()
    elif content != "missing":
        path.write_bytes(content)
    assert main(["render", str(path), "-o", str(tmp_path / "o.png")]) == 2
    assert _one_line_error(capsys).startswith("gfxnn render: error: ")
    assert not (tmp_path / "o.png").exists()


def test_render_checkpoint_that_does_not_match_its_settings(
    tmp_path: Path, image_path: Path, capsys
):
    from gfxnn.io import save_checkpoint

    out = tmp_path / "r"
    assert main(["fit", str(image_path), *QUICK, "--out", str(out)]) == 0
    tensors, config = load_checkpoint(out / "checkpoint.safetensors")
    tensors["layers.0.weight"] = tensors["layers.0.weight"][:, :5]
    save_checkpoint(tmp_path / "bad.safetensors", tensors, config)
    capsys.readouterr()
    assert main(["render", str(tmp_path / "bad.safetensors")]) == 2
    assert "layers.0.weight" in _one_line_error(capsys)
    config["settings"]["n_layers"] = 99
    save_checkpoint(
        tmp_path / "bad.safetensors", load_checkpoint(out / "checkpoint.safetensors")[0], config
    )
    assert main(["render", str(tmp_path / "bad.safetensors")]) == 2
    assert "n_layers" in _one_line_error(capsys)


def test_render_bad_sizes_and_outputs(tmp_path: Path, image_path: Path, capsys) -> None:
    out = tmp_path / "r"
    assert main(["fit", str(image_path), *QUICK, "--out", str(out)]) == 0
    capsys.readouterr()
    checkpoint = str(out / "checkpoint.safetensors")
    regular_file = tmp_path / "regular"
    regular_file.write_text("x")
    for args, expected in [
        (["--width", "0"], "--width: must be an integer >= 1"),
        (["--width", "5000", "--height", "5000"], "the limit is 16777216 pixels"),
        (["-o", str(tmp_path / "x.jpg")], "must be a .png"),
        (["-o", str(regular_file / "x.png")], "cannot write"),
    ]:
        assert main(["render", checkpoint, *args]) == 2
        assert expected in _one_line_error(capsys)


def test_help_and_usage(capsys) -> None:
    assert main(["--help"]) == 0
    assert "fit" in capsys.readouterr().out
    assert main(["fit", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--n-frequencies" in out and "--seconds" in out
    assert main([]) == 2
    assert "required" in _one_line_error(capsys)
    assert main(["frobnicate"]) == 2
    assert "invalid choice" in _one_line_error(capsys)


def _gfxnn() -> str:
    found = shutil.which("gfxnn") or str(Path(sys.executable).parent / "gfxnn")
    if not Path(found).exists():
        pytest.skip("the gfxnn command is not installed")
    return found


def test_installed_command_runs_a_fit_and_a_render(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    fit = subprocess.run(
        [_gfxnn(), "fit", str(image_path), *QUICK, "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert fit.returncode == 0, fit.stderr
    assert "PSNR" in fit.stdout
    assert json.loads((out / "metrics.json").read_text())["steps"] == 50
    bad = subprocess.run(
        [_gfxnn(), "fit", str(image_path), "--n-layers", "2"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 2
    assert len(bad.stderr.strip().splitlines()) == 1 and "n_layers" in bad.stderr
    render = subprocess.run(
        [_gfxnn(), "render", str(out / "checkpoint.safetensors"), "-o", str(tmp_path / "r.png")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert render.returncode == 0, render.stderr
    assert _png(tmp_path / "r.png").shape == (32, 32, 3)


def _signal_running_fit(command: list[str], sig: signal.Signals) -> tuple[int, str]:
    """Start `command` (a gfxnn fit), wait until it trains, send `sig`; (exit code, stderr)."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # The outputs appear together at the end; "fitting ... -> DIR" on stderr says the
        # run has started.
        assert process.stderr is not None
        while "fitting" not in process.stderr.readline():
            assert process.poll() is None, "gfxnn fit ended before training"
        time.sleep(1.0)  # let it train a little
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    return process.returncode, stderr


def test_real_ctrl_c_on_the_installed_command(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    command = [_gfxnn(), "fit", str(image_path), "--steps", "10000000", "--seconds", "100"]
    returncode, stderr = _signal_running_fit([*command, "--out", str(out)], signal.SIGINT)
    assert returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by"] == "interrupted" and metrics["steps"] < 10000000
    assert (out / "checkpoint.safetensors").exists()


def test_device_choice_without_a_gpu(tmp_path: Path, image_path: Path, capsys) -> None:
    from gfxnn import gpu

    if gpu.available():
        pytest.skip("this machine has a CUDA GPU; the GPU path is tested in tests/test_gpu.py")
    args = ["fit", str(image_path), "--steps", "2", "--quiet"]
    assert main([*args, "--device", "cuda", "--out", str(tmp_path / "a")]) == 2
    assert "--device cuda: no CUDA GPU found" in capsys.readouterr().err
    assert main([*args, "--out", str(tmp_path / "b")]) == 0  # --device auto
    assert "no CUDA GPU found, training on the CPU" in capsys.readouterr().err
    assert json.loads((tmp_path / "b" / "config.json").read_text())["run"]["device"] == "cpu"
    assert main([*args, "--device", "cpu", "--out", str(tmp_path / "c")]) == 0
    assert "CUDA" not in capsys.readouterr().err


# ----- issue 15: nothing lost, nothing half-done (each test failed before its fix) ------------
def _fit(image: Path, out: Path, *extra: str) -> int:
    return main(["fit", str(image), *QUICK, "--out", str(out), *extra])


def _gfxnn_module(*args: str, **kwargs: object) -> subprocess.CompletedProcess:
    """`python -m gfxnn.cli ARGS` in a fresh process (Warp initialises there, signals work)."""
    command = [sys.executable, "-m", "gfxnn.cli", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, **kwargs)


@pytest.mark.parametrize("format", ["glsl", "onnx"])
def test_export_never_overwrites_its_checkpoint(tmp_path: Path, image_path: Path, capsys, format):
    assert _fit(image_path, tmp_path / "run") == 0
    checkpoint = tmp_path / "run" / "checkpoint.safetensors"
    before = checkpoint.read_bytes()
    capsys.readouterr()
    assert main(["export", str(checkpoint), "--format", format, "-o", str(checkpoint)]) == 2
    assert "would replace the checkpoint" in _one_line_error(capsys)
    assert checkpoint.read_bytes() == before


def test_export_default_onnx_path_of_a_checkpoint_named_onnx(tmp_path: Path, image_path: Path):
    assert _fit(image_path, tmp_path / "run") == 0
    checkpoint = tmp_path / "model.onnx"  # a checkpoint with a misleading name
    shutil.copy(tmp_path / "run" / "checkpoint.safetensors", checkpoint)
    before = checkpoint.read_bytes()
    assert main(["export", str(checkpoint), "--format", "onnx"]) == 2
    assert checkpoint.read_bytes() == before


def test_export_grid_table_never_overwrites_the_checkpoint(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    grid = ["--encoding", "hashgrid", "--encoding-param", "n_levels=2"]
    grid += ["--encoding-param", "log2_hashmap_size=8"]
    assert main(["fit", "--image-name", "circle", *QUICK, *grid, "--out", str(out)]) == 0
    checkpoint = tmp_path / "net.grid.bin"  # where the table of -o net.hlsl would go
    shutil.copy(out / "checkpoint.safetensors", checkpoint)
    before = checkpoint.read_bytes()
    capsys.readouterr()
    target = tmp_path / "net.hlsl"
    assert main(["export", str(checkpoint), "--format", "hlsl", "-o", str(target)]) == 2
    assert "grid table" in _one_line_error(capsys)
    assert checkpoint.read_bytes() == before and not target.exists()


def test_fit_never_replaces_its_input_image(tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    out.mkdir()
    # A 16-bit grayscale input where fit would write its 8-bit reference.png.
    ramp = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64).astype(np.uint16)
    Image.fromarray(ramp).save(out / "reference.png")
    before = (out / "reference.png").read_bytes()
    for extra in ([], ["--force"]):
        assert _fit(out / "reference.png", out, *extra) == 2
        line = _one_line_error(capsys)
        assert "would replace the input" in line or "did not write" in line, line
        assert (out / "reference.png").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["reference.png"]  # nothing else written


def test_fit_into_its_own_previous_run_refuses_to_replace_the_reference(
    tmp_path: Path, image_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    assert _fit(image_path, out) == 0
    before = (out / "reference.png").read_bytes()
    capsys.readouterr()
    assert _fit(out / "reference.png", out) == 2
    assert "would replace the input" in _one_line_error(capsys)
    assert (out / "reference.png").read_bytes() == before


def test_foreign_files_in_out_need_force(tmp_path: Path, image_path: Path, capsys) -> None:
    out = tmp_path / "mine"
    out.mkdir()
    (out / "config.json").write_text('{"my": "own config"}')
    (out / "notes.txt").write_text("keep me")
    assert _fit(image_path, out) == 2
    line = _one_line_error(capsys)
    assert "did not write (config.json, notes.txt)" in line and "--force" in line
    assert (out / "config.json").read_text() == '{"my": "own config"}'
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "notes.txt"]
    assert _fit(image_path, out, "--force") == 0  # asked for: written beside them
    assert (out / "notes.txt").read_text() == "keep me"
    assert json.loads((out / "config.json").read_text())["settings"]["batch_size"] == 256


def test_a_previous_run_is_replaced_whole(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    assert _fit(image_path, out) == 0
    first = json.loads((out / "config.json").read_text())["run"]["id"]
    assert _fit(image_path, out, "--n-neurons", "16") == 0  # gfxnn's own files: no --force
    config = json.loads((out / "config.json").read_text())
    metrics = json.loads((out / "metrics.json").read_text())
    _, saved = load_checkpoint(out / "checkpoint.safetensors")
    assert config["run"]["id"] == metrics["run_id"] == saved["run"]["id"] != first
    assert saved["settings"]["n_neurons"] == config["settings"]["n_neurons"] == 16
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging


def test_a_failed_rerun_leaves_the_previous_run_whole(
    tmp_path: Path, image_path: Path, monkeypatch, capsys
) -> None:
    import gfxnn.apps.fit

    out = tmp_path / "run"
    assert _fit(image_path, out) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}

    def disk_full(*args: object) -> bytes:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(gfxnn.apps.fit, "plot_curves", disk_full)  # fails half-way through
    capsys.readouterr()
    assert _fit(image_path, out, "--n-neurons", "16") == 1
    err = capsys.readouterr().err
    assert "No space left on device" in err.splitlines()[-1] and "Traceback" not in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before
    config = json.loads((out / "config.json").read_text())
    _, saved = load_checkpoint(out / "checkpoint.safetensors")
    assert config["settings"] == saved["settings"]  # config.json describes the checkpoint
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "gfxnn.cli", "fit", str(image_path), "--steps", "10000000"]
    command += ["--seconds", "100", "--quiet", "--device", "cpu", "--out", str(out)]
    # SIGTERM: what timeout, docker stop and Slurm send
    returncode, stderr = _signal_running_fit(command, signal.SIGTERM)
    assert returncode == 143, stderr
    assert "terminated" in stderr and "Traceback" not in stderr
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["stopped_by"] == "terminated" and 0 <= metrics["steps"] < 10000000
    assert (out / "checkpoint.safetensors").exists() and (out / "curves.png").exists()


@pytest.mark.parametrize("command", ["fit", "render", "export", "studio"])
def test_empty_output_path_is_refused(
    tmp_path: Path, image_path: Path, monkeypatch, capsys, command
):
    monkeypatch.chdir(tmp_path)
    argv = {
        "fit": ["fit", str(image_path), *QUICK, "--out", ""],
        "render": ["render", "c.safetensors", "-o", ""],
        "export": ["export", "c.safetensors", "--format", "glsl", "-o", ""],
        "studio": ["studio", "--out", ""],
    }[command]
    assert main(argv) == 2
    line = _one_line_error(capsys)
    assert "must name a file or directory, got ''" in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture.png"]  # nothing written


def test_device_cuda_without_a_gpu_writes_nothing(tmp_path: Path, image_path: Path) -> None:
    from gfxnn import gpu

    if gpu.available():
        pytest.skip("this machine has a CUDA GPU")
    out = tmp_path / "a"
    assert _fit(image_path, out, "--device", "cuda") == 2
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["picture.png"]


def test_nothing_from_warp_reaches_stdout(tmp_path: Path, image_path: Path) -> None:
    done = _gfxnn_module("fit", str(image_path), *QUICK, "--out", str(tmp_path / "run"))
    assert done.returncode == 0, done.stderr
    (line,) = done.stdout.splitlines()  # the one result line, and nothing else
    assert line.startswith("PSNR ")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--encoding", "oneblob", "--encoding-param", "n_bins=" + "9" * 5000], "digits"),
        (["--config", "{deep}"], "deep"),
        (["--config", "{huge_int}"], "digits"),
        (["--encoding-param", "n_levels=1", "--encoding-param", "n_levels=2"], "twice"),
    ],
)
def test_hostile_json_is_one_line(tmp_path: Path, image_path: Path, capsys, args, expected):
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100000 + "]" * 100000)
    huge_int = tmp_path / "huge.json"
    huge_int.write_text('{"network": {"n_neurons": ' + "7" * 5000 + "}}")
    names = {"deep": deep, "huge_int": huge_int}
    argv = ["fit", str(image_path), *(a.format(**names) for a in args), *QUICK]
    assert main([*argv, "--out", str(tmp_path / "never")]) == 2
    line = _one_line_error(capsys)
    assert expected in line and len(line) < 400, line
    assert not (tmp_path / "never").exists()


@pytest.mark.parametrize("flag", ["--steps", "--max-pixels", "--batch-size", "--seed"])
@pytest.mark.parametrize("value", ["²", "1" * 5000, "１０"])
def test_bad_integers_name_the_option_not_an_internal_function(
    image_path: Path, tmp_path: Path, capsys, flag: str, value: str
) -> None:
    assert main(["fit", str(image_path), flag, value, "--out", str(tmp_path / "never")]) == 2
    line = _one_line_error(capsys)
    assert f"argument {flag}: " in line and "_positive_int" not in line, line
    assert len(line) < 300  # a 5000-digit value is not repeated whole


def test_divergence_text_names_the_step_of_the_written_weights(
    tmp_path: Path, image_path: Path, capsys
) -> None:
    out = tmp_path / "run"
    args = ["fit", str(image_path), "--optimizer", "sgd", "--lr", "10", "--steps", "2000"]
    assert main([*args, "--batch-size", "256", "--quiet", "--out", str(out)]) == 1
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["steps"] > metrics["weights_step"]  # the case where the two differ
    mentioned = re.findall(r"weights[^;.]*? step (\d+)", metrics["divergence"])
    assert mentioned and all(int(step) == metrics["weights_step"] for step in mentioned)
    assert metrics["divergence"] in capsys.readouterr().err


def test_stderr_lines_are_not_wrapped_in_a_pipe(tmp_path: Path) -> None:
    image = tmp_path / ("a-long-directory-name-" * 4) / "translucent.png"
    image.parent.mkdir()
    rgba = np.zeros((16, 16, 4), np.uint8)
    rgba[..., 3] = 128
    Image.fromarray(rgba).save(image)
    out = tmp_path / ("an-even-longer-output-directory-name-" * 3)
    done = _gfxnn_module("fit", str(image), *QUICK, "--device", "cpu", "--out", str(out))
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert f"fitting {image} (16x16) -> {out}" in lines, lines
    assert any(line.startswith("note: RGBA image: alpha composited") for line in lines)
    assert all(len(line) > 0 for line in lines)


def test_studio_without_its_extra_is_one_line(monkeypatch, capsys) -> None:
    monkeypatch.setitem(sys.modules, "uvicorn", None)  # what a missing package looks like
    assert main(["studio"]) == 2
    assert "pip install 'gfxnn[studio]'" in _one_line_error(capsys)


# ----- the same classes of fault beyond issue 15's cases ---------------------------------------
def test_sighup_is_handled_like_ctrl_c(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    command = [sys.executable, "-m", "gfxnn.cli", "fit", str(image_path), "--steps", "10000000"]
    command += ["--quiet", "--device", "cpu", "--out", str(out)]
    # SIGHUP: the terminal or ssh session went away
    returncode, stderr = _signal_running_fit(command, signal.SIGHUP)
    assert returncode == 129, stderr
    assert json.loads((out / "metrics.json").read_text())["stopped_by"] == "hangup"


def test_render_default_path_never_overwrites_the_checkpoint(
    tmp_path: Path, image_path: Path, capsys
) -> None:
    assert _fit(image_path, tmp_path / "run") == 0
    checkpoint = tmp_path / "render-32x32.png"  # where its default render would go
    shutil.copy(tmp_path / "run" / "checkpoint.safetensors", checkpoint)
    before = checkpoint.read_bytes()
    capsys.readouterr()
    assert main(["render", str(checkpoint)]) == 2
    assert "is the checkpoint itself" in _one_line_error(capsys)
    assert checkpoint.read_bytes() == before


@pytest.mark.parametrize("command", ["export", "render"])
def test_outputs_never_replace_a_fifo_or_a_link(
    tmp_path: Path, image_path: Path, capsys, command: str
) -> None:
    """An atomic write renames a file over its target: over /dev/stdout or a FIFO that
    would replace the device node or the pipe instead of writing to it."""
    assert _fit(image_path, tmp_path / "run") == 0
    checkpoint = str(tmp_path / "run" / "checkpoint.safetensors")
    fifo = tmp_path / "out.png"
    os.mkfifo(fifo)
    link = tmp_path / "link.png"
    link.symlink_to(tmp_path / "elsewhere.png")
    capsys.readouterr()
    for target in (fifo, link):
        argv = ["render", checkpoint, "-o", str(target)]
        if command == "export":
            argv = ["export", checkpoint, "--format", "glsl", "-o", str(target)]
        assert main(argv) == 2
        assert "give the path of a regular file" in _one_line_error(capsys)
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and link.is_symlink()


def test_bench_checks_its_json_path_before_measuring(tmp_path: Path, capsys) -> None:
    assert main(["bench", "--json", str(tmp_path), "--device", "cpu"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # refused at once, not after a minute of timing
    assert "is a directory" in captured.err


def test_a_closed_stdout_is_not_a_failed_run(tmp_path: Path, image_path: Path) -> None:
    out = tmp_path / "run"
    fit = f"{sys.executable} -m gfxnn.cli fit {image_path} {' '.join(QUICK)} --out {out}"
    done = subprocess.run(
        ["bash", "-c", f"{fit} --device cpu | true; exit ${{PIPESTATUS[0]}}"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr  # was 1, "diverged or could not write"
    assert "Traceback" not in done.stderr and (out / "checkpoint.safetensors").exists()


def test_a_slow_first_evaluation_does_not_pace_the_next() -> None:
    # The first PSNR evaluation may compile the renderer (seconds); later ones are fast. The
    # pacing (at most PSNR_MAX_OVERHEAD of the time) must not be set by the compile, or a cold
    # run shows step 0's PSNR to the end and snapshots no weights after step 0.
    from gfxnn.apps import fit as fit_app

    class SlowFirstPsnr:
        steps, calls = 0, 0

        def psnr(self) -> float:
            self.calls += 1
            if self.calls == 1:
                time.sleep(0.3)  # 0.3 s / 0.1 overhead would put the next one 3 s away
            return 20.0 + self.calls

        def state_dict(self) -> dict[str, np.ndarray]:
            return {"w": np.full(2, float(self.steps))}

    fitter, history = SlowFirstPsnr(), fit_app._History()
    fit_app._evaluate(fitter, history)  # type: ignore[arg-type]
    fitter.steps = 100
    history.last_eval_end -= fit_app.PSNR_EVERY_SECONDS  # a second of training later
    fit_app._maybe_evaluate(fitter, history)  # type: ignore[arg-type]
    assert [step for step, _ in history.psnr_points] == [0, 100]
    assert history.good_step == 100
    # a slow evaluation after the first does pace the next one
    fitter.calls = 0
    fit_app._evaluate(fitter, history)  # type: ignore[arg-type]  # slow again: counted now
    fitter.steps = 200
    history.last_eval_end -= fit_app.PSNR_EVERY_SECONDS
    fit_app._maybe_evaluate(fitter, history)  # type: ignore[arg-type]
    assert [step for step, _ in history.psnr_points] == [0, 100, 100]
