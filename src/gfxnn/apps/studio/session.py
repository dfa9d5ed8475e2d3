"""The studio's one training run: an example's model trained on a background thread.

`TrainingSession` owns the `Workload` (the example's FitController, or MultiFitController for
Learn Four Images). Learning is on from the start, as in Dx12NN and MLPZen (`paused=True`
for the old behaviour). The trainer thread runs MLPZen's frames (`pacing.FramePacer`:
steps_per_frame steps, or steps until frame_budget_ms is spent, never past max_steps) in
holds of the lock of about `CHUNK_SECONDS`, and publishes a JSON-able snapshot of the state.
Frames are rendered by `frames.FrameRenderer` on a second thread from a copy of the weights,
so training keeps going while a frame is rendered and PNG-encoded. The web server only calls
the control methods (from worker threads) and reads the published snapshot and frame, so a
request waits for at most one chunk and training never waits for a slow client.

Bounds: frames at most `1 / frame_interval` per second (10 by default), and rarer when one
takes long, so that the renderer is busy at most `inference_share` of the time (one frame in
flight at a time); the state at most 10 times a second while training; chart histories at
most `HISTORY_POINTS` points each; the controllers' per-step loss lists at most
`MAX_LOSS_HISTORY` entries. Files: `files.SessionFiles` (names, cap), `outputs` (what is
written).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gfxnn.apps.devices import device_label
from gfxnn.apps.studio import outputs
from gfxnn.apps.studio.files import MAX_SESSION_BYTES, MAX_SESSION_FILES, SavedFile, SessionFiles
from gfxnn.apps.studio.pacing import CHUNK_SECONDS
from gfxnn.apps.studio.schema import form_changes
from gfxnn.apps.studio.series import HISTORY_POINTS
from gfxnn.apps.studio.training import TrainingLoop
from gfxnn.apps.studio.workload import Source, Workload
from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled, to_uint8
from gfxnn.fields.examples import check_example
from gfxnn.fields.presets import preset_settings
from gfxnn.fields.settings import TRAINING_ONLY, FitSettings

log = logging.getLogger("gfxnn.studio")

__all__ = [
    "CHUNK_SECONDS",
    "HISTORY_POINTS",
    "MAX_SESSION_BYTES",
    "MAX_SESSION_FILES",
    "MAX_STEPS_PER_REQUEST",
    "SavedFile",
    "TrainingSession",
]

HANDOVER_SECONDS = 0.001  # pause between chunks so waiters get the lock (see _loop)
PUBLISH_SECONDS = 0.1  # state updates while training: at most 10 per second
MAX_STEPS_PER_REQUEST = 1000
MAX_LOSS_HISTORY = 10_000  # each controller's per-step list is trimmed to this
NO_VOLUME = (
    "no volume is loaded: upload a .npy file (POST /api/volume, or the page's volume upload) "
    "or start gfxnn studio --volume FILE.npy"
)


def _device_name(device: str) -> str:
    """What the page shows as the device: "WebGPU: <adapter> / <backend>" or "CPU (N cores)"."""
    if device == "webgpu":
        from gfxnn.webgpu.device import get_gpu

        return f"WebGPU: {get_gpu().name}"
    return device_label(None)


class TrainingSession(TrainingLoop):
    """One studio run, trained on a background thread and controlled by the server.

    Args:
        image: the image example's image (pixels (H, W, 3) float32 in [0, 1], its source).
        settings: FitSettings (defaults when None).
        out_dir: where checkpoints and exports are written (created if needed); the only
            directory the session writes to. File names are chosen here, never by a client.
        frame_interval: shortest time between two prediction frames, in seconds.
        inference_share: the renderer thread is busy at most this share of the time.
        max_files, max_bytes: the session's cap on what it writes to out_dir.
        device: "cpu" or "webgpu" (frames render on a CPU copy of the weights either way).
        paused: start with learning off (Dx12NN and MLPZen start with it on).
        example: the first example (`gfxnn.fields.examples.EXAMPLES`).
        volume, volume_source: the volume example's (D, H, W[, C]) array and its label.

    Call `start()` to start the trainer and renderer threads and `close()` to stop them.
    Control methods are thread-safe; they raise ValueError/TypeError for bad values (the
    message is for the page) and change nothing then.
    """

    def __init__(
        self,
        image: LoadedImage,
        settings: FitSettings | None = None,
        *,
        out_dir: str | Path = "studio-runs",
        frame_interval: float = 0.1,
        inference_share: float = 0.5,
        max_files: int = MAX_SESSION_FILES,
        max_bytes: int = MAX_SESSION_BYTES,
        device: str = "cpu",
        paused: bool = False,
        example: str = "image",
        volume: np.ndarray | None = None,
        volume_source: str = "volume",
    ) -> None:
        self.files = SessionFiles(out_dir, max_files, max_bytes)
        self.device = device
        self._source = Source(image.pixels, image.source, volume, volume_source)
        if check_example(example) == "volume" and volume is None:
            raise ValueError(NO_VOLUME)
        work = Workload(example, settings or FitSettings(), self._source, device)
        super().__init__(
            work,
            frame_interval=frame_interval,
            inference_share=inference_share,
            running=not paused,
        )
        self.device_name = _device_name(device)
        self._image_notes = list(image.notes)
        self._image_version = 1
        self._settings_version = 1
        self.browser_steps = 0
        with self._lock:
            self._new_reference_locked()
            self._publish_locked()

    # ----- what the server reads --------------------------------------------------------
    @property
    def out_dir(self) -> Path:
        return self.files.out_dir

    @property
    def max_files(self) -> int:
        return self.files.max_files

    @property
    def max_bytes(self) -> int:
        return self.files.max_bytes

    @property
    def settings(self) -> FitSettings:
        with self._lock:
            return self._work.settings

    @property
    def model(self) -> Any:
        """The current example's model (a FitController, or a MultiFitController for four
        images); the trainer thread uses it too: for reading in tests and scripts."""
        return self._work.model

    @property
    def example(self) -> str:
        return self._work.example

    def prediction_png(self) -> bytes:
        """The full-resolution prediction of the image example (the frame at its full size
        for the others), clipped to [0, 1], as PNG (default compression)."""
        with self._lock:
            work, z = self._work, self._z_plane
            if work.example == "image":
                pixels = to_uint8(np.clip(work.model.predict(), 0.0, 1.0))
            else:
                pixels = work.show_frame(work.model, z)[0]
        buffer = io.BytesIO()
        Image.fromarray(pixels).save(buffer, format="PNG")
        return buffer.getvalue()

    def saved_file(self, name: str) -> SavedFile | None:
        """A file this session wrote, by its exact name (None for any other name)."""
        return self.files.get(name)

    # ----- controls ---------------------------------------------------------------------
    def set_training(self, enabled: bool) -> None:
        """Dx12NN's "Enable learning" (MLPZen's "Enable Training")."""
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be true or false, got {enabled!r}")
        with self._lock:
            self._running = enabled
            if enabled:
                self._error = None
            self._changed_locked()

    def step(self, n: int = 1, cancelled: Callable[[], bool] | None = None) -> int:
        """Run `n` steps now (Dx12NN's single step when n is 1), 1..MAX_STEPS_PER_REQUEST,
        fewer at settings.max_steps. The steps run in chunks of about CHUNK_SECONDS, the lock
        released between them (other controls get in) and `cancelled()` asked before each:
        when it says True, the rest is skipped. Returns the number of steps run."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEPS_PER_REQUEST:
            raise ValueError(f"n must be an integer in 1..{MAX_STEPS_PER_REQUEST}, got {n!r}")
        return self._run_steps(n, None, cancelled)

    def frame_step(self, cancelled: Callable[[], bool] | None = None) -> int:
        """MLPZen's "Do Training Step": one frame's worth of steps (steps_per_frame, or
        steps until frame_budget_ms is spent, at least one), never past max_steps. Returns
        the number of steps run."""
        settings = self.settings
        if settings.frame_budget_ms is not None:
            return self._run_steps(None, settings.frame_budget_ms / 1e3, cancelled)
        return self._run_steps(settings.steps_per_frame, None, cancelled)

    def reset_weights(self) -> None:
        """ "Initialize Weights": fresh weights, optimizer, step count and learning-rate
        schedule (it follows the step count); charts cleared."""
        with self._lock:
            self._work.model.reset_weights()
            self._restarted_locked()

    def apply(self, changes: dict[str, Any]) -> bool:
        """Change settings (a partial dict; "encoding_params.<key>" names merge into
        encoding_params, see schema.form_changes). Returns True when the network was rebuilt
        (and re-initialised), False when only live settings changed and the weights were
        kept."""
        if not isinstance(changes, dict):
            raise TypeError(f"settings must be an object, got {type(changes).__name__}")
        with self._lock:
            current = self._work.settings.to_dict()
            settings = FitSettings.from_dict(form_changes(current, changes))  # strict
            changed = {k for k, v in settings.to_dict().items() if current[k] != v}
            self._work.model.apply(settings)
            rebuilt = bool(changed - set(TRAINING_ONLY))  # the model rebuilt and reset
            self._settings_version += 1
            if rebuilt:
                self._restarted_locked()
            else:
                self._changed_locked()
            return rebuilt

    def load_preset(self, name: str) -> tuple[bool, dict[str, Any]]:
        """Load preset `name` ("dx12nn" or "mlpzen") for the current example: (rebuilt,
        the settings now)."""
        settings = preset_settings(name, self._work.example)  # ValueError names the choices
        rebuilt = self.apply(settings.to_dict())
        return rebuilt, self.settings.to_dict()

    def set_example(self, name: str, preset: str | None = None) -> None:
        """Switch to example `name`; the network is rebuilt for its target, with the current
        settings or preset `preset`'s for that example."""
        check_example(name)
        if name == "volume" and self._source.volume is None:
            raise ValueError(NO_VOLUME)
        settings = preset_settings(preset, name) if preset is not None else self.settings
        self._switch(Workload(name, settings, self._source, self.device))

    def set_z_plane(self, z: float) -> None:
        """The z of the slice shown by the 3-D examples (no re-initialisation)."""
        ok = isinstance(z, int | float) and not isinstance(z, bool) and 0.0 <= z <= 1.0
        if not ok:
            raise ValueError(f"z must be a number in [0, 1], got {z!r}")
        with self._lock:
            self._z_plane = float(z)
            if self._work.example in ("bubbles", "volume"):
                self._charts.clear_psnr()
                self._new_reference_locked()
            self._changed_locked()

    def set_image(self, image: LoadedImage) -> None:
        """Train the image example on a new image from now on; on the image example the
        network and its weights stay (Dx12NN), from another example it is built anew."""
        with self._lock:
            work = self._work
            if work.example == "image":
                work.set_image(image.pixels, image.source)  # ValueError: nothing changed
                self._source.image, self._source.image_source = image.pixels, image.source
                self._image_notes = list(image.notes)
                self._image_version += 1
                self._charts.clear_psnr()
                self._new_reference_locked()
                self._changed_locked()
                return
        source = Source(image.pixels, image.source, self._source.volume, self._source.volume_source)
        self._switch(Workload("image", self.settings, source, self.device), source)
        with self._lock:
            self._image_notes = list(image.notes)
            self._image_version += 1
            self._changed_locked()

    def load_bundled(self, name: str) -> None:
        """Switch to a bundled image (gfxnn.data.BUNDLED_IMAGES)."""
        pixels = load_bundled(name)  # ValueError naming the choices for another name
        self.set_image(LoadedImage(pixels, bundled_image_source(name)))

    def set_volume(self, values: np.ndarray, source: str) -> None:
        """Switch to the volume example with `values` ((D, H, W, C) in [0, 1])."""
        new = Source(self._source.image, self._source.image_source, values, source)
        self._switch(Workload("volume", self.settings, new, self.device), new)

    def _switch(self, work: Workload, source: Source | None = None) -> None:
        """Make `work` (built outside the lock) the session's workload."""
        with self._lock:
            self._work = work
            if source is not None:
                self._source = source
            self._settings_version += 1
            self._new_reference_locked()
            self._restarted_locked()  # publishes: the new reference's version with it

    def save_checkpoint(self) -> SavedFile:
        """Write the weights and settings as `studio-<date>-<time>-step<N>.safetensors` in
        out_dir, in `gfxnn fit`'s checkpoint format (see outputs.py)."""
        with self._lock:
            capture = outputs.capture(
                self._work, self._image_info(), self._last_psnr(), self._z_plane
            )
            path = self.files.new_path(f"step{capture.steps}", ".safetensors")
        outputs.write_checkpoint(path, capture)
        return self._remember(path, "checkpoint")

    def export(self, format: str) -> tuple[SavedFile, str | None]:
        """Export the network with `gfxnn.export` (a checkpoint is saved first): the file
        written and, for shader formats, its text."""
        outputs.check_export(format, self._work)
        checkpoint = self.save_checkpoint()
        written, text = outputs.export(checkpoint.path, format)
        saved = [self._remember(path, "export") for path in written]
        return saved[-1], text

    # ----- the browser's trainer (issue 19) ---------------------------------------------
    def browser_model(self, network: int) -> dict[str, Any]:
        with self._lock:
            return outputs.model_info(self._work, network)

    def target_npy(self, network: int) -> bytes:
        with self._lock:
            return outputs.target_npy(self._work, network)

    def weights_checkpoint(self, network: int) -> bytes:
        """Network `network`'s weights as a fit checkpoint's bytes."""
        with self._lock:
            capture = outputs.capture(
                self._work, self._image_info(), self._last_psnr(), self._z_plane
            )
        return outputs.checkpoint_bytes(capture, network)

    def load_weights(self, network: int, data: bytes, steps: int) -> int:
        """Load a fit checkpoint posted by the browser into network `network`; `steps`
        (what the browser trained) add to browser_steps. Returns the session's steps."""
        state = outputs.read_posted_weights(data, self.settings)
        with self._lock:
            outputs.load_network(self._work, network, state)
            self.browser_steps += steps
            self._changed_locked()
            return self._work.steps

    def _extra_state(self) -> dict[str, Any]:
        return {
            "settings_version": self._settings_version,
            "device": self.device_name,
            "image": self._image_info(),
            "files": self.files.listing(),
            "browser_steps": self.browser_steps,
        }

    def _image_info(self) -> dict[str, Any]:
        image = self._source.image
        height, width = image.shape[:2] if image is not None else (0, 0)
        return {
            "source": self._source.image_source,
            "width": width,
            "height": height,
            "notes": self._image_notes,
            "version": self._image_version,
        }

    def _remember(self, path: Path, kind: str) -> SavedFile:
        with self._lock:
            saved = self.files.remember(path, kind)
            self._publish_locked()
        return saved
