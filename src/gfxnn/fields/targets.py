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

__all__ = ["GridTarget", "ImageTarget", "Target", "check_image", "nearest_indices"]


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


def nearest_indices(inputs: np.ndarray, grid_shape: tuple[int, ...]) -> np.ndarray:
    """Flat indices into a C-ordered grid of `grid_shape` of the nearest samples of inputs
    (B, d) in [0, 1): along input dimension k (array axis d - 1 - k, of size n) the index is
    min(int(x_k n), n - 1), Dx12NN's nearest texel in any number of dimensions."""
    dims = len(grid_shape)
    flat = np.zeros(inputs.shape[0], np.int64)
    stride = 1
    for k in range(dims):  # input dimension k is the fastest-varying axis when k is 0
        n = grid_shape[dims - 1 - k]
        # Truncation is int() for x >= 0; a negative input (outside the contract) clamps to 0.
        index = np.clip((inputs[:, k] * n).astype(np.int64), 0, n - 1)
        flat += index * stride
        stride *= n
    return flat


class GridTarget:
    """A signal sampled on a regular grid of any dimension: `values` (*grid_shape, C) with
    the last input dimension first (a volume (D, H, W, C) takes (x, y, z)); a batch takes the
    nearest sample along every axis (`nearest_indices`), as ImageTarget does in 2-D.

    Args:
        values: (*grid_shape, C) float array, finite (copied to contiguous float32); the
            caller has checked its range.
    """

    def __init__(self, values: np.ndarray) -> None:
        if not isinstance(values, np.ndarray) or values.ndim < 2 or min(values.shape) < 1:
            raise ValueError(
                f"values must be a numpy array (*grid_shape, C) with every size >= 1, got "
                f"{getattr(values, 'shape', type(values).__name__)}"
            )
        self.values = np.ascontiguousarray(values, np.float32)
        self.grid_shape: tuple[int, ...] = tuple(self.values.shape[:-1])
        self.n_input_dims = len(self.grid_shape)
        self.n_output_dims = int(self.values.shape[-1])
        self._flat = self.values.reshape(-1, self.n_output_dims)

    def values_at(self, inputs: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """The nearest samples (B, C) of inputs (B, n_input_dims)."""
        samples = self._flat[nearest_indices(inputs, self.grid_shape)]
        if out is None:
            return samples
        out[...] = samples  # casts to the trainer's dtype (float64 in the gradient tests)
        return out

    def sample(self, rng: np.random.Generator, inputs: np.ndarray, targets: np.ndarray) -> None:
        """inputs (B, d) <- uniform draws from `rng`; targets (B, C) <- their nearest samples."""
        rng.random(out=inputs, dtype=inputs.dtype.type)
        self.values_at(inputs, targets)

    def reference(self) -> np.ndarray:
        """The grid itself, (*grid_shape, C) float32."""
        return self.values
