"""One trial, run in a worker (a local process or a Ray task): fit one image with one set of
settings, then send the files and the row's numbers back to the driver, which writes them.

Nothing here touches the sweep's output directory, so a worker on another machine of a Ray
cluster needs no shared file system. The loop is `gfxnn fit`'s, trimmed for many short runs:
it trains by step count in chunks (the chunk size changes nothing in the result: the steps and
their random batches are the same), checks the clock and the stop flag between chunks, and
writes what `gfxnn fit` writes but the loss-curve plot (matplotlib costs ~1 s per trial, more
than a short trial trains; metrics.json holds the numbers). The checkpoint goes through the fit
checkpoint's one writer (`gfxnn.fields.checkpoint`), so `gfxnn render` and `gfxnn export` take
it.
"""

from __future__ import annotations

import json
import math
import signal
import socket
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn.apps.fit import make_fitter
from gfxnn.data.images import encode_png
from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.imagefit import DivergenceError, FitSettings

__all__ = ["CHECKPOINT_FILE", "PREDICTION_FILE", "TrialTask", "install_worker_signals", "run_trial"]

CHECKPOINT_FILE = "checkpoint.safetensors"
PREDICTION_FILE = "prediction.png"
# "Run until the clock says stop": the step budget of a --seconds trial.
UNLIMITED_STEPS = 10**12
CHUNK_SECONDS = 0.05  # train about this long between looks at the clock and the stop flag

# Set by a SIGINT/SIGTERM that arrives while no fit is running (the fit has its own handler).
_stop_requested = False


@dataclass(frozen=True)
class TrialTask:
    """What a worker needs besides the pixels (which travel separately: Ray stores each image
    once in its object store instead of once per trial).

    Attributes:
        key: the trial's key; budget: the rung it runs to, "steps=N" or "seconds=T".
        settings: `FitSettings.to_dict()`; steps / seconds: the budget as run_fit takes it.
        device: where the fitter trains, "cpu", "cuda" or "webgpu" (checked by the driver).
    """

    key: str
    image: str
    image_source: str
    settings: dict[str, Any]
    budget: str
    steps: int
    seconds: float | None
    device: str = "cpu"


def install_worker_signals() -> None:
    """A local worker's signals: Ctrl-C reaches the whole process group, so a worker must not
    die of it; SIGINT or SIGTERM asks the trial in progress to stop between two chunks (it
    reports "interrupted", and a re-run of the sweep runs it again)."""

    def on_stop(signum: int, frame: object) -> None:
        global _stop_requested
        _stop_requested = True

    signal.signal(signal.SIGINT, on_stop)
    signal.signal(signal.SIGTERM, on_stop)


def untrained_outcome(task: TrialTask, status: str, message: str | None) -> dict[str, Any]:
    """The outcome of a trial that trained nothing: no PSNR, no steps, no files (run_trial's
    start, and the executors' outcome for a worker that gave none)."""
    return {
        "key": task.key,
        "budget": task.budget,
        "status": status,
        "message": message,
        "psnr": None,
        "steps": 0,
        "seconds": 0.0,
        "steps_per_second": 0.0,
        "device": task.device,
        "adapter": None,
        "files": {},
    }


def run_trial(task: TrialTask, pixels: np.ndarray) -> dict[str, Any]:
    """Fit one trial; never raises for a trial's own failure (it becomes the outcome).

    Returns a dict with key, budget, status ("ok" | "diverged" | "failed" | "interrupted"),
    message, psnr, steps, seconds (training wall time), steps_per_second, device, adapter
    (the WebGPU adapter's name, else None), host and files ({name: bytes}; none for a failed
    or interrupted trial).
    """
    outcome = {**untrained_outcome(task, "failed", None), "host": socket.gethostname()}
    try:
        outcome.update(_fit(task, pixels))
    except KeyboardInterrupt:  # Ray's cancel, raised wherever the task is
        outcome.update(status="interrupted", message="interrupted", files={})
    except Exception as error:  # the trial's failure is recorded; the sweep goes on
        text = " ".join(str(error).split()) or "no message"
        outcome.update(status="failed", message=f"{type(error).__name__}: {text}", files={})
    return outcome


def _fit(task: TrialTask, pixels: np.ndarray) -> dict[str, Any]:
    if _stop_requested:
        return {"status": "interrupted", "message": "interrupted before it started"}
    settings = FitSettings.from_dict(task.settings)
    # `gfxnn fit`'s fitter for the device. On the CPU it trains with one BLAS thread (the
    # sweep runs one trial per core; results are the same at any thread count).
    fitter = make_fitter(pixels, settings, task.device)
    adapter = getattr(fitter, "adapter_name", None)  # WebGPU: which adapter trained it
    status, message, chunk = "ok", None, 1
    training = 0.0
    while fitter.steps < task.steps:
        if task.seconds is not None and training >= task.seconds:
            break
        if _stop_requested:
            return {"status": "interrupted", "message": f"interrupted at step {fitter.steps}"}
        tick = time.perf_counter()
        before = fitter.steps
        try:
            fitter.step(min(chunk, task.steps - fitter.steps))
        except DivergenceError as error:  # the fitter keeps the weights of the last good step
            status, message = "diverged", str(error)
            break
        finally:
            training += time.perf_counter() - tick
        per_step = (time.perf_counter() - tick) / max(fitter.steps - before, 1)
        chunk = int(np.clip(CHUNK_SECONDS / max(per_step, 1e-9), 1, 1000))
    with np.errstate(over="ignore", invalid="ignore"):  # a diverged network's output
        psnr = fitter.psnr()
    metrics = {
        "psnr": psnr if math.isfinite(psnr) else None,
        "steps": fitter.steps,
        "seconds": training,
        "steps_per_second": fitter.steps / training if training > 0 else 0.0,
        "final_loss": fitter.loss_history[-1] if fitter.loss_history else None,
        "stopped_by": "diverged" if status == "diverged" else "budget",
        "divergence": message,
        "timings_ms": fitter.timings_ms(),
        "device": task.device,
    }
    if adapter:
        metrics["adapter"] = adapter
    files = _outputs(task, fitter, pixels, metrics)
    return {**metrics, "adapter": adapter, "status": status, "message": message, "files": files}


def _outputs(
    task: TrialTask, fitter: Any, pixels: np.ndarray, metrics: dict[str, Any]
) -> dict[str, bytes]:
    """What `gfxnn fit` writes (but curves.png), as bytes."""
    height, width = pixels.shape[:2]
    config = fit_checkpoint.checkpoint_config(
        fitter.settings,
        image={"source": task.image_source, "width": width, "height": height},
        app="gfxnn sweep",
        run={"steps": task.steps, "seconds": task.seconds, "device": task.device},
    )
    with np.errstate(over="ignore", invalid="ignore"):
        prediction = np.nan_to_num(np.clip(fitter.predict(), 0.0, 1.0))
    with tempfile.TemporaryDirectory(prefix="gfxnn-trial-") as scratch:
        path = Path(scratch) / CHECKPOINT_FILE
        steps, psnr = metrics["steps"], metrics["psnr"]
        state = fitter.state_dict()
        fit_checkpoint.save(path, state, config, psnr=psnr, steps=steps, weights_step=steps)
        checkpoint = path.read_bytes()
    return {
        "reference.png": encode_png(pixels),
        PREDICTION_FILE: encode_png(prediction),
        "comparison.png": encode_png(np.concatenate([pixels, prediction], axis=1)),
        "metrics.json": _json(metrics),
        "config.json": _json(config),
        CHECKPOINT_FILE: checkpoint,
    }


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, allow_nan=False) + "\n").encode()
