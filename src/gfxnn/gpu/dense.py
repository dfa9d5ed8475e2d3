# mypy: ignore-errors
# (Warp kernel code: a typed DSL that mypy reads as plain Python and cannot check.)
"""One Linear layer on a tile of rows, forward and backward, as Warp functions (fp32 or fp16).

Each layer's work is its own `wp.func` because Warp sizes a kernel's shared memory as its own
shared tiles plus the largest callee frame: tiles local to a function are reused by the next
call, where the same tiles in the kernel body would all add up (416 KB instead of 144 KB for
128 rows x 64 neurons).

fp16 ("half"): the operands of every product are rounded to float16 in shared memory (the input
tile, the fp32 master weights as loaded, the output gradient) and the products accumulate in
float32 (`tile_matmul(a, b, out)` with a float32 `out`), which is what the tensor cores do;
biases, activations, the loss and all gradient sums stay float32. Loss scaling is the caller's:
the training kernel feeds unnormalised residuals (dL/dy times B C / 2) and the optimizer
rescales, so fp16 never sees the tiny 2 r / (B C).
"""

from __future__ import annotations

from typing import Any

import warp as wp


@wp.func
def _add(a: float, b: float) -> float:
    return a + b


@wp.func
def _copy(a: float) -> float:
    return a


def dense_functions(rows: int, n_in: int, n_out: int, module: str, half: bool) -> tuple[Any, Any]:
    """(forward, backward) of a Linear layer n_in -> n_out on `rows` rows:
    forward(x, w, b) -> z = x W^T + b (rows, n_out);
    backward(grad_z, inputs, w, grad_w, grad_b, wants_input_grad) adds dW = grad_z^T inputs and
    db = column sums of grad_z atomically into grad_w, grad_b (the reduction over the blocks of
    the batch) and returns grad_z W (rows, n_in), zeros unless wants_input_grad.
    Tiles come in and go out as register tiles: a returned shared tile would live in the
    caller's frame, and tile_matmul inside a function does not move register tiles to shared
    memory itself, hence the explicit copies."""
    suffix = f"{rows}_{n_in}_{n_out}" + ("_half" if half else "")

    # `half` is a Python constant of this closure: Warp compiles only the branch it selects,
    # so each precision's function holds just its own tiles (one signature serves both).

    @wp.func(name=f"dense_forward_{suffix}", module=module)
    def forward(x: Any, w: wp.array2d[float], b: wp.array[float]):
        if half:
            x_half = wp.tile_empty(shape=(rows, n_in), dtype=wp.float16, storage="shared")
            wp.tile_assign(x_half, wp.tile_astype(x, wp.float16))
            w_half = wp.tile_empty(shape=(n_out, n_in), dtype=wp.float16, storage="shared")
            wp.tile_assign(w_half, wp.tile_astype(wp.tile_load(w, shape=(n_out, n_in)), wp.float16))
            bias = wp.tile_load(b, shape=n_out, storage="shared")
            z = wp.tile_zeros(shape=(rows, n_out), dtype=float, storage="shared")
            wp.tile_matmul(x_half, wp.tile_transpose(w_half), z)
        else:
            x_shared = wp.tile_empty(shape=(rows, n_in), dtype=float, storage="shared")
            wp.tile_assign(x_shared, x)
            weight = wp.tile_load(w, shape=(n_out, n_in), storage="shared")
            bias = wp.tile_load(b, shape=n_out, storage="shared")
            z = wp.tile_matmul(x_shared, wp.tile_transpose(weight))
        return wp.tile_map(_add, z, wp.tile_broadcast(bias, shape=(rows, n_out)))

    @wp.func(name=f"dense_backward_{suffix}", module=module)
    def backward(
        grad_z: Any,
        inputs: Any,
        w: wp.array2d[float],
        grad_w: wp.array2d[float],
        grad_b: wp.array[float],
        wants_input_grad: int,
    ):
        g_shared = wp.tile_empty(shape=(rows, n_out), dtype=float, storage="shared")
        wp.tile_assign(g_shared, grad_z)
        if half:
            g_half = wp.tile_empty(shape=(rows, n_out), dtype=wp.float16, storage="shared")
            wp.tile_assign(g_half, wp.tile_astype(grad_z, wp.float16))
            in_half = wp.tile_empty(shape=(rows, n_in), dtype=wp.float16, storage="shared")
            wp.tile_assign(in_half, wp.tile_astype(inputs, wp.float16))
            grad_weight = wp.tile_zeros(shape=(n_out, n_in), dtype=float, storage="shared")
            wp.tile_matmul(wp.tile_transpose(g_half), in_half, grad_weight)
        else:
            in_shared = wp.tile_empty(shape=(rows, n_in), dtype=float, storage="shared")
            wp.tile_assign(in_shared, inputs)
            grad_weight = wp.tile_matmul(wp.tile_transpose(g_shared), in_shared)
        wp.tile_atomic_add(grad_w, grad_weight)
        wp.tile_atomic_add(grad_b, wp.tile_sum(g_shared, axis=0))
        if wants_input_grad:
            if half:
                w_half = wp.tile_empty(shape=(n_out, n_in), dtype=wp.float16, storage="shared")
                weight = wp.tile_load(w, shape=(n_out, n_in))
                wp.tile_assign(w_half, wp.tile_astype(weight, wp.float16))
                grad_in = wp.tile_zeros(shape=(rows, n_in), dtype=float, storage="shared")
                wp.tile_matmul(g_half, w_half, grad_in)
            else:
                weight = wp.tile_load(w, shape=(n_out, n_in), storage="shared")
                grad_in = wp.tile_matmul(g_shared, weight)
            return wp.tile_map(_copy, grad_in)
        return wp.tile_zeros(shape=(rows, n_in), dtype=float)

    return forward, backward
