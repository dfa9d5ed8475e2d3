"""`run_sweep`: plan the trials, run them rung by rung on an executor, write the table, the
contact sheet and the best config. Read top to bottom: validate, plan, resume, run, write.

Outputs in `out_dir`:

    results.json  results.csv  contact_sheet.png  best_config.json
    <image>-<trial key>/   what `gfxnn fit` writes, for each trial

Ctrl-C or SIGTERM stops cleanly: nothing new starts, running trials stop and report, and the
outputs are written with what finished; a second Ctrl-C stops waiting for running trials.
"""

from __future__ import annotations

import contextlib
import math
import signal
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from gfxnn.apps.command import UsageError
from gfxnn.apps.devices import resolve_device
from gfxnn.apps.fit import OutputDirError, prepare_output_dir
from gfxnn.apps.sweep.executors import EXECUTORS, GPU_DEVICES, Executor, make_executor
from gfxnn.apps.sweep.images import resolve_images
from gfxnn.apps.sweep.plan import SweepError, SweepImage, Trial, expand_points, plan_trials
from gfxnn.apps.sweep.results import (
    BEST_CONFIG_FILE,
    REUSABLE,
    best_point,
    make_row,
    ranked_psnr,
    read_previous_runs,
    write_best_config,
    write_results,
)
from gfxnn.apps.sweep.schedule import Budget, rung_budgets, survivors
from gfxnn.apps.sweep.sheet import SHEET_FILE, contact_sheet
from gfxnn.apps.sweep.trial import TrialTask
from gfxnn.checks import check_choice, check_int
from gfxnn.imagefit import FitSettings
from gfxnn.io import atomic_write_bytes, parse_json

__all__ = ["DEFAULT_STEPS", "DEVICES", "SCHEDULERS", "SweepResult", "run_sweep"]

DEFAULT_STEPS = 2000
SCHEDULERS = ("none", "asha")
DEVICES = ("cpu", "cuda", "webgpu", "auto")  # `gfxnn fit --device`'s choices
# Statuses that end a trial wherever they happen; "ok" goes on to the next rung (or stops).
# An interrupted trial ends too: it runs again when the sweep is run again.
FINAL = ("diverged", "failed", "interrupted")


@dataclass
class SweepResult:
    """What a sweep ended with.

    Attributes:
        out_dir: where everything is; rows: results.json's rows, in plan order.
        best: the best point (see `results.best_point`), or None.
        stopped_by: None, "interrupted" (Ctrl-C) or "terminated" (SIGTERM); run the same
            sweep again to resume.
        reused: trials whose result came from an earlier run in `out_dir`.
    """

    out_dir: Path
    rows: list[dict[str, Any]]
    best: dict[str, Any] | None
    stopped_by: str | None
    reused: int = 0


def run_sweep(
    images: Sequence[Any],
    *,
    grid: Mapping[str, Sequence[Any]] | None = None,
    space: Mapping[str, Sequence[Any]] | None = None,
    n_random: int = 0,
    random_seed: int = 0,
    config: Any = None,
    steps: int | None = None,
    seconds: float | None = None,
    seeds: Sequence[int] = (0,),
    executor: str = "local",
    ray_address: str | None = None,
    workers: int | None = None,
    device: str = "cpu",
    gpus_per_trial: float | None = None,
    scheduler: str = "none",
    eta: int = 3,
    n_rungs: int = 3,
    out_dir: str | Path = "runs/sweep",
    bundled_size: int = 256,
    show_progress: bool = True,
    console: Console | None = None,
) -> SweepResult:
    """Fit every image with every settings point and seed; see the module docstring.

    Args:
        images: paths (files or directories), bundled names, (label, pixels) pairs or arrays.
        grid: {setting: [values]} (all combinations); "encoding_params.NAME" sweeps one
            encoding parameter. space / n_random: {setting: (low, high[, "log"])} and how many
            points to draw from it (crossed with the grid), from `random_seed`.
        config: base settings: a FitSettings, a tiny-cuda-nn config dict or a JSON path.
        steps / seconds: each trial's budget (default DEFAULT_STEPS steps). Seconds are wall
            clock, so such a sweep is not reproducible; steps are.
        executor: "local" (processes here) or "ray"; ray_address: "auto", "host:port", ...
        workers: trials at once (default: this machine's CPUs, or the Ray cluster's; for a
            GPU device floor(GPUs / gpus_per_trial)).
        device: where trials train, as `gfxnn fit --device`: "cpu", "cuda" (Warp), "webgpu"
            or "auto" (cuda when a CUDA GPU runs the base settings, else the CPU). Checked
            here before anything is written.
        gpus_per_trial: a GPU trial's share of a GPU, 0 < F <= 1 (default 1); Ray packs
            1 / F trials on each GPU, the local executor runs floor(1 / F) at once.
        scheduler: "none", or "asha": successive halving on PSNR, `n_rungs` budgets a
            factor `eta` apart (see `gfxnn.apps.sweep.schedule`).

    Raises:
        SweepError: bad input, named; raised before anything runs.
    """
    console = console or Console(stderr=True)
    try:
        check_choice("executor", executor, EXECUTORS)
        check_choice("scheduler", scheduler, SCHEDULERS)
        check_int("eta", eta, 2)
        check_int("n_rungs", n_rungs, 1, 10)
        check_int("bundled_size", bundled_size, 1)
        check_int("n_random", n_random, 0)
        check_int("random_seed", random_seed, 0)
        if workers is not None:
            check_int("workers", workers, 1)
        check_choice("device", device, DEVICES)
        share = _gpu_share(gpus_per_trial, device)
    except ValueError as error:
        raise SweepError(str(error)) from None
    final = _budget(steps, seconds)
    base = _base_settings(config)
    device = _device(device, base, console)
    points = expand_points(grid, space, n_random, random_seed)
    sweep_images = resolve_images(images, bundled_size=bundled_size)
    trials = plan_trials(sweep_images, base, points, seeds, final.as_dict())
    budgets = rung_budgets(final, scheduler, eta, n_rungs)
    # An unreachable cluster, or one without the GPUs the trials ask for: no outputs.
    pool = make_executor(executor, workers, ray_address, device, share)
    try:
        out = prepare_output_dir(out_dir)
        previous = read_previous_runs(out)
    except (OutputDirError, SweepError) as error:
        pool.close()
        raise SweepError(str(error)) from None
    summary = {
        "images": [image.source for image in sweep_images],
        "points": points,
        "seeds": list(seeds),
        "budget": final.as_dict(),
        "scheduler": scheduler,
        "device": device,
        "gpus_per_trial": share if device in GPU_DEVICES else None,
        "rungs": [budget.key for budget in budgets],
        "eta": eta,
        "base_settings": base.to_dict(),
    }
    sweep = _Sweep(out, sweep_images, trials, summary, previous)
    sweep.save()  # the plan is on disk (every row "pending") before anything runs
    try:
        with _stop_on_signals(sweep), _progress(console, show_progress, len(trials)) as bar:
            sweep.bar = bar
            for rung, budget in enumerate(budgets):
                name = f"sweep rung {rung + 1}/{len(budgets)}" if len(budgets) > 1 else "sweep"
                sweep.run_rung(pool, budget, name)
                if sweep.stop.is_set():
                    break
                if rung < len(budgets) - 1:
                    sweep.decide(budget, eta)
    finally:
        pool.close()
        rows = sweep.save()
        atomic_write_bytes(out / SHEET_FILE, contact_sheet(sweep_images, trials, rows, out))
    best = best_point(rows)
    if best is not None:
        write_best_config(out, best)
    else:  # no trial finished: an earlier sweep's best config would mislead
        (out / BEST_CONFIG_FILE).unlink(missing_ok=True)
    stopped_by = None
    if sweep.stop.is_set():
        stopped_by = "terminated" if sweep.stop_signal == signal.SIGTERM else "interrupted"
    return SweepResult(out, rows, best, stopped_by, len(sweep.reused))


@dataclass
class _Sweep:
    """The state of a running sweep: the runs each trial made and how each one ended."""

    out: Path
    images: list[SweepImage]
    trials: list[Trial]
    summary: dict[str, Any]
    previous: dict[str, dict[str, dict[str, Any]]]  # resume: {key: {budget: run}}
    runs: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    ends: dict[str, tuple[str, str, str | None]] = field(default_factory=dict)
    reused: set[str] = field(default_factory=set)
    running: set[str] = field(default_factory=set)
    stop: threading.Event = field(default_factory=threading.Event)
    bar: Progress | None = None
    stop_signal: int | None = None

    def __post_init__(self) -> None:
        self.by_label = {image.label: image for image in self.images}
        self.by_key = {trial.key: trial for trial in self.trials}
        for trial in self.trials:  # earlier rungs show in the rows from the start
            self.runs[trial.key] = dict(self.previous.get(trial.key, {}))

    def run_rung(self, pool: Executor, budget: Budget, name: str) -> None:
        """Run the live trials to `budget`; one already run to it (resume) is not run again."""
        steps, seconds = budget.run_fit_args()
        jobs = []
        for trial in self.trials:
            if trial.key in self.ends:
                continue
            cached = self.previous.get(trial.key, {}).get(budget.key)
            # A run on another device is not this trial's result (GPU batches differ).
            same_device = cached is not None and cached.get("device") == self.summary["device"]
            if cached is not None and cached["status"] in REUSABLE and same_device:
                self.reused.add(trial.key)
                self._record(trial, budget, cached)
                continue
            image = self.by_label[trial.image]
            task = TrialTask(
                trial.key,
                trial.image,
                image.source,
                trial.settings,
                budget.key,
                steps,
                seconds,
                self.summary["device"],
            )
            jobs.append((task, image.pixels))
        self._show(name)
        pool.run_batch(jobs, self._on_start, self._on_outcome, self.stop)

    def _on_start(self, task: TrialTask) -> None:
        self.running.add(task.key)
        self.save()

    def _on_outcome(self, task: TrialTask, outcome: dict[str, Any]) -> None:
        trial = self.by_key[task.key]
        self.running.discard(task.key)
        directory = self.out / trial.dir_name
        directory.mkdir(exist_ok=True)
        for name, data in outcome.pop("files", {}).items():
            atomic_write_bytes(directory / name, data)
        self._record(trial, _budget_named(task.budget), outcome)
        self.save()
        self._show()

    def _record(self, trial: Trial, budget: Budget, run: dict[str, Any]) -> None:
        self.runs[trial.key][budget.key] = {**run, "budget": budget.key}
        if run["status"] in FINAL:
            self.ends[trial.key] = (run["status"], budget.key, run["message"])
        elif budget.key == self.summary["rungs"][-1]:  # the full budget: nothing left to decide
            self.ends[trial.key] = ("ok", budget.key, None)

    def decide(self, budget: Budget, eta: int) -> None:
        """After a rung before the last: the rule of `schedule.survivors`, for each image over
        the trials that ran this rung (those that diverged or failed in it count, and lose),
        stops all but the best. (On the last rung every trial ends as its result comes in.)"""
        for image in self.images:
            mine = [
                t
                for t in self.trials
                if t.image == image.label
                and budget.key in self.runs[t.key]
                and self.ends.get(t.key, (None, budget.key))[1] == budget.key
            ]
            results = [
                (t.index, None if t.key in self.ends else ranked_psnr(self.runs[t.key][budget.key]))
                for t in mine
            ]
            keep = survivors(results, eta)
            for trial, (_, psnr) in zip(mine, results, strict=True):
                if trial.index in keep or psnr is None:
                    continue
                self.ends[trial.key] = (
                    "stopped",
                    budget.key,
                    f"stopped early after {budget.key} (PSNR {psnr:.2f} dB not in the best "
                    f"{max(1, len(mine) // eta)} of {len(mine)} for {image.label})",
                )
        self.save()
        self._show()

    def save(self) -> list[dict[str, Any]]:
        """Write results.json and results.csv as they stand; returns the rows."""
        rows = [
            make_row(
                trial,
                self.by_label[trial.image],
                self.runs[trial.key],
                self.ends.get(trial.key),
                self.out,
                running=trial.key in self.running,
            )
            for trial in self.trials
        ]
        write_results(self.out, self.summary, rows, best_point(rows))
        return rows

    def _show(self, description: str | None = None) -> None:
        if self.bar is None:
            return
        psnrs = [
            run["psnr"]
            for runs in self.runs.values()
            for run in runs.values()
            if isinstance(run.get("psnr"), float) and math.isfinite(run["psnr"])
        ]
        best = f"{max(psnrs):.2f} dB" if psnrs else "-"
        fields: dict[str, Any] = {"completed": len(self.ends), "best": best}
        if description is not None:
            fields["description"] = description
        self.bar.update(self.bar.task_ids[0], **fields)


def _gpu_share(gpus_per_trial: float | None, device: str) -> float:
    """--gpus-per-trial as a float in (0, 1] (1 when not given); refused with --device cpu."""
    if gpus_per_trial is None:
        return 1.0
    if device == "cpu":
        raise ValueError("--gpus-per-trial needs a GPU --device (cuda, webgpu or auto)")
    if isinstance(gpus_per_trial, bool) or not isinstance(gpus_per_trial, int | float):
        raise ValueError(f"--gpus-per-trial must be a number in (0, 1], got {gpus_per_trial!r}")
    if not (math.isfinite(gpus_per_trial) and 0 < gpus_per_trial <= 1):
        raise ValueError(
            f"--gpus-per-trial must be in (0, 1] (a share of one GPU), got {gpus_per_trial}"
        )
    return float(gpus_per_trial)


def _device(requested: str, base: FitSettings, console: Console) -> str:
    """`gfxnn fit`'s device check, before anything is written: a missing GPU is a SweepError
    (exit 2); auto picks cuda or the CPU and says so. The check runs where the command runs:
    on a Ray cluster the workers are assumed to match the driver's machine."""
    try:
        device, notice = resolve_device(requested, base, "gfxnn sweep")
    except UsageError as error:
        raise SweepError(str(error)) from None
    if notice:
        console.print(notice, markup=False, highlight=False)
    return device


def _budget_named(key: str) -> Budget:
    unit, _, value = key.partition("=")
    return Budget(steps=int(value)) if unit == "steps" else Budget(seconds=float(value))


def _budget(steps: int | None, seconds: float | None) -> Budget:
    if steps is not None and seconds is not None:
        raise SweepError("give --steps or --seconds, not both")
    if seconds is not None:
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise SweepError(f"--seconds must be a number > 0, got {seconds!r}")
        if not (math.isfinite(seconds) and seconds > 0):
            raise SweepError(f"--seconds must be a number > 0, got {seconds}")
        return Budget(seconds=float(seconds))
    steps = DEFAULT_STEPS if steps is None else steps
    try:
        check_int("steps", steps, 1)
    except ValueError as error:
        raise SweepError(str(error)) from None
    return Budget(steps=int(steps))


def _base_settings(config: Any) -> FitSettings:
    """The settings every trial starts from: FitSettings, a tcnn config dict, or its path."""
    if config is None:
        return FitSettings()
    if isinstance(config, FitSettings):
        values = config.to_dict()
        values.pop("seed")
        source = "settings"
    elif isinstance(config, dict):
        source = "config"
    else:
        path = Path(config)
        try:
            config = parse_json(path.read_bytes(), str(path))
        except OSError as error:
            raise SweepError(f"cannot read --config {path}: {error.strerror or error}") from None
        except ValueError as error:
            raise SweepError(f"--config {path}: {error}") from None
        source = f"--config {path}"
    try:
        if source == "settings":
            return FitSettings.from_dict(values)
        return FitSettings.from_config(config)
    except (ValueError, TypeError) as error:
        raise SweepError(f"{source}: {error}") from None


def _progress(console: Console, show: bool, total: int) -> Progress:
    progress = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("trials, best PSNR {task.fields[best]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not show,
    )
    progress.add_task("sweep", total=total, best="-")
    return progress


@contextlib.contextmanager
def _stop_on_signals(sweep: _Sweep) -> Iterator[None]:
    """SIGINT and SIGTERM set `sweep.stop` (the sweep winds down and writes its results); a
    second SIGINT raises KeyboardInterrupt (stop waiting). Outside the main thread: no-op."""
    stop = sweep.stop
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}

    def handle(signum: int, frame: object) -> None:
        if stop.is_set() and signum == signal.SIGINT:
            raise KeyboardInterrupt
        sweep.stop_signal = sweep.stop_signal or signum
        stop.set()

    for sig in previous:
        signal.signal(sig, handle)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
