"""`gfxnn fit --device webgpu`: the adapter's name on stderr and in metrics.json, the same
outputs as a CPU run; without an adapter one line, exit 2, nothing written."""

from __future__ import annotations

import json
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
