"""`gfxnn fit`: train an MLP to learn one image (Dx12NN in Python) and write what it learned.

One straight loop: train in chunks of steps, evaluate the full-image PSNR about once a second
(it costs a full inference, so not every step), keep a copy of the last good weights, and stop
after `steps` steps or `seconds` seconds, whichever comes first. Ctrl-C and divergence end the
loop early; the outputs are written either way:

    reference.png  prediction.png  comparison.png  curves.png
    metrics.json   config.json     checkpoint.safetensors
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import math
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gfxnn.data.images import encode_png
from gfxnn.imagefit import DivergenceError, FitSettings, ImageFitter
from gfxnn.io import atomic_write_bytes, atomic_write_json, save_checkpoint

__all__ = ["FitResult", "OutputDirError", "default_output_dir", "prepare_output_dir", "run_fit"]

CHUNK_SECONDS = 0.05  # train this long between checks of the clock, the stop flag and the bar
PSNR_EVERY_SECONDS = 1.0  # evaluate the full-image PSNR (and snapshot weights) this often
PSNR_MAX_OVERHEAD = 0.1  # ... but never spend more than this share of the time on evaluation

OUTPUT_FILES = (
    "reference.png",
    "prediction.png",
    "comparison.png",
    "curves.png",
    "metrics.json",
    "config.json",
    "checkpoint.safetensors",
)


class OutputDirError(ValueError):
    """The output directory cannot be created or written."""


@dataclass
class FitResult:
    """What a run ended with.

    Attributes:
        out_dir: where the outputs are.
        metrics: the contents of metrics.json.
        stopped_by: "steps", "seconds", "interrupted" or "diverged".
        message: the divergence message, if any.
    """

    out_dir: Path
    metrics: dict[str, Any]
    stopped_by: str
    message: str | None = None


@dataclass
class _History:
    psnr_points: list[tuple[int, float]] = field(default_factory=list)
    good_state: dict[str, np.ndarray] = field(default_factory=dict)
    good_step: int = 0
    training_seconds: float = 0.0
    last_eval_end: float = 0.0  # perf_counter() when the last PSNR evaluation ended
    last_eval_seconds: float = 0.0


def default_output_dir(base: str | Path = "runs") -> Path:
    """runs/fit-YYYYmmdd-HHMMSS (with a -2, -3, ... suffix if that already exists)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = Path(base) / f"fit-{stamp}"
    suffix = 2
    while candidate.exists():
        candidate = Path(base) / f"fit-{stamp}-{suffix}"
        suffix += 1
    return candidate


def prepare_output_dir(path: str | Path) -> Path:
    """Create `path` (and parents) and check a file can be written there.

    Raises:
        OutputDirError: it exists as a file, lies under a file, or is not writable.
    """
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path / ".gfxnn-write-test", b"")
        (path / ".gfxnn-write-test").unlink()
    except FileExistsError:
        raise OutputDirError(f"cannot use output directory {path}: a file has that name") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputDirError(f"cannot write to output directory {path}: {reason}") from None
    return path


def make_fitter(pixels: np.ndarray, settings: FitSettings, device: str = "cpu") -> Any:
    """The CPU `ImageFitter`, or for device "cuda" the GPU path's `GpuImageFitter` (same API)."""
    if device == "cpu":
        return ImageFitter(pixels, settings)
    from gfxnn.gpu import GpuImageFitter

    return GpuImageFitter(pixels, settings, device=device)


def run_fit(
    pixels: np.ndarray,
    settings: FitSettings,
    out_dir: Path,
    *,
    steps: int = 5000,
    seconds: float | None = None,
    image_info: dict[str, Any] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    device: str = "cpu",
) -> FitResult:
    """Fit `pixels` ((H, W, 3) float32 in [0, 1]) and write every output into `out_dir`.

    `out_dir` must exist and be writable (see `prepare_output_dir`). The config is written
    first, the images, curves, metrics and checkpoint at the end, also after Ctrl-C or
    divergence (then with the last good weights).
    """
    console = console or Console(stderr=True)
    config = {
        "settings": settings.to_dict(),
        "run": {"steps": steps, "seconds": seconds, "device": device},
        "image": dict(image_info or {}, height=pixels.shape[0], width=pixels.shape[1]),
    }
    atomic_write_json(out_dir / "config.json", config)
    # Ctrl-C from here on only asks the loop to stop; the outputs are still written.
    with _stop_on_sigint() as stop:
        fitter = make_fitter(pixels, settings, device)
        history = _History(good_state=fitter.state_dict())
        started = time.perf_counter()
        stopped_by, message = _train(fitter, history, steps, seconds, stop, console, show_progress)
        wall_seconds = time.perf_counter() - started
        if stopped_by == "diverged":
            fitter.load_state_dict(history.good_state)
            weights_step = history.good_step
        else:
            weights_step = fitter.steps
        metrics = _metrics(fitter, history, wall_seconds, weights_step, stopped_by, message)
        _write_outputs(out_dir, fitter, pixels, history, metrics, config)
    return FitResult(out_dir=out_dir, metrics=metrics, stopped_by=stopped_by, message=message)


def _train(
    fitter: ImageFitter,
    history: _History,
    steps: int,
    seconds: float | None,
    stop: threading.Event,
    console: Console,
    show_progress: bool,
) -> tuple[str, str | None]:
    """The loop. Returns (why it stopped, divergence message or None)."""
    progress = _progress_bar(console, show_progress)
    task = progress.add_task("fit", total=1.0, step=0, steps=steps, loss="-", psnr="-", rate="-")
    started = time.perf_counter()
    _evaluate(fitter, history)
    chunk = 1
    # Overflow on the way to a NaN loss is expected; the fitter reports it as DivergenceError.
    with progress, np.errstate(over="ignore", invalid="ignore"):
        try:
            while fitter.steps < steps:
                if seconds is not None and time.perf_counter() - started >= seconds:
                    return "seconds", None
                if stop.is_set():
                    return "interrupted", None
                before, tick = fitter.steps, time.perf_counter()
                try:
                    loss = fitter.step(min(chunk, steps - fitter.steps))
                finally:
                    history.training_seconds += time.perf_counter() - tick
                per_step = (time.perf_counter() - tick) / max(fitter.steps - before, 1)
                chunk = int(np.clip(CHUNK_SECONDS / max(per_step, 1e-9), 1, 1000))
                _maybe_evaluate(fitter, history)
                fraction = fitter.steps / steps
                if seconds is not None:
                    fraction = max(fraction, (time.perf_counter() - started) / seconds)
                progress.update(
                    task,
                    completed=min(fraction, 1.0),
                    step=fitter.steps,
                    loss=f"{loss:.4g}",
                    psnr=f"{history.psnr_points[-1][1]:.2f} dB",
                    rate=f"{fitter.steps / max(history.training_seconds, 1e-9):.0f}",
                )
        except DivergenceError as error:
            return "diverged", str(error)
        except KeyboardInterrupt:  # a second Ctrl-C, or one outside the main thread
            return "interrupted", None
    return "steps", None


def _progress_bar(console: Console, show: bool) -> Progress:
    return Progress(
        TextColumn("[bold]fit"),
        BarColumn(),
        TextColumn("step {task.fields[step]}/{task.fields[steps]}"),
        TextColumn("loss {task.fields[loss]}"),
        TextColumn("PSNR {task.fields[psnr]}"),
        TextColumn("{task.fields[rate]} steps/s"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
    )


def _maybe_evaluate(fitter: ImageFitter, history: _History) -> None:
    """Evaluate about once a second, but spend at most PSNR_MAX_OVERHEAD of the time on it."""
    since = time.perf_counter() - history.last_eval_end
    if since >= max(PSNR_EVERY_SECONDS, history.last_eval_seconds / PSNR_MAX_OVERHEAD):
        _evaluate(fitter, history)


def _evaluate(fitter: ImageFitter, history: _History) -> None:
    """Record the full-image PSNR and, when the weights are still finite, snapshot them."""
    start = time.perf_counter()
    psnr = fitter.psnr()
    history.psnr_points.append((fitter.steps, psnr))
    state = fitter.state_dict()
    if not math.isnan(psnr) and all(np.all(np.isfinite(v)) for v in state.values()):
        history.good_state = {name: value.copy() for name, value in state.items()}
        history.good_step = fitter.steps
    history.last_eval_end = time.perf_counter()
    history.last_eval_seconds = history.last_eval_end - start


@contextlib.contextmanager
def _stop_on_sigint() -> Iterator[threading.Event]:
    """The first Ctrl-C sets the event (the loop stops between chunks); a second one raises
    KeyboardInterrupt (abort). Outside the main thread signals cannot be caught: no-op."""
    stop = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = signal.getsignal(signal.SIGINT)

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handle)
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, previous)


def _metrics(
    fitter: ImageFitter,
    history: _History,
    wall_seconds: float,
    weights_step: int,
    stopped_by: str,
    message: str | None,
) -> dict[str, Any]:
    psnr = fitter.psnr()
    if weights_step == fitter.steps and (
        not history.psnr_points or history.psnr_points[-1][0] != fitter.steps
    ):
        history.psnr_points.append((fitter.steps, psnr))
    train_seconds = history.training_seconds
    steps_per_second = fitter.steps / train_seconds if train_seconds > 0 else 0.0
    return {
        "psnr": psnr,
        "steps": fitter.steps,
        "weights_step": weights_step,
        "steps_per_second": steps_per_second,
        "samples_per_second": steps_per_second * fitter.settings.batch_size,
        "seconds": wall_seconds,
        "training_seconds": train_seconds,
        "final_loss": fitter.loss_history[-1] if fitter.loss_history else None,
        "stopped_by": stopped_by,
        "divergence": message,
        "timings_ms": fitter.timings_ms(),
        "psnr_history": [[step, value] for step, value in history.psnr_points],
    }


def _write_outputs(
    out_dir: Path,
    fitter: ImageFitter,
    reference: np.ndarray,
    history: _History,
    metrics: dict[str, Any],
    config: dict[str, Any],
) -> None:
    prediction = np.clip(fitter.predict(), 0.0, 1.0)
    atomic_write_bytes(out_dir / "reference.png", encode_png(reference))
    atomic_write_bytes(out_dir / "prediction.png", encode_png(prediction))
    # Dx12NN's view: the reference on the left, the prediction on the right.
    comparison = np.concatenate([reference, prediction], axis=1)
    atomic_write_bytes(out_dir / "comparison.png", encode_png(comparison))
    atomic_write_bytes(out_dir / "curves.png", plot_curves(fitter.loss_history, history))
    atomic_write_json(out_dir / "metrics.json", metrics)
    checkpoint_metadata = {key: metrics[key] for key in ("psnr", "steps", "weights_step")}
    save_checkpoint(
        out_dir / "checkpoint.safetensors", fitter.state_dict(), config, checkpoint_metadata
    )


def plot_curves(losses: list[float], history: _History) -> bytes:
    """PNG bytes: batch loss (log scale, with a running mean) and PSNR against the step."""
    from matplotlib.figure import Figure  # Agg via the Figure API: no pyplot global state

    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, psnr_axes = figure.subplots(1, 2)
    loss = np.asarray(losses, dtype=np.float64)
    steps = np.arange(1, len(loss) + 1)
    shown = np.isfinite(loss) & (loss > 0)
    if shown.any():
        loss_axes.plot(steps[shown], loss[shown], lw=0.5, alpha=0.4, label="batch loss")
        window = max(1, len(loss) // 100)
        if window > 1:
            smooth = np.convolve(np.where(shown, loss, np.nan), np.ones(window) / window, "valid")
            loss_axes.plot(steps[window - 1 :], smooth, lw=1.5, label=f"mean of {window}")
        loss_axes.set_yscale("log")
        loss_axes.legend()
    loss_axes.set(xlabel="step", ylabel="MSE loss", title="training loss")
    points = [(s, p) for s, p in history.psnr_points if math.isfinite(p)]
    if points:
        psnr_axes.plot(*zip(*points, strict=True), marker="o", ms=3)
    psnr_axes.set(xlabel="step", ylabel="PSNR (dB)", title="full-image PSNR")
    for axes in (loss_axes, psnr_axes):
        axes.grid(alpha=0.3)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()
