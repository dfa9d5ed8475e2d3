"""Asynchronous readback of the loss ring: after each submission the ring (and the divergence
word) is copied to a staging buffer that the host maps later, so training never waits for it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LossReader"]

MAX_PENDING = 64  # submissions in flight before the oldest one is waited for


@dataclass
class _Pending:
    buffer: Any
    promise: Any
    first_step: int  # steps first_step .. last_step (1-based) were in this submission
    last_step: int
    submitted: float


class LossReader:
    """Losses of every submitted step, in order, and the first diverged step.

    `losses` is the device buffer of wgsl/bindings.wgsl: word 0 the diverged step, then the
    ring of `slots` losses (step s at slot (s - 1) % slots).
    """

    def __init__(self, device: Any, slots: int) -> None:
        self.device = device
        self.slots = slots
        self._pending: list[_Pending] = []
        self._done: list[float] = []
        self.diverged = 0
        # Device time: from the first submission while none was pending to the moment all were
        # read, summed over such busy periods (an upper bound: it includes the host's wait).
        self.busy_seconds = 0.0
        self.steps_read = 0
        self._busy_since = 0.0

    def after_submit(self, encoder: Any, losses: Any, first_step: int, last_step: int) -> None:
        """Record the copy of the ring into a staging buffer at the end of `encoder`'s work;
        call `submitted` once the encoder's commands are submitted."""
        import wgpu

        size = 4 * (1 + self.slots)
        staging = self.device.create_buffer(
            size=size, usage=wgpu.BufferUsage.MAP_READ | wgpu.BufferUsage.COPY_DST
        )
        encoder.copy_buffer_to_buffer(losses, 0, staging, 0, size)
        self._pending.append(_Pending(staging, None, first_step, last_step, 0.0))

    def submitted(self) -> None:
        pending = self._pending[-1]
        pending.submitted = time.perf_counter()
        if len(self._pending) == 1:
            self._busy_since = pending.submitted
        pending.promise = pending.buffer.map_async("READ")
        if len(self._pending) > MAX_PENDING:
            self._resolve(self._pending.pop(0))
            self._busy_since = self._pending[0].submitted

    def _resolve(self, pending: _Pending) -> None:
        pending.promise.sync_wait()
        words = np.frombuffer(pending.buffer.read_mapped(), np.uint32).copy()
        pending.buffer.unmap()
        pending.buffer.destroy()
        self.steps_read += pending.last_step - pending.first_step + 1
        ring = words[1:].view(np.float32)
        diverged = int(words[0])
        last = pending.last_step
        if self.diverged:  # nothing ran after the divergence
            return
        if diverged and diverged <= last:
            self.diverged = diverged
            last = diverged - 1
        for s in range(pending.first_step, last + 1):
            self._done.append(float(ring[(s - 1) % self.slots]))

    def flush(self) -> None:
        """Wait for every submission."""
        if not self._pending:
            return
        while self._pending:
            self._resolve(self._pending.pop(0))
        self.busy_seconds += time.perf_counter() - self._busy_since

    def losses(self) -> list[float]:
        """Losses of the good steps read since the last call (waits for the device)."""
        self.flush()
        values, self._done = self._done, []
        return values

    def reset(self) -> None:
        self.flush()
        self._done = []
        self.diverged = 0
