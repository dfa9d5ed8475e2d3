"""`gfxnn fit`: train an MLP to learn one image (Dx12NN in Python) and write what it learned.

One straight loop: train in chunks of steps, evaluate the full-image PSNR about once a second
(it costs a full inference, so not every step), keep a copy of the last good weights, and stop
after `steps` steps or `seconds` seconds, whichever comes first. Ctrl-C, SIGTERM and divergence
end the loop early; the outputs are written either way, all together at the end (see
`gfxnn.apps.outputs`: the directory always holds one whole run):

    reference.png  prediction.png  comparison.png  curves.png
    metrics.json   config.json     checkpoint.safetensors
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from gfxnn.apps.command import (
    EXIT_FAILED,
    EXIT_OK,
    STOP_EXIT_CODES,
    StopRequest,
    UsageError,
    nonempty_path,
    positive_float,
    positive_int,
    print_error,
    print_result,
    stop_requests,
)
from gfxnn.apps.devices import DEVICES, make_fitter, resolve_device
from gfxnn.apps.fit_curves import plot_curves
from gfxnn.apps.fit_examples import add_example_arguments, example_from_args, settings_for
from gfxnn.apps.outputs import OutputDirError, RunDirectory, default_output_dir, prepare_output_dir
from gfxnn.apps.settings_options import add_settings_options
from gfxnn.compiled import CPU_BACKENDS
from gfxnn.compiled import available as compiled_available
from gfxnn.data.images import encode_png
from gfxnn.fields import checkpoint as fit_checkpoint
from gfxnn.fields import multi as multi_fit
from gfxnn.fields.controller import steps_per_check
from gfxnn.imagefit import DivergenceError, FitSettings, ImageFitter
from gfxnn.io import atomic_write_bytes, atomic_write_json

__all__ = [
    "HELP",
    "FitResult",
    "OutputDirError",
    "add_arguments",
    "default_output_dir",
    "prepare_output_dir",
    "run",
    "run_fit",
]

HELP = "train an MLP to learn an image, (u, v) -> RGB (Dx12NN)"

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


@dataclass
class FitResult:
    """What a run ended with.

    Attributes:
        out_dir: where the outputs are.
        metrics: the contents of metrics.json.
        stopped_by: "steps", "seconds", "interrupted" (Ctrl-C), "terminated" (SIGTERM),
            "hangup" (SIGHUP) or "diverged".
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
    last_eval_seconds: float = 0.0  # how long it took (the first, a warm-up, is not counted)
    evaluations: int = 0


def run_fit(
    pixels: np.ndarray,
    settings: FitSettings,
    out_dir: str | Path | RunDirectory,
    *,
    steps: int = 5000,
    seconds: float | None = None,
    image_info: dict[str, Any] | None = None,
    console: Console | None = None,
    show_progress: bool = True,
    device: str = "cpu",
    cpu_backend: str = "numpy",
) -> FitResult:
    """Fit `pixels` ((H, W, 3) float32 in [0, 1]) and write every output into `out_dir`.

    `out_dir` is a path (checked with `RunDirectory.check`: it must not hold files gfxnn did
    not write) or a `RunDirectory` the caller has checked. The outputs appear together at the
    end, also after Ctrl-C, SIGTERM or divergence (then with the last good weights); a run that
    fails on the way leaves the directory as it was.

    Raises:
        OutputDirError: `out_dir` cannot be used (nothing was written).
    """
    config = fit_checkpoint.checkpoint_config(
        settings,
        image=dict(image_info or {}, height=pixels.shape[0], width=pixels.shape[1]),
        app="gfxnn fit",
        run={"steps": steps, "seconds": seconds, "device": device},
    )

    def build() -> Any:
        return make_fitter(pixels, settings, device, cpu_backend=cpu_backend)

    def write_frames(staging: Path, fitter: Any, metrics: dict[str, Any]) -> None:
        _write_images(staging, pixels, np.clip(fitter.predict(), 0.0, 1.0))

    return run_model(
        build, write_frames, config, out_dir, steps=steps, seconds=seconds, console=console,
        show_progress=show_progress,
    )  # fmt: skip


def run_model(
    build: Callable[[], Any],
    write_frames: Callable[[Path, Any, dict[str, Any]], None],
    config: dict[str, Any],
    out_dir: str | Path | RunDirectory,
    *,
    steps: int,
    seconds: float | None,
    console: Console | None = None,
    show_progress: bool = True,
) -> FitResult:
    """The run behind `run_fit` for any model `build()` returns (a FitController, an image
    fitter on any device, a MultiFitController): train, then `write_frames(dir, model,
    metrics)` (the PNGs; it may add to the metrics) and the common outputs (curves.png,
    metrics.json, config.json, checkpoint.safetensors), all together at the end."""
    console = console or Console(stderr=True, soft_wrap=True)
    run_dir = out_dir if isinstance(out_dir, RunDirectory) else RunDirectory(out_dir, OUTPUT_FILES)
    if not isinstance(out_dir, RunDirectory):
        run_dir.check()
    config["run"] = {**config.get("run", {}), "id": run_dir.run_id}
    # Ctrl-C and SIGTERM from here on only ask the loop to stop; the outputs are still written.
    with stop_requests() as stop:
        fitter = build()
        staging = run_dir.stage()
        try:
            atomic_write_json(staging / "config.json", config)
            history = _History(good_state=fitter.state_dict())
            started = time.perf_counter()
            stopped_by, message = _train(
                fitter, history, steps, seconds, stop, console, show_progress
            )
            wall_seconds = time.perf_counter() - started
            if stopped_by == "diverged":
                fitter.load_state_dict(history.good_state)
                weights_step = history.good_step
                message = _divergence_text(message, weights_step)
            else:
                weights_step = fitter.steps
            metrics = _metrics(fitter, history, wall_seconds, weights_step, stopped_by, message)
            metrics["run_id"] = run_dir.run_id
            if getattr(fitter, "adapter_name", None):  # WebGPU: which adapter trained it
                metrics["adapter"] = fitter.adapter_name
            write_frames(staging, fitter, metrics)
            _write_outputs(staging, fitter, history, metrics, config)
            run_dir.commit()
        finally:
            run_dir.discard()  # after a commit there is nothing left to discard
    return FitResult(out_dir=run_dir.path, metrics=metrics, stopped_by=stopped_by, message=message)


def _divergence_text(message: str | None, weights_step: int) -> str:
    """The fitter's message speaks of its own weights (the step before the NaN); the outputs
    hold the last good snapshot, usually older: say which."""
    what = (message or "training diverged").split(";")[0].rstrip(".")
    return (
        f"{what}; the outputs hold the weights of step {weights_step} (the last snapshot whose "
        "weights and PSNR were finite); lower the learning rate"
    )


def _train(
    fitter: ImageFitter,
    history: _History,
    steps: int,
    seconds: float | None,
    stop: StopRequest,
    console: Console,
    show_progress: bool,
) -> tuple[str, str | None]:
    """The loop. Returns (why it stopped, divergence message or None). Between two checks of
    the clock and the stop flag it trains `steps_per_check` steps (whole frames of
    steps_per_frame, or about frame_budget_ms); settings.max_steps caps `steps`."""
    if fitter.settings.max_steps is not None:
        steps = min(steps, fitter.settings.max_steps)
    progress = _progress_bar(console, show_progress)
    task = progress.add_task("fit", total=1.0, step=0, steps=steps, loss="-", psnr="-", rate="-")
    started = time.perf_counter()
    _evaluate(fitter, history)
    chunk = fitter.settings.steps_per_frame
    # Overflow on the way to a NaN loss is expected; the fitter reports it as DivergenceError.
    with progress, np.errstate(over="ignore", invalid="ignore"):
        try:
            while fitter.steps < steps:
                if seconds is not None and time.perf_counter() - started >= seconds:
                    return "seconds", None
                if stop.is_set():
                    return stop.reason(), None
                before, tick = fitter.steps, time.perf_counter()
                try:
                    loss = fitter.step(min(chunk, steps - fitter.steps))
                finally:
                    history.training_seconds += time.perf_counter() - tick
                per_step = (time.perf_counter() - tick) / max(fitter.steps - before, 1)
                chunk = steps_per_check(fitter.settings, per_step, CHUNK_SECONDS)
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
            return stop.reason(), None
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
    # The first evaluation may compile the renderer (the compiled backend: ~20 s with an
    # empty cache); paced by it, the overhead cap put the next one minutes away, so a cold
    # quickstart showed step 0's PSNR to the end and kept step 0's weights as its snapshot.
    if history.evaluations:
        history.last_eval_seconds = history.last_eval_end - start
    history.evaluations += 1


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


def _write_images(out_dir: Path, reference: np.ndarray, prediction: np.ndarray) -> None:
    atomic_write_bytes(out_dir / "reference.png", encode_png(reference))
    atomic_write_bytes(out_dir / "prediction.png", encode_png(prediction))
    # Dx12NN's view: the reference on the left, the prediction on the right.
    comparison = np.concatenate([reference, prediction], axis=1)
    atomic_write_bytes(out_dir / "comparison.png", encode_png(comparison))


def _write_outputs(
    out_dir: Path,
    fitter: Any,
    history: _History,
    metrics: dict[str, Any],
    config: dict[str, Any],
) -> None:
    atomic_write_bytes(out_dir / "curves.png", plot_curves(fitter.loss_history, history))
    atomic_write_json(out_dir / "metrics.json", metrics)
    stored = {"psnr": metrics["psnr"], "steps": metrics["steps"]}
    path = out_dir / "checkpoint.safetensors"
    if hasattr(fitter, "controllers"):  # several networks: one checkpoint holds them all
        multi_fit.save(path, fitter, config, **stored, weights_step=metrics["weights_step"])
    else:
        fit_checkpoint.save(
            path, fitter.state_dict(), config, **stored, weights_step=metrics["weights_step"]
        )


# ----- the command: `gfxnn fit` ----------------------------------------------------------------
_EXIT_CODES = {"diverged": EXIT_FAILED, **STOP_EXIT_CODES}
_STOPPED = {
    "interrupted": "interrupted",
    "terminated": "terminated (SIGTERM)",
    "hangup": "stopped by SIGHUP (the terminal closed)",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `gfxnn fit`'s arguments on `parser`."""
    from gfxnn.data.images import BUNDLED_IMAGES

    parser.description = (
        "Train an MLP to learn an image, (u, v) -> RGB, with Dx12NN's controls. Stops after "
        "--steps steps or --seconds seconds, whichever comes first. Writes reference/"
        "prediction/comparison/curves PNGs, metrics.json, config.json and "
        "checkpoint.safetensors into --out, all together at the end."
    )
    parser.add_argument(
        "image",
        nargs="?",
        type=nonempty_path,
        metavar="IMAGE",
        help="PNG/JPEG to fit (default: the bundled --image-name)",
    )
    parser.add_argument(
        "--image-name",
        choices=BUNDLED_IMAGES,
        default=None,
        help=f"bundled image to fit when IMAGE is omitted (default: {BUNDLED_IMAGES[0]})",
    )
    parser.add_argument(
        "--steps", metavar="N", type=positive_int, default=5000, help="training steps (5000)"
    )
    parser.add_argument(
        "--seconds",
        metavar="T",
        type=positive_float,
        default=None,
        help="stop after this many seconds even if --steps is not reached",
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        type=nonempty_path,
        default=None,
        help="output directory (default: runs/fit-<date>-<time>); a previous gfxnn run there "
        "is replaced whole",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="write into an --out that holds files gfxnn did not write (they are kept; files "
        "named like an output are replaced, inputs never)",
    )
    add_example_arguments(parser)
    add_settings_options(parser)
    parser.add_argument(
        "--max-pixels",
        metavar="N",
        type=positive_int,
        default=None,
        help="refuse larger images (default: 4096*4096)",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="auto",
        help="cuda: the GPU path (pip install 'gfxnn[gpu]'); webgpu: WGSL compute shaders on any "
        "WebGPU adapter (pip install 'gfxnn[webgpu]'; lavapipe on a CPU); auto: cuda when a "
        "CUDA GPU is present and supports the settings, else the CPU with a one-line notice "
        "(auto)",
    )
    parser.add_argument(
        "--cpu-backend",
        choices=CPU_BACKENDS,
        default="numpy",
        help="the CPU trainer: numpy (the NumPy fused path), compiled (Numba kernels, compiled "
        "on first use and cached; pip install 'gfxnn[compiled]') or auto (compiled where Numba "
        "is installed, NumPy for grids) (numpy)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """`gfxnn fit`: check everything, then train and write; returns the exit code."""
    from gfxnn.data.images import BUNDLED_IMAGES, ImageError

    example = example_from_args(args)
    settings = settings_for(args, example)
    if args.cpu_backend == "compiled" and not compiled_available():
        raise UsageError("--cpu-backend compiled needs Numba: pip install 'gfxnn[compiled]'")
    if example != "image":
        from gfxnn.apps.fit_examples import start_example

        return finish(*start_example(args, example, settings, run_model, OUTPUT_FILES))
    if args.image is not None and args.image_name is not None:
        raise UsageError("give either IMAGE or --image-name, not both")
    inputs = [p for p in (args.image, args.config) if p is not None]
    run_dir = RunDirectory(
        args.out if args.out is not None else default_output_dir(), OUTPUT_FILES, inputs, args.force
    )
    try:
        run_dir.check()
        loaded = _load_image(args)
    except (ImageError, OutputDirError) as error:
        image = args.image
        if image is not None and str(image) in BUNDLED_IMAGES and not image.exists():
            raise UsageError(f"{error} (for the bundled image: --image-name {image})") from None
        raise UsageError(error) from None
    # soft_wrap: a pipe is not an 80-column terminal; a note is one line however long.
    errors = Console(stderr=True, soft_wrap=True)
    device, notice = resolve_device(args.device, settings, "gfxnn fit")
    if notice:
        errors.print(notice, markup=False, highlight=False)
    for note in loaded.notes:
        errors.print(f"note: {note}", markup=False, highlight=False)
    height, width = loaded.pixels.shape[:2]
    image_info = {"source": loaded.source, "notes": loaded.notes}
    errors.print(f"fitting {loaded.source} ({width}x{height}) -> {run_dir.path}", markup=False)

    def fit() -> FitResult:
        return run_fit(
            loaded.pixels,
            settings,
            run_dir,
            steps=args.steps,
            seconds=args.seconds,
            image_info=image_info,
            console=errors,
            show_progress=not args.quiet,
            device=device,
            cpu_backend=args.cpu_backend,
        )

    return finish(fit, run_dir.path)


def finish(fit: Callable[[], FitResult], out: Path) -> int:
    """Run `fit`, report its end on stderr and its result on stdout; the exit code."""
    try:
        result = fit()
    except OutputDirError as error:
        raise UsageError(error) from None
    except OSError as error:
        print_error(f"gfxnn fit: error: cannot write outputs to {out}: {error}; {out} is unchanged")
        return EXIT_FAILED
    metrics = result.metrics
    if result.stopped_by == "diverged":
        print_error(f"gfxnn fit: {result.message}")
    elif result.stopped_by in STOP_EXIT_CODES:
        how = _STOPPED[result.stopped_by]
        print_error(f"gfxnn fit: {how} at step {metrics['steps']}; outputs written")
    print_result(
        f"PSNR {metrics['psnr']:.2f} dB after {metrics['weights_step']} steps "
        f"({metrics['steps_per_second']:.0f} steps/s, {metrics['seconds']:.1f} s); "
        f"outputs in {out}/ (comparison.png, curves.png, metrics.json, "
        f"checkpoint.safetensors)"
    )
    return _EXIT_CODES.get(result.stopped_by, EXIT_OK)


def _load_image(args: argparse.Namespace) -> Any:
    from gfxnn.data.images import (
        BUNDLED_IMAGES,
        DEFAULT_MAX_PIXELS,
        LoadedImage,
        bundled_image_source,
        load_bundled,
        read_image,
    )

    if args.image is None:
        name = args.image_name or BUNDLED_IMAGES[0]
        return LoadedImage(load_bundled(name), bundled_image_source(name))
    return read_image(args.image, max_pixels=args.max_pixels or DEFAULT_MAX_PIXELS)
