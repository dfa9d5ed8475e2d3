"""The studio's chart series: at most a fixed number of (step, value) points that always span
the whole run, one loss and one PSNR series per network."""

from __future__ import annotations

import math
from typing import Any

HISTORY_POINTS = 600  # per chart series


class Series:
    """At most `limit` (step, value) points spanning the whole run: when full, every other
    point is dropped and only every 2nd (then 4th, ...) new point is kept."""

    def __init__(self, limit: int = HISTORY_POINTS) -> None:
        self.limit = limit
        self.clear()

    def clear(self) -> None:
        self.points: list[list[float]] = []
        self._stride = 1
        self._count = 0

    def add(self, step: int, value: float) -> None:
        if not math.isfinite(value):
            return
        self._count += 1
        if self._count % self._stride:
            return
        self.points.append([step, value])
        if len(self.points) > self.limit:
            self.points = self.points[::2]
            self._stride *= 2


class Charts:
    """Per-network loss and PSNR series and each network's latest PSNR."""

    def __init__(self, n_networks: int = 1) -> None:
        self.reset(n_networks)

    def reset(self, n_networks: int) -> None:
        """Empty series for `n_networks` networks (a new network or example)."""
        self.loss = [Series() for _ in range(n_networks)]
        self.psnr = [Series() for _ in range(n_networks)]
        self.last_psnr: list[float | None] = [None] * n_networks

    def clear_psnr(self) -> None:
        """The view changed (another image or z plane): earlier PSNRs measured something else."""
        self.reset_psnr(len(self.psnr))

    def reset_psnr(self, n_networks: int) -> None:
        self.psnr = [Series() for _ in range(n_networks)]
        self.last_psnr = [None] * n_networks

    def add_losses(self, step: int, losses: list[float]) -> None:
        for series, value in zip(self.loss, losses, strict=False):
            series.add(step, value)

    def add_psnrs(self, step: int, psnrs: list[float]) -> None:
        for index, value in enumerate(psnrs[: len(self.psnr)]):
            self.psnr[index].add(step, value)
            self.last_psnr[index] = value if math.isfinite(value) else None

    def history(self, index: int) -> dict[str, Any]:
        return {"loss": list(self.loss[index].points), "psnr": list(self.psnr[index].points)}
