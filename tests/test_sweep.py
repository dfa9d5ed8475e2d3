"""gfxnn sweep: the same rows from both executors, resume, divergence, early stopping, bad input.

Sweeps here are tiny (16x16 bundled images, tens of steps, two workers) so that Ray's start-up
dominates; Ray runs as a local instance with two CPUs (`ray.init(num_cpus=2)`).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from PIL import Image

from gfxnn.apps.sweep import SweepError, run_sweep
from gfxnn.apps.sweep.plan import expand_points, parse_grid, parse_space
from gfxnn.apps.sweep.results import best_point, ranked_psnr
from gfxnn.apps.sweep.schedule import Budget, rung_budgets, survivors
from gfxnn.cli import main
from gfxnn.imagefit import FitSettings

SMALL = {"bundled_size": 16, "workers": 2, "show_progress": False}
TIMING = ("seconds", "steps_per_second")


@pytest.fixture(scope="module")
def ray_local():
    ray = pytest.importorskip("ray")  # the dev extra installs it; CI runs these tests
    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, include_dashboard=False, logging_level="WARNING")
    yield ray
    if started:
        ray.shutdown()


def _deterministic(rows):
    """Rows without the wall-clock fields (they differ run to run)."""
    out = []
    for row in rows:
        row = {k: v for k, v in row.items() if k not in TIMING}
        row["runs"] = [{k: v for k, v in run.items() if k not in TIMING} for run in row["runs"]]
        out.append(row)
    return out


def test_local_and_ray_executors_give_identical_rows(tmp_path, ray_local):
    sweep = {"grid": {"learning_rate": [1e-3, 1e-2]}, "steps": 50, **SMALL}
    local = run_sweep(["circle", "half"], out_dir=tmp_path / "local", **sweep)
    remote = run_sweep(["circle", "half"], executor="ray", out_dir=tmp_path / "ray", **sweep)
    assert [row["status"] for row in local.rows] == ["ok"] * 4
    assert _deterministic(local.rows) == _deterministic(remote.rows)
    # The trials learned, and their rows say what the issue asks for.
    row = local.rows[1]
    assert row["psnr"] > local.rows[0]["psnr"]  # 1e-2 beats 1e-3 after 50 Adam steps
    assert row["steps"] == 50 and row["device"] == "cpu" and row["steps_per_second"] > 0
    assert row["checkpoint_bytes"] > 0 and row["png_bytes"] > 0
    assert row["checkpoint_to_png"] == row["checkpoint_bytes"] / row["png_bytes"]
    # The results files, the contact sheet and the best config.
    out = tmp_path / "local"
    document = json.loads((out / "results.json").read_text())
    assert [r["psnr"] for r in document["rows"]] == [r["psnr"] for r in local.rows]
    header = (out / "results.csv").read_text().splitlines()[0].split(",")
    assert {"image", "psnr", "steps", "seconds", "steps_per_second", "device"} <= set(header)
    assert {"checkpoint_bytes", "png_bytes", "status", "seed", "learning_rate"} <= set(header)
    with Image.open(out / "contact_sheet.png") as sheet:
        assert sheet.size[1] > 2 * 128  # a line of tiles per image
    best = FitSettings.from_config(json.loads((out / "best_config.json").read_text()))
    assert best.learning_rate == 1e-2
    assert local.best is not None and local.best["point"] == {"learning_rate": 1e-2}
    trial_files = {p.name for p in (out / row["dir"]).iterdir()}
    assert {"checkpoint.safetensors", "prediction.png", "metrics.json"} <= trial_files


def test_a_trials_checkpoint_renders_with_gfxnn_render(tmp_path):
    result = run_sweep(["quarter"], steps=30, out_dir=tmp_path, **SMALL)
    trial_dir = tmp_path / result.rows[0]["dir"]
    rendered = tmp_path / "render.png"
    assert main(["render", str(trial_dir / "checkpoint.safetensors"), "-o", str(rendered)]) == 0
    with Image.open(rendered) as again, Image.open(trial_dir / "prediction.png") as saved:
        difference = np.abs(np.asarray(again, np.int16) - np.asarray(saved, np.int16))
    assert again.size == (16, 16) and difference.max() <= 1


def test_resume_skips_finished_trials(tmp_path):
    sweep = {"grid": {"learning_rate": [1e-3, 1e-2]}, "steps": 20, "out_dir": tmp_path, **SMALL}
    first = run_sweep(["circle"], **sweep)
    assert first.reused == 0
    checkpoints = [tmp_path / row["dir"] / "checkpoint.safetensors" for row in first.rows]
    written = [path.stat().st_mtime_ns for path in checkpoints]
    again = run_sweep(["circle"], **sweep)
    assert again.reused == 2
    assert [path.stat().st_mtime_ns for path in checkpoints] == written  # not re-run
    assert _deterministic(again.rows) == _deterministic(first.rows)
    grown = run_sweep(["circle"], **{**sweep, "grid": {"learning_rate": [1e-3, 1e-2, 3e-2]}})
    assert grown.reused == 2 and [row["status"] for row in grown.rows] == ["ok"] * 3


def test_a_diverging_trial_is_recorded_and_the_others_go_on(tmp_path):
    result = run_sweep(
        ["circle"],
        grid={"optimizer": ["sgd"], "learning_rate": [1e-2, 1e4]},
        steps=30,
        out_dir=tmp_path,
        **SMALL,
    )
    good, bad = result.rows
    assert good["status"] == "ok" and good["steps"] == 30
    assert bad["status"] == "diverged" and bad["steps"] < 30
    assert "diverged at step" in bad["message"]
    csv_text = (tmp_path / "results.csv").read_text()
    assert "diverged" in csv_text and "training diverged" in csv_text
    assert result.best is not None and result.best["point"]["learning_rate"] == 1e-2


def test_asha_stops_the_poor_trial_early_with_either_executor(tmp_path, ray_local):
    # 1e-7 barely moves in 40 steps; 1e-2 learns: with eta 2 the first rung keeps one of two.
    sweep = {
        "grid": {"learning_rate": [1e-7, 1e-2]},
        "steps": 40,
        "scheduler": "asha",
        "eta": 2,
        "n_rungs": 2,
        **SMALL,
    }
    local = run_sweep(["half"], out_dir=tmp_path / "local", **sweep)
    poor, good = local.rows
    assert (
        poor["status"] == "stopped" and poor["steps"] == 20 and "stopped early" in poor["message"]
    )
    assert good["status"] == "ok" and good["steps"] == 40
    assert [run["budget"] for run in good["runs"]] == ["steps=20", "steps=40"]
    remote = run_sweep(["half"], executor="ray", out_dir=tmp_path / "ray", **sweep)
    assert _deterministic(remote.rows) == _deterministic(local.rows)


def test_successive_halving_rule():
    assert survivors([(0, 10.0), (1, 30.0), (2, 20.0), (3, 5.0)], eta=2) == {1, 2}
    assert survivors([(0, 10.0), (1, 30.0), (2, 20.0)], eta=3) == {1}
    assert survivors([(0, 10.0), (1, None), (2, math.nan)], eta=3) == {0}  # failed never go on
    assert survivors([(4, 10.0), (2, 10.0)], eta=2) == {2}  # ties: the earlier trial
    assert survivors([(0, None)], eta=3) == set()
    assert rung_budgets(Budget(steps=900), "asha", 3, 3) == [Budget(100), Budget(300), Budget(900)]
    assert rung_budgets(Budget(steps=900), "none", 3, 3) == [Budget(900)]


def test_an_exact_fit_ranks_first():
    # JSON has no infinity: an exact fit (a binary image can be matched after clipping) is
    # stored as psnr null with status ok, and must win, not be dropped as if it had failed.
    def row(index, lr, psnr, status="ok"):
        settings = FitSettings(learning_rate=lr).to_dict()
        return {
            "index": index,
            "point": {"learning_rate": lr, "seed": 0},
            "status": status,
            "psnr": psnr,
            "settings": settings,
        }

    rows = [row(0, 1e-3, 20.0), row(1, 1e-2, None), row(2, 3e-2, None, "diverged")]
    assert best_point(rows)["point"] == {"learning_rate": 1e-2}
    assert ranked_psnr(rows[1]) == math.inf and ranked_psnr(rows[2]) is None
    assert survivors([(0, 20.0), (1, ranked_psnr(rows[1]))], eta=2) == {1}


def test_grid_and_space_parsing():
    grid = parse_grid(["learning_rate=1e-3,1e-2", "n_neurons=16,32", "encoding_params.n_levels=4"])
    assert grid == {
        "learning_rate": [1e-3, 1e-2],
        "n_neurons": [16, 32],
        "encoding_params.n_levels": [4],
    }
    points = expand_points(grid)
    assert len(points) == 4 and points[1] == {
        "learning_rate": 1e-3,
        "n_neurons": 32,
        "encoding_params.n_levels": 4,
    }
    space = parse_space(["learning_rate=1e-4:1e-1:log", "n_neurons=8:64"])
    drawn = expand_points({}, space, n_random=20, random_seed=3)
    assert drawn == expand_points({}, space, n_random=20, random_seed=3)  # reproducible
    assert all(1e-4 <= p["learning_rate"] <= 1e-1 and 8 <= p["n_neurons"] <= 64 for p in drawn)
    assert all(isinstance(p["n_neurons"], int) for p in drawn)
    assert min(p["learning_rate"] for p in drawn) < 1e-3  # log-uniform reaches the low decade


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["circle", "--grid", "learning_rat=1e-3"], "learning_rat"),
        (["circle", "--grid", "n_layers=four"], "'four'"),
        (["circle", "--grid", "n_layers=3,99"], "n_layers"),
        (["circle", "--grid", "encoding=fourier"], "fourier"),
        (["circle", "--grid", "learning_rate"], "KEY=V1,V2"),
        (["circle", "--grid", "learning_rate=1e-3,"], "empty value"),
        (["circle", "--grid", "seed=1,2"], "--seeds"),
        (["circle", "--space", "learning_rate=1e-3:1e-1"], "--random"),
        (["circle", "--random", "2", "--space", "learning_rate=0:1:log"], "LOW > 0"),
        (["circle", "--random", "2", "--space", "encoding=1:2"], "numeric"),
        (["circle", "--seeds", "1,1"], "repeats"),
        (["circle", "--grid", "learning_rate=1e-3,0.001"], "comes twice"),
        (["circle", "circle"], "given twice"),
        (["circle", "--steps", "0"], "--steps"),
        ([], "no images"),
        (["no-such-image.png"], "no-such-image.png"),
        (["circle", "--executor", "local", "--ray-address", "auto"], "--executor ray"),
        (["circle", "--scheduler", "asha", "--eta", "1"], "eta"),
    ],
)
def test_bad_input_is_one_line_naming_it(argv, named, tmp_path, capsys):
    code = main(["sweep", *argv, "--out", str(tmp_path / "out"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and named in err, err
    assert not (tmp_path / "out").exists()  # nothing written for bad input


def test_an_empty_directory_is_refused(tmp_path, capsys):
    (tmp_path / "images").mkdir()
    assert main(["sweep", str(tmp_path / "images"), "--out", str(tmp_path / "out")]) == 2
    assert "no images" in capsys.readouterr().err


def test_a_directory_of_images_and_the_command_line(tmp_path, capsys):
    folder = tmp_path / "images"
    folder.mkdir()
    for name, value in (("dark", 40), ("light", 200)):
        Image.new("RGB", (12, 10), (value, value // 2, 0)).save(folder / f"{name}.png")
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out"
    argv = [
        "sweep",
        str(folder),
        "--grid",
        "learning_rate=1e-2",
        "--steps",
        "10",
        "--out",
        str(out),
    ]
    assert main([*argv, "--quiet", "--workers", "1"]) == 0
    printed = capsys.readouterr().out
    assert "2 trials (2 ok)" in printed and "best_config.json" in printed
    rows = json.loads((out / "results.json").read_text())["rows"]
    assert [row["image"] for row in rows] == ["dark", "light"]


def test_an_unreachable_ray_address_fails_fast(tmp_path):
    pytest.importorskip("ray")
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "gfxnn.cli", "sweep", "circle", "--executor", "ray"]
        + ["--ray-address", "127.0.0.1:9", "--out", str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert time.monotonic() - started < 30
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "127.0.0.1:9" in lines[0] and "cannot reach" in lines[0]


def test_sigterm_stops_cleanly_with_results_written(tmp_path):
    out = tmp_path / "out"
    process = subprocess.Popen(
        [sys.executable, "-m", "gfxnn.cli", "sweep", "circle", "half", "--image-size", "16"]
        + ["--grid", "learning_rate=1e-3,1e-2", "--steps", "1000000", "--workers", "1"]
        + ["--quiet", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while "running" not in _statuses(out) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(2.0)  # the worker has started the trial
    os.kill(process.pid, signal.SIGTERM)
    started = time.monotonic()
    _, err = process.communicate(timeout=60)
    assert time.monotonic() - started < 20
    assert process.returncode == 143 and "terminated" in err, err
    assert sorted(_statuses(out)) == ["interrupted", "pending", "pending", "pending"]
    assert (out / "contact_sheet.png").exists()


def _statuses(out):
    try:
        return [row["status"] for row in json.loads((out / "results.json").read_text())["rows"]]
    except (OSError, ValueError):  # not written yet
        return []


def test_python_api_errors_name_the_value(tmp_path):
    with pytest.raises(SweepError, match="learning_rate"):
        run_sweep(["circle"], grid={"learning_rate": [-1.0]}, out_dir=tmp_path, **SMALL)
    with pytest.raises(SweepError, match="not both"):
        run_sweep(["circle"], steps=5, seconds=1.0, out_dir=tmp_path, **SMALL)
    with pytest.raises(SweepError, match="executor"):
        run_sweep(["circle"], executor="slurm", out_dir=tmp_path, **SMALL)
    with pytest.raises(SweepError, match="shape"):
        run_sweep([("flat", np.zeros((4, 4), np.float32))], out_dir=tmp_path, **SMALL)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("9" * 5000, "integer literal of 5000 digits"),
        ("[" * 50_000 + "]" * 50_000, "nested too deep"),
    ],
)
def test_grid_encoding_params_refuse_hostile_json_in_one_line(value, message):
    """Issue 15 case 16 for gfxnn sweep: these gave a ValueError / RecursionError traceback."""
    with pytest.raises(SweepError, match=message) as caught:
        parse_grid([f"encoding_params.x={value}"])
    assert len(str(caught.value)) < 200
    assert parse_grid(["encoding_params.interpolation=Smoothstep"]) == {
        "encoding_params.interpolation": ["Smoothstep"]
    }


def test_contact_sheet_opens_trial_predictions_as_png_only(tmp_path, monkeypatch):
    """A planted prediction.png (EPS runs Ghostscript in Pillow's EPS plugin; a FIFO blocks
    open()) is shown as a missing tile; the EPS plugin is never asked."""
    import os
    import types

    from PIL import EpsImagePlugin, Image

    from gfxnn.apps.sweep import sheet

    asked: list[str] = []
    monkeypatch.setattr(EpsImagePlugin.EpsImageFile, "_open", lambda self: asked.append("eps"))
    trial = types.SimpleNamespace(dir_name="t0")
    (tmp_path / "t0").mkdir()
    target = tmp_path / "t0" / sheet.PREDICTION_FILE
    for plant in ("eps", "fifo"):
        if plant == "eps":
            target.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 8 8\n")
        else:
            target.unlink()
            os.mkfifo(target)
        tile = sheet._prediction(tmp_path, trial, {"status": "done"})
        assert tile.getpixel((0, 0)) == sheet.MISSING
    assert asked == []
    target.unlink()
    Image.new("RGB", (8, 8), (255, 0, 0)).save(target)
    shown = sheet._prediction(tmp_path, trial, {"status": "done"})
    assert shown.getpixel((shown.width // 2, shown.height // 2)) != sheet.MISSING
