"""Benchmark: gfxnn's CPU trainers (compiled Numba kernels, NumPy fused) vs PyTorch CPU eager.

All three run the same maths on Dx12NN's default configuration: batch 2048 of uniform random
UVs, nearest-texel targets, frequency encoding (8 octaves, 32 features), MLP 32 -> 64 -> 64 -> 3
with leaky ReLU (0.01) after every layer, MSE, Adam (lr 1e-3, 0.9, 0.999, 1e-8), the same Xavier
initial weights. A timed step includes sampling and encoding everywhere. Repeats alternate
between the three so that all see the same machine load; the figures are medians, and the
ratios are of medians in the same run (pairwise medians beside them).

Thread modes (--threads): "default" runs each library with its own defaults (the compiled
trainer's measured "auto" policy, the NumPy fused path's one BLAS thread, torch's
torch.get_num_threads()); "1" and "2" force every library to that many threads; "all" (the
default) runs defaults, 1 thread and every core (os.cpu_count()) in turn.

Also measured: 512x512 inference, the PSNR of the default 5000-step run (compiled, NumPy and
PyTorch, seed 0), and the hash grid (tiny-cuda-nn's image config, batch 2^14, RelativeL2):
wall seconds of training until the full-image PSNR reaches 30 dB (--hash-seconds budget).

    python benchmarks/fit_cpu.py                  # everything (~5 min on a quiet 2-core VM)
    python benchmarks/fit_cpu.py --quality-steps 0 --hash-seconds 0 --threads 1
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from threads import thread_limit

from gfxnn.apps.torch_fit import TorchFit  # the same step in PyTorch eager (gfxnn bench's too)
from gfxnn.compiled.trainer import CompiledTrainer
from gfxnn.data.images import load_bundled
from gfxnn.fields.controller import psnr
from gfxnn.fields.image import ImageFitController
from gfxnn.fields.settings import FitSettings
from gfxnn.fields.targets import ImageTarget
from gfxnn.fused import make_trainer

BACKENDS = ("compiled", "numpy")  # gfxnn's CPU trainers, the default first
HASH_PSNR = 30.0


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def make_fitter(
    image: np.ndarray, settings: FitSettings, backend: str, threads: int | None
) -> ImageFitController:
    """A controller over one backend; threads None: the backend's own default."""
    target = ImageTarget(image)
    if backend == "compiled":
        policy: int | str = "auto" if threads is None else threads

        def compiled(spec: Any, target: Any) -> Any:
            return CompiledTrainer(spec, target, threads=policy)

        return ImageFitController(target, settings, compiled)

    def fused(spec: Any, target: Any) -> Any:
        return make_trainer(spec, target, blas_threads=None)

    return ImageFitController(
        target, settings, fused, blas_threads=1 if threads is None else threads
    )


def alternate(runs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds per call of each callable, interleaved repeat by repeat."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in blas) or "none found"


def speed(image: np.ndarray, steps: int, repeats: int, threads: int | None) -> dict[str, Any]:
    """threads None: each library's default; an int: every library uses that many threads."""
    settings = FitSettings()
    with thread_limit(threads):
        fitters = {name: make_fitter(image, settings, name, threads) for name in BACKENDS}
        reference = TorchFit(image, fitters["numpy"], settings)
        for fitter in fitters.values():
            fitter.step(20)  # warm-up: compile (cached), first touch, thread start
        reference.step(20)
        runs: dict[str, Callable[[], Any]] = {
            name: (lambda f=fitter: f.step(steps)) for name, fitter in fitters.items()
        }
        runs["torch"] = lambda: reference.step(steps)
        times = alternate(runs, repeats)
        # what the NumPy trainer's steps run on: its controller's setting (None: the process's)
        numpy_blas = fitters["numpy"].blas_threads
        training_blas = blas_threads() if numpy_blas is None else numpy_blas
        predicts: dict[str, Callable[[], Any]] = {
            name: (lambda f=fitter: f.predict(512, 512)) for name, fitter in fitters.items()
        }
        predicts["torch"] = lambda: reference.predict(512, 512)
        for call in predicts.values():
            call()
        inference = alternate(predicts, repeats)
        policy = fitters["compiled"]._trainer.policy  # type: ignore[attr-defined]
        result: dict[str, Any] = {
            "torch_threads": torch.get_num_threads(),
            "numpy_blas_threads": training_blas,
            "compiled_threads": policy.best(),
            "compiled_seconds_per_step_by_threads": dict(policy.seconds_per_step),
        }
    for name in (*BACKENDS, "torch"):
        result[f"{name}_steps_per_s"] = steps / statistics.median(times[name])
        result[f"{name}_inference_512_ms"] = 1e3 * statistics.median(inference[name])
    for name in BACKENDS:
        pairs = zip(times[name], times["torch"], strict=True)
        result[f"{name}_ratio"] = result[f"{name}_steps_per_s"] / result["torch_steps_per_s"]
        result[f"{name}_pairwise_ratio"] = statistics.median(t / g for g, t in pairs)
        result[f"{name}_inference_ratio"] = (
            result["torch_inference_512_ms"] / result[f"{name}_inference_512_ms"]
        )
    return result


def quality(image: np.ndarray, steps: int) -> dict[str, float]:
    """PSNR after `steps` default steps (seed 0) of each backend and of PyTorch, 1 thread."""
    settings = FitSettings()
    result: dict[str, float] = {"steps": steps}
    with thread_limit(1):
        for name in BACKENDS:
            fitter = make_fitter(image, settings, name, None)
            start = time.perf_counter()
            fitter.step(steps)
            result[f"{name}_seconds"] = time.perf_counter() - start
            result[f"{name}_psnr"] = fitter.psnr()
        reference = TorchFit(image, make_fitter(image, settings, "numpy", 1), settings)
        start = time.perf_counter()
        reference.step(steps)
        result["torch_seconds"] = time.perf_counter() - start
        h, w = image.shape[:2]
        result["torch_psnr"] = psnr(np.clip(reference.predict(w, h), 0.0, 1.0), image)
    return result


def hash_grid(image: np.ndarray, backend: str, budget: float) -> dict[str, float]:
    """Wall seconds of training (tcnn's image config, defaults) until PSNR >= 30 dB; PSNR is
    evaluated between chunks of steps, outside the timed region."""
    from encodings_image import hash_settings

    fitter = make_fitter(image, hash_settings(), backend, None)
    fitter.step(1)  # warm-up (compile, first touch); not counted
    seconds, steps, value = 0.0, 0, fitter.psnr()
    chunk = 4
    while seconds < budget and value < HASH_PSNR:
        start = time.perf_counter()
        fitter.step(chunk)
        seconds += time.perf_counter() - start
        steps += chunk
        value = fitter.psnr()
    return {
        "seconds": seconds,
        "steps": steps,
        "psnr": value,
        "ms_per_step": 1e3 * seconds / max(steps, 1),
        "reached": value >= HASH_PSNR,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quality-steps", type=int, default=5000, help="0 skips the PSNR run")
    parser.add_argument(
        "--hash-seconds", type=float, default=20.0, help="hash grid budget; 0 skips it"
    )
    parser.add_argument(
        "--threads",
        default="all",
        choices=["default", "1", "2", "all"],
        help="'default': each library's own thread counts; '1' / '2': all use that many",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    image = load_bundled("astronaut")
    cores = os.cpu_count() or 1
    print(f"machine: {cpu_model()}, {cores} logical CPUs, load average {os.getloadavg()}")
    results: dict[str, object] = {"cpu": cpu_model(), "cores": cores}
    every = sorted({1, cores})
    configs = {"default": [None], "1": [1], "2": [2], "all": [None, *every]}[args.threads]
    for threads in configs:
        label = "library defaults" if threads is None else f"both {threads} thread(s)"
        r = speed(image, args.steps, args.repeats, threads)
        results[label] = r
        print(
            f"\n[{label}] torch threads {r['torch_threads']}; gfxnn's NumPy BLAS "
            f"{r['numpy_blas_threads']}; compiled threads {r['compiled_threads']} "
            f"(load average {os.getloadavg()[0]:.2f})"
        )
        print(
            f"  training  compiled {r['compiled_steps_per_s']:7.1f} steps/s   numpy "
            f"{r['numpy_steps_per_s']:7.1f}   torch {r['torch_steps_per_s']:7.1f}   "
            f"compiled/torch {r['compiled_ratio']:.2f}x (pairwise "
            f"{r['compiled_pairwise_ratio']:.2f}x)   numpy/torch {r['numpy_ratio']:.2f}x"
        )
        print(
            f"  inference 512x512  compiled {r['compiled_inference_512_ms']:6.1f} ms   numpy "
            f"{r['numpy_inference_512_ms']:6.1f} ms   torch {r['torch_inference_512_ms']:6.1f} "
            f"ms   compiled {r['compiled_inference_ratio']:.2f}x   numpy "
            f"{r['numpy_inference_ratio']:.2f}x faster"
        )
    if args.quality_steps > 0:
        q = quality(image, args.quality_steps)
        results["quality"] = q
        print(f"\n[quality, {q['steps']} steps, seed 0, 1 thread]")
        for name in (*BACKENDS, "torch"):
            print(f"  {name:8s} PSNR {q[name + '_psnr']:.2f} dB ({q[name + '_seconds']:.1f} s)")
    if args.hash_seconds > 0:
        for name in BACKENDS:
            h = hash_grid(image, name, args.hash_seconds)
            results[f"hash grid {name}"] = h
            verdict = "reached" if h["reached"] else "not reached"
            print(
                f"\n[hash grid, tcnn image config, batch 2^14, {name}, defaults] {HASH_PSNR:.0f} "
                f"dB {verdict}: {h['psnr']:.2f} dB after {h['seconds']:.1f} s wall, "
                f"{h['steps']} steps, {h['ms_per_step']:.1f} ms/step"
            )
    print(f"\nload average at the end {os.getloadavg()}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=lambda x: x if math.isfinite(x) else str(x))


if __name__ == "__main__":
    main()
