"""What the studio writes and reads back: fit checkpoints of the example's networks, shader
exports, and the weights the page's own WebGPU trainer (issue 19) fetches and posts.

Checkpoints are `gfxnn.fields.checkpoint`'s format (the one writer), as `gfxnn fit` writes
them: the settings (every MLPZen control included), the image (image example) and the
"example" entry (name, input/output sizes, grid), so a 1-D or 3-D network says what it is; Learn
Four Images writes one file with every network under "networks.{i}." and "networks": 4
(`gfxnn.fields.multi`'s layout). Posted weights are untrusted bytes: size-capped before
parsing, read by `gfxnn.io.load_checkpoint` (safetensors; nothing is executed), and loaded
only when their settings build the session's network (names and shapes checked).
"""

from __future__ import annotations

import io
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.fields.settings import TRAINING_ONLY, FitSettings
from gfxnn.io import CheckpointError, atomic_write_bytes, load_checkpoint

__all__ = [
    "MAX_WEIGHTS_BYTES",
    "Capture",
    "WeightsError",
    "capture",
    "check_export",
    "export",
    "write_checkpoint",
]

MAX_WEIGHTS_BYTES = 64 * 1024 * 1024  # a posted checkpoint (a 2^19-entry table is 16 MiB)


class WeightsError(ValueError):
    """Posted weights that cannot be loaded; `status` is the HTTP status to answer."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Capture:
    """The weights and what describes them, copied under the session's lock."""

    states: list[dict[str, np.ndarray]]  # one per network
    settings: FitSettings
    steps: int
    psnr: float | None
    config: dict[str, Any]  # checkpoint_config(...) plus example and target


def capture(work: Any, image: dict[str, Any], psnr: float | None, z_plane: float) -> Capture:
    """Copy `work`'s weights and checkpoint config (call under the session's lock): the
    image for the image example, and for every example its "example" entry as `gfxnn fit`
    writes it (`apps.fit_examples.example_config`: name, sizes, grid, z plane)."""
    from gfxnn.apps.fit_examples import example_config

    settings = work.settings
    shown = (
        {k: image[k] for k in ("source", "width", "height")} if work.example == "image" else None
    )
    example = example_config(work.example, work.targets, z_plane)
    config = fit_checkpoint.checkpoint_config(
        settings, image=shown, app="gfxnn studio", example=example
    )
    states = [controller.state_dict() for controller in work.controllers]
    return Capture(states, settings, work.steps, psnr, config)


def write_checkpoint(path: Path, shot: Capture, network: int | None = None) -> None:
    """One fit checkpoint at `path`: every network (four_images: "networks.{i}." names and
    "networks": n), or only `network`."""
    config = dict(shot.config)
    if network is not None:
        state = shot.states[network]
        if len(shot.states) > 1:
            config["network"] = network
    elif len(shot.states) == 1:
        state = shot.states[0]
    else:
        state = {
            f"networks.{i}.{k}": v for i, part in enumerate(shot.states) for k, v in part.items()
        }
        config["networks"] = len(shot.states)
    fit_checkpoint.save(
        path, state, config, psnr=shot.psnr, steps=shot.steps, weights_step=shot.steps
    )


def checkpoint_bytes(shot: Capture, network: int) -> bytes:
    """Network `network`'s fit checkpoint as bytes (for the page's trainer)."""
    _check_network(network, len(shot.states))
    with tempfile.TemporaryDirectory(prefix="gfxnn-studio-") as folder:
        path = Path(folder) / "weights.safetensors"
        write_checkpoint(path, shot, network)
        return path.read_bytes()


def check_export(format: str, work: Any) -> None:
    """ValueError unless `gfxnn.export` can write `format` for `work`'s network (one image
    network: (u, v) -> RGB, what the exporters emit)."""
    from gfxnn import export as exporter

    if format not in exporter.FORMATS:
        raise ValueError(f"format must be one of {', '.join(exporter.FORMATS)}; got {format!r}")
    if work.example != "image":
        raise ValueError(
            f"export writes an image network ((u, v) -> RGB, the image example); the "
            f"{work.example} example's network is not one: save a checkpoint instead"
        )


def export(checkpoint: Path, format: str) -> tuple[list[Path], str | None]:
    """Export `checkpoint` with `gfxnn.export`: (files written, the code for shader formats)."""
    from gfxnn import export as exporter
    from gfxnn.apps.export import data_path

    result, grid = exporter.export_checkpoint_with_data(checkpoint, format)
    path = checkpoint.with_suffix(exporter.suffix(format))
    data = result.encode("utf-8") if isinstance(result, str) else bytes(result)
    written = []
    if grid is not None:  # a grid's table goes into a buffer file beside the code
        atomic_write_bytes(data_path(path), grid)
        written.append(data_path(path))
    atomic_write_bytes(path, data)
    written.append(path)
    return written, result if isinstance(result, str) else None


# ----- the page's own trainer (issue 19) -------------------------------------------------------
def _check_network(network: Any, count: int) -> int:
    if isinstance(network, bool) or not isinstance(network, int) or not 0 <= network < count:
        raise ValueError(f"network must be an integer in 0..{count - 1}, got {network!r}")
    return network


def model_info(work: Any, network: int) -> dict[str, Any]:
    """What the page's trainer is built from: the target, the steps and, where the WebGPU
    kernels can run the settings, `static_site.browser_model`'s plan (spec, sizes, ...).
    ValueError (-> 400) for settings the kernels cannot run."""
    _check_network(network, work.n_networks)
    target = work.target_info()
    info: dict[str, Any] = {
        "example": work.example,
        "network": network,
        "n_networks": work.n_networks,
        "label": work.labels[network],
        "target": target,
        "steps": work.steps,
        "settings": work.settings.to_dict(),
    }
    from gfxnn.apps.studio.static_site import browser_model

    plan = browser_model(work.settings, target["n_input_dims"], target["n_output_dims"])
    return {**plan, **info}


def target_npy(work: Any, network: int) -> bytes:
    """The samples network `network` learns on their grid, float32 (*grid_shape, C) .npy."""
    _check_network(network, work.n_networks)
    values = np.ascontiguousarray(work.targets[network].reference(), np.float32)
    buffer = io.BytesIO()
    np.save(buffer, values, allow_pickle=False)
    return buffer.getvalue()


def read_posted_weights(data: bytes, settings: FitSettings) -> dict[str, np.ndarray]:
    """The float32 tensors of a posted fit checkpoint whose settings build the same network as
    `settings` (live settings may differ). WeightsError: too large or unreadable (400),
    another network (409)."""
    if len(data) > MAX_WEIGHTS_BYTES:
        raise WeightsError(
            f"the weights are {len(data)} bytes; the limit is {MAX_WEIGHTS_BYTES}", 413
        )
    with tempfile.TemporaryDirectory(prefix="gfxnn-studio-") as folder:
        path = Path(folder) / "posted.safetensors"
        path.write_bytes(data)
        try:
            tensors, config = load_checkpoint(path)
        except CheckpointError as error:
            raise WeightsError(str(error).replace(str(path), "the posted checkpoint")) from None
    try:
        posted = FitSettings.from_dict(config.get("settings"))
    except (ValueError, TypeError) as error:
        raise WeightsError(f"the posted checkpoint's settings are invalid: {error}") from None
    differ = sorted(settings.changed_fields(posted) - set(TRAINING_ONLY))
    if differ:
        values = ", ".join(
            f"{k}={getattr(posted, k)!r} (here {getattr(settings, k)!r})" for k in differ
        )
        raise WeightsError(f"the posted weights are of another network: {values}", 409)
    state = {}
    for name, value in tensors.items():
        if value.dtype.kind != "f":
            raise WeightsError(f"tensor {name!r} has dtype {value.dtype}; weights are floats")
        converted = value.astype(np.float32)
        if not np.all(np.isfinite(converted)):
            raise WeightsError(f"tensor {name!r} holds NaN or infinite values")
        state[name] = converted
    return state


def load_network(work: Any, network: int, state: dict[str, np.ndarray]) -> None:
    """Load `state` into network `network` (names and shapes checked; the optimizer state
    restarts, the step count stays). ValueError names a wrong tensor."""
    _check_network(network, work.n_networks)
    work.controllers[network].load_state_dict(state)
