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


@wp.kernel(enable_backward=False)
def adam_step(
    params: wp.array[float],
    grads: wp.array[float],
    m: wp.array[float],
    v: wp.array[float],
    lr: wp.float64,
    beta1: wp.float64,
    beta2: wp.float64,
    eps: float,
    l2_reg: float,
    unscale: float,
    counters: wp.array[wp.int32],
    losses: wp.array[float],
):
    i = wp.tid()
    diverged = _diverged(counters, losses)
    if not diverged:
        # adam_update, line by line (its docstring has the equations):
        t = counters[1]
        p = params[i]
        g = grads[i] * unscale + p * l2_reg  # g <- g + lambda theta
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
    lr: float,
    l2_reg: float,
    unscale: float,
    counters: wp.array[wp.int32],
    losses: wp.array[float],
):
    i = wp.tid()
    diverged = _diverged(counters, losses)
    if not diverged:
        # sgd_update without momentum: theta <- theta - lr (g + lambda theta)
        params[i] = params[i] - (grads[i] * unscale + params[i] * l2_reg) * lr
    _finish(i, grads, counters, diverged)
