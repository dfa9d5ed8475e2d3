"""What the studio trains for each example: the model (one `FitController`, or a
`MultiFitController` of four for Learn Four Images), its targets, and how its frames look.

`Workload` is the session's one handle on the example: the model the trainer thread steps,
per-network losses and labels, the network and encoding sizes MLPZen's panel shows, and what
the renderer thread needs to draw a frame from a copy of the weights (`inference_model`,
`show_frame`, both through `gfxnn.fields.display`). Targets come from
`gfxnn.fields.examples.make_targets`; a preview frame is at most `PREVIEW_MAX_SIDE` a side.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from gfxnn.fields import display
from gfxnn.fields.controller import FitController
from gfxnn.fields.examples import EXAMPLES, FOUR_IMAGES, check_example, make_targets
from gfxnn.fields.multi import MultiFitController
from gfxnn.fields.settings import TRAINING_ONLY, FitSettings
from gfxnn.fields.targets import ImageTarget
from gfxnn.fused import make_trainer

__all__ = [
    "EXAMPLE_LABELS",
    "PREVIEW_MAX_SIDE",
    "Source",
    "Workload",
    "combined_psnr",
    "examples_schema",
    "trainer_factory",
]

PREVIEW_MAX_SIDE = 512  # frames of larger targets are rendered at this size (cheaper inference)
EXAMPLE_LABELS = {
    "cosine": "Learn Cosine",
    "image": "Learn Image",
    "four_images": "Learn Four Images",
    "bubbles": "Bubbles 3-D",
    "volume": "Volume (.npy)",
}
THREE_D = ("bubbles", "volume")


def examples_schema() -> list[dict[str, Any]]:
    """The hello message's examples: name, label, input dims, networks, z plane or not."""
    dims = {"cosine": 1, "image": 2, "four_images": 2}
    return [
        {
            "name": name,
            "label": EXAMPLE_LABELS[name],
            "dims": dims.get(name, 3),
            "networks": 4 if name == "four_images" else 1,
            "z_plane": name in THREE_D,
        }
        for name in EXAMPLES
    ]


def trainer_factory(device: str) -> Callable[[Any, Any], Any]:
    """The (spec, target) -> Trainer factory of a studio device: "cpu" (the NumPy fused
    trainer; BLAS threads are the controller's) or "webgpu" (WebGpuTrainer, which draws its
    batches from the target's samples on the device)."""
    if device == "webgpu":
        from gfxnn.webgpu.trainer import WebGpuTrainer

        return WebGpuTrainer
    if device != "cpu":
        raise ValueError(f"device must be cpu or webgpu, got {device!r}")
    return lambda spec, target: make_trainer(spec, target, blas_threads=None)


def _inference_trainer(spec: Any, target: Any) -> Any:
    return make_trainer(spec, target, initialize=False, blas_threads=None)


@dataclass
class Source:
    """What the example was built from: a label for the state and checkpoints."""

    image: np.ndarray | None = None  # the image example's pixels
    image_source: str = ""
    volume: np.ndarray | None = None  # the volume example's (D, H, W, C) values
    volume_source: str = ""


class Workload:
    """The model and targets of one example (see the module docstring).

    Args:
        example: one of `gfxnn.fields.examples.EXAMPLES`.
        settings: FitSettings for every network.
        source: the image (for "image") and the volume (for "volume").
        device: "cpu" or "webgpu" (`trainer_factory`).
    Raises ValueError (a missing volume, settings the example cannot take).
    """

    def __init__(self, example: str, settings: FitSettings, source: Source, device: str) -> None:
        self.example = check_example(example)
        self.source = source
        self.device = device
        self.targets = make_targets(example, image=source.image, volume=source.volume)
        factory = trainer_factory(device)
        self.model: Any
        if example == "four_images":
            self.model = MultiFitController(self.targets, settings, factory, blas_threads=1)
        else:
            self.model = FitController(self.targets[0], settings, factory, blas_threads=1)
        self.preview = _preview_shape(display.frame_shape(self.model))
        self.labels = list(FOUR_IMAGES) if example == "four_images" else [self.source_label]
        self.revision = 0  # bumped when the targets change in place (set_image)
        self._sizes: tuple[str, dict[str, float]] | None = None

    @property
    def backend(self) -> str:
        """What trains: "numpy" (the CPU fused trainer) or "webgpu"."""
        return "webgpu" if self.device == "webgpu" else "numpy"

    def set_image(self, pixels: np.ndarray, source: str) -> None:
        """The image example learns `pixels` from now on; weights and optimizer state stay."""
        if self.example != "image":
            raise ValueError(f"set_image is for the image example, not {self.example}")
        target = ImageTarget(pixels)  # ValueError for a bad image: nothing changed
        self.model.set_target(target)
        self.targets = [target]
        self.source.image, self.source.image_source = target.image, source
        self.labels = [source]
        self.preview = _preview_shape(display.frame_shape(self.model))
        self.revision += 1

    # ----- what the panel shows ---------------------------------------------------------
    @property
    def controllers(self) -> list[FitController]:
        return list(getattr(self.model, "controllers", [self.model]))

    @property
    def n_networks(self) -> int:
        return len(self.controllers)

    @property
    def source_label(self) -> str:
        if self.example == "image":
            return self.source.image_source
        if self.example == "volume":
            return self.source.volume_source
        return self.example

    @property
    def settings(self) -> FitSettings:
        return self.model.settings

    @property
    def steps(self) -> int:
        return int(self.model.steps)

    def limit_reached(self) -> bool:
        return all(c.max_steps_reached for c in self.controllers)

    def limit_left(self) -> int | None:
        """Steps left before settings.max_steps (None without a limit)."""
        limit = self.settings.max_steps
        return None if limit is None else max(0, limit - self.steps)

    def current_learning_rate(self) -> float | None:
        """The network's rate of the last step (the schedule's), None before any step."""
        if self.steps == 0:
            return None
        rate = float(self.controllers[0].current_learning_rate)
        return rate if math.isfinite(rate) else None

    def losses(self) -> list[float | None]:
        """Each network's last batch loss (None before its first step or when not finite)."""
        values = []
        for controller in self.controllers:
            history = controller.loss_history
            value = history[-1] if history else math.nan
            values.append(value if math.isfinite(value) else None)
        return values

    def mean_losses(self, n: int) -> list[float]:
        """Each network's mean loss over its last `n` steps (for the chart)."""
        return [float(np.mean(c.loss_history[-n:])) for c in self.controllers]

    def trim_histories(self, limit: int) -> None:
        """Keep at most `limit` losses per network (the chart keeps its own thinned series;
        the controllers' lists would grow forever)."""
        for controller in self.controllers:
            history = controller.loss_history
            if len(history) > limit:
                del history[: -limit // 2]

    def sizes_kb(self) -> dict[str, float]:
        """One network's weights and its encoding's state in kB (1024 bytes, float32
        storage; MLPZen's "MLP size" and "Hash-grid size"), measured once per shape."""
        key = self.frame_key()
        if self._sizes is None or self._sizes[0] != key:
            state = self.controllers[0].state_dict()
            network = sum(v.nbytes for k, v in state.items() if k.startswith("layers."))
            encoding = sum(v.nbytes for k, v in state.items() if k.startswith("encoding."))
            self._sizes = (key, {"network": network / 1024, "encoding": encoding / 1024})
        return dict(self._sizes[1])

    def target_info(self) -> dict[str, Any]:
        target = self.targets[0]
        return {
            "n_input_dims": int(target.n_input_dims),
            "n_output_dims": int(target.n_output_dims),
            "grid_shape": [int(n) for n in target.grid_shape],
        }

    # ----- frames -----------------------------------------------------------------------
    def frame_key(self) -> str:
        """What shapes the renderer's copy: the network's settings (precision included: it
        changes the inference) and this workload's targets."""
        settings = self.settings.to_dict()
        shape = {k: v for k, v in settings.items() if k not in TRAINING_ONLY}
        shape["precision"] = settings["precision"]
        return f"{id(self)}.{self.revision}:" + json.dumps(shape, sort_keys=True, default=str)

    def inference_model(self, settings: FitSettings) -> Any:
        """A model of the same targets for the renderer, without training state."""
        if self.example == "four_images":
            return MultiFitController(self.targets, settings, _inference_trainer)
        return FitController(self.targets[0], settings, _inference_trainer)

    def show_frame(self, model: Any, z_plane: float) -> tuple[np.ndarray, list[float]]:
        """(uint8 prediction frame, PSNR of each network) of `model` (inference_model's)."""
        height, width = self.preview
        if self.example != "four_images":
            frames = display.render_frames(model, z_plane=z_plane, shape=(height, width))
            return frames.prediction, [frames.psnr]
        h, w = max(height // 2, 1), max(width // 2, 1)
        quadrants = [display.render_frames(c, shape=(h, w)) for c in model.controllers]
        top = np.concatenate([quadrants[0].prediction, quadrants[1].prediction], axis=1)
        bottom = np.concatenate([quadrants[2].prediction, quadrants[3].prediction], axis=1)
        return np.concatenate([top, bottom], axis=0), [q.psnr for q in quadrants]

    def reference_frame(self, z_plane: float) -> np.ndarray:
        """(H, W, 3) uint8 reference frame at the preview's size (the z slice in 3-D)."""
        return display.reference_frame(self.model, z_plane=z_plane, shape=self.preview)


def _preview_shape(shape: tuple[int, int]) -> tuple[int, int]:
    """(height, width) scaled down to at most PREVIEW_MAX_SIDE a side."""
    height, width = shape
    scale = min(1.0, PREVIEW_MAX_SIDE / max(height, width))
    return max(1, round(height * scale)), max(2, round(width * scale))


def combined_psnr(psnrs: list[float]) -> float:
    """The PSNR of all networks together: 10 log10(1 / mean MSE) (equal-sized parts)."""
    finite = [p for p in psnrs if not math.isnan(p)]
    if not finite:
        return math.nan
    mse = float(np.mean([10.0 ** (-p / 10.0) for p in finite]))
    return math.inf if mse == 0.0 else 10.0 * math.log10(1.0 / mse)
