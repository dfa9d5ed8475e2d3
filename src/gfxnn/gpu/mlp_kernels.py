# mypy: ignore-errors
# (Warp kernel code: a typed DSL that mypy reads as plain Python and cannot check.)
"""Tile kernels of the MLP: the fused training pass and full-frame inference.

The tile shapes are compile-time constants, so the kernels are made by `mlp_kernels(shape)`
for one `TileShape` (rows per tile, padded input width, hidden width, number of hidden-to-
hidden layers, padded output width) and cached; the activations, the encoding's parameters and
the batch size are run-time arguments, so one compiled module serves them all.

Training, one block per tile of `rows` batch rows (weights (out, in) as in `FusedMLP`):
    forward:  z_l = a_{l-1} W_l^T + b_l (tile_matmul), a_l = act(z_l); hidden z_l are kept in
              a global scratch array (each thread stores and reloads its own elements of the
              register tiles, so no barrier is needed between the two)
    loss:     r = (y - t) * mask (mask drops padded rows and channels), the tile's sum of r^2
              is added atomically into this step's loss slot, scaled by 1 / (B C)
    backward: g = s r * act'(z_L), with s = 2 / (B C) in fp32 (the optimizer rescales by 1)
              and s = 1 in fp16 (the optimizer rescales by 2 / (B C): the loss scaling); per
              layer dW = g^T a_{l-1}, db = column sums of g, both added atomically into the
              flat gradient buffer (the atomics reduce the per-tile partial sums);
              g <- (g W_l) * act'(z_{l-1})
Padding: the input and output widths are rounded up (`TileShape`); tile_load reads zeros past
the real weights and tile_atomic_add skips the padded gradient entries (bounds checks).

Inference, one block per tile of `rows` pixels: the features of pixel p = (x, y) at
uv = (x / (w-1), y / (h-1)) are computed in the tile itself (`encoded_feature` mapped over an
index tile), then the forward pass, then a bounds-checked store of the 3 channels: one launch
for a whole frame.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import warp as wp

from gfxnn.gpu.activations import act_derivative, act_value
from gfxnn.gpu.dense import dense_functions
from gfxnn.gpu.sampling import encoded_feature


@dataclass(frozen=True)
class TileShape:
    """Compile-time shape of the MLP kernels.

    rows: batch rows (or pixels) per block; n_in: input width padded (multiple of 8);
    n_neurons: hidden width; n_mid: hidden-to-hidden layers (n_hidden_layers - 1);
    n_out: output width padded (multiple of 8); mathdx: tile_matmul through cuBLASDx (Warp's
    default on CUDA) or, when False, Warp's own scalar tile GEMM (much faster to compile; which
    runs faster is for the benchmark to say). The CPU ignores it. half: fp16 products with
    fp32 accumulation (`gfxnn.gpu.dense`).
    """

    rows: int
    n_in: int
    n_neurons: int
    n_mid: int
    n_out: int
    mathdx: bool = True
    half: bool = False

    @property
    def module_name(self) -> str:
        dims = f"r{self.rows}_i{self.n_in}_h{self.n_neurons}_m{self.n_mid}_o{self.n_out}"
        return (
            f"gfxnn_gpu_mlp_{dims}"
            + ("" if self.mathdx else "_simt")
            + ("_fp16" if self.half else "")
        )


def pad8(n: int) -> int:
    """n rounded up to a multiple of 8 (tile widths that suit the tensor cores)."""
    return -(-n // 8) * 8


@wp.func
def _mul(a: float, b: float) -> float:
    return a * b


@wp.func
def _residual(y: float, t: float, m: float) -> float:
    return (y - t) * m


@wp.func
def _pixel_feature(
    index: int,
    base: int,
    n_in_pad: int,
    width: int,
    height: int,
    n_features: int,
    n_frequencies: int,
) -> float:
    pixel = base + index // n_in_pad
    j = index % n_in_pad
    x = pixel % width
    y = pixel // width
    # uv in float64 then rounded, as the fused path's np.arange(w) / (w - 1) cast to float32
    u = float(wp.float64(x) / wp.float64(wp.max(width - 1, 1)))
    v = float(wp.float64(y) / wp.float64(wp.max(height - 1, 1)))
    return encoded_feature(u, v, j, n_features, n_frequencies)


@functools.cache
def mlp_kernels(shape: TileShape) -> tuple[Any, Any]:
    """(train, infer) kernels for `shape`, compiled once per shape and process."""
    TB, IN, H, NMID, OUT = shape.rows, shape.n_in, shape.n_neurons, shape.n_mid, shape.n_out
    module = shape.module_name
    wp.get_module(module).options["enable_mathdx_gemm"] = shape.mathdx
    N_INDEX = TB * IN  # tile_arange needs a constant, not an expression
    first_forward, first_backward = dense_functions(TB, IN, H, module, shape.half)
    mid_forward, mid_backward = dense_functions(TB, H, H, module, shape.half)
    last_forward, last_backward = dense_functions(TB, H, OUT, module, shape.half)

    @wp.kernel(enable_backward=False, module=module)
    def train_tile(
        features: wp.array2d[float],
        target: wp.array2d[float],
        mask: wp.array2d[float],
        w_first: wp.array2d[float],
        b_first: wp.array[float],
        w_mid: wp.array3d[float],
        b_mid: wp.array2d[float],
        w_last: wp.array2d[float],
        b_last: wp.array[float],
        gw_first: wp.array2d[float],
        gb_first: wp.array[float],
        gw_mid: wp.array3d[float],
        gb_mid: wp.array2d[float],
        gw_last: wp.array2d[float],
        gb_last: wp.array[float],
        hidden_z: wp.array3d[float],
        act: int,
        out_act: int,
        inv_count: float,
        grad_scale: float,
        counters: wp.array[wp.int32],
        losses: wp.array[float],
    ):
        tile, lane = wp.tid()
        row = tile * TB
        n_slots = losses.shape[0]
        step = counters[0]
        # ----- forward; the hidden pre-activations go to global scratch for the backward
        # pass (every tile operation between the store and the reload synchronises the block)
        x = wp.tile_load(features, shape=(TB, IN), offset=(row, 0))
        z = first_forward(x, w_first, b_first)
        wp.tile_store(hidden_z[0], z, offset=(row, 0))
        a = wp.tile_map(act_value, z, act)
        for layer in range(NMID):
            z_mid = mid_forward(a, w_mid[layer], b_mid[layer])
            wp.tile_store(hidden_z[layer + 1], z_mid, offset=(row, 0))
            a = wp.tile_map(act_value, z_mid, act)
        z_out = last_forward(a, w_last, b_last)
        y = wp.tile_map(act_value, z_out, out_act)
        # ----- loss: mean squared error over the real rows and channels
        t = wp.tile_load(target, shape=(TB, OUT), offset=(row, 0))
        m = wp.tile_load(mask, shape=(TB, OUT), offset=(row, 0))
        r = wp.tile_map(_residual, y, t, m)
        partial = wp.tile_sum(wp.tile_map(_mul, r, r)) * inv_count
        wp.tile_atomic_add(losses, partial, offset=step % n_slots)
        # ----- backward
        g = wp.tile_map(_mul, r * grad_scale, wp.tile_map(act_derivative, z_out, out_act))
        grad_a = last_backward(g, a, w_last, gw_last, gb_last, 1)
        for k in range(NMID):
            layer = NMID - 1 - k
            z_here = wp.tile_load(hidden_z[layer + 1], shape=(TB, H), offset=(row, 0))
            g_mid = wp.tile_map(_mul, grad_a, wp.tile_map(act_derivative, z_here, act))
            z_below = wp.tile_load(hidden_z[layer], shape=(TB, H), offset=(row, 0))
            a_below = wp.tile_map(act_value, z_below, act)
            grad_a = mid_backward(g_mid, a_below, w_mid[layer], gw_mid[layer], gb_mid[layer], 1)
        z_first = wp.tile_load(hidden_z[0], shape=(TB, H), offset=(row, 0))
        g_first = wp.tile_map(_mul, grad_a, wp.tile_map(act_derivative, z_first, act))
        first_backward(g_first, x, w_first, gw_first, gb_first, 0)
        if tile == 0 and lane == 0:
            # The optimizer reads the step it completes from counters[1] (it must not read
            # counters[0], which it advances); the next step's loss slot starts at zero.
            counters[1] = step + 1
            losses[(step + 1) % n_slots] = 0.0

    @wp.kernel(enable_backward=False, module=module)
    def infer_tile(
        width: int,
        height: int,
        n_features: int,
        n_frequencies: int,
        w_first: wp.array2d[float],
        b_first: wp.array[float],
        w_mid: wp.array3d[float],
        b_mid: wp.array2d[float],
        w_last: wp.array2d[float],
        b_last: wp.array[float],
        act: int,
        out_act: int,
        image: wp.array2d[float],
    ):
        tile = wp.tid()
        base = tile * TB
        index = wp.tile_reshape(wp.tile_arange(N_INDEX, dtype=int), shape=(TB, IN))
        x = wp.tile_map(_pixel_feature, index, base, IN, width, height, n_features, n_frequencies)
        a = wp.tile_map(act_value, first_forward(x, w_first, b_first), act)
        for layer in range(NMID):
            a = wp.tile_map(act_value, mid_forward(a, w_mid[layer], b_mid[layer]), act)
        y = wp.tile_map(act_value, last_forward(a, w_last, b_last), out_act)
        wp.tile_store(image, y, offset=(base, 0))

    return train_tile, infer_tile
