"""The GPU path's Warp kernels against the NumPy fused path.

CI has no GPU: everything runs on Warp's CPU device, which compiles the very same kernels; on a
machine with CUDA the same tests also run on the GPU ("cuda" joins DEVICES). Kernels compile
once per tile shape, so the tests share a few network shapes.
"""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest

wp = pytest.importorskip("warp")

from gfxnn import gpu  # noqa: E402
from gfxnn.fused import FusedTrainer  # noqa: E402
from gfxnn.gpu.activations import ACTIVATION_IDS  # noqa: E402
from gfxnn.gpu.trainer import GpuTrainer  # noqa: E402
from gfxnn.imagefit import DivergenceError, FitSettings, ImageFitter, build_fused_trainer  # noqa: E402

# CPU builds for tests only: LLVM's default inlining and -O1 compile ~3x faster than Warp's
# defaults; the arithmetic (IEEE float32, no fast-math) is the same.
wp.config.cpu_compiler_flags = "-march=native"
wp.config.optimization_level = 1

DEVICES = ["cpu"] + (["cuda"] if gpu.available() else [])
# On CUDA, tile_matmul through cuBLASDx takes minutes to compile per module; the tests use
# Warp's scalar tile GEMM there unless GFXNN_TEST_MATHDX=1 (the benchmark checks cuBLASDx).
BACKEND = {"cpu": {}, "cuda": {"mathdx": os.environ.get("GFXNN_TEST_MATHDX") == "1"}}
BATCH = 100  # not a multiple of the tile rows: the padding is exercised
SMALL = {"n_frequencies": 2, "n_layers": 4, "n_neurons": 16, "batch_size": BATCH}


def fused_twin(settings: FitSettings) -> FusedTrainer:
    """The NumPy fused trainer with the weights GpuTrainer starts from."""
    return build_fused_trainer(settings)


def run_both(settings: FitSettings, device: str, steps: int = 3) -> tuple[GpuTrainer, FusedTrainer]:
    """`steps` steps of both paths on identical random batches, checking loss and gradients."""
    gpu_trainer = GpuTrainer(settings, device=device, **BACKEND[device])
    fused = fused_twin(settings)
    np.testing.assert_array_equal(gpu_trainer.parameters(), fused.mlp.params)
    rng = np.random.default_rng(7)
    for _ in range(steps):
        uv = rng.random((settings.batch_size, 2), dtype=np.float32)
        target = rng.random((settings.batch_size, 3), dtype=np.float32)
        loss_gpu = gpu_trainer.compute_gradients(uv, target)
        loss_cpu = fused.compute_gradients(uv, target)
        assert loss_gpu == pytest.approx(loss_cpu, rel=1e-5)
        grads = gpu_trainer.gradients()
        scale = np.abs(fused.mlp.grads).max()
        np.testing.assert_allclose(grads, fused.mlp.grads, rtol=1e-4, atol=1e-5 * scale)
        gpu_trainer.update()
        fused.update()
    return gpu_trainer, fused


def assert_params_close(gpu_trainer: GpuTrainer, fused: FusedTrainer) -> None:
    np.testing.assert_allclose(gpu_trainer.parameters(), fused.mlp.params, rtol=1e-5, atol=2e-6)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("encoding", ["frequency", "identity"])
@pytest.mark.parametrize("activation", sorted(ACTIVATION_IDS))
def test_adam_steps_match_fused_path(device: str, encoding: str, activation: str) -> None:
    settings = FitSettings(**SMALL, encoding=encoding, activation=activation, learning_rate=1e-2)
    assert_params_close(*run_both(settings, device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("activation", ["leaky_relu", "sigmoid", "sine"])
def test_sgd_steps_match_fused_path(device: str, activation: str) -> None:
    settings = FitSettings(**SMALL, activation=activation, optimizer="sgd", learning_rate=0.5)
    assert_params_close(*run_both(settings, device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_layers", [3, 5])
def test_layer_counts_output_activation_and_l2_reg(device: str, n_layers: int) -> None:
    settings = FitSettings(
        **{**SMALL, "n_layers": n_layers},
        activation="relu",
        output_activation="none",
        l2_reg=1e-3,
        learning_rate=1e-2,
    )
    assert_params_close(*run_both(settings, device))


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("encoding", ["frequency", "identity"])
def test_render_matches_fused_path(device: str, encoding: str) -> None:
    settings = FitSettings(**SMALL, encoding=encoding, activation="tanh", learning_rate=1e-2)
    gpu_trainer, fused = run_both(settings, device, steps=2)
    for width, height in [(13, 7), (1, 1), (70, 3)]:
        ours = gpu_trainer.render(width, height)
        assert ours.shape == (height, width, 3)
        np.testing.assert_allclose(ours, fused.render(width, height), rtol=1e-5, atol=1e-6)


def _image(height: int = 5, width: int = 7) -> np.ndarray:
    return np.random.default_rng(3).random((height, width, 3), dtype=np.float32)


@pytest.mark.parametrize("device", DEVICES)
def test_device_sampler_draws_uniform_uvs_and_nearest_texels(device: str) -> None:
    image = _image()
    settings = FitSettings(**{**SMALL, "batch_size": 4096}, activation="relu")
    trainer = GpuTrainer(settings, image, device=device, **BACKEND[device])
    draws = []
    for _ in range(2):
        trainer.train(1)
        uv = trainer.uv.numpy()[:4096].copy()  # on the CPU, numpy() is a view
        target = trainer.target.numpy()[:4096, :3]
        assert uv.min() >= 0.0 and uv.max() < 1.0
        x = np.minimum((uv[:, 0] * 7).astype(int), 6)
        y = np.minimum((uv[:, 1] * 5).astype(int), 4)
        np.testing.assert_array_equal(target, image[y, x])
        # uniform: each of 8 bins per axis holds 1/8 of the draws within ~5 sigma
        for axis in range(2):
            counts = np.histogram(uv[:, axis], bins=8, range=(0, 1))[0]
            assert np.all(np.abs(counts - 512) < 5 * math.sqrt(512))
        assert abs(np.corrcoef(uv[:, 0], uv[:, 1])[0, 1]) < 0.06
        draws.append(uv)
    assert not np.array_equal(draws[0], draws[1])  # each step draws a fresh batch


@pytest.mark.parametrize("device", DEVICES)
def test_device_loop_step_equals_fused_step_on_its_batch(device: str) -> None:
    """One step of the on-device loop (sample, train, Adam, no host sync) is the fused path's
    step on the batch the device drew."""
    settings = FitSettings(**SMALL, activation="leaky_relu", learning_rate=1e-2)
    trainer = GpuTrainer(settings, _image(), device=device, **BACKEND[device])
    fused = fused_twin(settings)
    for _ in range(3):
        trainer.train(1)
        uv = trainer.uv.numpy()[:BATCH]
        target = trainer.target.numpy()[:BATCH, :3]
        loss = fused.compute_gradients(uv, target)
        fused.update()
        (device_loss,) = trainer.read_losses()
        assert device_loss == pytest.approx(loss, rel=1e-5)
    assert_params_close(trainer, fused)
    assert trainer.diverged_at() == 0


def test_loss_ring_wraps_without_losing_losses() -> None:
    settings = FitSettings(**SMALL, activation="relu")
    trainer = GpuTrainer(settings, _image(), device="cpu", loss_slots=4)
    trainer.train(10)
    losses = trainer.read_losses()
    assert len(losses) == 10 and all(math.isfinite(v) and v > 0 for v in losses)
    assert trainer.read_losses() == []


def test_fitter_trains_like_the_cpu_fitter() -> None:
    image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    image = np.clip(image * 0.2 + np.linspace(0, 0.8, 16)[None, :, None], 0, 1).astype(np.float32)
    settings = FitSettings(n_layers=4, n_neurons=16, batch_size=256, n_frequencies=2, seed=1)
    fitter = gpu.GpuImageFitter(image, settings, device="cpu")
    reference = ImageFitter(image, settings)
    np.testing.assert_allclose(fitter.predict(), reference.predict(), rtol=1e-5, atol=1e-6)
    start = fitter.psnr()
    fitter.step(150)
    reference.step(150)
    assert len(fitter.loss_history) == 150 and fitter.steps == 150
    assert fitter.psnr() > start + 5
    assert fitter.psnr() == pytest.approx(reference.psnr(), abs=1.0)
    state = fitter.state_dict()
    assert set(state) == set(reference.state_dict())
    reference.load_state_dict(state)
    np.testing.assert_allclose(fitter.predict(), reference.predict(), rtol=1e-5, atol=1e-6)


def test_divergence_freezes_weights_and_raises() -> None:
    settings = FitSettings(**SMALL, optimizer="sgd", learning_rate=1e6, activation="relu")
    fitter = gpu.GpuImageFitter(_image(), settings, device="cpu")
    with pytest.raises(DivergenceError, match="diverged at step"):
        fitter.step(20)
    diverged = fitter._trainer.diverged_at()
    assert 1 < diverged <= 20
    history = fitter.loss_history  # readable after the error, without the diverged steps
    assert len(history) == diverged - 1 and all(math.isfinite(v) for v in history)
    assert np.all(np.isfinite(fitter._trainer.parameters()))
    state = fitter.state_dict()
    with pytest.raises(DivergenceError):
        fitter.step(1)  # the weights stay frozen at the last good step
    np.testing.assert_array_equal(fitter.state_dict()["layers.0.weight"], state["layers.0.weight"])


def test_rejects_what_the_gpu_path_lacks() -> None:
    with pytest.raises(ValueError, match="encodings"):
        GpuTrainer(FitSettings(encoding="oneblob"), device="cpu")
    with pytest.raises(ValueError, match="L2"):
        GpuTrainer(FitSettings(loss="l1"), device="cpu")
    with pytest.raises(ValueError, match="device"):
        GpuTrainer(FitSettings(), device="metal")
    assert isinstance(gpu.available(), bool)
    assert gpu.device_name("cpu") == "Warp CPU"


def _benchmark_module():
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu.py"
    spec = importlib.util.spec_from_file_location("gfxnn_benchmark_gpu", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_benchmark_cpu_smoke(tmp_path, capsys) -> None:
    pytest.importorskip("torch")
    benchmark = _benchmark_module()
    out = tmp_path / "gpu.json"
    args = ["--cpu-smoke", "--cases", "acd", "--quality-steps", "2", "--json", str(out)]
    assert benchmark.main(args) == 0
    printed = capsys.readouterr().out
    assert "| (a) default, batch 2048 | gfxnn graph fp16 rows=64 |" in printed
    assert "| (c) inference 512x512 | torch eager |" in printed
    import json

    report = json.loads(out.read_text())
    assert report["agreement"]["fp32 rows=64"]["weights"] < 1e-5
    assert report["agreement"]["fp16 rows=64"]["loss"] < 1e-3  # fp16 operands, see above
    assert {row["case"] for row in report["rows"]} >= {"(a) default, batch 65536"}
    if not gpu.available():
        assert benchmark.main([]) == 2
        assert "needs a CUDA GPU" in capsys.readouterr().err


def _half(a: np.ndarray) -> np.ndarray:
    return a.astype(np.float16).astype(np.float32)


def fp16_reference_gradients(fused: FusedTrainer, target: np.ndarray) -> np.ndarray:
    """The gradients of mixed precision, in NumPy: every product's operands rounded to float16,
    float32 sums (leaky ReLU; `fused` has just run compute_gradients on this batch)."""
    mlp = fused.mlp
    inputs, pre = [], []
    a = fused._features
    for weight, bias in zip(mlp.weights, mlp.biases, strict=True):
        inputs.append(a)
        z = _half(a) @ _half(weight).T + bias
        pre.append(z)
        a = np.maximum(z, np.float32(0.01) * z)
    slope = [np.where(z > 0, 1.0, 0.01).astype(np.float32) for z in pre]
    grad_z = (a - target) * slope[-1]
    grads: list[np.ndarray] = []
    for layer in range(mlp.n_layers - 1, -1, -1):
        grads[:0] = [(_half(grad_z).T @ _half(inputs[layer])).ravel(), grad_z.sum(0)]
        if layer:
            grad_z = (_half(grad_z) @ _half(mlp.weights[layer])) * slope[layer - 1]
    return np.concatenate(grads) * np.float32(2.0 / target.size)


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("n_frequencies", [2, 8])
def test_fp16_gradients_are_mixed_precision_of_the_fused_path(
    device: str, n_frequencies: int
) -> None:
    """fp16 computes exactly "float16 operands, float32 accumulation": it matches that
    arithmetic emulated in NumPy to float32 rounding, while it differs from fp32 by up to a few
    percent (leaky ReLU's slope flips where float16 moves z across 0)."""
    settings = FitSettings(**{**SMALL, "n_frequencies": n_frequencies}, activation="leaky_relu")
    trainer = GpuTrainer(settings, device=device, precision="fp16", **BACKEND[device])
    fused = fused_twin(settings)
    rng = np.random.default_rng(5)
    uv = rng.random((BATCH, 2), dtype=np.float32)
    target = rng.random((BATCH, 3), dtype=np.float32)
    loss = trainer.compute_gradients(uv, target)
    assert loss == pytest.approx(fused.compute_gradients(uv, target), rel=1e-3)
    expected = fp16_reference_gradients(fused, target)
    gradients = trainer.gradients()
    assert np.linalg.norm(gradients - expected) / np.linalg.norm(expected) < 1e-5
    assert not np.allclose(gradients, fused.mlp.grads, rtol=1e-5, atol=0)  # it is fp16
    trainer.update()
    fused.update()
    np.testing.assert_allclose(trainer.render(13, 7), fused.render(13, 7), atol=5e-2)


def test_fp16_fitter_reaches_the_fp32_quality() -> None:
    image = np.random.default_rng(0).random((16, 16, 3), dtype=np.float32)
    image = np.clip(image * 0.2 + np.linspace(0, 0.8, 16)[None, :, None], 0, 1).astype(np.float32)
    settings = FitSettings(n_layers=4, n_neurons=16, batch_size=256, n_frequencies=2, seed=1)
    results = []
    for precision in ("fp32", "fp16"):
        fitter = gpu.GpuImageFitter(image, settings, device="cpu", precision=precision)
        fitter.step(150)
        results.append(fitter.psnr())
    assert results[1] == pytest.approx(results[0], abs=0.5)
