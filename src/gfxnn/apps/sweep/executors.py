"""Where trials run: `local`, a pool of processes on this machine, or `ray`, one Ray task per
trial on a Ray cluster (or on a Ray started here). Both run the same function,
`trial.run_trial`, with the same arguments, so they produce the same rows.

An executor runs one batch (one rung of the plan) at a time: at most `slots` trials in flight,
the rest submitted as slots free up, so a stop leaves nothing queued to cancel. A CPU trial
asks for one CPU: the fitter trains with one BLAS thread (`ImageFitter(blas_threads=1)`). A GPU
trial ("cuda", "webgpu") asks for `gpus_per_trial` of a GPU (a fraction lets trials share one):
on Ray as the task's `num_gpus`, locally as floor(1 / gpus_per_trial) trials at once on the
machine's one GPU (see `local_slots`).
"""

from __future__ import annotations

import abc
import concurrent.futures as futures
import contextlib
import math
import multiprocessing
import os
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from gfxnn.apps.sweep.plan import SweepError
from gfxnn.apps.sweep.trial import (
    TrialTask,
    install_worker_signals,
    run_trial,
    untrained_outcome,
)

__all__ = [
    "EXECUTORS",
    "GPU_DEVICES",
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "available_cpus",
    "local_slots",
    "make_executor",
    "ray_task_options",
]

EXECUTORS = ("local", "ray")
GPU_DEVICES = ("cuda", "webgpu")  # devices whose trials take a share of a GPU
POLL_SECONDS = 0.2  # how often a waiting driver looks at the stop flag
GRACE_SECONDS = 2.0  # after a stop, running trials get this long to notice Ctrl-C themselves
# ... and after being interrupted this long to stop; a worker stuck in one long native call
# (a first-use kernel compile, a huge inference) is then killed.
KILL_SECONDS = 10.0
# ray.init retries an address that answers but is no Ray for minutes; the whole command must
# fail within 30 s (start-up and image loading take some of them on a busy machine).
RAY_CONNECT_SECONDS = 15.0

Job = tuple[TrialTask, np.ndarray]
OnStart = Callable[[TrialTask], None]
OnOutcome = Callable[[TrialTask, dict[str, Any]], None]


def available_cpus() -> int:
    """CPUs this process may use (the affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def failed(task: TrialTask, message: str, status: str = "failed") -> dict[str, Any]:
    """An outcome for a trial whose worker gave none (crashed, cancelled)."""
    return untrained_outcome(task, status, message)


class Executor(abc.ABC):
    """Runs batches of trials; subclasses say how to submit, wait, collect and interrupt."""

    name = "executor"
    slots = 1
    stopping = False  # a stop was asked for: a trial lost now was interrupted, not failed

    def run_batch(
        self, jobs: Sequence[Job], on_start: OnStart, on_outcome: OnOutcome, stop: threading.Event
    ) -> None:
        """Run `jobs`, calling `on_start(task)` as each is submitted and `on_outcome(task,
        outcome)` as each ends. Once `stop` is set nothing new starts, and running trials are
        interrupted (they report "interrupted")."""
        queue: Iterator[Job] = iter(jobs)
        running: dict[Any, TrialTask] = {}
        stopped_at: float | None = None
        interrupted = killed = False
        while True:
            while stop.is_set() is False and len(running) < self.slots:
                job = next(queue, None)
                if job is None:
                    break
                running[self._submit(*job)] = job[0]
                on_start(job[0])
            if not running:
                return
            for handle in self._wait(list(running), POLL_SECONDS):
                task = running.pop(handle)
                on_outcome(task, self._collect(handle, task))
            if stop.is_set():
                self.stopping = True
                stopped_at = stopped_at or time.monotonic()
                waited = time.monotonic() - stopped_at
                if not interrupted and waited >= GRACE_SECONDS:
                    self._interrupt(list(running))
                    interrupted = True
                if not killed and waited >= GRACE_SECONDS + KILL_SECONDS:
                    self._kill(list(running))
                    killed = True

    def close(self) -> None:  # noqa: B027 (optional: only pools hold workers to release)
        """Release the workers."""

    @abc.abstractmethod
    def _submit(self, task: TrialTask, pixels: np.ndarray) -> Any:
        """Start `task` on `pixels`; a handle for `_wait` and `_collect`."""

    @abc.abstractmethod
    def _wait(self, handles: list[Any], timeout: float) -> list[Any]:
        """The handles of `handles` that finished within `timeout` seconds."""

    @abc.abstractmethod
    def _collect(self, handle: Any, task: TrialTask) -> dict[str, Any]:
        """The finished trial's outcome (a failed one recorded with its message)."""

    @abc.abstractmethod
    def _interrupt(self, handles: list[Any]) -> None:
        """Ask the running trials to stop (they report `interrupted`)."""

    @abc.abstractmethod
    def _kill(self, handles: list[Any]) -> None:
        """End the trials that did not stop when asked."""


def _init_local_worker(pids: Any) -> None:
    install_worker_signals()
    pids.put(os.getpid())


class LocalExecutor(Executor):
    """A process pool on this machine (forkserver where the OS has it, else spawn: a fork of
    a driver that holds threads or a Ray connection is not safe)."""

    name = "local"

    def __init__(
        self, workers: int | None = None, device: str = "cpu", gpus_per_trial: float = 1.0
    ) -> None:
        self.slots = local_slots(device, workers, gpus_per_trial)
        methods = multiprocessing.get_all_start_methods()
        self._context = multiprocessing.get_context(
            "forkserver" if "forkserver" in methods else "spawn"
        )
        if self._context.get_start_method() == "forkserver":
            # Workers fork from a server that has imported the fitter once (a fresh import
            # costs each worker seconds on a busy machine).
            self._context.set_forkserver_preload(["gfxnn.apps.sweep.trial"])
        self._pids: Any = self._context.SimpleQueue()
        self._known_pids: set[int] = set()
        self._pool = self._new_pool()

    def _new_pool(self) -> futures.ProcessPoolExecutor:
        return futures.ProcessPoolExecutor(
            self.slots,
            mp_context=self._context,
            initializer=_init_local_worker,
            initargs=(self._pids,),
        )

    def _submit(self, task: TrialTask, pixels: np.ndarray) -> Any:
        try:
            return self._pool.submit(run_trial, task, pixels)
        except futures.process.BrokenProcessPool:
            self._pool = self._new_pool()  # a crashed worker broke the old pool
            return self._pool.submit(run_trial, task, pixels)

    def _wait(self, handles: list[Any], timeout: float) -> list[Any]:
        done, _ = futures.wait(handles, timeout, return_when=futures.FIRST_COMPLETED)
        return list(done)

    def _collect(self, handle: Any, task: TrialTask) -> dict[str, Any]:
        try:
            return handle.result()
        except futures.process.BrokenProcessPool:
            if self.stopping:  # Ctrl-C reached a worker before it was ready for it
                return failed(task, "interrupted", status="interrupted")
            return failed(task, "its worker process died (killed, or out of memory?)")
        except Exception as error:  # e.g. an outcome that could not be sent back
            return failed(task, f"{type(error).__name__}: {error}")

    def _interrupt(self, handles: list[Any]) -> None:
        self._signal_workers(signal.SIGINT)  # the worker's fit stops and reports

    def _kill(self, handles: list[Any]) -> None:
        self._signal_workers(signal.SIGKILL)  # the pool breaks: its trials count as interrupted

    def _signal_workers(self, signum: int) -> None:
        while not self._pids.empty():
            self._known_pids.add(self._pids.get())
        for pid in self._known_pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


def local_slots(device: str, workers: int | None, gpus_per_trial: float) -> int:
    """Trials at once in the local pool: `workers`, else one per CPU for the CPU; for a GPU
    device, floor(1 / gpus_per_trial) on the one GPU (1 by default: one trial at a time, as
    two trials on one GPU each run at about half speed and share its memory)."""
    if workers is not None:
        return workers
    if device in GPU_DEVICES:
        return max(1, math.floor(1.0 / gpus_per_trial + 1e-9))
    return available_cpus()


def ray_task_options(device: str, gpus_per_trial: float, cluster_gpus: float) -> dict[str, Any]:
    """The Ray task options of one trial on `device`: one CPU, no retries (a trial that crashes
    its worker is recorded as failed, not run again), and for a GPU device `num_gpus=
    gpus_per_trial` (Ray packs 1 / gpus_per_trial trials on each GPU and sets their
    CUDA_VISIBLE_DEVICES). A WebGPU trial on a cluster with no GPU resource (a software
    adapter such as Mesa's lavapipe) asks for the CPU only; a CUDA one is refused (SweepError):
    Ray would wait forever for a GPU no node has."""
    options: dict[str, Any] = {"num_cpus": 1, "max_retries": 0}
    if device not in GPU_DEVICES:
        return options
    if cluster_gpus <= 0:
        if device == "cuda":
            raise SweepError(
                "--device cuda: the Ray cluster has no GPU resource (start its nodes with "
                "`ray start --num-gpus N`)"
            )
        return options
    return {**options, "num_gpus": gpus_per_trial}


class RayExecutor(Executor):
    """One Ray task per trial with one CPU (and, for a GPU device, its GPU share: see
    `ray_task_options`). Joins the cluster at `address` ("auto": the one `ray start` started on
    this machine; "host:port" or "ray://host:port"), uses a Ray this process already started,
    or starts a local Ray with `workers` CPUs (default: all)."""

    name = "ray"

    def __init__(
        self,
        workers: int | None = None,
        address: str | None = None,
        device: str = "cpu",
        gpus_per_trial: float = 1.0,
    ) -> None:
        try:
            import ray
        except ImportError:
            raise SweepError("--executor ray needs Ray: pip install 'gfxnn[ray]'") from None
        self._ray = ray
        self._owns = False
        self._images: dict[int, Any] = {}  # id(pixels) -> object-store copy, one per image
        if not ray.is_initialized():
            _connect(ray, address, workers)
            self._owns = True
        resources = ray.cluster_resources()
        try:
            options = ray_task_options(device, gpus_per_trial, resources.get("GPU", 0))
        except SweepError:
            self.close()
            raise
        if "num_gpus" in options:  # as many in flight as the cluster's GPUs hold
            share = resources["GPU"] / gpus_per_trial
            self.slots = workers or max(1, math.floor(share + 1e-9))
        else:
            self.slots = workers or max(1, int(resources.get("CPU", 1)))
        self.options = options
        self._task = ray.remote(run_trial).options(**options)

    def _submit(self, task: TrialTask, pixels: np.ndarray) -> Any:
        if id(pixels) not in self._images:
            self._images[id(pixels)] = (self._ray.put(pixels), pixels)
        return self._task.remote(task, self._images[id(pixels)][0])

    def _wait(self, handles: list[Any], timeout: float) -> list[Any]:
        ready, _ = self._ray.wait(handles, num_returns=1, timeout=timeout)
        return list(ready)

    def _collect(self, handle: Any, task: TrialTask) -> dict[str, Any]:
        exceptions = self._ray.exceptions
        try:
            return self._ray.get(handle)
        except exceptions.TaskCancelledError:
            return failed(task, "interrupted", status="interrupted")
        except exceptions.RayError as error:
            if self.stopping:  # a worker killed by the stop
                return failed(task, "interrupted", status="interrupted")
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            return failed(task, f"{type(error).__name__}: {first}")

    def _interrupt(self, handles: list[Any]) -> None:
        for handle in handles:
            self._ray.cancel(handle)  # KeyboardInterrupt in the task: the fit reports

    def _kill(self, handles: list[Any]) -> None:
        for handle in handles:
            self._ray.cancel(handle, force=True)  # ends the worker process

    def close(self) -> None:
        self._images.clear()
        if self._owns:
            self._ray.shutdown()


def _connect(ray: Any, address: str | None, workers: int | None) -> None:
    """ray.init, with an unreachable address a one-line SweepError within ~30 s."""
    import logging

    if address is None:
        ray.init(
            num_cpus=workers or available_cpus(),
            include_dashboard=False,
            logging_level=logging.WARNING,
        )
        return
    if address != "auto":
        _check_reachable(address)
    errors: list[BaseException] = []

    def connect() -> None:
        try:
            # ERROR: from this thread Ray warns that it cannot install its SIGTERM handler.
            ray.init(address=address, logging_level=logging.ERROR)
        except BaseException as error:  # reported to the waiting thread
            errors.append(error)

    thread = threading.Thread(target=connect, daemon=True)
    thread.start()
    thread.join(RAY_CONNECT_SECONDS)
    if thread.is_alive():
        raise SweepError(
            f"--ray-address {address}: no Ray cluster answered within {RAY_CONNECT_SECONDS:g} s"
        )
    if errors:
        first = str(errors[0]).strip().splitlines()[0] if str(errors[0]).strip() else ""
        hint = " (start one with `ray start --head`)" if address == "auto" else ""
        raise SweepError(f"--ray-address {address}: {first}{hint}")


def _check_reachable(address: str) -> None:
    """A TCP connection to host:port, so a wrong address fails in seconds, not minutes."""
    hostport = address.removeprefix("ray://")
    host, sep, port_text = hostport.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise SweepError(
            f"--ray-address must be auto, HOST:PORT or ray://HOST:PORT, got {address!r}"
        )
    try:
        with socket.create_connection((host, int(port_text)), timeout=5):
            pass
    except OSError as error:
        reason = error.strerror or str(error) or type(error).__name__
        raise SweepError(
            f"--ray-address {address}: cannot reach {host}:{port_text} ({reason})"
        ) from None


def make_executor(
    name: str,
    workers: int | None,
    address: str | None,
    device: str = "cpu",
    gpus_per_trial: float = 1.0,
) -> Executor:
    """The executor called `name` (one of EXECUTORS) for trials on `device`."""
    if name == "local":
        if address is not None:
            raise SweepError("--ray-address needs --executor ray")
        return LocalExecutor(workers, device, gpus_per_trial)
    if name == "ray":
        return RayExecutor(workers, address, device, gpus_per_trial)
    raise SweepError(f"--executor must be one of {', '.join(EXECUTORS)}; got {name!r}")
