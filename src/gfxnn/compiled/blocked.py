"""Matrix products of the training kernel's tiles, register-blocked, for float32 layers whose
output width is a multiple of 16: C[r, c] = sum_k A[r, k] B[k, c], each output summed along k
in order with fused multiply-adds.

Why not BLAS for these: on one core OpenBLAS spends 435 us on a tile's five products of the
default network (342 rows, 32 -> 64 -> 64): its packing and blocking are sized for large
matrices, and a 32-deep product runs at 13 GFLOP/s. Blocks of 4 rows x 16 columns held in 8
vector registers, with no packing, run these shapes at 31-38 GFLOP/s (`benchmarks/
microkernel.py`). Numba cannot express vector registers, and plain loops leave the
accumulators in memory (15 GFLOP/s), so the block is written as LLVM IR through
`numba.extending.intrinsic`: `llvm.fma.v8f32` along k, 4 broadcasts of A and 2 vector loads
of B per k. Rows left after the blocks of 4 go one row at a time through a 1-row block, so
every output rounds the same way (sequential FMA from 0); the result is a function of the
operands only, not of the thread count. It is not OpenBLAS's order of summation (the last
bits differ), so float64, other widths and every other product stay on BLAS.

Operands are C-contiguous arrays read through element strides, so one routine serves the
forward (x W^T), the input gradient (g W) and the weight gradient (g^T x).
"""

from __future__ import annotations

from typing import Any

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

COLUMNS = 16  # per block: two 256-bit registers of float32
ROWS = 4  # rows per block: 8 accumulators, 2 column vectors and a broadcast in 16 registers


def _block_codegen(n_rows: int, double: bool) -> Any:
    """The code of an n_rows x 16 block (see `_block4`). float64 compiles too (4 lanes, so
    that the training kernel's float64 version types), but `serves` never sends it here."""
    lanes = 4 if double else 8
    n_vectors = COLUMNS // lanes
    element = ir.DoubleType() if double else ir.FloatType()
    name = "llvm.fma.v4f64" if double else "llvm.fma.v8f32"

    def codegen(context: Any, builder: Any, signature: Any, args: Any) -> Any:
        a = context.make_array(signature.args[0])(context, builder, args[0])
        b = context.make_array(signature.args[3])(context, builder, args[3])
        out = context.make_array(signature.args[5])(context, builder, args[5])
        a_rows, a_k, b_k, out_rows, r0, c0, depth = (
            args[1], args[2], args[4], args[6], args[7], args[8], args[9],
        )  # fmt: skip
        i64, i32 = ir.IntType(64), ir.IntType(32)
        vector = ir.VectorType(element, lanes)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vector, [vector] * 3), name
        )
        undefined = ir.Constant(vector, ir.Undefined)
        splat = ir.Constant(ir.VectorType(i32, lanes), [0] * lanes)
        zero = ir.Constant(vector, [0.0] * lanes)
        # allocas of vectors: LLVM's mem2reg keeps them in registers
        slots = [cgutils.alloca_once_value(builder, zero) for _ in range(n_rows * n_vectors)]

        def vector_at(data: Any, index: Any) -> Any:
            return builder.bitcast(builder.gep(data, [index]), vector.as_pointer())

        with cgutils.for_range(builder, depth) as loop:
            k = loop.index
            b_at = builder.add(builder.mul(k, b_k), c0)
            columns = []
            for v in range(n_vectors):
                load = builder.load(
                    vector_at(b.data, builder.add(b_at, ir.Constant(i64, lanes * v)))
                )
                load.align = 4
                columns.append(load)
            for r in range(n_rows):
                a_at = builder.mul(builder.add(r0, ir.Constant(i64, r)), a_rows)
                value = builder.load(builder.gep(a.data, [builder.add(a_at, builder.mul(k, a_k))]))
                lane0 = builder.insert_element(undefined, value, ir.Constant(i32, 0))
                broadcast = builder.shuffle_vector(lane0, undefined, splat)
                for v in range(n_vectors):
                    slot = slots[r * n_vectors + v]
                    total = builder.call(fma, [broadcast, columns[v], builder.load(slot)])
                    builder.store(total, slot)
        for r in range(n_rows):
            row_at = builder.mul(builder.add(r0, ir.Constant(i64, r)), out_rows)
            for v in range(n_vectors):
                at = builder.add(row_at, builder.add(c0, ir.Constant(i64, lanes * v)))
                store = builder.store(
                    builder.load(slots[r * n_vectors + v]), vector_at(out.data, at)
                )
                store.align = 4
        return context.get_dummy_value()

    return codegen


def _block_parts(args: tuple, n_rows: int) -> tuple[Any, Any]:
    """(signature, codegen) of a block over arrays of one float dtype."""
    dtypes = {args[i].dtype for i in (0, 3, 5) if isinstance(args[i], types.Array)}
    if len(dtypes) != 1 or not dtypes <= {types.float32, types.float64}:
        raise TypeError("blocked products take three float32 (or float64) arrays")
    return types.void(*args), _block_codegen(n_rows, dtypes == {types.float64})


@intrinsic
def _block4(
    typingctx: Any, a: Any, a_rows: Any, a_k: Any, b: Any, b_k: Any, out: Any, out_rows: Any,
    r0: Any, c0: Any, depth: Any,
) -> Any:  # fmt: skip
    """out[(r0 + r) out_rows + c0 + c] = sum_k a[(r0 + r) a_rows + k a_k] b[k b_k + c0 + c]
    for r < 4, c < 16, k = 0 .. depth - 1 in order (element offsets from each array's data)."""
    return _block_parts((a, a_rows, a_k, b, b_k, out, out_rows, r0, c0, depth), ROWS)


@intrinsic
def _block1(
    typingctx: Any, a: Any, a_rows: Any, a_k: Any, b: Any, b_k: Any, out: Any, out_rows: Any,
    r0: Any, c0: Any, depth: Any,
) -> Any:  # fmt: skip
    """`_block4` for one row."""
    return _block_parts((a, a_rows, a_k, b, b_k, out, out_rows, r0, c0, depth), 1)


@nb.njit(cache=True)
def serves(dtype_code: int, n_cols: int) -> bool:
    """Whether a product with n_cols output columns goes through `product` (dtype_code: the
    itemsize; float32 only)."""
    return dtype_code == 4 and n_cols % COLUMNS == 0


@nb.njit(cache=True)
def product(
    a: np.ndarray, a_rows: int, a_k: int, b: np.ndarray, b_k: int, out: np.ndarray,
    n_rows: int, n_cols: int, depth: int,
) -> None:  # fmt: skip
    """out (n_rows, n_cols, C-contiguous float32) = A B, A[r, k] = a[r a_rows + k a_k] and
    B[k, c] = b[k b_k + c] from the arrays' first elements; n_cols a multiple of 16."""
    if n_cols % COLUMNS != 0 or n_rows * n_cols > out.size:  # the blocks write 16 columns
        raise ValueError("blocked.product needs n_cols a multiple of 16 and out of n_rows n_cols")
    full = n_rows - n_rows % ROWS
    for r0 in range(0, full, ROWS):
        for c0 in range(0, n_cols, COLUMNS):
            _block4(a, a_rows, a_k, b, b_k, out, n_cols, r0, c0, depth)  # type: ignore[call-arg]
    for r0 in range(full, n_rows):
        for c0 in range(0, n_cols, COLUMNS):
            _block1(a, a_rows, a_k, b, b_k, out, n_cols, r0, c0, depth)  # type: ignore[call-arg]
