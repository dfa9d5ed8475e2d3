"""Training batches drawn on the host for targets the device cannot sample.

The kernels draw a batch themselves (`SAMPLE`) only where that is the target's own rule: the
nearest sample of a regular grid (`ImageTarget`, `GridTarget`: min(int(x n), n - 1) per axis).
A target that evaluates its function exactly at the drawn point (Learn Cosine's cosine,
Bubbles' spheres, any other `Target`) is sampled here with its own `sample()` and the CPU
trainer's generator, `np.random.default_rng([seed, 1])`, so the device trains on the very
batches the CPU trainer would; each step of a submission gets its own block of `data`
(inputs then targets), found through the step record's `host_offset`.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.fields.targets import GridTarget, ImageTarget

__all__ = ["HostBatches", "device_samples"]

BLOCK_BUDGET = 16 << 20  # bytes of host batches per submission, at most (one block at least)


def device_samples(target: Any) -> bool:
    """Whether the kernels' nearest-sample draw is `target`'s own sampling rule."""
    return isinstance(target, ImageTarget | GridTarget)


class HostBatches:
    """Blocks of host-drawn batches for one submission: block k holds step k's inputs
    (padded rows x d) then targets (padded rows x c), `stride` floats apart."""

    def __init__(
        self, target: Any, rng: np.random.Generator, batch: int, padded: int, d: int, c: int
    ) -> None:
        self.target = target
        self.rng = rng  # the trainer's: it outlives a new batch size or target
        self.batch, self.padded, self.d, self.c = batch, padded, d, c
        self.stride = padded * (d + c)
        self.blocks = max(1, min(64, BLOCK_BUDGET // (4 * self.stride)))
        self._words = np.zeros((self.blocks, self.stride), np.float32)
        self._inputs = np.empty((batch, d), np.float32)
        self._targets = np.empty((batch, c), np.float32)

    def draw(self, block: int) -> int:
        """Draw the next batch into `block`; returns its offset in floats (the step record's
        host_offset)."""
        self.target.sample(self.rng, self._inputs, self._targets)
        words = self._words[block]
        words[: self.batch * self.d] = self._inputs.reshape(-1)
        at = self.padded * self.d
        words[at : at + self.batch * self.c] = self._targets.reshape(-1)
        return block * self.stride

    def upload(self, queue: Any, data: Any, offset_bytes: int, count: int) -> None:
        """Write the first `count` blocks to `data` at `offset_bytes`."""
        queue.write_buffer(data, offset_bytes, self._words[:count].tobytes())
