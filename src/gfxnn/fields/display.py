"""What an example looks like: uint8 RGB frames of the reference and of the prediction.

One call per frame, for any example (`gfxnn.fields.examples`), fed a controller (or for the
reference alone, the target):

    frames = render_frames(controller, z_plane=0.5)       # reference, prediction, psnr
    reference_frame(target_or_controller, z_plane=0.5)   # (H, W, 3) uint8
    prediction_frame(controller, z_plane=0.5)            # (H, W, 3) uint8

- cosine: a plot, black background with faint lines at 0, 1/2 and 1; the function (cos 2 pi
  x + 1) / 2 in orange and the prediction in white (MLPZen's white curve), over one period,
  x in [0, 1] left to right (the domain the network learns; MLPZen draws two periods). The
  reference frame is the function alone. Column i is x = i / (W - 1).
- image: the image (reference) and the network's image, pixel (x, y) at (x / (W - 1),
  y / (H - 1)); another shape samples the image at its nearest texels.
- four_images: the 2x2 composite of the four (top-left 0, top-right 1, bottom-left 2,
  bottom-right 3), each quadrant as "image".
- bubbles, volume: the slice z = z_plane, pixel (x, y) at (x / (W - 1), y / (H - 1), z); the
  bubbles' reference is the sphere rule there, a volume's its nearest samples. A volume of
  1 channel is grey, 2 channels are (red, green), 4 show their first three.

`shape` is the frame's (height, width); defaults (`frame_shape`): the image's own (four
images: twice each one's), the volume's (H, W), 256 x 256 for cosine and bubbles.
`frame_values` gives the float values shown (before drawing), `render_frames` both frames
and the PSNR of what is shown (the plot's 1-D samples, the composite, the slice).

Cost: the network's inference dominates a frame (measured on the shared 2-core machine at
load 6-9: a 256x256 bubbles slice through MLPZen's 3-D hash grid and 32-neuron network,
150-250 ms); the display's own work (reference, drawing, PSNR) is a few ms (a bubbles
reference slice 4-12 ms, the cosine plot about 6 ms). The studio may cache reference frames
per z plane and shape (they do not change while training).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfxnn.checks import check_int, check_interval
from gfxnn.fields.examples import BubblesTarget, CosineTarget, VolumeTarget
from gfxnn.fields.targets import ImageTarget, nearest_indices

__all__ = [
    "DEFAULT_SIZE",
    "Frames",
    "example_of",
    "frame_shape",
    "frame_values",
    "prediction_frame",
    "reference_frame",
    "render_frames",
    "slice_inputs",
]

DEFAULT_SIZE = 256  # the side of a cosine plot and of a bubbles slice by default
_FUNCTION_RGB = np.array([255, 170, 0], np.uint8)  # the reference curve
_PREDICTION_RGB = np.array([255, 255, 255], np.uint8)  # MLPZen's white curve
_GUIDE_RGB = np.array([48, 48, 48], np.uint8)  # the lines at 0, 1/2 and 1


@dataclass(frozen=True)
class Frames:
    """One display of an example: both frames and the PSNR (dB) of the values shown."""

    reference: np.ndarray  # (H, W, 3) uint8
    prediction: np.ndarray  # (H, W, 3) uint8
    psnr: float


def example_of(source: Any) -> str:
    """The example name of a target, a list of four targets, a FitController or a
    MultiFitController."""
    if hasattr(source, "controllers") or isinstance(source, list | tuple):
        return "four_images"
    target = getattr(source, "target", source)
    for cls, name in (
        (CosineTarget, "cosine"),
        (BubblesTarget, "bubbles"),
        (VolumeTarget, "volume"),
        (ImageTarget, "image"),
    ):
        if isinstance(target, cls):
            return name
    raise TypeError(f"no example displays a {type(target).__name__}")


def _targets(source: Any) -> list[Any]:
    if hasattr(source, "controllers"):
        return [c.target for c in source.controllers]
    if isinstance(source, list | tuple):
        return list(source)
    return [getattr(source, "target", source)]


def frame_shape(source: Any, shape: tuple[int, int] | None = None) -> tuple[int, int]:
    """(height, width) of the frames of `source` (`shape` checked when given)."""
    if shape is not None:
        if not isinstance(shape, tuple | list) or len(shape) != 2:
            raise ValueError(f"shape must be (height, width), got {shape!r}")
        check_int("height", shape[0], 1, 4096)
        check_int("width", shape[1], 2 if example_of(source) == "cosine" else 1, 4096)
        return int(shape[0]), int(shape[1])
    example = example_of(source)
    target = _targets(source)[0]
    if example in ("cosine", "bubbles"):
        return DEFAULT_SIZE, DEFAULT_SIZE
    height, width = target.grid_shape[-2:]
    return (2 * height, 2 * width) if example == "four_images" else (height, width)


def slice_inputs(z_plane: float, height: int, width: int) -> np.ndarray:
    """(height * width, 3) float32 points of the slice z = z_plane, row-major, pixel (x, y)
    at (x / (width - 1), y / (height - 1), z)."""
    z = check_interval("z_plane", z_plane, 0.0, 1.0, closed=True)
    x = np.arange(width, dtype=np.float32) / max(width - 1, 1)
    y = np.arange(height, dtype=np.float32) / max(height - 1, 1)
    points = np.empty((height, width, 3), np.float32)
    points[:, :, 0] = x[None, :]
    points[:, :, 1] = y[:, None]
    points[:, :, 2] = z
    return points.reshape(-1, 3)


def _image_at(target: ImageTarget, height: int, width: int) -> np.ndarray:
    """The image at the frame's pixels: itself at its own size, else its nearest texels."""
    if (height, width) == target.grid_shape:
        return target.reference()
    points = slice_inputs(0.0, height, width)[:, :2]
    index = nearest_indices(points, target.grid_shape)
    return target.reference().reshape(-1, target.n_output_dims)[index].reshape(height, width, -1)


def _reference(example: str, target: Any, height: int, width: int, z_plane: float) -> np.ndarray:
    if example == "cosine":
        x = np.arange(width, dtype=np.float64) / (width - 1)
        return CosineTarget.values_at(x[:, None]).astype(np.float32)
    if example == "image":
        return _image_at(target, height, width)
    points = slice_inputs(z_plane, height, width)
    values = BubblesTarget.colour_at(points) if example == "bubbles" else target.values_at(points)
    return values.reshape(height, width, -1)


def _prediction(example: str, controller: Any, height: int, width: int, z: float) -> np.ndarray:
    if example == "cosine":
        output = controller.render((width,))
    elif example == "image":
        output = controller.predict(width, height)
    else:
        output = controller.infer(slice_inputs(z, height, width)).reshape(height, width, -1)
    return np.clip(output, 0.0, 1.0).astype(np.float32, copy=False)


def _tile(quadrants: list[np.ndarray]) -> np.ndarray:
    top = np.concatenate(quadrants[:2], axis=1)
    bottom = np.concatenate(quadrants[2:], axis=1)
    return np.concatenate([top, bottom], axis=0)


def _values(source: Any, z_plane: float, shape: Any, predicted: bool) -> np.ndarray:
    example = example_of(source)
    height, width = frame_shape(source, shape)
    check_interval("z_plane", z_plane, 0.0, 1.0, closed=True)
    if example == "four_images":
        parts = source.controllers if predicted else _targets(source)
        if len(parts) != 4:
            raise ValueError(f"four_images shows 4 networks in 2x2, got {len(parts)}")
        h, w = max(height // 2, 1), max(width // 2, 1)
        if predicted:
            return _tile([_prediction("image", c, h, w, z_plane) for c in parts])
        return _tile([_image_at(t, h, w) for t in parts])
    if predicted:
        return _prediction(example, source, height, width, z_plane)
    return _reference(example, _targets(source)[0], height, width, z_plane)


def frame_values(
    model: Any, *, z_plane: float = 0.5, shape: tuple[int, int] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """(reference, prediction) float32 values shown in the frames of a FitController or
    MultiFitController: cosine (W, 1), the others (H, W, C); the prediction clipped to
    [0, 1]."""
    reference = _values(model, z_plane, shape, predicted=False)
    return reference, _values(model, z_plane, shape, predicted=True)


def _rgb(values: np.ndarray) -> np.ndarray:
    """(H, W, C) floats in [0, 1] -> (H, W, 3) uint8 (C 1: grey, 2: red-green, 4: RGB)."""
    channels = values.shape[2]
    if channels == 1:
        values = np.repeat(values, 3, axis=2)
    elif channels == 2:
        values = np.concatenate([values, np.zeros_like(values[:, :, :1])], axis=2)
    elif channels > 3:
        values = values[:, :, :3]
    clean = np.nan_to_num(values, nan=0.0)
    return np.round(np.clip(clean, 0.0, 1.0) * 255.0).astype(np.uint8)


def _curve_rows(values: np.ndarray, height: int) -> np.ndarray:
    """The plot row of each value: 1 at the top margin, 0 at the bottom one."""
    margin = height // 16
    span = max(height - 1 - 2 * margin, 1)
    return np.round(margin + (1.0 - np.clip(values, 0.0, 1.0)) * span).astype(np.int64)


def _draw_curve(canvas: np.ndarray, values: np.ndarray, colour: np.ndarray) -> None:
    """Draw values (W,) as a connected curve 2 pixels thick: column x covers the rows from
    its value's to its right neighbour's, so steep parts stay unbroken."""
    height = canvas.shape[0]
    rows = _curve_rows(values, height)
    following = np.append(rows[1:], rows[-1])
    low, high = np.minimum(rows, following), np.maximum(rows, following)
    grid = np.arange(height)[:, None]
    canvas[(grid >= low - 1) & (grid <= high)] = colour


def _plot(function: np.ndarray, prediction: np.ndarray | None, height: int) -> np.ndarray:
    width = function.shape[0]
    canvas = np.zeros((height, width, 3), np.uint8)
    for level in (0.0, 0.5, 1.0):
        canvas[_curve_rows(np.array([level]), height)[0], :] = _GUIDE_RGB
    _draw_curve(canvas, function[:, 0], _FUNCTION_RGB)
    if prediction is not None:
        _draw_curve(canvas, prediction[:, 0], _PREDICTION_RGB)
    return canvas


def reference_frame(
    source: Any, *, z_plane: float = 0.5, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """(H, W, 3) uint8 reference frame of a target, four targets or a controller."""
    values = _values(source, z_plane, shape, predicted=False)
    if example_of(source) == "cosine":
        return _plot(values, None, frame_shape(source, shape)[0])
    return _rgb(values)


def prediction_frame(
    model: Any, *, z_plane: float = 0.5, shape: tuple[int, int] | None = None
) -> np.ndarray:
    """(H, W, 3) uint8 prediction frame of a FitController or MultiFitController (cosine:
    the function and the prediction on one plot)."""
    return render_frames(model, z_plane=z_plane, shape=shape).prediction


def render_frames(
    model: Any, *, z_plane: float = 0.5, shape: tuple[int, int] | None = None
) -> Frames:
    """Both frames of `model` and the PSNR of the values they show, in one inference."""
    reference, prediction = frame_values(model, z_plane=z_plane, shape=shape)
    mse = float(np.mean((prediction.astype(np.float64) - reference) ** 2))
    psnr = math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)
    if example_of(model) == "cosine":
        height = frame_shape(model, shape)[0]
        return Frames(_plot(reference, None, height), _plot(reference, prediction, height), psnr)
    return Frames(_rgb(reference), _rgb(prediction), psnr)
