"""`NearestTexelSampler`: Dx12NN's training batch, uniform random UVs and their nearest texels."""

from __future__ import annotations

import numpy as np


class NearestTexelSampler:
    """Draws uv ~ U[0, 1)^2 and the texel image[y, x] with x = min(int(u W), W - 1),
    y = min(int(v H), H - 1).

    Args:
        image: (H, W, C) array; it is copied into a contiguous array of `dtype`.
        rng: the Generator the UVs come from.
        dtype: float32 (default) or float64.
    """

    def __init__(self, image: np.ndarray, rng: np.random.Generator, dtype: type = np.float32):
        height, width, channels = image.shape
        self.height, self.width, self.channels = height, width, channels
        self.dtype = np.dtype(dtype)
        self.rng = rng
        self._texels = np.ascontiguousarray(image.reshape(height * width, channels), self.dtype)
        # One opaque item per texel makes the gather a 1-D `take`, several times faster than
        # fancy indexing rows of a 2-D array.
        self._texel_items = self._texels.view(np.dtype((np.void, channels * self.dtype.itemsize)))
        self._texel_items = self._texel_items.reshape(height * width)
        self._scale = np.array([width, height], self.dtype)
        self._last = np.array([width - 1, height - 1], np.int64)
        self._batch = -1

    def _allocate(self, batch: int) -> None:
        self._scaled = np.empty((batch, 2), self.dtype)
        self._xy = np.empty((batch, 2), np.int64)
        self._index = np.empty(batch, np.int64)
        self._batch = batch

    def sample(self, uv: np.ndarray, target: np.ndarray) -> None:
        """Fill uv (B, 2) with fresh UVs and target (B, C) (contiguous) with their texels."""
        if uv.shape[0] != self._batch:
            self._allocate(uv.shape[0])
        self.rng.random(out=uv, dtype=self.dtype.type)
        self.texels_at(uv, target)

    def texels_at(self, uv: np.ndarray, target: np.ndarray) -> None:
        """target (B, C) = the nearest texels of the given uv (B, 2)."""
        if uv.shape[0] != self._batch:
            self._allocate(uv.shape[0])
        np.multiply(uv, self._scale, out=self._scaled)
        np.copyto(self._xy, self._scaled, casting="unsafe")  # truncation = int() for u >= 0
        np.minimum(self._xy, self._last, out=self._xy)
        np.multiply(self._xy[:, 1], self.width, out=self._index)
        np.add(self._index, self._xy[:, 0], out=self._index)
        items = target.view(self._texel_items.dtype).reshape(target.shape[0])
        np.take(self._texel_items, self._index, out=items)
