"""What is fitted: a signal sampled on a regular grid, from which training batches are drawn.

A `Target` says how many inputs and outputs the signal has, draws a training batch (uniform
inputs in [0, 1)^d and the signal's nearest sample at each), and gives the reference values on
its render grid (for PSNR). Nothing here assumes 2 inputs or 3 outputs: a 1-D function is a
grid of shape (N,), a 3-D field (D, H, W), an image (H, W) with C channels.

Grid convention (shared with `Trainer.render`): the last input dimension is the first array
axis, so an image's (u, v) samples pixel (x, y) of an (H, W) grid, and sample i along an axis
of size n sits at i / (n - 1) (0 when n is 1).
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from gfxnn.fused.sampler import NearestTexelSampler

__all__ = ["ImageTarget", "Target", "check_image"]


@runtime_checkable
class Target(Protocol):
    """A signal to fit. `reference()` is (*grid_shape, n_output_dims) float32."""

    n_input_dims: int
    n_output_dims: int
    grid_shape: tuple[int, ...]

    def sample(self, rng: np.random.Generator, inputs: np.ndarray, targets: np.ndarray) -> None:
        """Fill inputs (B, n_input_dims) with uniform draws in [0, 1) from `rng` and targets
        (B, n_output_dims) with the signal's nearest samples there."""
        ...

    def reference(self) -> np.ndarray:
        """The signal on its grid, (*grid_shape, n_output_dims) float32."""
        ...


def check_image(image: Any, n_channels: int | None = 3) -> np.ndarray:
    """`image` as a contiguous float32 (H, W, C) array (C = n_channels unless None), or a
    TypeError/ValueError that says what is wrong with the image."""
    channels = "C" if n_channels is None else str(n_channels)
    if not isinstance(image, np.ndarray):
        raise TypeError(
            f"image must be a numpy array (H, W, {channels}), got {type(image).__name__}"
        )
    wrong_channels = n_channels is not None and image.ndim == 3 and image.shape[2] != n_channels
    if image.ndim != 3 or min(image.shape) < 1 or wrong_channels:
        raise ValueError(f"image must have shape (H, W, {channels}), got {image.shape}")
    if image.dtype.kind != "f":
        raise ValueError(f"image must be float in [0, 1], got dtype {image.dtype}")
    pixels = np.ascontiguousarray(image, np.float32)
    bad = ~np.isfinite(pixels)
    if bad.any():
        # Fitting a NaN would only report a diverged training run; the image is at fault.
        y, x, c = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"the image holds {int(bad.sum())} NaN or infinite value(s) (the first at "
            f"pixel x={x}, y={y}, channel {c}); an image to fit must be finite, in [0, 1]"
        )
    return pixels


class ImageTarget:
    """An image (H, W, C): inputs (u, v), outputs its C channels; a batch takes the nearest
    texel (Dx12NN): x = min(int(u W), W - 1), y = min(int(v H), H - 1).

    Args:
        image: (H, W, C) float array in [0, 1], finite (copied to float32).
        n_channels: the channel count required (3: RGB); None accepts any.
    """

    n_input_dims = 2

    def __init__(self, image: np.ndarray, n_channels: int | None = 3) -> None:
        self.image = check_image(image, n_channels)
        self.n_output_dims = self.image.shape[2]
        self.grid_shape: tuple[int, ...] = self.image.shape[:2]
        # The sampler's own generator is never drawn from: sample() takes the caller's rng.
        self._sampler = NearestTexelSampler(self.image, np.random.default_rng(0))

    def sample(self, rng: np.random.Generator, inputs: np.ndarray, targets: np.ndarray) -> None:
        """inputs (B, 2) <- uniform UVs from `rng`; targets (B, C) <- their nearest texels."""
        rng.random(out=inputs, dtype=inputs.dtype.type)
        self._sampler.texels_at(inputs, targets)

    def reference(self) -> np.ndarray:
        """The image itself, (H, W, C) float32."""
        return self.image
