"""Benchmark: MLP classifier training throughput, gfxnn's autodiff engine vs PyTorch CPU eager.

The network of the training-toolkit issue: 784 -> 256 -> 128 -> 10 with ReLU, softmax
cross-entropy on integer labels, Adam (lr 1e-3), batch 128, float32, the same initial
weights and the same batches on both sides. A timed step is zero_grad + forward + loss +
backward + optimizer step. A third line times `gfxnn.training.fit` over the same batches
(shuffling, metrics bookkeeping and all), to show what the loop itself costs.

Repeats alternate between the libraries so that both see the same machine load; the figures
are medians of the repeats, in samples per second, each printed with the 1-minute load
average before and after it. Thread modes (--threads, see engine_modes.py): "1" and "cores"
force both libraries (torch, NumPy's BLAS via threadpoolctl, gfxnn's engine workers) to one
thread or to every core; "default" leaves each library's own default; "all" runs the three.

    python benchmarks/mlp_classifier.py                 # all thread modes
    python benchmarks/mlp_classifier.py --threads 1 --repeats 9 --json out.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import numpy as np
import torch
from engine_modes import MODES, engine_threads, label, load, machine, mode_threads

from gfxnn import nn, optim
from gfxnn.losses import cross_entropy
from gfxnn.tensor import Tensor
from gfxnn.training import fit

LAYERS = (784, 256, 128, 10)
BATCH_SIZE = 128
LEARNING_RATE = 1e-3
SEED = 0


def make_data(n_samples: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped inputs in [0, 1] and labels; throughput does not depend on the values."""
    rng = np.random.default_rng(SEED)
    return rng.random((n_samples, LAYERS[0]), dtype=np.float32), rng.integers(0, 10, n_samples)


class GfxnnSide:
    def __init__(self) -> None:
        self.model = nn.MLP(LAYERS[0], LAYERS[-1], n_neurons=list(LAYERS[1:-1]), rng=SEED)
        self.optimizer = optim.Adam(self.model.parameters(), lr=LEARNING_RATE)

    def train(self, x: np.ndarray, y: np.ndarray) -> float:
        loss = None
        for start in range(0, len(x), BATCH_SIZE):
            self.optimizer.zero_grad()
            loss = cross_entropy(self.model(Tensor(x[start : start + BATCH_SIZE])),
                                 y[start : start + BATCH_SIZE])  # fmt: skip
            loss.backward()
            self.optimizer.step()
        assert loss is not None
        return float(loss.data)


class FitSide(GfxnnSide):
    def train(self, x: np.ndarray, y: np.ndarray) -> float:
        history = fit(self.model, cross_entropy, self.optimizer, x, y, epochs=1,
                      batch_size=BATCH_SIZE, validation_split=0, metrics=["accuracy"],
                      rng=SEED, progress=False)  # fmt: skip
        return history["loss"][-1]


class TorchSide:
    def __init__(self, twin: GfxnnSide) -> None:
        layers: list[torch.nn.Module] = []
        for i, layer in enumerate(twin.model.layers):
            linear = torch.nn.Linear(layer.in_features, layer.out_features)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(layer.weight.data))
                linear.bias.copy_(torch.from_numpy(layer.bias.data))
            layers += [linear] if i == len(twin.model.layers) - 1 else [linear, torch.nn.ReLU()]
        self.net = torch.nn.Sequential(*layers)
        self.optimizer = torch.optim.Adam(self.net.parameters(), lr=LEARNING_RATE)

    def train(self, x: np.ndarray, y: np.ndarray) -> float:
        inputs, labels = torch.from_numpy(x), torch.from_numpy(y)
        loss = torch.zeros(())
        for start in range(0, len(x), BATCH_SIZE):
            self.optimizer.zero_grad()
            loss = torch.nn.functional.cross_entropy(
                self.net(inputs[start : start + BATCH_SIZE]), labels[start : start + BATCH_SIZE]
            )
            loss.backward()
            self.optimizer.step()
        return float(loss.detach())


def measure(n_steps: int, repeats: int, threads: int | None) -> dict[str, Any]:
    """Median samples/s of each side over `repeats` alternating runs of n_steps batches."""
    x, y = make_data(n_steps * BATCH_SIZE)
    load_before = load()
    with engine_threads(threads):
        gfxnn_side = GfxnnSide()
        sides: dict[str, Any] = {
            "gfxnn": gfxnn_side,
            "torch": TorchSide(gfxnn_side),
            "gfxnn fit()": FitSide(),
        }
        warm = slice(0, 3 * BATCH_SIZE)
        for side in sides.values():
            side.train(x[warm], y[warm])
        rates: dict[str, list[float]] = {name: [] for name in sides}
        for _ in range(repeats):
            for name, side in sides.items():
                start = time.perf_counter()
                side.train(x, y)
                rates[name].append(len(x) / (time.perf_counter() - start))
        torch_threads = torch.get_num_threads()
    medians = {name: statistics.median(values) for name, values in rates.items()}
    return {
        "threads": "default" if threads is None else threads,
        "torch_threads": torch_threads,
        "load_before": load_before,
        "load_after": load(),
        "samples_per_s": medians,
        "all_samples_per_s": rates,
        "ratio_gfxnn_vs_torch": medians["gfxnn"] / medians["torch"],
        "ratio_fit_vs_torch": medians["gfxnn fit()"] / medians["torch"],
    }


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="batches per timed repeat")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--threads", choices=MODES, default="all")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args(argv)
    results = []
    print(f"MLP {'-'.join(map(str, LAYERS))}, batch {BATCH_SIZE}, Adam, float32; "
          f"{args.repeats} repeats of {args.steps} steps, medians")  # fmt: skip
    print(f"{machine()}; torch {torch.__version__}")
    for threads in mode_threads(args.threads):
        result = measure(args.steps, args.repeats, threads)
        results.append(result)
        print(f"\n[{label(threads)}] torch threads {result['torch_threads']}, "
              f"load {result['load_before']} -> {result['load_after']}")  # fmt: skip
        for name, rate in result["samples_per_s"].items():
            print(f"  {name:12s} {rate:10.0f} samples/s")
        print(f"  ratio gfxnn / torch: {result['ratio_gfxnn_vs_torch']:.2f}x "
              f"(fit(): {result['ratio_fit_vs_torch']:.2f}x)")  # fmt: skip
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(results, handle, indent=2)
    return results


if __name__ == "__main__":
    main()
