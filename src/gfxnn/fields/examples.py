"""MLPZen's examples as targets: Learn Cosine (1-D), Learn Image, Learn Four Images, Bubbles 3-D,
and any user volume (.npy) beside them.

Each example is a `gfxnn.fields.targets.Target` (four images are four image targets, trained
by `gfxnn.fields.multi.MultiFitController`):

- `CosineTarget`: x in [0, 1) -> (cos 2 pi x + 1) / 2, 1 input, 1 output, evaluated exactly at
  the drawn x (MLPZen computes it in the shader; no grid in between);
- `ImageTarget` (`gfxnn.fields.targets`): (u, v) -> the nearest texel, Dx12NN's and MLPZen's;
- `BubblesTarget`: (x, y, z) -> the RGB colour of the first of MLPZen's nine spheres
  (`BUBBLES`) that contains the point, black outside every sphere, evaluated exactly at the
  drawn point;
- `VolumeTarget`: a user's (D, H, W) or (D, H, W, C) array, C in 1..4, (x, y, z) -> its
  nearest sample (`GridTarget`); `load_volume` reads it from a .npy file with every check.

`make_targets(example, ...)` builds the targets of an example by name (one, or four); the
frames the apps show (plots, composites, z slices) are `gfxnn.fields.display`'s.
"""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.checks import check_choice, check_int
from gfxnn.fields.targets import GridTarget, ImageTarget, Target

__all__ = [
    "BUBBLES",
    "EXAMPLES",
    "FOUR_IMAGES",
    "MAX_VOLUME_BYTES",
    "MAX_VOLUME_VALUES",
    "BubblesTarget",
    "CosineTarget",
    "VolumeError",
    "VolumeTarget",
    "check_example",
    "check_volume",
    "example_dims",
    "four_images",
    "load_volume",
    "make_targets",
]

EXAMPLES = ("cosine", "image", "four_images", "bubbles", "volume")
"""The examples by name: MLPZen's four, then a user's volume."""

# (centre, RGB colour, radius) of MLPZen's nine spheres, in its order (its getBubble()): the
# first sphere containing a point gives its colour, so overlaps resolve in this order.
BUBBLES: tuple[tuple[tuple[float, float, float], tuple[float, float, float], float], ...] = (
    ((0.5, 0.5, 0.5), (1.0, 1.0, 0.3), 0.3),
    ((0.2, 0.1, 0.5), (0.3, 0.3, 0.9), 0.2),
    ((0.9, 0.7, 0.4), (0.3, 1.0, 0.3), 0.3),
    ((0.6, 0.3, 0.2), (0.3, 0.8, 0.3), 0.3),
    ((0.0, 0.2, 0.7), (0.3, 1.0, 1.0), 0.5),
    ((0.1, 0.4, 0.2), (1.0, 0.3, 0.3), 0.3),
    ((0.4, 0.9, 0.8), (1.0, 0.3, 1.0), 0.15),
    ((0.9, 0.4, 0.2), (1.0, 0.3, 1.0), 0.25),
    ((0.8, 0.1, 0.9), (1.0, 0.3, 0.3), 0.3),
)

# The spheres' colours, then black for a point outside every sphere.
_PALETTE = np.array([rgb for _, rgb, _ in BUBBLES] + [(0.0, 0.0, 0.0)], np.float32)

# Learn Four Images: four bundled images with a clear licence (the public-domain NASA
# photograph and three generated patterns, `gfxnn.data.images`), top-left, top-right,
# bottom-left, bottom-right.
FOUR_IMAGES = ("astronaut", "circle", "half", "quarter")

MAX_VOLUME_VALUES = 2**26
"""The most values (D * H * W * C) a volume may hold: 256 MiB as float32 (a 256^3 RGBA)."""
MAX_VOLUME_BYTES = MAX_VOLUME_VALUES * 8 + 65536
"""The largest .npy file read: MAX_VOLUME_VALUES float64 values and a header."""
_INTEGER_SCALES = {"u1": 255.0, "u2": 65535.0}  # uint8 and uint16 samples map onto [0, 1]


def check_example(example: Any) -> str:
    """`example` if it is one of EXAMPLES, else a ValueError naming it and the choices."""
    check_choice("example", example, EXAMPLES)
    return str(example)


def example_dims(example: str) -> int:
    """The number of network inputs of an example (1, 2 or 3)."""
    return {"cosine": 1, "image": 2, "four_images": 2}.get(check_example(example), 3)


class CosineTarget:
    """MLPZen's Learn Cosine: x in [0, 1) -> (cos 2 pi x + 1) / 2, exactly at the drawn x.

    Args:
        n_samples: the reference grid (PSNR and the plot's default width): sample i of n at
            x = i / (n - 1), as every render grid.
    """

    n_input_dims = 1
    n_output_dims = 1

    def __init__(self, n_samples: int = 256) -> None:
        check_int("n_samples", n_samples, 2, 1 << 20)
        self.grid_shape: tuple[int, ...] = (n_samples,)
        x = np.arange(n_samples, dtype=np.float64) / (n_samples - 1)
        self._reference = self.values_at(x[:, None]).astype(np.float32)

    @staticmethod
    def values_at(inputs: np.ndarray) -> np.ndarray:
        """(cos 2 pi x + 1) / 2 of inputs (B, 1), (B, 1), in the inputs' dtype."""
        return 0.5 * np.cos((2.0 * np.pi) * inputs) + 0.5

    def sample(self, rng: np.random.Generator, inputs: np.ndarray, targets: np.ndarray) -> None:
        """inputs (B, 1) <- uniform x in [0, 1) from `rng`; targets (B, 1) <- the cosine."""
        rng.random(out=inputs, dtype=inputs.dtype.type)
        # In float64: the target then differs from the exact value by float32 rounding only.
        targets[...] = self.values_at(inputs.astype(np.float64))

    def reference(self) -> np.ndarray:
        """The function at x = i / (n - 1), (n, 1) float32."""
        return self._reference


class BubblesTarget:
    """MLPZen's Bubbles 3-D: (x, y, z) in [0, 1)^3 -> the RGB colour of the first sphere of
    `BUBBLES` containing the point (distance to the centre < radius), black elsewhere.
    Training batches are evaluated exactly at the drawn points.

    Args:
        resolution: the reference grid (resolution^3 samples, for PSNR), sample i of n at
            i / (n - 1) along each axis. The default 48 keeps a full-grid PSNR near 110k
            inferences; a z slice (`gfxnn.fields.display`) is drawn at any size.
    """

    n_input_dims = 3
    n_output_dims = 3

    def __init__(self, resolution: int = 48) -> None:
        check_int("resolution", resolution, 2, 512)
        self.grid_shape: tuple[int, ...] = (resolution,) * 3
        axis = np.arange(resolution, dtype=np.float64) / (resolution - 1)
        z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")  # (D, H, W): z is axis 0
        points = np.stack([x, y, z], axis=-1).reshape(-1, 3)
        self._reference = self.colour_at(points).reshape(*self.grid_shape, 3)

    @staticmethod
    def colour_at(points: np.ndarray) -> np.ndarray:
        """(N, 3) float32 RGB of the points (N, 3) = (x, y, z): the first sphere containing
        each, black outside all of them. In float32, as MLPZen's shader (and 3x faster than
        float64: 3 ms for 65536 points)."""
        points = np.asarray(points)
        columns = [np.ascontiguousarray(points[:, k], np.float32) for k in range(3)]
        n = points.shape[0]
        # The sphere index of each point (len(BUBBLES): none); the spheres are visited last
        # to first, so the first containing sphere writes last and wins.
        label = np.full(n, len(BUBBLES), np.intp)
        squared, term, inside = np.empty(n, np.float32), np.empty(n, np.float32), np.empty(n, bool)
        for index in range(len(BUBBLES) - 1, -1, -1):
            centre, _, radius = BUBBLES[index]
            squared.fill(0.0)
            for column, c in zip(columns, centre, strict=True):
                np.subtract(column, np.float32(c), out=term)
                np.multiply(term, term, out=term)
                np.add(squared, term, out=squared)
            np.less(squared, np.float32(radius * radius), out=inside)
            np.copyto(label, index, where=inside)
        return _PALETTE.take(label, axis=0)

    def sample(self, rng: np.random.Generator, inputs: np.ndarray, targets: np.ndarray) -> None:
        """inputs (B, 3) <- uniform points in [0, 1)^3 from `rng`; targets (B, 3) <- colours."""
        rng.random(out=inputs, dtype=inputs.dtype.type)
        targets[...] = self.colour_at(inputs)

    def reference(self) -> np.ndarray:
        """The colours on the (r, r, r) grid, z along axis 0, (r, r, r, 3) float32."""
        return self._reference


class VolumeError(ValueError):
    """A volume array or file that cannot be fitted; the message names the value and what
    is allowed."""


class VolumeTarget(GridTarget):
    """A user's volume: (x, y, z) -> the nearest sample of a (D, H, W, C) array (z along D).

    Args:
        volume: (D, H, W) or (D, H, W, C) with C in 1..4; float (finite, in [0, 1]), uint8
            (/255), uint16 (/65535) or bool; see `check_volume`.
        source: where it came from (a path), for messages and the run's config.
    """

    def __init__(self, volume: np.ndarray, source: str = "array") -> None:
        super().__init__(check_volume(volume, source))
        self.source = source

    @classmethod
    def from_file(cls, path: str | Path) -> VolumeTarget:
        """The volume of a .npy file (`load_volume`)."""
        return cls(load_volume(path), str(path))


def check_volume(volume: Any, source: str = "the volume") -> np.ndarray:
    """`volume` as a float32 (D, H, W, C) array in [0, 1], or a VolumeError naming what is
    wrong (shape, dtype, size, a NaN or a value out of range, the first one by index)."""
    if not isinstance(volume, np.ndarray):
        raise VolumeError(f"{source}: a volume must be a numpy array, got {type(volume).__name__}")
    shape = volume.shape
    if volume.ndim == 3:
        volume = volume[..., None]
    if volume.ndim != 4 or not 1 <= volume.shape[3] <= 4 or min(volume.shape) < 1:
        raise VolumeError(
            f"{source}: a volume has shape (D, H, W) or (D, H, W, C) with C in 1..4 and every "
            f"size >= 1, got {shape}"
        )
    if volume.size > MAX_VOLUME_VALUES:
        raise VolumeError(
            f"{source}: the volume {shape} holds {volume.size} values; at most "
            f"{MAX_VOLUME_VALUES} are fitted (e.g. 256^3 x 4)"
        )
    kind = volume.dtype.kind
    code = f"{kind}{volume.dtype.itemsize}"
    if kind == "b":
        return volume.astype(np.float32)
    if code in _INTEGER_SCALES:
        return (volume / np.float32(_INTEGER_SCALES[code])).astype(np.float32)
    if kind != "f":
        raise VolumeError(
            f"{source}: volume dtype {volume.dtype} is not fitted (choose float16/32/64 in "
            "[0, 1], uint8, uint16 or bool)"
        )
    with np.errstate(over="ignore", invalid="ignore"):
        values = volume.astype(np.float32)
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise VolumeError(
            f"{source}: {int(bad.sum())} volume value(s) are NaN, infinite or outside [0, 1] "
            f"(the first {volume[first]!r} at index {first[: len(shape)]}); scale the volume "
            "to [0, 1]"
        )
    return values


def load_volume(path: str | Path) -> np.ndarray:
    """The array of a .npy file (np.load with allow_pickle=False, never a .npz), checked by
    `check_volume`: float32 (D, H, W, C) in [0, 1]. Raises VolumeError (one line naming the
    file) for anything else: missing, not a regular file, over MAX_VOLUME_BYTES, not .npy, an
    object array, a bad shape, dtype, size or value."""
    path = Path(path)
    try:
        info = os.stat(path)
    except OSError as error:
        raise VolumeError(f"cannot read volume file {path}: {error.strerror}") from None
    if not stat.S_ISREG(info.st_mode):  # a FIFO would block, /dev/zero would never end
        raise VolumeError(f"volume file {path} is not a regular file")
    if info.st_size > MAX_VOLUME_BYTES:
        raise VolumeError(
            f"volume file {path} is {info.st_size} bytes; at most {MAX_VOLUME_BYTES} are read"
        )
    with open(path, "rb") as file:
        data = file.read(MAX_VOLUME_BYTES + 1)
    if not data.startswith(b"\x93NUMPY"):
        raise VolumeError(
            f"volume file {path} is not a .npy array file (np.save writes one; .npz archives "
            "and other formats are not read)"
        )
    try:
        array = np.load(io.BytesIO(data), allow_pickle=False)
    except (ValueError, OSError, EOFError) as error:
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise VolumeError(f"volume file {path} cannot be read as .npy: {reason}") from None
    return check_volume(array, str(path))


def four_images(size: int = 256) -> list[np.ndarray]:
    """The four images of Learn Four Images (`FOUR_IMAGES`), each (size, size, 3) float32."""
    from gfxnn.data.images import load_bundled

    return [load_bundled(name, size) for name in FOUR_IMAGES]


def make_targets(
    example: str,
    *,
    image: np.ndarray | None = None,
    images: list[np.ndarray] | None = None,
    volume: np.ndarray | str | Path | None = None,
) -> list[Target]:
    """The targets of `example`: one, or four ImageTargets for "four_images". `image` is the
    image of "image" (default: the bundled astronaut), `images` the four of "four_images"
    (default: `four_images()`, all of one size), `volume` the array or .npy path of "volume"
    (required). A ValueError names what is missing or wrong (VolumeError for a volume)."""
    check_example(example)
    if example == "cosine":
        return [CosineTarget()]
    if example == "bubbles":
        return [BubblesTarget()]
    if example == "image":
        if image is None:
            from gfxnn.data.images import load_bundled

            image = load_bundled("astronaut")
        return [ImageTarget(image)]
    if example == "four_images":
        chosen = four_images() if images is None else list(images)
        if len(chosen) != 4:
            raise ValueError(f"four_images needs 4 images, got {len(chosen)}")
        targets = [ImageTarget(pixels) for pixels in chosen]
        shapes = {target.grid_shape for target in targets}
        if len(shapes) != 1:
            raise ValueError(
                f"the four images must have one size (they tile a 2x2 frame), got {sorted(shapes)}"
            )
        return list(targets)
    if volume is None:
        raise ValueError("the volume example needs a volume: an array or a .npy path")
    if isinstance(volume, np.ndarray):
        return [VolumeTarget(volume)]
    return [VolumeTarget.from_file(volume)]
