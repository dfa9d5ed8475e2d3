"""The command line of `gfxnn sweep`: `HELP`, `add_arguments(parser)` and `run(args)`, the
app interface `gfxnn.cli` builds its parser from (see `gfxnn.apps.command`).

Kept free of heavy imports at module level so `gfxnn --help` stays instant.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gfxnn.apps.devices import DEVICES

__all__ = ["HELP", "add_arguments", "run"]

HELP = "fit many images x many settings, in local processes or on a Ray cluster"

DESCRIPTION = (
    "Fit many images with many settings (a grid, random points, several seeds), in local "
    "processes or on a Ray cluster. Writes into --out: each trial's `gfxnn fit` outputs in its "
    "own sub-directory, results.csv and results.json (one row per trial), contact_sheet.png "
    "and best_config.json (a tiny-cuda-nn config for gfxnn fit --config). Run the same "
    "command again to resume: finished trials are skipped. See docs/sweep.md."
)


def _int_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be integers separated by commas, got {text!r}"
        ) from None
    return values


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Declare `gfxnn sweep`'s arguments."""
    from gfxnn.apps.command import integer, nonempty_path, positive_float, positive_int

    parser.description = DESCRIPTION
    parser.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE_OR_DIR",
        help="image files, directories of images, or bundled names (astronaut, circle, half, "
        "quarter)",
    )
    parser.add_argument(
        "--grid",
        metavar="KEY=V1,V2,...",
        action="append",
        default=[],
        help="values of one fit setting (learning_rate, n_neurons, encoding, ..., or "
        "encoding_params.NAME); every combination of the --grid options runs; repeatable",
    )
    parser.add_argument(
        "--random", metavar="N", type=integer, default=0, help="draw N points from the --space"
    )
    parser.add_argument(
        "--space",
        metavar="KEY=LOW:HIGH[:log]",
        action="append",
        default=[],
        help="a numeric setting's range for --random (uniform, or log-uniform); repeatable",
    )
    parser.add_argument(
        "--random-seed", metavar="S", type=integer, default=0, help="seeds the --random draws (0)"
    )
    parser.add_argument(
        "--config", metavar="JSON", type=nonempty_path, help="base settings: a tiny-cuda-nn config"
    )
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument(
        "--steps", metavar="N", type=positive_int, help="training steps per trial (2000)"
    )
    budget.add_argument(
        "--seconds",
        metavar="T",
        type=positive_float,
        help="seconds per trial instead of steps (wall clock: results are not reproducible)",
    )
    parser.add_argument(
        "--seeds", metavar="S1,S2", type=_int_list, default=[0], help="seeds of each point (0)"
    )
    parser.add_argument("--executor", choices=("local", "ray"), default="local", help="(local)")
    parser.add_argument(
        "--ray-address",
        metavar="ADDR",
        help="join a Ray cluster: auto (the one `ray start` runs here), HOST:PORT or "
        "ray://HOST:PORT; without it a local Ray is started",
    )
    parser.add_argument(
        "--workers",
        metavar="N",
        type=positive_int,
        help="trials at once (default: all CPUs; for a GPU device floor(GPUs / --gpus-per-trial))",
    )
    parser.add_argument(
        "--device",
        choices=DEVICES,
        default="cpu",
        help="where trials train, as gfxnn fit --device; checked before anything is written; "
        "auto: cuda when a CUDA GPU runs the settings, else the CPU (cpu)",
    )
    parser.add_argument(
        "--gpus-per-trial",
        metavar="F",
        type=float,
        help="a GPU trial's share of a GPU, 0 < F <= 1: Ray's num_gpus per task; locally "
        "floor(1/F) trials at once on the GPU (1)",
    )
    parser.add_argument(
        "--scheduler",
        choices=("none", "asha"),
        default="none",
        help="asha: stop poor trials early on PSNR (successive halving per image) (none)",
    )
    parser.add_argument(
        "--eta", metavar="K", type=integer, default=3, help="asha: keep the best 1/K per rung (3)"
    )
    parser.add_argument(
        "--rungs", metavar="R", type=integer, default=3, help="asha: budgets, K times apart (3)"
    )
    parser.add_argument(
        "--image-size", metavar="N", type=positive_int, default=256, help="bundled images (256)"
    )
    parser.add_argument(
        "--out", metavar="DIR", type=nonempty_path, default=Path("runs/sweep"), help="(runs/sweep)"
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    """Run the sweep. Bad input raises UsageError (exit 2); returns 0, 1 when no trial
    finished, 130 after Ctrl-C or 143 after SIGTERM (results so far written)."""
    from rich.console import Console

    from gfxnn.apps.command import (
        EXIT_FAILED,
        EXIT_INTERRUPTED,
        EXIT_OK,
        EXIT_TERMINATED,
        UsageError,
    )
    from gfxnn.apps.sweep import SweepError, run_sweep
    from gfxnn.apps.sweep.plan import parse_grid, parse_space

    errors = Console(stderr=True)
    try:
        result = run_sweep(
            args.images,
            grid=parse_grid(args.grid),
            space=parse_space(args.space),
            n_random=args.random,
            random_seed=args.random_seed,
            config=args.config,
            steps=args.steps,
            seconds=args.seconds,
            seeds=args.seeds,
            executor=args.executor,
            ray_address=args.ray_address,
            workers=args.workers,
            device=args.device,
            gpus_per_trial=args.gpus_per_trial,
            scheduler=args.scheduler,
            eta=args.eta,
            n_rungs=args.rungs,
            out_dir=args.out,
            bundled_size=args.image_size,
            show_progress=not args.quiet,
            console=errors,
        )
    except SweepError as error:
        raise UsageError(error) from None
    counts: dict[str, int] = {}
    for row in result.rows:
        counts[row["status"]] = counts.get(row["status"], 0) + 1
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
    line = f"{len(result.rows)} trials ({summary}); results in {result.out_dir}/"
    if result.reused:
        line += f" ({result.reused} reused from an earlier run)"
    if result.best is not None:
        point = ", ".join(f"{k}={v}" for k, v in result.best["point"].items()) or "the base"
        line += f"; best {point}: {result.best['mean_psnr']:.2f} dB mean -> best_config.json"
    print(line)
    if result.stopped_by is not None:
        errors.print(
            f"gfxnn sweep: {result.stopped_by}; run the same command again to resume",
            markup=False,
            highlight=False,
        )
        return EXIT_TERMINATED if result.stopped_by == "terminated" else EXIT_INTERRUPTED
    return EXIT_OK if result.best is not None else EXIT_FAILED
