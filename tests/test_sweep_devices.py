"""gfxnn sweep --device / --gpus-per-trial: a WebGPU sweep records its device and adapter, a
missing GPU is exit 2 with nothing written, and each trial asks Ray for its GPU share.

The WebGPU sweep runs on whatever adapter there is (Mesa's lavapipe on a CPU-only machine:
slow, so 1 tiny image, 2 trials, 10 steps); without one it skips, and fails in CI
(GFXNN_REQUIRE_SHADER_TOOLS=1).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from webgpu_reference import require_webgpu

from gfxnn.apps.sweep import SweepError, run_sweep
from gfxnn.apps.sweep.executors import available_cpus, local_slots, ray_task_options
from gfxnn.cli import main

TINY = {"bundled_size": 16, "show_progress": False, "steps": 10}


def test_a_webgpu_sweep_records_the_device_and_adapter(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))  # lavapipe warns without one
    require_webgpu()
    from gfxnn.webgpu import get_gpu

    grid = {"learning_rate": [1e-2, 3e-2], "batch_size": [256]}
    result = run_sweep(["circle"], grid=grid, device="webgpu", out_dir=tmp_path / "gpu", **TINY)
    assert [row["status"] for row in result.rows] == ["ok", "ok"]
    for row in result.rows:
        assert row["device"] == "webgpu" and row["adapter"] == get_gpu().name
        assert row["steps"] == 10 and np.isfinite(row["psnr"])
        metrics = json.loads((tmp_path / "gpu" / row["dir"] / "metrics.json").read_text())
        assert metrics["adapter"] == get_gpu().name and metrics["device"] == "webgpu"
        config = json.loads((tmp_path / "gpu" / row["dir"] / "config.json").read_text())
        assert config["run"]["device"] == "webgpu"
    document = json.loads((tmp_path / "gpu" / "results.json").read_text())
    assert document["sweep"]["device"] == "webgpu" and document["sweep"]["gpus_per_trial"] == 1
    header = (tmp_path / "gpu" / "results.csv").read_text().splitlines()[0].split(",")
    assert {"device", "adapter"} <= set(header)
    # The same sweep on the CPU in the same directory: the WebGPU runs are not its results.
    again = run_sweep(["circle"], grid=grid, device="cpu", out_dir=tmp_path / "gpu", **TINY)
    assert again.reused == 0
    assert [row["device"] for row in again.rows] == ["cpu", "cpu"]
    assert all(row["adapter"] is None for row in again.rows)


def test_a_missing_gpu_is_exit_2_with_nothing_written(tmp_path, capsys, monkeypatch):
    import gfxnn.gpu
    import gfxnn.webgpu
    from gfxnn.webgpu import NoAdapterError

    monkeypatch.setattr(gfxnn.gpu, "available", lambda: False)  # as on a machine without one

    def no_adapter():
        raise NoAdapterError("no WebGPU adapter found")

    monkeypatch.setattr(gfxnn.webgpu, "get_gpu", no_adapter)
    for device, named in (("cuda", "--device cuda"), ("webgpu", "no WebGPU adapter")):
        out = tmp_path / device
        code = main(["sweep", "circle", "--device", device, "--out", str(out), "--quiet"])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and named in err, err
        assert not out.exists()
    # auto without a CUDA GPU trains on the CPU, and says so.
    result = run_sweep(["circle"], device="auto", out_dir=tmp_path / "auto", **TINY)
    assert result.rows[0]["device"] == "cpu" and result.rows[0]["status"] == "ok"


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--device", "webgpu", "--gpus-per-trial", "0"], "got 0.0"),
        (["--device", "webgpu", "--gpus-per-trial", "2"], "got 2.0"),
        (["--device", "cuda", "--gpus-per-trial", "nan"], "got nan"),
        (["--gpus-per-trial", "0.5"], "needs a GPU --device"),
        (["--device", "tpu"], "tpu"),
    ],
)
def test_bad_gpu_shares_are_one_line(argv, named, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["sweep", "circle", *argv, "--out", str(out), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and named in err, err
    assert not out.exists()


def test_ray_task_options_carry_the_gpu_share():
    assert ray_task_options("cpu", 1.0, 8) == {"num_cpus": 1, "max_retries": 0}
    assert ray_task_options("cuda", 0.25, 2) == {"num_cpus": 1, "max_retries": 0, "num_gpus": 0.25}
    assert ray_task_options("webgpu", 1.0, 1)["num_gpus"] == 1.0
    # A software adapter on a cluster without GPUs shares the CPUs; CUDA would wait forever.
    assert "num_gpus" not in ray_task_options("webgpu", 0.5, 0)
    with pytest.raises(SweepError, match="no GPU resource"):
        ray_task_options("cuda", 1.0, 0)


def test_local_gpu_trials_run_one_per_gpu_share():
    assert local_slots("cuda", None, 1.0) == 1
    assert local_slots("webgpu", None, 0.25) == 4
    assert local_slots("cuda", None, 0.3) == 3
    assert local_slots("cuda", 5, 1.0) == 5  # --workers decides when given
    assert local_slots("cpu", None, 1.0) == available_cpus()


def test_the_ray_executor_builds_its_task_with_the_options():
    ray = pytest.importorskip("ray")
    from gfxnn.apps.sweep.executors import RayExecutor

    started = not ray.is_initialized()
    if started:
        ray.init(num_cpus=2, num_gpus=2, include_dashboard=False, logging_level="WARNING")
    try:
        gpus = ray.cluster_resources().get("GPU", 0)
        if gpus == 0:
            pytest.skip("the running Ray has no GPU resource")
        executor = RayExecutor(device="cuda", gpus_per_trial=0.5)
        assert executor.options["num_gpus"] == 0.5
        assert executor.slots == int(gpus / 0.5)
        executor.close()
    finally:
        if started:
            ray.shutdown()
