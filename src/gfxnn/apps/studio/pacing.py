"""MLPZen's frames on the studio's trainer thread, and the rates the panel shows.

A *frame* is MLPZen's unit of training: `steps_per_frame` steps, or, with `frame_budget_ms`,
steps until that many milliseconds of training are spent (at least one), then a frame offered
to the renderer. The trainer thread holds the fitter lock for about `CHUNK_SECONDS` at a time
(so controls never wait longer), which may be part of a long frame or several short ones:
`FramePacer.plan` says how many steps to run in the next hold, ending on a frame boundary
whenever the frame ends within it, so consecutive short frames run as one call (the renderer
takes a frame at most 10 times a second; offering one between every step would only cost
time). `FramePacer.record` counts the frames completed, the frame time (MLPZen's EMA, alpha
0.95) and the frames per second.
"""

from __future__ import annotations

import math
from collections import deque

__all__ = ["CHUNK_SECONDS", "Ema", "FramePacer", "RateMeter"]

CHUNK_SECONDS = 0.02  # the fitter lock is held this long at most; controls wait no longer
RATE_WINDOW_SECONDS = 2.0


class RateMeter:
    """Events per second over the last `window` seconds, from cumulative counts."""

    def __init__(self, window: float = RATE_WINDOW_SECONDS) -> None:
        self.window = window
        self.clear()

    def clear(self) -> None:
        self._points: deque[tuple[float, float]] = deque()
        self.total = 0.0

    def add(self, now: float, count: float = 1.0) -> None:
        self.total += count
        self._points.append((now, self.total))
        while len(self._points) > 2 and now - self._points[0][0] > self.window:
            self._points.popleft()

    def rate(self, now: float) -> float:
        """0.0 when fewer than two events fell in the window or the newest is older than it
        (nothing is happening)."""
        if len(self._points) < 2 or now - self._points[-1][0] > self.window:
            return 0.0
        (t0, c0), (t1, c1) = self._points[0], self._points[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else 0.0


class Ema:
    """An exponential moving average: value = alpha value + (1 - alpha) new (the first new
    value starts it)."""

    def __init__(self, alpha: float) -> None:
        self.alpha = alpha
        self.value: float | None = None

    def add(self, sample: float) -> None:
        if math.isfinite(sample):
            self.value = (
                sample
                if self.value is None
                else (self.alpha * self.value + (1.0 - self.alpha) * sample)
            )


class FramePacer:
    """Plans the trainer thread's steps in MLPZen's frames (see the module docstring)."""

    def __init__(self, chunk_seconds: float = CHUNK_SECONDS) -> None:
        self.chunk_seconds = chunk_seconds
        self.frame_time_ms = Ema(0.95)  # MLPZen's "Frame Time" smoothing
        self.frames = RateMeter()
        self.restart()

    def restart(self) -> None:
        """A new network (its steps cost differently) or a pause: start a fresh frame."""
        self._step_seconds: float | None = None
        self.pause()

    def pause(self) -> None:
        """Training stopped: the next frame starts afresh, the idle time is not counted and
        the frame time and rate count the frames since training resumed."""
        self.frame_time_ms.value = None
        self.frames.clear()
        self._in_frame = 0  # steps of the current frame done
        self._frame_seconds = 0.0  # training seconds of the current frame so far
        self._frame_start: float | None = None

    @property
    def step_seconds(self) -> float | None:
        """The latest measured seconds per step (None before any)."""
        return self._step_seconds

    def measured(self, steps: int, seconds: float) -> None:
        """`steps` ran in `seconds`: the estimate the next holds are planned with."""
        if steps > 0 and seconds > 0:
            self._step_seconds = seconds / steps

    def chunk_steps(self) -> int:
        """Steps that fill one hold of the lock (1 until a step has been timed)."""
        if self._step_seconds is None:
            return 1
        return int(min(max(self.chunk_seconds / self._step_seconds, 1), 100_000))

    def plan(self, steps_per_frame: int, budget_ms: float | None, limit_left: int | None) -> int:
        """How many steps to run in the next hold of the lock (0 when the limit is reached)."""
        if limit_left is not None and limit_left <= 0:
            return 0
        chunk = self.chunk_steps()
        if budget_ms is not None:
            left = budget_ms / 1e3 - self._frame_seconds
            if self._step_seconds is None:
                n = 1
            else:
                n = max(1, math.ceil(min(left, self.chunk_seconds) / self._step_seconds))
        else:
            remaining = steps_per_frame - self._in_frame
            if remaining > chunk:
                n = chunk  # part of a long frame
            else:  # the current frame and as many whole frames as fit
                n = remaining + steps_per_frame * ((chunk - remaining) // steps_per_frame)
        return n if limit_left is None else min(n, limit_left)

    def record(
        self,
        steps: int,
        seconds: float,
        now: float,
        *,
        steps_per_frame: int,
        budget_ms: float | None,
        limit_reached: bool,
    ) -> int:
        """`steps` ran in `seconds` (ending at `now`): the number of frames they completed
        (a frame cut short by max_steps counts as completed)."""
        if self._frame_start is None:
            self._frame_start = now - seconds
        frames = 0
        if budget_ms is not None:
            self._in_frame += steps
            self._frame_seconds += seconds
            if self._frame_seconds * 1e3 >= budget_ms or limit_reached:
                frames = 1
        else:
            done = self._in_frame + steps
            frames, self._in_frame = divmod(done, steps_per_frame)
            if limit_reached and self._in_frame:
                frames += 1
        if frames:
            # The frames ran back to back: each took its share of the time since the last ended.
            self.frame_time_ms.add(1e3 * (now - self._frame_start) / frames)
            self.frames.add(now, frames)
            self._frame_start = now
            if budget_ms is not None or limit_reached:
                self._in_frame, self._frame_seconds = 0, 0.0
        return frames
