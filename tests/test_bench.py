"""`gfxnn bench`: its output parses, the ratio is gfxnn's speed over PyTorch's, bad input is
one line. Runs in its tiniest mode (2 steps per repeat, 1 repeat): speed itself is measured
by running the command (docs/cli.md), not asserted here."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gfxnn.apps import bench
from gfxnn.cli import main

TINY = ["bench", "--device", "cpu", "--steps", "2", "--repeats", "1", "--warmup", "1"]


def _rows(out: str) -> dict[str, float]:
    """library -> steps/s from the table lines `NAME  STEPS_PER_S  STEPS_PER_REPEAT`."""
    rows = {}
    for line in out.splitlines():
        match = re.fullmatch(r"(gfxnn|torch)\s+([0-9.]+)\s+([0-9]+)", line.strip())
        if match:
            rows[match[1]] = float(match[2])
    return rows


def _fields(out: str) -> dict[str, str]:
    """`key: value` lines."""
    return {
        key.strip(): value.strip()
        for key, sep, value in (line.partition(":") for line in out.splitlines())
        if sep and key.strip().isalpha()
    }


def test_tiny_run_prints_both_libraries_the_ratio_and_the_device(tmp_path: Path, capsys) -> None:
    pytest.importorskip("torch")
    results_file = tmp_path / "bench.json"
    assert main([*TINY, "--json", str(results_file)]) == 0
    out = capsys.readouterr().out
    rows, fields = _rows(out), _fields(out)
    assert set(rows) == {"gfxnn", "torch"} and all(rate > 0 for rate in rows.values())
    ratio = float(fields["ratio"].split()[0])  # a number, not "n/a"
    assert ratio > 0
    assert fields["device"].startswith("cpu: ") and bench.cpu_model() in fields["device"]
    assert "logical CPUs" in fields["device"]
    assert re.search(r"gfxnn BLAS \d+, torch \d+", fields["threads"])
    assert "batch 2048" in fields["fit"]  # Dx12NN's default, read from the settings
    saved = json.loads(results_file.read_text())
    assert saved["ratio"] == pytest.approx(ratio, abs=0.005)
    assert saved["libraries"]["gfxnn"]["steps_per_repeat"] == 2
    assert f"wrote {results_file}" in out


def test_without_torch_gfxnn_alone_and_the_ratio_says_why(capsys) -> None:
    assert main([*TINY, "--no-torch"]) == 0
    out = capsys.readouterr().out
    assert set(_rows(out)) == {"gfxnn"}
    assert _fields(out)["ratio"].startswith("n/a (")


class _Sleeper:
    """A trainer whose step costs `seconds` per step (stands in for one library)."""

    def __init__(self, seconds: float, *args: object, **kwargs: object) -> None:
        self.seconds = seconds
        self.blas_threads = 1

    def step(self, n: int = 1) -> float:
        time.sleep(self.seconds * n)
        return 0.0


def test_the_ratio_is_gfxnn_over_torch(monkeypatch) -> None:
    """gfxnn three times as fast as the baseline gives a ratio of about 3, not 1/3."""
    pytest.importorskip("torch")
    import gfxnn.apps.torch_fit

    monkeypatch.setattr(bench, "make_fitter", lambda *args, **kwargs: _Sleeper(0.02))
    monkeypatch.setattr(gfxnn.apps.torch_fit, "TorchFit", lambda *a, **k: _Sleeper(0.06))
    results = bench.measure("cpu", steps=2, repeats=3, warmup=1)
    assert 2.0 < results["ratio"] < 3.5
    gfxnn_rate = results["libraries"]["gfxnn"]["steps_per_second"]
    torch_rate = results["libraries"]["torch"]["steps_per_second"]
    assert gfxnn_rate > torch_rate
    assert 20 < gfxnn_rate <= 50  # 2 steps of 20 ms: at most 50 steps/s


def test_calibrated_repeats_last_about_the_asked_time(monkeypatch) -> None:
    monkeypatch.setattr(bench, "make_fitter", lambda *args, **kwargs: _Sleeper(0.01))
    results = bench.measure("cpu", repeats=1, warmup=1, with_torch=False, repeat_seconds=0.2)
    assert 10 <= results["libraries"]["gfxnn"]["steps_per_repeat"] <= 20  # 0.2 s / 10 ms
    assert results["ratio"] is None


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--steps", "0"], "--steps: must be an integer >= 1"),
        (["--repeats", "x"], "--repeats: must be an integer >= 1"),
        (["--batch-size", "70000"], "batch_size must be in 1..65536"),
        (["--device", "tpu"], "invalid choice: 'tpu'"),
        (["--json", ""], "--json: must name a file"),
    ],
)
def test_bad_input_is_one_line(capsys, arguments: list[str], message: str) -> None:
    assert main(["bench", *arguments]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("gfxnn bench: error: ") and message in err, err


def test_cuda_without_a_gpu_is_refused_and_stdout_stays_clean() -> None:
    from gfxnn import gpu

    if gpu.available():
        pytest.skip("this machine has a CUDA GPU")
    # A fresh process: Warp prints its banner when it first initialises.
    command = [sys.executable, "-m", "gfxnn.cli", "bench", "--device", "cuda"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    assert done.stdout == ""  # not even Warp's start-up banner
    assert "--device cuda: no CUDA GPU found" in done.stderr
