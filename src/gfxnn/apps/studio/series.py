"""A chart series of the studio: at most a fixed number of (step, value) points that always
span the whole run."""

from __future__ import annotations

import math

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
