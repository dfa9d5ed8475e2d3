"""Benchmark: gfxnn's fused CPU training vs PyTorch CPU eager on Dx12NN's default configuration.

Both sides run the same maths: batch 2048 of uniform random UVs, nearest-texel targets,
frequency encoding (8 octaves, 32 features), MLP 32 -> 64 -> 64 -> 3 with leaky ReLU (0.01) after
every layer, MSE, Adam (lr 1e-3, 0.9, 0.999, 1e-8), the same Xavier initial weights. A timed step
includes sampling and encoding on both sides. Repeats alternate between the two so that both see
the same machine load; the figures are medians.

Thread modes (--threads): "default" runs each library with its own defaults (gfxnn trains and
infers with one BLAS thread, see gfxnn/fused/threads.py; torch uses torch.get_num_threads());
"1" and "2" force both libraries to that many threads; "all" (the default) runs the three in turn.

    python benchmarks/fit_cpu.py                  # speed + 512x512 inference + quality (5000 steps)
    python benchmarks/fit_cpu.py --quality-steps 0 --threads 1
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

from gfxnn.data.images import load_bundled
from gfxnn.imagefit import FitSettings, ImageFitter, psnr


class TorchFit:
    """The same training step in PyTorch eager mode."""

    def __init__(self, image: np.ndarray, fitter: ImageFitter, settings: FitSettings) -> None:
        self.height, self.width = image.shape[:2]
        self.texels = torch.from_numpy(np.ascontiguousarray(image.reshape(-1, 3)))
        self.batch = settings.batch_size
        self.frequencies = torch.from_numpy(
            (np.pi * 2.0 ** np.arange(settings.n_frequencies)).astype(np.float32)
        )
        self.generator = torch.Generator().manual_seed(settings.seed)
        layers: list[torch.nn.Module] = []
        for name, value in fitter.state_dict().items():
            if name.endswith(".weight"):
                linear = torch.nn.Linear(value.shape[1], value.shape[0])
                with torch.no_grad():
                    linear.weight.copy_(torch.from_numpy(value))
                    linear.bias.zero_()
                layers += [linear, torch.nn.LeakyReLU(0.01)]
        self.net = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=settings.learning_rate)

    def encode(self, uv: torch.Tensor) -> torch.Tensor:
        phase = uv[:, :, None] * self.frequencies  # (n, 2, F)
        return torch.stack((phase.sin(), phase.cos()), dim=-1).reshape(uv.shape[0], -1)

    def step(self, n: int) -> float:
        loss = torch.zeros(())
        for _ in range(n):
            uv = torch.rand((self.batch, 2), generator=self.generator)
            x = (uv[:, 0] * self.width).long().clamp_(max=self.width - 1)
            y = (uv[:, 1] * self.height).long().clamp_(max=self.height - 1)
            target = self.texels[y * self.width + x]
            loss = ((self.net(self.encode(uv)) - target) ** 2).mean()
            self.optimizer.zero_grad()
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())

    def predict(self, width: int, height: int) -> np.ndarray:
        with torch.inference_mode():
            u = torch.arange(width, dtype=torch.float32) / (width - 1)
            v = torch.arange(height, dtype=torch.float32) / (height - 1)
            vv, uu = torch.meshgrid(v, u, indexing="ij")
            uv = torch.stack((uu.reshape(-1), vv.reshape(-1)), dim=1)
            return self.net(self.encode(uv)).reshape(height, width, 3).numpy()


def blas_threads() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    blas = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return ", ".join(f"{i['internal_api']} {i['num_threads']}" for i in blas) or "none found"


def blas_threads_of(fitter: ImageFitter) -> Any:
    from gfxnn.fused.threads import blas_threads as limit

    return limit(fitter.blas_threads)


def alternate(runs: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    """Seconds per run of each callable, interleaved repeat by repeat."""
    times: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return times


def speed(image: np.ndarray, steps: int, repeats: int, threads: int | None) -> dict[str, Any]:
    """threads None: each library's default (gfxnn trains with 1 BLAS thread, torch uses
    torch.get_num_threads()); an int: both libraries use exactly that many threads."""
    settings = FitSettings()
    with thread_limit(threads):
        fitter = ImageFitter(image, settings, blas_threads=1 if threads is None else threads)
        reference = TorchFit(image, fitter, settings)
        fitter.step(20)  # warm-up: first-touch of buffers, BLAS thread start
        reference.step(20)
        times = alternate(
            {"gfxnn": lambda: fitter.step(steps), "torch": lambda: reference.step(steps)}, repeats
        )
        ratios = [t / g for g, t in zip(times["gfxnn"], times["torch"], strict=True)]
        with blas_threads_of(fitter):
            training_blas = blas_threads()
        fitter.predict(512, 512)
        reference.predict(512, 512)
        inference = alternate(
            {
                "gfxnn": lambda: fitter.predict(512, 512),
                "torch": lambda: reference.predict(512, 512),
            },
            repeats,
        )
        result = {
            "torch_threads": torch.get_num_threads(),
            "numpy_blas_threads": training_blas,
            "gfxnn_steps_per_s": steps / statistics.median(times["gfxnn"]),
            "torch_steps_per_s": steps / statistics.median(times["torch"]),
            "median_pairwise_ratio": statistics.median(ratios),
            "gfxnn_inference_512_ms": 1e3 * statistics.median(inference["gfxnn"]),
            "torch_inference_512_ms": 1e3 * statistics.median(inference["torch"]),
        }
    result["ratio"] = result["gfxnn_steps_per_s"] / result["torch_steps_per_s"]
    result["inference_ratio"] = result["torch_inference_512_ms"] / result["gfxnn_inference_512_ms"]
    return result


def quality(image: np.ndarray, steps: int, threads: int | None) -> dict[str, float]:
    settings = FitSettings()
    with thread_limit(threads):
        fitter = ImageFitter(image, settings)
        reference = TorchFit(image, fitter, settings)
        start = time.perf_counter()
        fitter.step(steps)
        gfxnn_seconds = time.perf_counter() - start
        start = time.perf_counter()
        reference.step(steps)
        torch_seconds = time.perf_counter() - start
        h, w = image.shape[:2]
        torch_psnr = psnr(np.clip(reference.predict(w, h), 0.0, 1.0), image)
        return {
            "steps": steps,
            "gfxnn_psnr": fitter.psnr(),
            "torch_psnr": torch_psnr,
            "gfxnn_seconds": gfxnn_seconds,
            "torch_seconds": torch_seconds,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200, help="training steps per timed repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--quality-steps", type=int, default=5000, help="0 skips the PSNR run")
    parser.add_argument(
        "--threads",
        default="all",
        choices=["default", "1", "2", "all"],
        help="'default': each library's own thread counts; '1' / '2': both use that many",
    )
    parser.add_argument("--json", help="also write the results to this file")
    args = parser.parse_args()

    image = load_bundled("astronaut")
    print(f"machine: {os.cpu_count()} logical CPUs, load average {os.getloadavg()[0]:.2f}")
    results: dict[str, object] = {}
    configs = {"default": [None], "1": [1], "2": [2], "all": [None, 1, 2]}[args.threads]
    for threads in configs:
        label = "library defaults" if threads is None else f"both {threads} thread(s)"
        r = speed(image, args.steps, args.repeats, threads)
        results[label] = r
        print(
            f"\n[{label}] torch threads {r['torch_threads']}; "
            f"gfxnn's NumPy BLAS {r['numpy_blas_threads']}"
        )
        print(
            f"  training  gfxnn {r['gfxnn_steps_per_s']:7.1f} steps/s   torch "
            f"{r['torch_steps_per_s']:7.1f} steps/s   ratio {r['ratio']:.2f}x "
            f"(median pairwise {r['median_pairwise_ratio']:.2f}x)"
        )
        print(
            f"  inference 512x512  gfxnn {r['gfxnn_inference_512_ms']:6.1f} ms   torch "
            f"{r['torch_inference_512_ms']:6.1f} ms   ratio {r['inference_ratio']:.2f}x"
        )
    if args.quality_steps > 0:
        q = quality(image, args.quality_steps, 1)
        results["quality"] = q
        print(
            f"\n[quality, {q['steps']} steps] PSNR gfxnn {q['gfxnn_psnr']:.2f} dB "
            f"({q['gfxnn_seconds']:.1f} s)   torch {q['torch_psnr']:.2f} dB "
            f"({q['torch_seconds']:.1f} s)   difference {q['gfxnn_psnr'] - q['torch_psnr']:+.2f} dB"
        )
    print(f"\nload average at the end {os.getloadavg()[0]:.2f}")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2, default=lambda x: x if math.isfinite(x) else str(x))


if __name__ == "__main__":
    main()
