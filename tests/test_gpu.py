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


# ----- the optimizer kernels are the pure rules of gfxnn.optim.functional -------------------
def _run_optimizer_kernel(kernel_name: str, steps: int, l2_reg: float) -> list[np.ndarray]:
    """`steps` launches of the Warp Adam/SGD kernel on Warp's CPU device, with the same
    gradients as the NumPy rule gets; returns [params, m, v] after each."""
    from gfxnn.gpu import optim

    rng = np.random.default_rng(0)
    n = 257
    params = wp.array(rng.standard_normal(n).astype(np.float32), device="cpu")
    m = wp.zeros(n, dtype=wp.float32, device="cpu")
    v = wp.zeros(n, dtype=wp.float32, device="cpu")
    counters = wp.zeros(3, dtype=wp.int32, device="cpu")
    losses = wp.zeros(4, dtype=wp.float32, device="cpu")
    history = []
    for t in range(1, steps + 1):
        g = (rng.standard_normal(n) * 10.0 ** rng.uniform(-6, 2, n)).astype(np.float32)
        grads = wp.array(g, device="cpu")
        counters.assign(np.array([t - 1, t, 0], np.int32))  # the training kernel's job
        no_clip = [0, 0.5, wp.ones(1, dtype=wp.float32, device="cpu")]
        if kernel_name == "adam":
            rate = wp.array([1e-2], dtype=wp.float64, device="cpu")
            inputs = [params, grads, m, v, rate, 0.9, 0.999, 1e-8, l2_reg, 1.0, *no_clip, 0]
        else:
            rate = wp.array([0.5], dtype=wp.float64, device="cpu")
            inputs = [params, grads, rate, l2_reg, 1.0, *no_clip]
        kernel = getattr(optim, f"{kernel_name}_step")
        wp.launch(kernel, dim=n, inputs=[*inputs, counters, losses], device="cpu")
        history.append((g, params.numpy().copy(), m.numpy().copy(), v.numpy().copy()))
        assert not grads.numpy().any()  # each thread zeroes its gradient
    return history


@pytest.mark.parametrize("l2_reg", [0.0, 1e-2])
def test_adam_kernel_is_the_functional_adam_update(l2_reg: float) -> None:
    from gfxnn.optim.functional import adam_update

    history = _run_optimizer_kernel("adam", 30, l2_reg)
    params = np.random.default_rng(0).standard_normal(257).astype(np.float32)
    m, v = np.zeros_like(params), np.zeros_like(params)
    for t, (g, device_params, device_m, device_v) in enumerate(history, start=1):
        adam_update(
            params, g, m, v, step=t, lr=1e-2, beta1=0.9, beta2=0.999, eps=1e-8,
            weight_decay=l2_reg, decoupled_weight_decay=False,
        )  # fmt: skip
        # The same operations in the same order: equal up to a fused multiply-add.
        np.testing.assert_allclose(device_m, m, rtol=1e-6, atol=1e-12)
        np.testing.assert_allclose(device_v, v, rtol=1e-6, atol=1e-20)
        np.testing.assert_allclose(device_params, params, rtol=1e-6, atol=1e-7)


def test_sgd_kernel_is_the_functional_sgd_update() -> None:
    from gfxnn.optim.functional import sgd_update

    history = _run_optimizer_kernel("sgd", 5, 1e-2)
    params = np.random.default_rng(0).standard_normal(257).astype(np.float32)
    for g, device_params, _, _ in history:
        sgd_update(
            params, g, None, lr=0.5, momentum=0.0, dampening=0.0, nesterov=False,
            weight_decay=1e-2,
        )  # fmt: skip
        np.testing.assert_allclose(device_params, params, rtol=1e-6, atol=1e-7)


# ----- the Trainer interface, built from a ModelSpec -----------------------------------------
def test_gpu_trainer_is_a_trainer_built_from_a_spec() -> None:
    from gfxnn.fields.targets import ImageTarget
    from gfxnn.fields.trainer import ModelSpec, OptimizerSpec, Trainer
    from gfxnn.fused import make_trainer

    settings = FitSettings(**SMALL, activation="tanh", learning_rate=1e-2)
    spec = settings.model_spec()
    assert spec.encoding == {"otype": "Frequency", "n_frequencies": 2}
    trainer = GpuTrainer(spec, ImageTarget(_image()), device="cpu")
    assert isinstance(trainer, Trainer)
    fused = make_trainer(spec)
    for name, value in fused.state_dict().items():
        np.testing.assert_array_equal(trainer.state_dict()[name], value)
    trainer.train(3, BATCH)
    assert len(trainer.read_losses()) == 3
    assert trainer.timings_ms() == {}
    fused.load_state_dict(trainer.state_dict())
    np.testing.assert_allclose(trainer.render((7, 13)), fused.render((7, 13)), rtol=1e-5, atol=1e-6)
    uv = np.random.default_rng(4).random((9, 2), dtype=np.float32)
    np.testing.assert_allclose(trainer.infer(uv), fused.infer(uv), rtol=1e-6)
    # set_learning_rates keeps the moments; load_state_dict restarts them
    moments = trainer.m.numpy().copy()
    trainer.set_learning_rates(1e-3, None)
    np.testing.assert_array_equal(trainer.m.numpy(), moments)
    assert trainer.learning_rate == 1e-3
    trainer.load_state_dict(fused.state_dict())
    assert not trainer.m.numpy().any()
    with pytest.raises(ValueError, match=r"layers\.0\.weight has shape"):
        trainer.load_state_dict({**fused.state_dict(), "layers.0.weight": np.zeros((2, 2))})
    with pytest.raises(ValueError, match="2 inputs and 3 outputs"):
        GpuTrainer(ModelSpec(n_output_dims=1), device="cpu")
    with pytest.raises(ValueError, match="encodings"):
        GpuTrainer(ModelSpec(encoding={"otype": "Identity", "scale": 2.0}), device="cpu")
    with pytest.raises(ValueError, match="adam or sgd"):
        GpuTrainer(ModelSpec(optimizer=OptimizerSpec("rmsprop")), device="cpu")


def test_gpu_read_losses_stop_before_the_diverged_step() -> None:
    from gfxnn.fields.trainer import ModelSpec, OptimizerSpec

    spec = ModelSpec(
        encoding={"otype": "Frequency", "n_frequencies": 2},
        n_neurons=16,
        optimizer=OptimizerSpec("sgd", learning_rate=1e6),
    )
    trainer = GpuTrainer(spec, _image(), device="cpu")
    trainer.train(20, BATCH)
    diverged = trainer.diverged_at()
    assert diverged > 1
    losses = trainer.read_losses()
    assert len(losses) == diverged - 1 and all(math.isfinite(v) for v in losses)
