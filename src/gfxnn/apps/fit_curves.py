"""`gfxnn fit`'s curves.png: the batch loss and the PSNR against the step."""

from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

__all__ = ["plot_curves"]


def plot_curves(losses: list[float], history: Any) -> bytes:
    """PNG bytes: batch loss (log scale, with a running mean) and PSNR against the step
    (`history.psnr_points`: (step, PSNR) pairs)."""
    from matplotlib.figure import Figure  # Agg via the Figure API: no pyplot global state

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, psnr_axes = figure.subplots(1, 2)
    loss = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(loss) + 1)
    shown = np.isfinite(loss) & (loss > 0)
    if shown.any():
        loss_axes.plot(steps[shown], loss[shown], lw=0.5, alpha=0.4, label="batch loss")
        window = max(1, len(loss) // 100)
        if window > 1:
            smooth = np.convolve(np.where(shown, loss, np.nan), np.ones(window) / window, "valid")
            loss_axes.plot(steps[window - 1 :], smooth, lw=1.5, label=f"mean of {window}")
        loss_axes.set_yscale("log")
        loss_axes.legend()
    loss_axes.set(xlabel="step", ylabel="MSE loss", title="training loss")
    points = [(s, p) for s, p in history.psnr_points if math.isfinite(p)]
    if points:
        psnr_axes.plot(*zip(*points, strict=True), marker="o", ms=3)
    psnr_axes.set(xlabel="step", ylabel="PSNR (dB)", title="full-image PSNR")
    for axes in (loss_axes, psnr_axes):
        axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
