"""The fit checkpoint: its one writer (`save`) and its one reader (`load`).

A fit checkpoint is a safetensors file (`gfxnn.io`'s container: tensors plus a JSON config and
metadata, no pickle) holding
- tensors: the network's weights as `Trainer.state_dict()` names them, float32;
- config: {"settings": FitSettings.to_dict(), "image": {"width", "height", "source", ...},
  "app": "gfxnn fit" | "gfxnn studio", and for `gfxnn fit` "run": {"steps", "seconds",
  "device"}} (`checkpoint_config`); checkpoints written before "app" existed read the same;
- metadata: {"psnr", "steps", "weights_step"}.

`gfxnn fit`, the studio, `gfxnn render` and `gfxnn export` all go through this module; the
reader validates the settings (the encoders' own ranges included) and checks the weights
against them, so whatever it returns renders and exports.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.fields.autodiff import autodiff_model
from gfxnn.fields.settings import FitSettings
from gfxnn.fused import make_trainer
from gfxnn.io import CheckpointError, load_checkpoint, save_checkpoint

__all__ = ["DEFAULT_SIZE", "FitCheckpoint", "checkpoint_config", "load", "load_model", "save"]

DEFAULT_SIZE = 256  # width and height of a render when the checkpoint does not say


@dataclass(frozen=True)
class FitCheckpoint:
    """What `load` returns: float32 weights, validated settings and the whole config."""

    path: Path
    state: dict[str, np.ndarray]
    settings: FitSettings
    config: dict[str, Any]

    def require_image_network(self, what: str) -> None:
        """CheckpointError unless the network maps (u, v) -> RGB: `what` ("gfxnn render")
        draws images, not a 1-D or 3-D example's network."""
        dims = example_dims(self.config)
        if dims != (2, 3):
            name = self.config.get("example", {}).get("name", "non-image")
            raise CheckpointError(
                f"{self.path} holds a {name} network ({dims[0]} -> {dims[1]} values, not an "
                f"image's 2 -> 3); {what} takes image networks"
            )

    def image_size(self) -> tuple[int, int]:
        """(width, height) of the fitted image (DEFAULT_SIZE where the config has no integer)."""
        image = self.config.get("image")
        image = image if isinstance(image, dict) else {}
        return _int_or(image.get("width")), _int_or(image.get("height"))


def _int_or(value: object) -> int:
    """The stored size, or DEFAULT_SIZE when there is none (a size < 1 is the caller's error)."""
    return value if isinstance(value, int) and not isinstance(value, bool) else DEFAULT_SIZE


def checkpoint_config(
    settings: FitSettings,
    *,
    image: Mapping[str, Any] | None,
    app: str,
    run: Mapping[str, Any] | None = None,
    example: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The config a fit checkpoint stores (and `gfxnn fit` writes as config.json). A run of
    another example than one image has `image` None and its `example` ({"name",
    "n_input_dims", "n_output_dims", ...}, `gfxnn.apps.fit_examples.example_config`)."""
    config: dict[str, Any] = {"settings": settings.to_dict()}
    if run is not None:
        config["run"] = dict(run)
    if image is not None:
        config["image"] = dict(image)
    if example is not None:
        config["example"] = dict(example)
    config["app"] = app
    return config


def save(
    path: str | Path,
    state: Mapping[str, np.ndarray],
    config: Mapping[str, Any],
    *,
    psnr: float | None,
    steps: int,
    weights_step: int,
) -> None:
    """Write a fit checkpoint atomically (`config` from `checkpoint_config`)."""
    if not isinstance(config.get("settings"), dict):
        raise CheckpointError("a fit checkpoint's config needs its settings (checkpoint_config)")
    metadata = {"psnr": psnr, "steps": steps, "weights_step": weights_step}
    save_checkpoint(path, dict(state), dict(config), metadata)


def load(path: str | Path) -> FitCheckpoint:
    """Read a fit checkpoint written by `gfxnn fit` or the studio (today's or an earlier one).

    Raises:
        CheckpointError: unreadable file, not a fit checkpoint, invalid settings, or weights
            that do not match the settings.
    """
    tensors, config = load_checkpoint(path)
    if not isinstance(config.get("settings"), dict):
        raise CheckpointError(f"{path} is not a `gfxnn fit` checkpoint: its config has no settings")
    try:
        settings = FitSettings.from_dict(config["settings"])
    except (ValueError, TypeError) as error:
        raise CheckpointError(f"{path} has invalid settings: {error}") from None
    if "networks" in config:
        raise CheckpointError(
            f"{path} holds {config['networks']!r} networks (Learn Four Images); read it with "
            "gfxnn.fields.multi.load"
        )
    state = {name: _float32(path, name, value) for name, value in tensors.items()}
    try:
        spec = settings.model_spec(*example_dims(config))
        make_trainer(spec, initialize=False).load_state_dict(state)
    except ValueError as error:
        raise CheckpointError(f"{path} does not match its settings: {error}") from None
    return FitCheckpoint(Path(path), state, settings, config)


def example_dims(config: Mapping[str, Any]) -> tuple[int, int]:
    """(n_input_dims, n_output_dims) of a checkpoint's network: its "example" entry's, or an
    image's (2, 3) when it has none (every checkpoint before the examples)."""
    example = config.get("example")
    if not isinstance(example, dict):
        return 2, 3
    dims = example.get("n_input_dims"), example.get("n_output_dims")
    if not all(isinstance(n, int) and not isinstance(n, bool) and 1 <= n <= 4 for n in dims):
        raise CheckpointError(f"the example's sizes {dims} are not input/output counts 1..4")
    return int(dims[0]), int(dims[1])  # type: ignore[arg-type]


def _float32(path: str | Path, name: str, value: np.ndarray) -> np.ndarray:
    if value.dtype.kind != "f":
        raise CheckpointError(
            f"{path}: tensor {name!r} has dtype {value.dtype}; weights must be floating point"
        )
    with np.errstate(over="ignore", invalid="ignore"):  # the finiteness check reports it
        converted = value.astype(np.float32)
    if not np.all(np.isfinite(converted)):
        raise CheckpointError(
            f"{path}: tensor {name!r} holds NaN or infinite values, or values beyond float32"
        )
    return converted


def load_model(path: str | Path) -> tuple[Any, Any, FitSettings]:
    """(encoding, network, settings) of a fit checkpoint: the autodiff model (what export
    lowers). Raises CheckpointError for a bad file."""
    loaded = load(path)
    loaded.require_image_network("gfxnn export")
    encoding, network = autodiff_model(loaded.state, loaded.settings)
    return encoding, network, loaded.settings
