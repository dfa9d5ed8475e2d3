# mypy: ignore-errors
# (Warp kernel code: a typed DSL that mypy reads as plain Python and cannot check.)
"""Fused optimizer kernels: one thread per parameter, the whole update in one launch.

The update equations are `gfxnn.optim.functional`'s `adam_update` and `sgd_update`
(torch.optim's, with tiny-cuda-nn's l2_reg as coupled weight decay), operation for operation in
the same order: a Warp kernel cannot call the NumPy rule, so tests/test_gpu.py runs both on the
same numbers. The step number t comes from the device (`counters[1]`, written by the training
kernel), so a captured CUDA graph replays correct bias corrections; thread 0 then advances the
step counter `counters[0]`. Each thread zeroes its gradient after use, so the next training
pass can accumulate into it without a separate memset. `unscale` undoes the training kernel's
gradient scaling (1 in fp32; 2 / (B C) in fp16, the loss scaling).

Divergence, without a host synchronisation: when this step's loss (`losses[(t-1) % R]`) is not
finite, or an earlier step diverged, the parameters and moments are left alone and
`counters[2]` records the first diverged step, which the host reads with the losses.

MLPZen's controls: the learning rate is read from a device array (`rates[0]`), so a schedule
changes it with one copy and a captured CUDA graph replays the new rate; `clip_mode` 1 clamps
each gradient element to +-clip_value, 2 scales it by `clip_scale[0]` (from `gradient_norm`
and `clip_scale`: torch's min(1, c / (||g|| + 1e-6)), summed in a fixed order in float64, no
float atomics), both before l2_reg; Adam's t is the device's step count less `t_offset`, the
steps taken while the network was frozen (`frozen_step` then runs instead of the optimizer:
it only finishes the step, so weights and moments are not touched).
"""

from __future__ import annotations

import warp as wp


@wp.func
def _diverged(counters: wp.array[wp.int32], losses: wp.array[float]) -> bool:
    # This step (t = counters[1]) diverged, or an earlier one did.
    loss = losses[(counters[1] - 1) % losses.shape[0]]
    return counters[2] != 0 or not wp.isfinite(loss)


@wp.func
def _finish(tid: int, grads: wp.array[float], counters: wp.array[wp.int32], diverged: bool):
    # Zero the gradient (the next training pass accumulates into it); thread 0 advances the
    # step counter and records the first diverged step.
    grads[tid] = 0.0
    if tid == 0:
        t = counters[1]
        counters[0] = t
        if diverged and counters[2] == 0:
            counters[2] = t


NORM_CHUNKS = 256  # partial sums of the norm clip, each over a fixed range of parameters


@wp.func
def _clipped(g: float, clip_mode: int, clip_value: float, clip_scale: wp.array[float]) -> float:
    # The loss gradient as the optimizer takes it (before l2_reg): clamped or scaled.
    if clip_mode == 1:
        return wp.clamp(g, -clip_value, clip_value)
    if clip_mode == 2:
        return g * clip_scale[0]
    return g


@wp.kernel(enable_backward=False)
def gradient_norm(grads: wp.array[float], unscale: float, partials: wp.array[wp.float64]):
    """Thread k: the sum of squares (float64) of the k-th of NORM_CHUNKS ranges of grads."""
    k = wp.tid()
    n = grads.shape[0]
    size = (n + NORM_CHUNKS - 1) // NORM_CHUNKS
    total = wp.float64(0.0)
    for i in range(k * size, wp.min(n, (k + 1) * size)):
        g = wp.float64(grads[i] * unscale)
        total += g * g
    partials[k] = total


@wp.kernel(enable_backward=False)
def clip_scale(partials: wp.array[wp.float64], clip_value: float, scale: wp.array[float]):
    """One thread: the partial sums in order, then min(1, c / (||g|| + 1e-6))."""
    total = wp.float64(0.0)
    for k in range(NORM_CHUNKS):
        total += partials[k]
    ratio = wp.float64(clip_value) / (wp.sqrt(total) + wp.float64(1e-6))
    scale[0] = float(wp.min(ratio, wp.float64(1.0)))


@wp.kernel(enable_backward=False)
def frozen_step(grads: wp.array[float], counters: wp.array[wp.int32], losses: wp.array[float]):
    """The optimizer's launch while the network is frozen: finish the step only."""
    i = wp.tid()
    _finish(i, grads, counters, _diverged(counters, losses))


@wp.kernel(enable_backward=False)
def adam_step(
    params: wp.array[float],
    grads: wp.array[float],
    m: wp.array[float],
    v: wp.array[float],
    rates: wp.array[wp.float64],
    beta1: wp.float64,
    beta2: wp.float64,
    eps: float,
    l2_reg: float,
    unscale: float,
    clip_mode: int,
    clip_value: float,
    clip_scale: wp.array[float],
    t_offset: int,
    counters: wp.array[wp.int32],
    losses: wp.array[float],
):
    i = wp.tid()
    diverged = _diverged(counters, losses)
    if not diverged:
        # adam_update, line by line (its docstring has the equations):
        t = counters[1] - t_offset
        lr = rates[0]
        p = params[i]
        g = _clipped(grads[i] * unscale, clip_mode, clip_value, clip_scale) + p * l2_reg
        m_new = m[i] + (g - m[i]) * float(wp.float64(1.0) - beta1)  # m + (1 - b1)(g - m)
        v_new = v[i] * float(beta2) + g * g * float(wp.float64(1.0) - beta2)
        # Bias corrections in float64, rounded once, as the NumPy rule computes them.
        step_size = float(lr / (wp.float64(1.0) - wp.pow(beta1, wp.float64(t))))
        sqrt_c2 = float(wp.sqrt(wp.float64(1.0) - wp.pow(beta2, wp.float64(t))))
        m[i] = m_new
        v[i] = v_new
        params[i] = p - m_new / (wp.sqrt(v_new) / sqrt_c2 + eps) * step_size
    _finish(i, grads, counters, diverged)


@wp.kernel(enable_backward=False)
def sgd_step(
    params: wp.array[float],
    grads: wp.array[float],
    rates: wp.array[wp.float64],
    l2_reg: float,
    unscale: float,
    clip_mode: int,
    clip_value: float,
    clip_scale: wp.array[float],
    counters: wp.array[wp.int32],
    losses: wp.array[float],
):
    i = wp.tid()
    diverged = _diverged(counters, losses)
    if not diverged:
        # sgd_update without momentum: theta <- theta - lr (g + lambda theta)
        g = _clipped(grads[i] * unscale, clip_mode, clip_value, clip_scale)
        params[i] = params[i] - (g + params[i] * l2_reg) * float(rates[0])
    _finish(i, grads, counters, diverged)
