"""Conv2d forward + backward time, gfxnn vs PyTorch CPU, side by side.

Each case times one forward pass and one backward pass (gradients of input, weight and
bias, random upstream gradient) in float32, as the median of `--repeats` alternating runs
after a warm-up, and prints the ratio gfxnn / PyTorch (below 1: gfxnn is faster) with the
1-minute load average before and after the case. Thread modes (--threads, see
engine_modes.py): "1", "cores" (both libraries on every core: torch's pool, NumPy's BLAS and
gfxnn's engine workers), "default" (each library as it comes), "all" (the three in turn).

    python benchmarks/conv.py [--repeats 15] [--threads 1|cores|default|all]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from engine_modes import MODES, engine_threads, label, load, machine, mode_threads

from gfxnn import Tensor
from gfxnn.image_ops import conv2d

# (name, batch, in_channels, out_channels, kernel, image side, padding)
CASES = [
    ("LeNet conv1 1->6 5x5 on 28x28", 64, 1, 6, 5, 28, 2),
    ("LeNet conv2 6->16 5x5 on 14x14", 64, 6, 16, 5, 14, 0),
    ("64->64 3x3 on 64x64", 16, 64, 64, 3, 64, 1),
]


def median_seconds(steps: list[Callable[[], None]], repeats: int) -> list[float]:
    """Median time of each step; the steps alternate, so load from other processes on a
    shared machine hits both sides alike."""
    times: list[list[float]] = [[] for _ in steps]
    for step in steps:
        step()  # warm-up: allocations, thread pools
    for _ in range(repeats):
        for step, record in zip(steps, times, strict=True):
            start = time.perf_counter()
            step()
            record.append(time.perf_counter() - start)
    return [statistics.median(record) for record in times]


def gfxnn_step(x: np.ndarray, w: np.ndarray, b: np.ndarray, g: np.ndarray, padding: int):
    def step() -> None:
        xt, wt, bt = (Tensor(a, requires_grad=True) for a in (x, w, b))
        conv2d(xt, wt, bt, padding=padding).backward(g)

    return step


def torch_step(x: np.ndarray, w: np.ndarray, b: np.ndarray, g: np.ndarray, padding: int):
    grad = torch.from_numpy(g)

    def step() -> None:
        xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
        torch.nn.functional.conv2d(xt, wt, bt, padding=padding).backward(grad)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--threads", choices=MODES, default="all")
    args = parser.parse_args()
    print(f"{machine()}; torch {torch.__version__}; median of {args.repeats}")
    for threads in mode_threads(args.threads):
        rng = np.random.default_rng(0)
        with engine_threads(threads):
            print(f"\n[{label(threads)}] torch threads {torch.get_num_threads()}")
            print(f"{'case':<34} {'gfxnn ms':>9} {'torch ms':>9} {'ratio':>6}  load")
            for name, n, c_in, c_out, k, side, padding in CASES:
                x = rng.standard_normal((n, c_in, side, side)).astype(np.float32)
                w = rng.standard_normal((c_out, c_in, k, k)).astype(np.float32)
                b = rng.standard_normal(c_out).astype(np.float32)
                out_side = side + 2 * padding - k + 1
                g = rng.standard_normal((n, c_out, out_side, out_side)).astype(np.float32)
                steps = [gfxnn_step(x, w, b, g, padding), torch_step(x, w, b, g, padding)]
                before = load()
                ours, theirs = median_seconds(steps, args.repeats)
                print(f"{name:<34} {ours * 1e3:9.2f} {theirs * 1e3:9.2f} {ours / theirs:6.2f}  "
                      f"{before} -> {load()}")  # fmt: skip


if __name__ == "__main__":
    main()
