"""Probe: a register-blocked FMA micro-kernel (Numba + LLVM IR) against OpenBLAS on the
flagship's matrix products, one thread, side by side in one run.

Why this exists (issue 17): at one thread the compiled trainer's step is ~80% matrix
products, which OpenBLAS runs at its full rate in isolation but ~30% slower inside the
training kernel. Plain Numba loops reach ~15 GFLOP/s on these shapes (LLVM keeps the
accumulators in memory); this probe writes the inner block as LLVM IR through
`numba.extending.intrinsic` (4 rows x 16 columns of accumulators in 8 vector registers,
`llvm.fma.v8f32` along K, no packing), to measure whether such a kernel could replace BLAS
in the training kernel. It sums each output sequentially along K with FMA, which is not
OpenBLAS's order: the bits differ (the fraction printed), so adopting it would move the
5000-step PSNR like any change of summation order (docs/flagship.md, "the drift").

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
from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic
from threadpoolctl import threadpool_limits

ROWS, VECTORS, LANES = 4, 2, 8  # a block of 4 x 16 float32 outputs: 8 ymm accumulators
TILE = 342  # rows per tile in the compiled trainer (gfxnn.compiled.trainer.chunking)


@intrinsic
def _block(
    typingctx: Any, a: Any, a_rows: Any, a_k: Any, b: Any, b_k: Any, out: Any, out_rows: Any,
    r0: Any, c0: Any, depth: Any,
) -> Any:  # fmt: skip
    """out[r0 + r, c0 + c] = sum_k a[(r0 + r) a_rows + k a_k] b[k b_k + c0 + c] for the
    4 x 16 block (flat float32 arrays, strides in elements), k = 0 .. depth - 1 in order."""
    sig = types.void(a, a_rows, a_k, b, b_k, out, out_rows, r0, c0, depth)

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        a_arr = context.make_array(signature.args[0])(context, builder, args[0])
        b_arr = context.make_array(signature.args[3])(context, builder, args[3])
        o_arr = context.make_array(signature.args[5])(context, builder, args[5])
        a_rows_v, a_k_v, b_k_v, o_rows_v, r0_v, c0_v, depth_v = (
            args[1], args[2], args[4], args[6], args[7], args[8], args[9],
        )  # fmt: skip
        i64, i32 = ir.IntType(64), ir.IntType(32)
        vec = ir.VectorType(ir.FloatType(), LANES)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), "llvm.fma.v8f32"
        )
        undef = ir.Constant(vec, ir.Undefined)
        splat = ir.Constant(ir.VectorType(i32, LANES), [0] * LANES)
        zero = ir.Constant(vec, [0.0] * LANES)
        accumulators = [cgutils.alloca_once_value(builder, zero) for _ in range(ROWS * VECTORS)]

        def vector_at(base: Any, index: Any) -> Any:
            return builder.bitcast(builder.gep(base, [index]), vec.as_pointer())

        with cgutils.for_range(builder, depth_v) as loop:
            k = loop.index
            b_row = builder.add(builder.mul(k, b_k_v), c0_v)
            columns = []
            for v in range(VECTORS):
                load = builder.load(
                    vector_at(b_arr.data, builder.add(b_row, ir.Constant(i64, LANES * v)))
                )
                load.align = 4
                columns.append(load)
            for r in range(ROWS):
                row = builder.mul(builder.add(r0_v, ir.Constant(i64, r)), a_rows_v)
                scalar = builder.load(
                    builder.gep(a_arr.data, [builder.add(row, builder.mul(k, a_k_v))])
                )
                broadcast = builder.shuffle_vector(
                    builder.insert_element(undef, scalar, ir.Constant(i32, 0)), undef, splat
                )
                for v in range(VECTORS):
                    slot = accumulators[r * VECTORS + v]
                    builder.store(
                        builder.call(fma, [broadcast, columns[v], builder.load(slot)]), slot
                    )
        for r in range(ROWS):
            row = builder.mul(builder.add(r0_v, ir.Constant(i64, r)), o_rows_v)
            for v in range(VECTORS):
                at = builder.add(row, builder.add(c0_v, ir.Constant(i64, LANES * v)))
                store = builder.store(
                    builder.load(accumulators[r * VECTORS + v]), vector_at(o_arr.data, at)
                )
                store.align = 4
        return context.get_dummy_value()

    return sig, codegen


@nb.njit
def blocked_product(
    a: np.ndarray, a_rows: int, a_k: int, b: np.ndarray, b_k: int, out: np.ndarray,
    n_rows: int, n_cols: int, depth: int,
) -> None:  # fmt: skip
    """out (n_rows, n_cols), flat, = A B with A, B read through the strides; n_cols a multiple
    of 16; the rows left over after blocks of 4 go one output at a time (the same order)."""
    full = n_rows - n_rows % ROWS
    for r0 in range(0, full, ROWS):
        for c0 in range(0, n_cols, LANES * VECTORS):
            _block(a, a_rows, a_k, b, b_k, out, n_cols, r0, c0, depth)
    for r in range(full, n_rows):
        for c in range(n_cols):
            total = np.float32(0)
            for k in range(depth):
                total = np.float32(total + a[r * a_rows + k * a_k] * b[k * b_k + c])
            out[r * n_cols + c] = total


@nb.njit
def _repeat_blocked(
    a: np.ndarray, a_rows: int, a_k: int, b: np.ndarray, b_k: int, out: np.ndarray,
    n_rows: int, n_cols: int, depth: int, calls: int,
) -> None:  # fmt: skip
    for _ in range(calls):
        blocked_product(a, a_rows, a_k, b, b_k, out, n_rows, n_cols, depth)


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
