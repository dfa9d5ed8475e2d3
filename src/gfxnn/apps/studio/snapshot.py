"""The studio's published state: one JSON-able dict per publish, every key documented in
docs/studio.md ("state") and read by the page's `window.gfxnnStudio.state()`."""

from __future__ import annotations

import math
from typing import Any

from gfxnn.apps.studio.pacing import FramePacer
from gfxnn.apps.studio.series import Charts
from gfxnn.apps.studio.workload import Workload, combined_psnr

__all__ = ["PHASES", "build_snapshot", "finite"]

PHASES = {
    "initialize": "Initialize",
    "backpropagation": "Backpropagation",
    "optimization": "Optimization",
    "inference": "Inference",
}


def finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def build_snapshot(
    work: Workload,
    charts: Charts,
    *,
    running: bool,
    training: bool,
    timings: dict[str, float],
    steps_per_second: float,
    frames_per_second: float,
    pacer: FramePacer,
    now: float,
    extra: dict[str, Any],
) -> dict[str, Any]:
    """The state of `work` (the caller holds the session's lock); `extra` adds the
    session's own keys (files, image, error, ...)."""
    settings = work.settings
    losses = work.losses()
    psnrs = [finite(p) for p in charts.last_psnr]
    networks = [
        {
            "index": index,
            "label": work.labels[index] if index < len(work.labels) else str(index),
            "loss": losses[index],
            "psnr": psnrs[index],
            "history": charts.history(index),
        }
        for index in range(work.n_networks)
    ]
    known = [p for p in charts.last_psnr if p is not None]
    psnr = combined_psnr(known) if len(known) == work.n_networks else None
    finite_losses = [v for v in losses if v is not None]
    height, width = work.preview
    frame_time = pacer.frame_time_ms.value if training else None
    return {
        "running": running,
        "training": training,
        "example": work.example,
        "steps": work.steps,
        "max_steps": settings.max_steps,
        "limit_reached": work.limit_reached(),
        "steps_per_second": steps_per_second,
        "loss": finite(sum(finite_losses) / len(finite_losses)) if finite_losses else None,
        "psnr": finite(psnr),
        "learning_rate": work.current_learning_rate(),
        "frame_time_ms": finite(frame_time),
        "training_frames_per_second": pacer.frames.rate(now) if training else 0.0,
        "frames_per_second": frames_per_second,
        "settings": settings.to_dict(),
        "timings_ms": {label: timings.get(phase, 0.0) for phase, label in PHASES.items()},
        "adapter": extra.get("device"),
        "backend": work.backend,
        "n_networks": work.n_networks,
        "sizes_kb": work.sizes_kb(),
        "networks": networks,
        "history": charts.history(0),
        "preview": {"width": width, "height": height},
        "reference": {"width": width, "height": height, "version": extra["reference_version"]},
        **{k: v for k, v in extra.items() if k != "reference_version"},
    }
