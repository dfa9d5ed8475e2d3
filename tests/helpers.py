"""One helper for op tests: the same expression in gfxnn and PyTorch, values and gradients."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

import gfxnn


def random_inputs(
    shapes: Sequence[tuple[int, ...]],
    low: float = -2.0,
    high: float = 2.0,
    seed: int = 0,
    away_from: Sequence[float] = (),
    margin: float = 0.1,
) -> list[np.ndarray]:
    """float64 arrays in [low, high], nudged at least `margin` away from kinks in `away_from`."""
    rng = np.random.default_rng(seed)
    arrays = []
    for shape in shapes:
        x = rng.uniform(low, high, size=shape)
        for kink in away_from:
            close = np.abs(x - kink) < margin
            x = np.where(close, kink + margin * np.where(x >= kink, 1.5, -1.5), x)
        arrays.append(x)
    return arrays


def check_against_torch(
    our_fn: Callable[..., gfxnn.Tensor],
    torch_fn: Callable[..., object],
    inputs: Sequence[np.ndarray],
    atol: float = 1e-9,
    rtol: float = 1e-7,
) -> None:
    """Forward values and gradients (with a random upstream gradient) agree with PyTorch."""
    import torch

    ours = [gfxnn.Tensor(x.copy(), requires_grad=True) for x in inputs]
    theirs = [torch.tensor(x.copy(), requires_grad=True) for x in inputs]
    out = our_fn(*ours)
    ref = torch_fn(*theirs)
    assert isinstance(ref, torch.Tensor)
    np.testing.assert_allclose(out.data, ref.detach().numpy(), atol=atol, rtol=rtol)
    upstream = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(upstream)
    ref.backward(torch.tensor(upstream))
    for index, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        expected = np.zeros_like(a.data) if b.grad is None else b.grad.numpy()
        got = np.zeros_like(a.data) if a.grad is None else a.grad
        np.testing.assert_allclose(
            got, expected, atol=atol, rtol=rtol, err_msg=f"gradient of input {index}"
        )
