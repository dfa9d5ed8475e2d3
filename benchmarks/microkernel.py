"""The training kernel's register-blocked products (`gfxnn.compiled.blocked`) against
OpenBLAS on the flagship's tile shapes, one thread each, side by side in one run.

Why (issue 17): at one thread the compiled trainer's step was ~80% OpenBLAS products, 13-34
GFLOP/s on these small shapes; `compiled.blocked` (4 x 16 FMA blocks in LLVM IR, no packing)
replaced them for float32 widths that are multiples of 16. It sums each output along K in
order, which is not OpenBLAS's order: the fraction of outputs whose bits differ is printed
(docs/flagship.md, "the drift").

The three products of a 64-wide layer on a 342-row tile (the trainer's tile), each as
C[r, c] = sum_k A[r, k] B[k, c] with A and B read through strides:
    forward  z = x W^T      A = x (T, K),      B = W^T (K, 64)
    input    g_in = g W     A = g (T, 64),     B = W (64, K)
    weight   dW = g^T x     A = g^T (64, T),   B = x (T, K)

    python benchmarks/microkernel.py [--repeats 7] [--calls 1000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numba as nb
import numpy as np
from threadpoolctl import threadpool_limits

from gfxnn.compiled import blocked

TILE = 342  # rows per tile in the compiled trainer (gfxnn.compiled.trainer.chunking)


@nb.njit
def _repeat_blocked(
    a: np.ndarray, a_rows: int, a_k: int, b: np.ndarray, b_k: int, out: np.ndarray,
    n_rows: int, n_cols: int, depth: int, calls: int,
) -> None:  # fmt: skip
    for _ in range(calls):
        blocked.product(a, a_rows, a_k, b, b_k, out, n_rows, n_cols, depth)


@nb.njit
def _repeat_blas(a: np.ndarray, b: np.ndarray, out: np.ndarray, calls: int) -> None:
    for _ in range(calls):
        np.dot(a, b, out)


def cases(k: int, rng: np.random.Generator) -> list[tuple[str, tuple, tuple, int]]:
    """(name, BLAS operands (A, B, out), blocked call arguments, flop count) per product."""
    f32 = np.float32
    x = rng.standard_normal((TILE, k)).astype(f32)
    g = rng.standard_normal((TILE, 64)).astype(f32)
    w = rng.standard_normal((64, k)).astype(f32)  # W (out, in) of a k -> 64 layer
    w_t = np.ascontiguousarray(w.T)
    result = []
    out = np.empty((TILE, 64), f32)
    forward = (x.ravel(), k, 1, w_t.ravel(), 64, out.ravel(), TILE, 64, k)
    result.append((f"forward {k}->64", (x, w_t, out), forward, 2 * TILE * k * 64))
    if k % 16 == 0:
        g_in = np.empty((TILE, k), f32)
        backward = (g.ravel(), 64, 1, w.ravel(), k, g_in.ravel(), TILE, k, 64)
        result.append((f"input grad 64->{k}", (g, w, g_in), backward, 2 * TILE * k * 64))
    dw = np.empty((64, k), f32)
    weight = (g.ravel(), 1, 64, x.ravel(), k, dw.ravel(), 64, k, TILE)
    result.append((f"weight grad 64x{k}", (g.T, x, dw), weight, 2 * TILE * k * 64))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--calls", type=int, default=1000, help="products per timed repeat")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    # Compile np.dot (which loads SciPy's OpenBLAS) BEFORE limiting the threads: threadpoolctl
    # limits only the libraries loaded when the limit starts, and an OpenBLAS loaded inside it
    # runs these products on every core (48 instead of 84 us for 64 x 64 on this VM).
    tiny = np.ones((1, 1), np.float32)
    _repeat_blas(tiny, tiny, tiny.copy(), 1)
    print(f"one thread, tile {TILE} rows, median of {args.repeats} alternating repeats")
    print(
        f"{'product':22s} {'blocked us':>10s} {'BLAS us':>8s} {'GFLOP/s':>15s} {'ratio':>6s}  bits"
    )
    with threadpool_limits(1):
        for k in (32, 64):
            for name, (a, b, out), blocked, flops in cases(k, rng):
                expected = np.empty_like(out)
                _repeat_blas(a, b, expected, 1)
                _repeat_blocked(*blocked, 1)
                got = blocked[5].reshape(out.shape)
                scale = float(np.abs(expected).max())
                assert np.abs(got - expected).max() <= 1e-5 * scale, name  # the same product
                differ = float(np.mean(got != expected))
                times: dict[str, list[float]] = {"blocked": [], "blas": []}
                for _ in range(args.repeats):
                    start = time.perf_counter()
                    _repeat_blocked(*blocked, args.calls)
                    times["blocked"].append((time.perf_counter() - start) / args.calls)
                    start = time.perf_counter()
                    _repeat_blas(a, b, out, args.calls)
                    times["blas"].append((time.perf_counter() - start) / args.calls)
                mine = statistics.median(times["blocked"])
                theirs = statistics.median(times["blas"])
                rates = f"{flops / mine / 1e9:5.1f} / {flops / theirs / 1e9:5.1f}"
                print(
                    f"{name:22s} {mine * 1e6:10.1f} {theirs * 1e6:8.1f} {rates:>15s} "
                    f"{theirs / mine:5.2f}x  {differ:.0%} of outputs differ from BLAS's"
                )


if __name__ == "__main__":
    main()
