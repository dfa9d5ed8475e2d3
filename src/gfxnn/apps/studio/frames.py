"""Prediction frames for the studio, rendered on their own thread from copies of the weights.

The trainer hands `FrameRenderer.submit` a `FrameJob` (a copy of the weights and the settings)
and goes on training; the renderer loads the copy into a second, inference-only fused trainer,
renders the preview, measures its PSNR, encodes a PNG and calls back with a `Frame`. One job
is in flight at a time, so frames never queue up behind a slow machine.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
import time
from collections.abc import Callable

import numpy as np
from PIL import Image

from gfxnn.apps.studio.loop_thread import LoopThread
from gfxnn.data.images import to_uint8
from gfxnn.fields.controller import psnr
from gfxnn.fields.settings import FitSettings
from gfxnn.fused import FusedTrainer, make_trainer

__all__ = ["PREVIEW_MAX_SIDE", "Frame", "FrameJob", "FrameRenderer", "encode_frame", "preview_grid"]

PREVIEW_MAX_SIDE = 512  # frames of larger images are rendered at this size (cheaper inference)

log = logging.getLogger("gfxnn.studio")


def encode_frame(pixels: np.ndarray) -> bytes:
    """(H, W, 3) floats -> PNG bytes, fast (zlib level 1: a third of the time of level 6)."""
    buffer = io.BytesIO()
    Image.fromarray(to_uint8(pixels)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def preview_grid(image: np.ndarray) -> tuple[tuple[int, int], np.ndarray]:
    """((width, height) of the preview, the reference at the preview's pixels) for an
    (H, W, 3) image: the image itself up to PREVIEW_MAX_SIDE a side, else scaled down."""
    height, width = image.shape[:2]
    scale = min(1.0, PREVIEW_MAX_SIDE / max(height, width))
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    if scale == 1.0:
        return size, image
    # Preview pixel x of w is evaluated at u = x / (w - 1): compare with the nearest texel.
    rows = np.round(np.linspace(0, height - 1, size[1])).astype(int)
    cols = np.round(np.linspace(0, width - 1, size[0])).astype(int)
    return size, image[rows][:, cols]


@dataclasses.dataclass
class FrameJob:
    """What the renderer needs for one frame: a copy of the weights and where it belongs."""

    state: dict[str, np.ndarray]
    settings: FitSettings
    key: str  # the settings that shape the network: a new key rebuilds the renderer's copy
    image: np.ndarray
    size: tuple[int, int]  # preview (width, height)
    reference: np.ndarray  # the reference at the preview's pixels, for the PSNR
    step: int
    generation: int
    submitted: float  # time.perf_counter() when submitted


@dataclasses.dataclass
class Frame:
    """A rendered frame: PNG bytes, PSNR against the preview reference, timings in seconds."""

    png: bytes
    psnr: float
    predict_seconds: float
    seconds: float  # the whole job: load, predict, PSNR, encode


class FrameRenderer:
    """Renders `FrameJob`s on a thread and calls `on_done(job, frame)` from that thread
    (`frame` is None when rendering failed; the error is logged)."""

    def __init__(self, on_done: Callable[[FrameJob, Frame | None], None]) -> None:
        self._on_done = on_done
        self._job: FrameJob | None = None
        self._ready = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._thread = LoopThread(self._loop, "gfxnn-studio-renderer", self._closed, self._ready)
        self._trainer: FusedTrainer | None = None
        self._key = ""
        self.busy = False  # a job submitted and not yet done

    def start(self) -> None:
        self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._thread.close(timeout)

    def submit(self, job: FrameJob) -> None:
        """Render `job` next (replacing a job not yet started)."""
        with self._lock:
            self._job = job
            self.busy = True
        self._ready.set()

    def _loop(self) -> None:
        while not self._closed.is_set():
            if not self._ready.wait(0.5):
                continue
            with self._lock:
                job, self._job = self._job, None
                self._ready.clear()
            if job is None:
                continue
            frame = None
            try:
                frame = self._render(job)
            except Exception:  # a bad frame must not end the renderer; the next one may work
                log.exception("studio: rendering a frame failed")
            try:
                self._on_done(job, frame)
            finally:
                # Not busy only after on_done scheduled the next frame: no back-to-back jobs.
                with self._lock:
                    self.busy = self._job is not None

    def _render(self, job: FrameJob) -> Frame:
        start = time.perf_counter()
        if self._trainer is None or self._key != job.key:
            # A second network, for inference only; SGD keeps no optimizer state to allocate.
            settings = dataclasses.replace(job.settings, optimizer="sgd")
            self._trainer = make_trainer(settings.model_spec(), initialize=False)
            self._key = job.key
        self._trainer.load_state_dict(job.state)
        width, height = job.size
        predict_start = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            pixels = np.clip(self._trainer.render((height, width)), 0.0, 1.0)
        predict_seconds = time.perf_counter() - predict_start
        value = psnr(np.nan_to_num(pixels), job.reference)
        png = encode_frame(pixels)
        return Frame(png, value, predict_seconds, time.perf_counter() - start)
