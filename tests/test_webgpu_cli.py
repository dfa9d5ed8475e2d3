"""`gfxnn fit --device webgpu`: the adapter's name on stderr and in metrics.json, the same
outputs as a CPU run; without an adapter one line, exit 2, nothing written."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from webgpu_reference import require_webgpu

from gfxnn.cli import main


@pytest.fixture
def image_path(tmp_path: Path) -> Path:
    y, x = np.mgrid[0:24, 0:32]
    pixels = np.stack([x * 7, y * 10, (x + y) * 4], axis=-1).astype(np.uint8)
    path = tmp_path / "small.png"
    Image.fromarray(pixels).save(path)
    return path


def test_fit_on_webgpu_names_the_adapter(tmp_path: Path, image_path: Path, capsys) -> None:
    require_webgpu()
    from gfxnn.webgpu import get_gpu

    out = tmp_path / "run"
    argv = [
        "fit",
        str(image_path),
        "--out",
        str(out),
        "--steps",
        "20",
        "--quiet",
        "--device",
        "webgpu",
    ]
    code = main([*argv, "--batch-size", "128", "--n-neurons", "16"])
    assert code == 0
    err = capsys.readouterr().err
    assert f"WebGPU adapter {get_gpu().name}" in err
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["adapter"] == get_gpu().name
    assert metrics["steps"] == 20 and np.isfinite(metrics["psnr"])
    for name in ("checkpoint.safetensors", "comparison.png", "prediction.png"):
        assert (out / name).is_file(), name


def test_fit_on_webgpu_without_an_adapter_writes_nothing(
    tmp_path: Path, image_path: Path, capsys, monkeypatch
) -> None:
    import gfxnn.webgpu
    from gfxnn.webgpu import NoAdapterError

    def no_adapter():  # what get_gpu raises on a machine with no Vulkan/Metal/DX12 driver
        raise NoAdapterError("no WebGPU adapter found (test)")

    monkeypatch.setattr(gfxnn.webgpu, "get_gpu", no_adapter)
    out = tmp_path / "run"
    code = main(["fit", str(image_path), "--out", str(out), "--steps", "5", "--device", "webgpu"])
    assert code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--device webgpu: no WebGPU adapter found" in err
    assert not out.exists()


# ----- gfxnn bench --device webgpu ----------------------------------------------------------
BENCH_TINY = ["bench", "--device", "webgpu", "--steps", "2", "--repeats", "1", "--warmup", "1"]


def test_bench_on_webgpu_prints_the_adapter_and_a_ratio(tmp_path: Path, capsys) -> None:
    require_webgpu()
    pytest.importorskip("torch")
    from gfxnn.webgpu import get_gpu

    results = tmp_path / "bench.json"
    code = main([*BENCH_TINY, "--batch-size", "128", "--json", str(results)])
    assert code == 0
    captured = capsys.readouterr()
    lines = {
        k.strip(): v.strip() for k, _, v in (x.partition(":") for x in captured.out.splitlines())
    }
    assert lines["device"] == f"webgpu: {get_gpu().name}"
    assert float(lines["ratio"].split()[0]) > 0  # a number: PyTorch ran beside it
    saved = json.loads(results.read_text())
    assert saved["device"] == "webgpu" and saved["torch_device"] in ("cpu", "cuda")
    assert saved["libraries"]["gfxnn"]["steps_per_repeat"] == 2
    assert saved["gfxnn_blas_threads"] is None  # shaders, not BLAS
    assert f"WebGPU adapter {get_gpu().name}" in captured.err


def test_bench_on_webgpu_without_an_adapter_is_one_line(capsys, monkeypatch) -> None:
    import gfxnn.webgpu
    from gfxnn.webgpu import NoAdapterError

    def no_adapter():
        raise NoAdapterError("no WebGPU adapter found (test)")

    monkeypatch.setattr(gfxnn.webgpu, "get_gpu", no_adapter)
    assert main(BENCH_TINY) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "--device webgpu: no WebGPU adapter found" in err


# ----- gfxnn studio --device webgpu ---------------------------------------------------------
def test_studio_session_trains_on_webgpu_and_renders_frames(tmp_path: Path) -> None:
    require_webgpu()
    from gfxnn.apps.studio.session import TrainingSession
    from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled
    from gfxnn.imagefit import FitSettings
    from gfxnn.webgpu import get_gpu

    image = LoadedImage(load_bundled("astronaut", 32), bundled_image_source("astronaut"))
    settings = FitSettings(batch_size=128, n_neurons=16, n_frequencies=4)
    # paused: learning is on at start now; this test counts the steps it asks for
    session = TrainingSession(
        image, settings, out_dir=tmp_path / "out", device="webgpu", paused=True
    )
    try:
        first = session.snapshot()
        assert first["device"] == f"WebGPU: {get_gpu().name}" and first["steps"] == 0
        session.start()
        assert session.step(30) == 30
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the frame of the trained weights, rendered on the CPU
            state = session.snapshot()
            if state["steps"] == 30 and state["psnr"] is not None and session.frame()[0] >= 2:
                break
            time.sleep(0.05)
        state = session.snapshot()
        assert state["steps"] == 30 and state["error"] is None
        losses = [value for _, value in state["history"]["loss"]]
        assert len(losses) >= 2 and losses[-1] < losses[0]  # the shaders trained it
        assert state["psnr"] is not None and np.isfinite(state["psnr"])
        assert session.frame()[1].startswith(b"\x89PNG")
        full = session.prediction_png()  # the full-resolution render, by the WebGPU trainer
        assert full.startswith(b"\x89PNG") and len(full) > 100
        saved = session.save_checkpoint()  # WebGPU weights in the CPU's checkpoint format
        assert saved.path.is_file()
    finally:
        session.close()


def test_studio_on_webgpu_without_an_adapter_is_one_line_and_writes_nothing(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    pytest.importorskip("starlette")
    pytest.importorskip("uvicorn")
    import gfxnn.webgpu
    from gfxnn.webgpu import NoAdapterError

    def no_adapter():
        raise NoAdapterError("no WebGPU adapter found (test)")

    monkeypatch.setattr(gfxnn.webgpu, "get_gpu", no_adapter)
    out = tmp_path / "out"
    assert main(["studio", "circle", "--device", "webgpu", "--port", "1", "--out", str(out)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "--device webgpu: no WebGPU adapter found" in err
    assert not out.exists()
