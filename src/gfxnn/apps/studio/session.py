"""The studio's one training run: an ImageFitter trained on a background thread.

`TrainingSession` owns the fitter. Its trainer thread runs steps in short chunks (about
`CHUNK_SECONDS`) while learning is enabled and publishes a JSON-able snapshot of the state.
Frames are rendered by `frames.FrameRenderer` on a second thread from a copy of the weights,
so training keeps going while a frame is rendered and PNG-encoded; on a machine with a spare
core, frames cost training almost nothing. The web server only calls the control
methods (from worker threads) and reads the published snapshot and frame, so a request waits
for at most one chunk and training never waits for a slow client.

Bounds: frames at most `1 / frame_interval` per second (10 by default), and rarer when one
takes long, so that the renderer is busy at most `inference_share` of the time (one frame in
flight at a time); the state at most 10 times a second while training; chart histories at
most `HISTORY_POINTS` points each (older points are thinned out, so the chart always spans the
whole run); the fitter's per-step loss list at most `MAX_LOSS_HISTORY` entries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import glob
import io
import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gfxnn.apps.devices import device_label, make_image_fitter
from gfxnn.apps.studio.frames import Frame, FrameJob, FrameRenderer, encode_frame, preview_grid
from gfxnn.apps.studio.loop_thread import LoopThread
from gfxnn.apps.studio.series import HISTORY_POINTS, Series
from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled, to_uint8
from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.imagefit import TRAINING_ONLY, DivergenceError, FitSettings
from gfxnn.io import atomic_write_bytes

log = logging.getLogger("gfxnn.studio")

__all__ = [
    "HISTORY_POINTS",
    "MAX_SESSION_BYTES",
    "MAX_SESSION_FILES",
    "MAX_STEPS_PER_REQUEST",
    "SavedFile",
    "TrainingSession",
]

CHUNK_SECONDS = 0.02  # the fitter lock is held this long at most; controls wait no longer
HANDOVER_SECONDS = 0.001  # pause between chunks so waiters get the lock (see _loop)
PUBLISH_SECONDS = 0.1  # state updates while training: at most 10 per second
MAX_STEPS_PER_REQUEST = 1000
MAX_SESSION_FILES = 200  # files one session writes to --out (each is listed in every state)
MAX_SESSION_BYTES = 1024**3  # bytes one session writes to --out
MAX_LOSS_HISTORY = 10_000  # the fitter's own per-step list is trimmed to this (memory stays flat)
PHASES = {
    "initialize": "Initialize",
    "backpropagation": "Backpropagation",
    "optimization": "Optimization",
    "inference": "Inference",
}


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


@dataclasses.dataclass
class SavedFile:
    """A file the session wrote into its output directory, downloadable by its name."""

    name: str
    path: Path
    kind: str  # "checkpoint" or "export"


class TrainingSession:
    """One image-fitting run, trained on a background thread and controlled by the server.

    Args:
        image: the first reference image (pixels (H, W, 3) float32 in [0, 1], its source).
        settings: FitSettings (defaults when None).
        out_dir: where checkpoints and exports are written (created if needed); the only
            directory the session writes to. File names are chosen here, never by a client.
        frame_interval: shortest time between two prediction frames, in seconds.
        inference_share: the renderer thread is busy at most this share of the time.
        max_files, max_bytes: the session's cap on what it writes to out_dir: no save or
            export starts once it has written max_files files or max_bytes bytes.
        device: "cpu" or "webgpu" (`gfxnn.apps.devices.make_image_fitter`; frames render on
            a CPU copy of the weights whatever trains, see frames.py).

    Call `start()` to start the trainer and renderer threads and `close()` to stop them.
    Control methods are thread-safe; they raise ValueError/TypeError for bad values (the
    message is for the page).
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
    ) -> None:
        if not (isinstance(frame_interval, int | float) and frame_interval > 0):
            raise ValueError(f"frame_interval must be seconds > 0, got {frame_interval!r}")
        if not (isinstance(inference_share, int | float) and 0 < inference_share <= 1):
            raise ValueError(f"inference_share must be in (0, 1], got {inference_share!r}")
        for name, value in (("max_files", max_files), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.out_dir = Path(out_dir)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self._bytes_written = 0
        self.frame_interval = frame_interval
        self.inference_share = inference_share
        self._fitter = make_image_fitter(image.pixels, settings, device)
        self.device_name = device_label(self._fitter)  # the page's "device" line
        self._lock = threading.Lock()  # every use of the fitter
        self._state_lock = threading.Lock()  # the published snapshot and frame
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = LoopThread(self._loop, "gfxnn-studio-trainer", self._closed, self._wake)
        self._listeners: list[Callable[[], None]] = []
        self._running = False
        self._dirty = True  # render a frame and publish at the next chance
        self._error: str | None = None
        self._chunk = 1
        self._trained = 0  # steps trained since the session began (never reset)
        self._rate_window: deque[tuple[float, int]] = deque()
        self._loss = Series()
        self._psnr = Series()
        self._last_psnr: float | None = None
        self._frame_times: deque[float] = deque(maxlen=20)
        self._renderer = FrameRenderer(self._frame_done)
        self._next_frame = 0.0
        self._generation = 0  # bumped when the network restarts; older frames are not charted
        self._inference = [0.0, 0]  # seconds, frames
        self._image_source = image.source
        self._image_notes = list(image.notes)
        self._image_version = 1
        self._settings_version = 1
        self._reference_png = encode_frame(image.pixels)
        self._set_preview_grid()
        self._saved: dict[str, SavedFile] = {}
        self._version = 0
        self._snapshot: dict[str, Any] = {}
        self._frame = b""
        self._frame_version = 0
        self._publish_time = 0.0
        with self._lock:
            self._publish_locked()

    # ----- life cycle -------------------------------------------------------------------
    def start(self) -> None:
        """Start the trainer and renderer threads (idempotent; a closed session stays closed)."""
        self._thread.start()
        self._renderer.start()

    def close(self, timeout: float = 5.0) -> None:
        """Stop both threads (the current chunk and frame finish first)."""
        self._thread.close(timeout)
        self._renderer.close(timeout)

    def add_listener(self, callback: Callable[[], None]) -> None:
        """Call `callback()` (from the trainer thread; keep it quick) after each publish."""
        self._listeners.append(callback)

    def remove_listener(self, callback: Callable[[], None]) -> None:
        with contextlib.suppress(ValueError):
            self._listeners.remove(callback)

    # ----- what the server reads --------------------------------------------------------
    @property
    def version(self) -> int:
        """Bumped at every publish."""
        return self._version

    def snapshot(self) -> dict[str, Any]:
        """The last published state (a JSON-able dict; see docs/studio.md, message "state")."""
        with self._state_lock:
            return dict(self._snapshot)

    def frame(self) -> tuple[int, bytes]:
        """(frame version, PNG bytes) of the latest prediction frame."""
        with self._state_lock:
            return self._frame_version, self._frame

    def reference_png(self) -> bytes:
        with self._state_lock:
            return self._reference_png

    def prediction_png(self) -> bytes:
        """The full-resolution prediction, clipped to [0, 1], as PNG (default compression)."""
        with self._lock:
            pixels = self._fitter.predict()
        buffer = io.BytesIO()
        Image.fromarray(to_uint8(pixels)).save(buffer, format="PNG")
        return buffer.getvalue()

    def saved_file(self, name: str) -> SavedFile | None:
        """A file this session wrote, by its exact name (None for any other name)."""
        return self._saved.get(name)

    # ----- controls ---------------------------------------------------------------------
    def set_training(self, enabled: bool) -> None:
        """Dx12NN's "Enable learning"."""
        if not isinstance(enabled, bool):
            raise TypeError(f"enabled must be true or false, got {enabled!r}")
        with self._lock:
            self._running = enabled
            if enabled:
                self._error = None
            self._changed_locked()

    def step(self, n: int = 1, cancelled: Callable[[], bool] | None = None) -> int:
        """Run `n` steps now (Dx12NN's single step when n is 1), 1..MAX_STEPS_PER_REQUEST.

        The steps run in chunks of about CHUNK_SECONDS, the lock released between them (other
        controls get in) and `cancelled()` asked before each: when it says True, the rest is
        skipped. Returns the number of steps run."""
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_STEPS_PER_REQUEST:
            raise ValueError(f"n must be an integer in 1..{MAX_STEPS_PER_REQUEST}, got {n!r}")
        done = 0
        try:
            while done < n and not (cancelled is not None and cancelled()):
                with self._lock:
                    before = self._fitter.steps
                    self._train_locked(min(n - done, self._chunk))
                    done += self._fitter.steps - before
                    if self._error is not None:
                        raise ValueError(self._error)
                if done < n:
                    time.sleep(HANDOVER_SECONDS)  # hand the lock over (see _loop)
        finally:
            with self._lock:
                self._changed_locked()
        return done

    def reset_weights(self) -> None:
        """Dx12NN's "Initialize Weights": fresh weights, optimizer and counters; charts cleared."""
        with self._lock:
            self._fitter.reset_weights()
            self._restarted_locked()

    def apply(self, changes: dict[str, Any]) -> bool:
        """Change settings (a partial dict). Returns True when the network was rebuilt (and
        re-initialised), False when only live settings changed and the weights were kept."""
        if not isinstance(changes, dict):
            raise TypeError(f"settings must be an object, got {type(changes).__name__}")
        with self._lock:
            current = self._fitter.settings.to_dict()
            settings = FitSettings.from_dict(current | changes)  # strict: keys, ranges, types
            changed = {k for k, v in settings.to_dict().items() if current[k] != v}
            self._fitter.apply(settings)
            rebuilt = bool(changed - set(TRAINING_ONLY))  # the fitter rebuilt and reset
            self._settings_version += 1
            if rebuilt:
                self._restarted_locked()
            else:
                self._changed_locked()
            return rebuilt

    def set_image(self, image: LoadedImage) -> None:
        """Train on a new reference from now on; the network and its weights stay."""
        reference = encode_frame(image.pixels)
        with self._lock:
            self._fitter.set_image(image.pixels)
            self._set_preview_grid()
            self._psnr.clear()
            self._image_source = image.source
            self._image_notes = list(image.notes)
            self._image_version += 1
            with self._state_lock:
                self._reference_png = reference
            self._changed_locked()

    def load_bundled(self, name: str) -> None:
        """Switch to a bundled image (gfxnn.data.BUNDLED_IMAGES)."""
        pixels = load_bundled(name)  # ValueError naming the choices for another name
        self.set_image(LoadedImage(pixels, bundled_image_source(name)))

    def save_checkpoint(self) -> SavedFile:
        """Write the weights and settings as `studio-<date>-<time>-step<N>.safetensors` in
        out_dir, in `gfxnn fit`'s checkpoint format (so `gfxnn render`/`export` read it)."""
        with self._lock:
            state = self._fitter.state_dict()
            height, width = self._fitter.image.shape[:2]
            steps = self._fitter.steps
            image = {"source": self._image_source, "width": width, "height": height}
            config = fit_checkpoint.checkpoint_config(
                self._fitter.settings, image=image, app="gfxnn studio"
            )
            psnr = self._last_psnr
        self.out_dir.mkdir(parents=True, exist_ok=True)
        path = self._new_path(f"step{steps}", ".safetensors")
        fit_checkpoint.save(path, state, config, psnr=psnr, steps=steps, weights_step=steps)
        return self._remember(path, "checkpoint")

    def export(self, format: str) -> tuple[SavedFile, str | None]:
        """Export the network with `gfxnn.export` (a checkpoint is saved first): the file
        written and, for shader formats, its text."""
        from gfxnn import export as exporter

        if format not in exporter.FORMATS:
            raise ValueError(f"format must be one of {', '.join(exporter.FORMATS)}; got {format!r}")
        checkpoint = self.save_checkpoint()
        result, grid = exporter.export_checkpoint_with_data(checkpoint.path, format)
        path = checkpoint.path.with_suffix(exporter.suffix(format))
        data = result.encode("utf-8") if isinstance(result, str) else bytes(result)
        if grid is not None:  # a grid's table goes into a buffer file beside the code
            from gfxnn.apps.export import data_path

            atomic_write_bytes(data_path(path), grid)
            self._remember(data_path(path), "export")
        atomic_write_bytes(path, data)
        saved = self._remember(path, "export")
        return saved, result if isinstance(result, str) else None

    # ----- the trainer thread -----------------------------------------------------------
    def _loop(self) -> None:
        while not self._closed.is_set():
            try:
                idle = self._iterate()
            except Exception as error:  # the trainer must not die silently: stop and report
                log.exception("studio: the training loop failed")
                with self._lock, contextlib.suppress(Exception):
                    self._running = False
                    self._error = f"training stopped: {type(error).__name__}: {error}"
                    self._publish_locked()
                idle = True
            if idle:
                self._wake.wait(0.5)
                self._wake.clear()
            else:
                # threading.Lock is not fair: released and re-taken at once, it would starve
                # the request handlers and the renderer's callback that wait for it (seen in
                # CI: a "stop" unanswered for 10 s, no frame for thousands of steps). A short
                # sleep between chunks hands it over; it costs about 5% of training time.
                time.sleep(HANDOVER_SECONDS)

    def _iterate(self) -> bool:
        """One chunk of training, a frame when due, the state when due; True when idle."""
        with self._lock:
            if self._running:
                self._train_locked(self._chunk)
            now = time.perf_counter()
            due = self._dirty or (self._running and now >= self._next_frame)
            if due and not self._renderer.busy:
                self._submit_frame_locked(now)
            if self._running and now - self._publish_time >= PUBLISH_SECONDS:
                self._publish_locked()
            return not self._running

    def _submit_frame_locked(self, now: float) -> None:
        """Hand the renderer a copy of the weights; training goes on while it renders."""
        settings = self._fitter.settings
        shape = {k: v for k, v in settings.to_dict().items() if k not in TRAINING_ONLY}
        self._renderer.submit(
            FrameJob(
                state=self._fitter.state_dict(),
                settings=settings,
                key=json.dumps(shape, sort_keys=True, default=str),
                image=self._fitter.image,
                size=self._preview_size,
                reference=self._preview_reference,
                step=self._fitter.steps,
                generation=self._generation,
                submitted=now,
            )
        )
        self._dirty = False

    def _frame_done(self, job: FrameJob, frame: Frame | None) -> None:
        """The renderer's callback (on its thread): publish the frame, schedule the next."""
        with self._lock:
            if frame is not None:
                self._inference[0] += frame.predict_seconds
                self._inference[1] += 1
                if job.generation == self._generation:
                    self._last_psnr = frame.psnr
                    self._psnr.add(job.step, frame.psnr)
                with self._state_lock:
                    self._frame = frame.png
                    self._frame_version += 1
                self._frame_times.append(time.perf_counter())
                busy_limit = frame.seconds / self.inference_share
                self._next_frame = job.submitted + max(self.frame_interval, busy_limit)
                self._publish_locked()
            if self._dirty:
                self._wake.set()

    def _train_locked(self, n: int) -> None:
        start = time.perf_counter()
        before = self._fitter.steps
        try:
            self._fitter.step(n)
        except DivergenceError as error:
            self._running = False
            self._error = str(error)
        done = self._fitter.steps - before
        elapsed = time.perf_counter() - start
        if done:
            self._trained += done
            losses = self._fitter.loss_history[-done:]
            self._loss.add(self._fitter.steps, float(np.mean(losses)))
            self._chunk = int(np.clip(CHUNK_SECONDS * done / max(elapsed, 1e-9), 1, 1000))
        if len(self._fitter.loss_history) > MAX_LOSS_HISTORY:
            # The chart keeps its own thinned series; the fitter's list would grow forever.
            del self._fitter.loss_history[: -MAX_LOSS_HISTORY // 2]

    def _set_preview_grid(self) -> None:
        self._preview_size, self._preview_reference = preview_grid(self._fitter.image)

    def _changed_locked(self) -> None:
        self._dirty = True
        self._publish_locked()
        self._wake.set()

    def _restarted_locked(self) -> None:
        self._generation += 1
        self._last_psnr = None
        self._loss.clear()
        self._psnr.clear()
        self._chunk = 1
        self._error = None
        self._changed_locked()

    def _steps_per_second(self, now: float) -> float:
        window = self._rate_window
        window.append((now, self._trained))
        while len(window) > 2 and now - window[0][0] > 2.0:
            window.popleft()
        if not self._running or len(window) < 2:
            return 0.0
        (t0, s0), (t1, s1) = window[0], window[-1]
        return (s1 - s0) / (t1 - t0) if t1 > t0 else 0.0

    def _frames_per_second(self, now: float) -> float:
        times = [t for t in self._frame_times if now - t <= 2.0]
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 else 0.0

    def _publish_locked(self) -> None:
        now = time.perf_counter()
        fitter = self._fitter
        height, width = fitter.image.shape[:2]
        timings = fitter.timings_ms()
        if self._inference[1]:  # the frames' inference, on the renderer's copy of the network
            timings["inference"] = 1e3 * self._inference[0] / self._inference[1]
        loss = fitter.loss_history[-1] if fitter.loss_history else None
        snapshot = {
            "running": self._running,
            "steps": fitter.steps,
            "steps_per_second": self._steps_per_second(now),
            "loss": _finite(loss),
            "psnr": _finite(self._last_psnr),
            "settings": fitter.settings.to_dict(),
            "settings_version": self._settings_version,
            "timings_ms": {label: timings.get(phase, 0.0) for phase, label in PHASES.items()},
            "device": self.device_name,
            "image": {
                "source": self._image_source,
                "width": width,
                "height": height,
                "notes": self._image_notes,
                "version": self._image_version,
            },
            "preview": {"width": self._preview_size[0], "height": self._preview_size[1]},
            "frames_per_second": self._frames_per_second(now),
            "history": {"loss": list(self._loss.points), "psnr": list(self._psnr.points)},
            "error": self._error,
            "files": [
                {"name": f.name, "kind": f.kind, "url": f"/api/files/{f.name}"}
                for f in self._saved.values()
            ],
        }
        with self._state_lock:
            self._version += 1
            snapshot["version"] = self._version
            self._snapshot = snapshot
        self._publish_time = now
        for callback in list(self._listeners):
            callback()

    # ----- files ------------------------------------------------------------------------
    def _new_path(self, label: str, suffix: str) -> Path:
        """A fresh name in out_dir: no file there shares its stem, whatever its suffix (an
        export writes NAME.glsl and NAME.grid.bin beside NAME.safetensors), so nothing the
        session writes replaces a file. Refused once the session's cap is reached."""
        if len(self._saved) >= self.max_files or self._bytes_written >= self.max_bytes:
            raise ValueError(
                f"this studio session has written {len(self._saved)} files "
                f"({self._bytes_written} bytes) to {self.out_dir}; its cap is {self.max_files} "
                f"files or {self.max_bytes} bytes: restart gfxnn studio to write more"
            )
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        stem, counter = f"studio-{stamp}-{label}", 2
        while self._stem_taken(stem):
            stem, counter = f"studio-{stamp}-{label}-{counter}", counter + 1
        return self.out_dir / f"{stem}{suffix}"

    def _stem_taken(self, stem: str) -> bool:
        if any(Path(name).name.split(".")[0] == stem for name in self._saved):
            return True
        return any(self.out_dir.glob(glob.escape(stem) + ".*"))

    def _remember(self, path: Path, kind: str) -> SavedFile:
        saved = SavedFile(path.name, path, kind)
        with contextlib.suppress(OSError):
            self._bytes_written += path.stat().st_size
        with self._lock:
            self._saved[path.name] = saved
            self._publish_locked()
        return saved
