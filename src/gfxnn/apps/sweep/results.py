"""The sweep's table: one row per trial, written as results.json and results.csv after every
trial (so an interrupted or killed sweep keeps what it has), read back on a re-run (resume),
and the best settings as a tiny-cuda-nn config.

results.json = {"format", "sweep" (the arguments), "rows", "best"}; each row keeps "runs", the
rung runs it made (budget, status, PSNR, ...), which is what resume reuses.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from gfxnn.apps.sweep.plan import SweepError, SweepImage, Trial
from gfxnn.imagefit import FitSettings
from gfxnn.io import atomic_write_json, atomic_write_text, parse_json

__all__ = [
    "BEST_CONFIG_FILE",
    "CSV_FILE",
    "JSON_FILE",
    "REUSABLE",
    "best_point",
    "make_row",
    "ranked_psnr",
    "read_previous_runs",
    "write_best_config",
    "write_results",
]

FORMAT = "gfxnn-sweep-1"
JSON_FILE = "results.json"
CSV_FILE = "results.csv"
BEST_CONFIG_FILE = "best_config.json"
# Run statuses a re-run reuses; "failed" (a crash may be passing) and "interrupted" run again.
REUSABLE = ("ok", "diverged")
# What a run measures and where it ran: kept in the JSON's runs and in the CSV, in this order.
MEASURES = ("psnr", "steps", "seconds", "steps_per_second", "device", "adapter")
RUN_FIELDS = ("budget", "status", "message", *MEASURES)
CSV_COLUMNS = (
    "index",
    "image",
    "status",
    *MEASURES,
    "checkpoint_bytes",
    "png_bytes",
    "checkpoint_to_png",
    "seed",
)


def make_row(
    trial: Trial,
    image: SweepImage,
    runs: Mapping[str, dict[str, Any]],
    end: tuple[str, str, str | None] | None,
    out_dir: Path,
    *,
    running: bool = False,
) -> dict[str, Any]:
    """The row of `trial`: its numbers from the run it ended with (`end` = (status, budget key,
    message)) or, still going, from its latest run; status "running" while a worker has it,
    "pending" when it waits for its (next) run."""
    if end is not None:
        status, budget, message = end
        run = runs.get(budget, {})
    else:
        run = list(runs.values())[-1] if runs else {}
        status, message = ("running" if running else "pending"), None
    checkpoint = out_dir / trial.dir_name / "checkpoint.safetensors"
    checkpoint_bytes = checkpoint.stat().st_size if run and checkpoint.exists() else None
    return {
        "index": trial.index,
        "trial": trial.key,
        "image": trial.image,
        "image_source": image.source,
        "dir": trial.dir_name,
        "status": status,
        "message": message,
        "psnr": run.get("psnr"),
        "steps": run.get("steps"),
        "seconds": run.get("seconds"),
        "steps_per_second": run.get("steps_per_second"),
        "device": run.get("device"),
        "adapter": run.get("adapter"),  # the WebGPU adapter's name, as in metrics.json
        "checkpoint_bytes": checkpoint_bytes,
        "png_bytes": image.png_bytes,
        "checkpoint_to_png": checkpoint_bytes / image.png_bytes if checkpoint_bytes else None,
        "seed": trial.settings["seed"],
        "point": trial.point,
        "settings": trial.settings,
        "runs": [{field: run.get(field) for field in RUN_FIELDS} for run in runs.values()],
    }


def write_results(
    out_dir: Path, sweep: dict[str, Any], rows: Sequence[dict[str, Any]], best: dict | None
) -> None:
    """results.json and results.csv, each replaced atomically."""
    document = {"format": FORMAT, "sweep": sweep, "rows": list(rows), "best": best}
    atomic_write_json(out_dir / JSON_FILE, document)
    swept = list(dict.fromkeys(key for row in rows for key in row["point"] if key != "seed"))
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow([*CSV_COLUMNS, *swept, "message", "dir", "settings"])
    for row in rows:
        values = [_cell(row[column]) for column in CSV_COLUMNS]
        values += [_cell(row["point"].get(key)) for key in swept]
        settings = ";".join(f"{k}={v}" for k, v in row["settings"].items())
        writer.writerow([*values, row["message"] or "", row["dir"], settings])
    atomic_write_text(out_dir / CSV_FILE, buffer.getvalue())


def _cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # every digit: the CSV holds the same number as the JSON
    return value


def read_previous_runs(out_dir: Path) -> dict[str, dict[str, dict[str, Any]]]:
    """{trial key: {budget key: run}} of the reusable runs in an earlier results.json."""
    path = out_dir / JSON_FILE
    if not path.exists():
        return {}
    try:
        document = parse_json(path.read_bytes(), str(path))
        rows = document["rows"] if document.get("format") == FORMAT else None
        if not isinstance(rows, list):
            raise ValueError(f"{path} is not a {FORMAT} results file")
        previous: dict[str, dict[str, dict[str, Any]]] = {}
        for row in rows:
            runs = {r["budget"]: r for r in row["runs"] if r["status"] in REUSABLE}
            if runs:
                previous[row["trial"]] = runs
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as error:
        raise SweepError(
            f"cannot resume from {path}: {error}; remove it or choose another --out"
        ) from None
    return previous


def ranked_psnr(run: Mapping[str, Any]) -> float | None:
    """A run's or row's PSNR for ranking: JSON has no infinity, so an exact fit (the clipped
    prediction equals the reference, as a binary image can) is stored as null with status
    "ok", and ranks above everything."""
    psnr = run.get("psnr")
    if psnr is None and run.get("status") == "ok":
        return math.inf
    return psnr


def best_point(rows: Sequence[dict[str, Any]]) -> dict[str, Any] | None:
    """The swept point (seed aside) that finished the most trials at the full budget ("ok"),
    then the highest mean PSNR over them; None when no trial finished."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        point = {k: v for k, v in row["point"].items() if k != "seed"}
        groups.setdefault(repr(sorted(point.items())), []).append(row)
    scored = []
    for group in groups.values():
        ranked = [ranked_psnr(r) for r in group if r["status"] == "ok"]
        done = [psnr for psnr in ranked if psnr is not None and not math.isnan(psnr)]
        if done:
            scored.append((len(done), sum(done) / len(done), -group[0]["index"], group))
    if not scored:
        return None
    n_done, mean_psnr, _, group = max(scored, key=lambda item: item[:3])
    settings = dict(group[0]["settings"])
    settings.pop("seed")
    return {
        "point": {k: v for k, v in group[0]["point"].items() if k != "seed"},
        "mean_psnr": mean_psnr,
        "trials_done": n_done,
        "trials": len(group),
        "settings": settings,
    }


def write_best_config(out_dir: Path, best: dict[str, Any]) -> Path:
    """best_config.json: the best settings as a tiny-cuda-nn config (`gfxnn fit --config`)."""
    config = FitSettings.from_dict(best["settings"]).to_config()
    path = out_dir / BEST_CONFIG_FILE
    atomic_write_json(path, config)
    return path
