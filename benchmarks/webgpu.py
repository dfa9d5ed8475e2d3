"""Benchmark: the WebGPU trainer (WGSL compute shaders) beside the CPU trainer and PyTorch.

Cases (issue 16):
  dx12nn    Dx12NN's default: frequency 8 octaves, 64 x 2 hidden, leaky ReLU, L2, Adam 1e-3,
            batch 2048;
  mlp64x4   the same maths with 4 hidden layers of 64 at batch 2^18;
  hashgrid  tiny-cuda-nn's image sample config (data/config_hash.json: HashGrid 16 levels x 2
            features, 2^15 entries, base 16, scale 1.5; 64 x 2 ReLU, output None, RelativeL2,
            Adam 1e-2 (0.9, 0.99, 1e-15), l2_reg 1e-6) at batch 2^18.
Each backend trains `--steps` steps on the bundled astronaut image (after one warm-up step,
which compiles the pipelines), median of `--repeats` timings; steps/s, samples/s, and the PSNR
of the full image after the same number of steps. PyTorch (CUDA when present, else CPU eager)
mirrors Dx12NN's maths only, so it has no hash-grid figure. The WebGPU adapter's name is printed:
on a machine without a GPU it is Mesa's lavapipe, a CPU Vulkan driver, and those figures say
nothing about a GPU.

`--agreement` prints the frequency encoding's agreement per backend (issue 16's
transcendentals): each against float64 sin(pi 2^k x), 16 octaves, 4096 random inputs.

    python benchmarks/webgpu.py                     # every case
    python benchmarks/webgpu.py --cases dx12nn --steps 200
    python benchmarks/webgpu.py --agreement
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Any

import numpy as np

from gfxnn.data.images import load_bundled
from gfxnn.fields.targets import ImageTarget
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec

FREQUENCY = {"otype": "Frequency", "n_frequencies": 8}
TCNN_GRID = {
    "otype": "HashGrid",
    "n_levels": 16,
    "n_features_per_level": 2,
    "log2_hashmap_size": 15,
    "base_resolution": 16,
    "per_level_scale": 1.5,
}
TCNN_ADAM = OptimizerSpec("adam", 1e-2, (0.9, 0.99), 1e-15, 1e-6)
CASES: dict[str, tuple[ModelSpec, int]] = {
    "dx12nn": (ModelSpec(encoding=FREQUENCY, n_neurons=64, n_hidden_layers=2), 2048),
    "mlp64x4": (ModelSpec(encoding=FREQUENCY, n_neurons=64, n_hidden_layers=4), 2**18),
    "hashgrid": (
        ModelSpec(
            encoding=TCNN_GRID,
            n_neurons=64,
            n_hidden_layers=2,
            activation="relu",
            output_activation="none",
            loss="relative_l2",
            optimizer=TCNN_ADAM,
            encoding_optimizer=OptimizerSpec("adam", 1e-2, (0.9, 0.99), 1e-15, 0.0),
        ),
        2**18,
    ),
}


def psnr(prediction: np.ndarray, reference: np.ndarray) -> float:
    mse = float(np.mean((np.clip(prediction, 0, 1) - reference) ** 2))
    return 10 * np.log10(1 / mse)


def time_trainer(trainer: Any, steps: int, batch: int, repeats: int) -> list[float]:
    """Seconds per step of `repeats` timings of `steps` steps each (after a warm-up step)."""
    trainer.train(1, batch)
    trainer.read_losses()  # waits for the device
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        trainer.train(steps, batch)
        trainer.read_losses()
        times.append((time.perf_counter() - start) / steps)
    return times


def torch_baseline(image: np.ndarray, spec: ModelSpec, batch: int, start: Any) -> Any:
    """PyTorch eager (CUDA when present) of a frequency/leaky-ReLU/Adam case, or None."""
    try:
        import torch

        from gfxnn.apps.torch_fit import TorchFit
        from gfxnn.fields.settings import FitSettings
    except ImportError:
        return None
    if spec.encoding["otype"] != "Frequency" or spec.loss != "l2":
        return None
    settings = FitSettings(
        batch_size=batch,
        n_layers=spec.n_hidden_layers + 2,
        n_neurons=spec.n_neurons,
        n_frequencies=spec.encoding["n_frequencies"],
        learning_rate=spec.optimizer.learning_rate,
    )
    device = "cuda" if torch.cuda.is_available() else "cpu"
    fit = TorchFit(image, start, settings, device=device)

    class Steps:  # the trainer interface time_trainer needs
        name = f"PyTorch eager ({device})"

        def train(self, n: int, batch_size: int) -> None:
            self.loss = fit.step(n)

        def read_losses(self) -> list[float]:
            return [self.loss]

        def render(self, shape: tuple[int, int]) -> np.ndarray:
            return fit.predict(shape[1], shape[0])

    return Steps()


def run_case(
    name: str, steps: int, repeats: int, image: np.ndarray, batch: int | None = None
) -> list[dict[str, Any]]:
    from gfxnn.fused import make_trainer
    from gfxnn.webgpu import WebGpuTrainer, get_gpu

    spec, case_batch = CASES[name]
    batch = batch or case_batch
    target = ImageTarget(image)
    gpu = WebGpuTrainer(spec, target, steps_per_submit=min(64, max(1, steps)))
    rows = [("WebGPU " + get_gpu().name, gpu)]
    cpu = make_trainer(spec, target)
    rows.append(("CPU trainer (NumPy fused)", cpu))
    baseline = torch_baseline(image, spec, batch, cpu)
    if baseline is not None:
        rows.append((baseline.name, baseline))
    results = []
    for label, trainer in rows:
        times = time_trainer(trainer, steps, batch, repeats)
        seconds = statistics.median(times)
        quality = psnr(trainer.render(image.shape[:2]), image)
        results.append(
            {
                "case": f"{name} (batch {batch})",
                "backend": label,
                "ms_per_step": 1e3 * seconds,
                "steps_per_s": 1 / seconds,
                "samples_per_s": batch / seconds,
                "psnr": quality,
                "steps": 1 + repeats * steps,
            }
        )
    return results


def agreement() -> list[tuple[str, float]]:
    """Largest |feature - float64 sin/cos(pi 2^k x)| of each backend's frequency encoding."""
    from gfxnn.encodings import FrequencyEncoding
    from gfxnn.encodings.sincos import sincos_octaves
    from gfxnn.fused.encoding import FusedFrequency
    from gfxnn.webgpu import WebGpuTrainer

    n_frequencies, n = 16, 4096
    x = np.random.default_rng(0).random((n, 2), dtype=np.float32)
    phase = np.pi * 2.0 ** np.arange(n_frequencies) * x.astype(np.float64)[:, :, None]
    exact = np.stack([np.sin(phase), np.cos(phase)], axis=-1).reshape(n, -1)
    rows = []
    old = x[:, :, None] * (np.pi * 2.0 ** np.arange(n_frequencies)).astype(np.float32)
    old_features = np.stack([np.sin(old), np.cos(old)], axis=-1).reshape(n, -1)
    rows.append(("NumPy sin(float32(pi 2^k) x) (before)", old_features))
    s, c = sincos_octaves(x, n_frequencies)
    rows.append(
        ("gfxnn.encodings.sincos (float32 polynomial)", np.stack([s, c], -1).reshape(n, -1))
    )
    fused = FusedFrequency(n_frequencies)
    out = np.empty((n, fused.n_output_dims), np.float32)
    fused.encode(x, out, fused.make_scratch(n, np.float32))
    rows.append(("fused CPU trainer", out))
    rows.append(("autodiff FrequencyEncoding", FrequencyEncoding(2, n_frequencies)(x).data))
    spec = ModelSpec(encoding={"otype": "Frequency", "n_frequencies": n_frequencies})
    trainer = WebGpuTrainer(spec)
    trainer.compute_gradients(x, np.zeros((n, 3), np.float32))
    rows.append(("WebGPU kernels (" + trainer.adapter_name + ")", trainer.last_features()))
    rows.append(
        ("WebGPU built-in sin/cos of the reduced phase", _builtin_reduced(x, n_frequencies))
    )
    return [(label, float(np.abs(values - exact).max())) for label, values in rows]


def _builtin_reduced(x: np.ndarray, n_frequencies: int) -> np.ndarray:
    """What the exported shaders compute: sin/cos(2 pi fract(2^(k-1) x)) with WGSL built-ins."""
    import wgpu

    from gfxnn.webgpu import get_gpu

    code = f"""
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> out: array<f32>;
@compute @workgroup_size(64) fn main(@builtin(global_invocation_id) id: vec3<u32>) {{
    let i = id.x;
    if (i >= arrayLength(&x)) {{ return; }}
    for (var k = 0u; k < {n_frequencies}u; k++) {{
        let v = x[i] * ldexp(1.0, i32(k) - 1);
        let phase = 6.2831855 * (v - floor(v));
        out[(i * {n_frequencies}u + k) * 2u] = sin(phase);
        out[(i * {n_frequencies}u + k) * 2u + 1u] = cos(phase);
    }}
}}"""
    device = get_gpu().device
    flat = np.ascontiguousarray(x.reshape(-1))
    inputs = device.create_buffer_with_data(data=flat.tobytes(), usage=wgpu.BufferUsage.STORAGE)
    size = 4 * flat.size * 2 * n_frequencies
    usage = wgpu.BufferUsage.STORAGE | wgpu.BufferUsage.COPY_SRC
    output = device.create_buffer(size=size, usage=usage)
    pipeline = device.create_compute_pipeline(
        layout="auto",
        compute={"module": device.create_shader_module(code=code), "entry_point": "main"},
    )
    group = device.create_bind_group(
        layout=pipeline.get_bind_group_layout(0),
        entries=[
            {"binding": 0, "resource": {"buffer": inputs}},
            {"binding": 1, "resource": {"buffer": output}},
        ],
    )
    encoder = device.create_command_encoder()
    compute = encoder.begin_compute_pass()
    compute.set_pipeline(pipeline)
    compute.set_bind_group(0, group)
    compute.dispatch_workgroups(-(-flat.size // 64))
    compute.end()
    device.queue.submit([encoder.finish()])
    values = np.frombuffer(device.queue.read_buffer(output), np.float32)
    return values.reshape(x.shape[0], -1)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", default=",".join(CASES), help="comma-separated case names")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default per case)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--batch", type=int, default=None, help="override the cases' batch (lavapipe: 2^18 is slow)"
    )
    parser.add_argument("--agreement", action="store_true", help="encoding agreement only")
    args = parser.parse_args(argv)
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    print(f"load average: {os.getloadavg()[0]:.1f} {os.getloadavg()[1]:.1f}")
    if args.agreement:
        print("| frequency encoding, 16 octaves | max abs error vs float64 |\n|---|---|")
        for label, error in agreement():
            print(f"| {label} | {error:.1e} |")
        return
    image = load_bundled("astronaut")
    print("| case | backend | ms/step | steps/s | samples/s | PSNR (dB) | after steps |")
    print("|---|---|---|---|---|---|---|")
    for name in args.cases.split(","):
        if name not in CASES:
            raise SystemExit(f"unknown case {name!r}; choose from {', '.join(CASES)}")
        steps = args.steps or (20 if name == "dx12nn" else 1)
        for row in run_case(name, steps, args.repeats, image, args.batch):
            print(
                f"| {row['case']} | {row['backend']} | {row['ms_per_step']:.1f} | "
                f"{row['steps_per_s']:.2f} | {row['samples_per_s']:.3g} | {row['psnr']:.2f} | "
                f"{row['steps']} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
