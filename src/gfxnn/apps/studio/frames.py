"""Prediction frames for the studio, rendered on their own thread from copies of the weights.

The trainer hands `FrameRenderer.submit` a `FrameJob` (a copy of the weights, the settings,
and how to build and show the example's model) and goes on training; the renderer loads the
copy into a second, inference-only model (a FitController or MultiFitController of the same
targets, built once per network shape), draws the example's frame with
`gfxnn.fields.display` (`workload.show_frame`), encodes a PNG and calls back with a `Frame`.
One job is in flight at a time, so frames never queue up behind a slow machine.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from gfxnn.apps.studio.loop_thread import LoopThread
from gfxnn.data.images import to_uint8
from gfxnn.fields.settings import FitSettings

__all__ = ["Frame", "FrameJob", "FrameRenderer", "encode_frame"]

log = logging.getLogger("gfxnn.studio")


def encode_frame(pixels: np.ndarray) -> bytes:
    """(H, W, 3) uint8, or floats in [0, 1], -> PNG bytes, fast (zlib level 1: a third of the
    time of level 6)."""
    if pixels.dtype != np.uint8:
        pixels = to_uint8(pixels)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


@dataclasses.dataclass
class FrameJob:
    """What the renderer needs for one frame: a copy of the weights and where it belongs."""

    state: dict[str, np.ndarray]
    settings: FitSettings
    key: str  # what shapes the model (settings, example, targets): a new key rebuilds the copy
    build: Callable[[FitSettings], Any]  # the inference-only model of these settings
    show: Callable[[Any], tuple[np.ndarray, list[float]]]  # model -> (uint8 frame, PSNRs)
    step: int
    generation: tuple[int, int]  # (network restarts, view changes) when submitted
    submitted: float  # time.perf_counter() when submitted


@dataclasses.dataclass
class Frame:
    """A rendered frame: PNG bytes, the PSNR of each network (dB) against what the frame
    shows of its target, timings in seconds."""

    png: bytes
    psnrs: list[float]
    predict_seconds: float  # inference and drawing
    seconds: float  # the whole job: load, predict, draw, encode


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
        self._model: Any = None
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
                self._model = None
            try:
                self._on_done(job, frame)
            finally:
                # Not busy only after on_done scheduled the next frame: no back-to-back jobs.
                with self._lock:
                    self.busy = self._job is not None

    def _render(self, job: FrameJob) -> Frame:
        start = time.perf_counter()
        if self._model is None or self._key != job.key:
            # A second model, for inference only; SGD keeps no optimizer state to allocate.
            self._model = job.build(dataclasses.replace(job.settings, optimizer="sgd"))
            self._key = job.key
        self._model.load_state_dict(job.state)
        predict_start = time.perf_counter()
        with np.errstate(over="ignore", invalid="ignore"):
            pixels, psnrs = job.show(self._model)
        predict_seconds = time.perf_counter() - predict_start
        png = encode_frame(pixels)
        return Frame(png, psnrs, predict_seconds, time.perf_counter() - start)
