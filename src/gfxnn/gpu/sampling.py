# mypy: ignore-errors
# (Warp kernel code: a typed DSL that mypy reads as plain Python and cannot check.)
"""Sampling and input encoding on the device: Dx12NN's training batch and its features.

One thread per batch row: draw uv ~ U[0, 1)^2 with Warp's counter-based generator (or take the
uv the host wrote, for tests), fetch the nearest texel as in `gfxnn.fused.NearestTexelSampler`
(x = min(int(u W), W - 1), y = min(int(v H), H - 1)), and write the encoded features. Rows
past the batch (padding up to a whole tile) get zero features and zero targets.

`encoded_feature(u, v, j, n_frequencies)` is feature j of the encoding: identity when
n_frequencies is 0, otherwise the frequency encoding in the fused path's order
[sin(pi 2^k u), cos(pi 2^k u) for k < F] then the same for v; features past the real ones
(padding up to the kernel's input width) are 0. The inference kernel uses the same function.
"""

from __future__ import annotations

import warp as wp

_TWO_PI32 = wp.constant(6.28318530717958647692)


@wp.func
def encoded_feature(u: float, v: float, j: int, n_features: int, n_frequencies: int) -> float:
    """Feature j of (u, v); 0 for j >= n_features (padding)."""
    if j >= n_features:
        return 0.0
    if n_frequencies == 0:
        if j == 0:
            return u
        return v
    per_dim = 2 * n_frequencies
    x = u
    if j >= per_dim:
        x = v
    k = (j % per_dim) // 2
    # sin(pi 2^k x) = sin(2 pi fract(2^(k-1) x)): the phase reduced exactly, as every backend
    # does (gfxnn.encodings.sincos; the fused path evaluates its polynomial, ~1e-7 from this).
    turns = x * (float(1 << k) * 0.5)
    phase = (turns - wp.floor(turns)) * _TWO_PI32
    if j % 2 == 0:
        return wp.sin(phase)
    return wp.cos(phase)


@wp.kernel(enable_backward=False)
def sample_batch(
    seed: int,
    counters: wp.array[wp.int32],
    draw_uv: int,
    gather_target: int,
    batch: int,
    n_features: int,
    n_frequencies: int,
    image: wp.array3d[float],
    uv: wp.array2d[float],
    features: wp.array2d[float],
    target: wp.array2d[float],
):
    """One row of the batch: uv (drawn or given), features (B_pad, n_in_pad), target
    (B_pad, n_out_pad); `counters[0]` (the step number) seeds this step's random numbers."""
    row = wp.tid()
    n_in_pad = features.shape[1]
    if row >= batch:
        for j in range(n_in_pad):
            features[row, j] = 0.0
        if gather_target != 0:
            for c in range(target.shape[1]):
                target[row, c] = 0.0
        return
    if draw_uv != 0:
        step_seed = wp.rand_init(seed, counters[0])
        state = wp.rand_init(wp.int32(step_seed), row)
        uv[row, 0] = wp.randf(state)
        uv[row, 1] = wp.randf(state)
    u = uv[row, 0]
    v = uv[row, 1]
    for j in range(n_in_pad):
        features[row, j] = encoded_feature(u, v, j, n_features, n_frequencies)
    if gather_target != 0:
        height = image.shape[0]
        width = image.shape[1]
        x = wp.min(int(u * float(width)), width - 1)
        y = wp.min(int(v * float(height)), height - 1)
        for c in range(target.shape[1]):
            value = 0.0
            if c < image.shape[2]:
                value = image[y, x, c]
            target[row, c] = value
