"""The studio's trainer thread: MLPZen's frames of training on the session's workload, the
prediction frames handed to the renderer, and the published state.

`TrainingLoop` is the part of `session.TrainingSession` that runs on its own: the trainer
thread trains in MLPZen's frames (`pacing.FramePacer`: steps_per_frame steps, or steps until
frame_budget_ms is spent, never past max_steps) in holds of the lock of about
`CHUNK_SECONDS`, offers a frame to `frames.FrameRenderer` after each (rendered from a copy of
the weights while training goes on, at most 1 / frame_interval per second and with the
renderer busy at most inference_share of the time), and publishes the state
(`snapshot.build_snapshot`) at most 10 times a second. Every use of the workload holds
`_lock`; a control waits for at most one hold.
"""

from __future__ import annotations

import contextlib
import logging
import math
import threading
import time
from collections.abc import Callable
from typing import Any

from gfxnn.apps.studio.frames import Frame, FrameJob, FrameRenderer, encode_frame
from gfxnn.apps.studio.loop_thread import LoopThread
from gfxnn.apps.studio.pacing import FramePacer, RateMeter
from gfxnn.apps.studio.series import Charts
from gfxnn.apps.studio.snapshot import build_snapshot
from gfxnn.apps.studio.workload import Workload, combined_psnr
from gfxnn.fields.controller import DivergenceError

__all__ = ["HANDOVER_SECONDS", "MAX_LOSS_HISTORY", "PUBLISH_SECONDS", "TrainingLoop"]

log = logging.getLogger("gfxnn.studio")

HANDOVER_SECONDS = 0.001  # pause between chunks so waiters get the lock (see _loop)
PUBLISH_SECONDS = 0.1  # state updates while training: at most 10 per second
MAX_LOSS_HISTORY = 10_000  # each controller's per-step list is trimmed to this


class TrainingLoop:
    """The trainer thread of `work` and what it publishes (see the module docstring).

    Args:
        work: the example's workload (replaced by the session's controls under `_lock`).
        frame_interval: shortest time between two prediction frames, in seconds.
        inference_share: the renderer thread is busy at most this share of the time.
        running: learning enabled from the start.
    """

    def __init__(
        self, work: Workload, *, frame_interval: float, inference_share: float, running: bool
    ) -> None:
        if not (isinstance(frame_interval, int | float) and frame_interval > 0):
            raise ValueError(f"frame_interval must be seconds > 0, got {frame_interval!r}")
        if not (isinstance(inference_share, int | float) and 0 < inference_share <= 1):
            raise ValueError(f"inference_share must be in (0, 1], got {inference_share!r}")
        self.frame_interval = frame_interval
        self.inference_share = inference_share
        self._work = work
        self._lock = threading.Lock()  # every use of the workload
        self._state_lock = threading.Lock()  # the published snapshot and frame
        self._wake = threading.Event()
        self._closed = threading.Event()
        self._thread = LoopThread(self._loop, "gfxnn-studio-trainer", self._closed, self._wake)
        self._listeners: list[Callable[[], None]] = []
        self._running = running
        self._dirty = True  # render a frame and publish at the next chance
        self._error: str | None = None
        self._pacer = FramePacer()
        self._steps_meter = RateMeter()
        self._frames_meter = RateMeter()  # prediction frames rendered
        self._charts = Charts(work.n_networks)
        self._renderer = FrameRenderer(self._frame_done)
        self._next_frame = 0.0
        self._generation = 0  # bumped when the network restarts; older frames are not charted
        self._view = 0  # bumped when what a frame shows changes; older frames are dropped
        self._inference = [0.0, 0]  # seconds, frames
        self._z_plane = 0.5
        self._reference_version = 0
        self._reference_png = b""
        self._version = 0
        self._snapshot: dict[str, Any] = {}
        self._frame = b""
        self._frame_version = 0
        self._publish_time = 0.0

    def _extra_state(self) -> dict[str, Any]:
        """The session's own keys of the state (files, image, ...)."""
        return {}

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

    def _run_steps(
        self, total: int | None, seconds: float | None, cancelled: Callable[[], bool] | None
    ) -> int:
        """`total` steps, or steps for `seconds` of training (at least one), in chunks."""
        done, spent = 0, 0.0
        try:
            while not (cancelled is not None and cancelled()):
                with self._lock:
                    n = self._chunk_locked(total, done, seconds, spent)
                    start = time.perf_counter()
                    ran = self._train_locked(n)
                    spent += time.perf_counter() - start
                    done += ran
                    if self._error is not None:
                        raise ValueError(self._error)
                finished = done >= total if total is not None else spent >= (seconds or 0.0)
                if ran == 0 or finished:
                    break
                time.sleep(HANDOVER_SECONDS)  # hand the lock over (see _loop)
        finally:
            with self._lock:
                self._changed_locked()
        return done

    def _chunk_locked(
        self, total: int | None, done: int, seconds: float | None, spent: float
    ) -> int:
        """Steps for the next hold of the lock in _run_steps (0 at the limit)."""
        if self._work.limit_reached():
            return 0
        chunk = self._pacer.chunk_steps()
        if total is not None:
            return min(chunk, total - done)
        per_step = self._pacer.step_seconds
        if per_step is None or seconds is None:
            return 1
        return max(1, min(chunk, math.ceil(max(seconds - spent, 0.0) / per_step)))

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

    def _training_locked(self) -> bool:
        return self._running and self._error is None and not self._work.limit_reached()

    def _iterate(self) -> bool:
        """One hold of the lock: training frames, a frame when due, the state when due;
        True when idle."""
        with self._lock:
            training = self._training_locked()
            if training:
                self._train_frames_locked()
            else:
                self._pacer.pause()
            now = time.perf_counter()
            due = self._dirty or (training and now >= self._next_frame)
            if due and not self._renderer.busy:
                self._submit_frame_locked(now)
            if training and now - self._publish_time >= PUBLISH_SECONDS:
                self._publish_locked()
            return not training

    def _train_frames_locked(self) -> None:
        work = self._work
        settings = work.settings
        spf, budget = settings.steps_per_frame, settings.frame_budget_ms
        n = self._pacer.plan(spf, budget, work.limit_left())
        start = time.perf_counter()
        done = self._train_locked(n)
        now = time.perf_counter()
        reached = work.limit_reached()
        self._pacer.record(
            done, now - start, now, steps_per_frame=spf, budget_ms=budget, limit_reached=reached
        )
        if reached or self._error is not None:
            self._changed_locked()  # the state says so at once; a last frame is rendered

    def _submit_frame_locked(self, now: float) -> None:
        """Hand the renderer a copy of the weights; training goes on while it renders."""
        work, z = self._work, self._z_plane
        self._renderer.submit(
            FrameJob(
                state=work.model.state_dict(),
                settings=work.settings,
                key=work.frame_key(),
                build=work.inference_model,
                show=lambda model: work.show_frame(model, z),
                step=work.steps,
                generation=(self._generation, self._view),
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
                generation, view = job.generation
                if view == self._view:  # what it shows is still what the page shows
                    if generation == self._generation:
                        self._charts.add_psnrs(job.step, frame.psnrs)
                    with self._state_lock:
                        self._frame = frame.png
                        self._frame_version += 1
                    self._frames_meter.add(time.perf_counter())
                busy_limit = frame.seconds / self.inference_share
                self._next_frame = job.submitted + max(self.frame_interval, busy_limit)
                self._publish_locked()
            if self._dirty:
                self._wake.set()

    def _train_locked(self, n: int) -> int:
        """Train `n` steps (fewer at max_steps); the number run."""
        work = self._work
        before, start = work.steps, time.perf_counter()
        if n > 0:
            try:
                work.model.step(n)
            except DivergenceError as error:
                self._running = False
                self._error = str(error)
        done = work.steps - before
        if done:
            self._pacer.measured(done, time.perf_counter() - start)
            self._steps_meter.add(time.perf_counter(), done)
            self._charts.add_losses(work.steps, work.mean_losses(done))
        work.trim_histories(MAX_LOSS_HISTORY)
        return done

    def _new_reference_locked(self) -> None:
        png = encode_frame(self._work.reference_frame(self._z_plane))
        self._view += 1
        self._reference_version += 1
        with self._state_lock:
            self._reference_png = png

    def _changed_locked(self) -> None:
        self._dirty = True
        self._publish_locked()
        self._wake.set()

    def _restarted_locked(self) -> None:
        self._generation += 1
        self._charts.reset(self._work.n_networks)
        self._pacer.restart()
        self._error = None
        self._changed_locked()

    def _last_psnr(self) -> float | None:
        known = [p for p in self._charts.last_psnr if p is not None]
        if len(known) < self._work.n_networks:
            return None
        value = combined_psnr(known)
        return value if math.isfinite(value) else None

    def _publish_locked(self) -> None:
        now = time.perf_counter()
        timings = self._work.model.timings_ms()
        if self._inference[1]:  # the frames' inference, on the renderer's copy of the network
            timings["inference"] = 1e3 * self._inference[0] / self._inference[1]
        snapshot = build_snapshot(
            self._work,
            self._charts,
            running=self._running,
            training=self._training_locked(),
            timings=timings,
            steps_per_second=self._steps_meter.rate(now) if self._running else 0.0,
            frames_per_second=self._frames_meter.rate(now),
            pacer=self._pacer,
            now=now,
            extra={
                "z_plane": self._z_plane,
                "reference_version": self._reference_version,
                "error": self._error,
                **self._extra_state(),
            },
        )
        with self._state_lock:
            self._version += 1
            snapshot["version"] = self._version
            self._snapshot = snapshot
        self._publish_time = now
        for callback in list(self._listeners):
            callback()
