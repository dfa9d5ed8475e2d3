"""The sweep's plan: which images, which settings, which seeds, and the trials they make.

A sweep is images x grid points x random points x seeds. Grid points are the Cartesian product
of `--grid KEY=V1,V2,...` (in the order given); random points are `n_random` draws from
`--space KEY=LOW:HIGH[:log]` (uniform, or log-uniform, from one generator seeded by
`random_seed`, so a re-run draws the same points). Every point is checked by `FitSettings`
itself (one place holds the ranges), so a bad value is the fitter's own one-line message.

A trial's key hashes what decides its result (the image's pixels, every setting, the seed and
the budget); a re-run finds its finished trials by that key (resume).
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gfxnn.imagefit import FitSettings
from gfxnn.io import parse_json

__all__ = [
    "ENCODING_PARAM_PREFIX",
    "SweepError",
    "SweepImage",
    "Trial",
    "expand_points",
    "parse_grid",
    "parse_space",
    "plan_trials",
    "setting_kinds",
]

# `--grid encoding_params.n_levels=8,16` sweeps one tcnn parameter of the encoding.
ENCODING_PARAM_PREFIX = "encoding_params."


class SweepError(ValueError):
    """Bad sweep input (a key, a value, an image, an address): one line naming it."""


@dataclass(frozen=True)
class SweepImage:
    """An image of the sweep.

    Attributes:
        label: short unique name (file stem or bundled name), used in rows and directories.
        source: where it came from (a path, or "bundled:<name>").
        pixels: (H, W, 3) float32 in [0, 1].
        png_bytes: the size of the image as an 8-bit PNG (what a checkpoint competes with).
        digest: hash of the pixels (part of every trial key).
    """

    label: str
    source: str
    pixels: np.ndarray = field(repr=False)
    png_bytes: int
    digest: str


@dataclass(frozen=True)
class Trial:
    """One fit of the sweep: an image, full settings (seed included) and a budget.

    Attributes:
        index: position in the plan (rows, contact sheet and ties follow it).
        key: hash of image pixels, settings, seed and budget (resume finds trials by it).
        image: the image's label.
        point: the swept values of this trial (grid and random keys, and "seed").
        settings: `FitSettings.to_dict()` of the trial, seed included.
    """

    index: int
    key: str
    image: str
    point: dict[str, Any]
    settings: dict[str, Any]

    @property
    def dir_name(self) -> str:
        """The trial's sub-directory: readable image label plus the key."""
        return f"{self.image}-{self.key}"

    @property
    def label(self) -> str:
        """ "lr=0.01, seed=0": the swept values, for the contact sheet."""
        return ", ".join(f"{_short(k)}={_format(v)}" for k, v in self.point.items())


def setting_kinds() -> dict[str, str]:
    """FitSettings' fields and the kind of value each takes: "int", "float", "str", "dict"."""
    kinds = {}
    for f in dataclasses.fields(FitSettings):
        text = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        kinds[f.name] = next(
            (kind for kind in ("dict", "float", "int", "str") if re.search(rf"\b{kind}\b", text)),
            "str",
        )
    return kinds


def _check_key(key: Any, option: str) -> str:
    """A sweepable key: a FitSettings field or encoding_params.NAME; seed goes via --seeds."""
    kinds = setting_kinds()
    if not isinstance(key, str) or not key:
        raise SweepError(f"{option}: a setting name is needed, got {key!r}")
    if key == "seed":
        raise SweepError(f"{option}: sweep seeds with --seeds (seeds=...), not the key seed")
    if key.startswith(ENCODING_PARAM_PREFIX) and len(key) > len(ENCODING_PARAM_PREFIX):
        return key
    if key == "encoding_params":
        raise SweepError(f"{option}: sweep one encoding parameter as encoding_params.NAME")
    if key not in kinds:
        valid = [name for name in kinds if name not in ("seed", "encoding_params")]
        raise SweepError(
            f"{option}: unknown setting {key!r}; valid settings are {valid} and "
            "encoding_params.NAME"
        )
    return key


def _parse_value(key: str, text: str, option: str) -> Any:
    """A command-line value typed as the setting takes it (encoding parameters: JSON or a bare
    word, as `gfxnn fit --encoding-param`)."""
    text = text.strip()
    if key.startswith(ENCODING_PARAM_PREFIX):
        try:  # parse_json: a huge integer or deep nesting is one error, not a traceback
            return parse_json(text, option.split("=", 1)[0])
        except ValueError as error:
            if not (text.isascii() and text.replace("_", "").isalnum() and not text[:1].isdigit()):
                raise SweepError(str(error)) from None
            return text  # a bare word such as Smoothstep
    kind = setting_kinds()[key]
    try:
        if kind == "int":
            return int(text)
        if kind == "float":
            return None if text.lower() == "none" else float(text)
    except ValueError:
        raise SweepError(f"{option}: {key} takes {kind} values, got {text!r}") from None
    return text


def parse_grid(items: Sequence[str]) -> dict[str, list[Any]]:
    """`["learning_rate=1e-3,1e-2", "n_neurons=32,64"]` -> {key: [typed values]}."""
    grid: dict[str, list[Any]] = {}
    for item in items:
        key, sep, values = item.partition("=")
        option = f"--grid {item}"
        if not sep:
            raise SweepError(f"--grid needs KEY=V1,V2,..., got {item!r}")
        key = _check_key(key.strip(), option)
        if key in grid:
            raise SweepError(f"{option}: {key} is given twice")
        texts = values.split(",")
        if any(not text.strip() for text in texts):
            raise SweepError(f"{option}: an empty value in {values!r}")
        grid[key] = [_parse_value(key, text, option) for text in texts]
    return grid


def parse_space(items: Sequence[str]) -> dict[str, tuple[float, float, str]]:
    """`["learning_rate=1e-4:1e-1:log"]` -> {key: (low, high, "log" | "linear")}."""
    space: dict[str, tuple[float, float, str]] = {}
    for item in items:
        key, sep, bounds = item.partition("=")
        option = f"--space {item}"
        parts = bounds.split(":")
        if not sep or len(parts) not in (2, 3):
            raise SweepError(f"--space needs KEY=LOW:HIGH or KEY=LOW:HIGH:log, got {item!r}")
        key = _check_key(key.strip(), option)
        if key in space:
            raise SweepError(f"{option}: {key} is given twice")
        scale = parts[2].strip() if len(parts) == 3 else "linear"
        try:
            low, high = float(parts[0]), float(parts[1])
        except ValueError:
            raise SweepError(f"{option}: LOW and HIGH must be numbers, got {bounds!r}") from None
        space[key] = (low, high, scale)
    return space


def _check_space(space: Mapping[str, Any]) -> dict[str, tuple[float, float, str]]:
    checked = {}
    for key, bounds in space.items():
        option = f"--space {key}"
        key = _check_key(key, option)
        if key.startswith(ENCODING_PARAM_PREFIX) or setting_kinds()[key] not in ("int", "float"):
            raise SweepError(f"{option}: only numeric settings have a range; use --grid")
        low, high, scale = (*bounds, "linear") if len(bounds) == 2 else bounds
        if scale not in ("linear", "log"):
            raise SweepError(f"{option}: the scale must be log or omitted, got {scale!r}")
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise SweepError(f"{option}: needs finite LOW < HIGH, got {low}:{high}")
        if scale == "log" and low <= 0:
            raise SweepError(f"{option}: a log range needs LOW > 0, got {low}")
        checked[key] = (float(low), float(high), scale)
    return checked


def expand_points(
    grid: Mapping[str, Sequence[Any]] | None,
    space: Mapping[str, Any] | None = None,
    n_random: int = 0,
    random_seed: int = 0,
) -> list[dict[str, Any]]:
    """The settings points: every grid combination, each crossed with `n_random` draws."""
    grid = {_check_key(k, f"--grid {k}"): list(v) for k, v in (grid or {}).items()}
    for key, values in grid.items():
        if not values:
            raise SweepError(f"--grid {key}: no values")
    space = _check_space(space or {})
    both = sorted(set(grid) & set(space))
    if both:
        raise SweepError(f"{both} given in both --grid and --space; choose one")
    if space and n_random < 1:
        raise SweepError("--space needs --random N (N >= 1 points drawn from it)")
    if n_random and not space:
        raise SweepError(f"--random {n_random} needs at least one --space KEY=LOW:HIGH")
    kinds = setting_kinds()
    rng = np.random.default_rng(random_seed)
    draws: list[dict[str, Any]] = []
    for _ in range(n_random):
        draw: dict[str, Any] = {}
        for key, (low, high, scale) in space.items():
            if scale == "log":
                value = float(np.exp(rng.uniform(np.log(low), np.log(high))))
            else:
                value = float(rng.uniform(low, high))
            draw[key] = int(round(value)) if kinds[key] == "int" else float(f"{value:.6g}")
        draws.append(draw)
    combos = [dict(zip(grid, values, strict=True)) for values in itertools.product(*grid.values())]
    return [{**combo, **draw} for combo in combos for draw in (draws or [{}])]


def _settings_for(base: FitSettings, point: Mapping[str, Any], seed: int) -> dict[str, Any]:
    values = base.to_dict()
    params = dict(values["encoding_params"])
    for key, value in point.items():
        if key.startswith(ENCODING_PARAM_PREFIX):
            params[key[len(ENCODING_PARAM_PREFIX) :]] = value
        else:
            values[key] = value
    values["encoding_params"] = params
    values["seed"] = seed
    try:
        return FitSettings.from_dict(values).to_dict()
    except (ValueError, TypeError) as error:
        raise SweepError(f"settings {_describe(point)}: {error}") from None


def plan_trials(
    images: Sequence[SweepImage],
    base: FitSettings,
    points: Sequence[Mapping[str, Any]],
    seeds: Sequence[int],
    budget: Mapping[str, Any],
) -> list[Trial]:
    """Every trial, image-major (an image's trials sit together in rows and on the sheet).
    Settings are validated here, before anything runs."""
    if not images:
        raise SweepError("no images to sweep")
    seeds = list(seeds)
    if not seeds:
        raise SweepError("--seeds: at least one seed is needed")
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise SweepError(f"--seeds: a seed must be an integer >= 0, got {seed!r}")
    if len(set(seeds)) != len(seeds):
        raise SweepError(f"--seeds: {seeds} repeats a seed")
    trials: list[Trial] = []
    seen: set[str] = set()
    for image in images:
        for point in points:
            for seed in seeds:
                settings = _settings_for(base, point, seed)
                key = _trial_key(image.digest, settings, budget)
                shown = {**point, "seed": seed}
                if key in seen:
                    raise SweepError(
                        f"{image.label} with {_describe(shown)} comes twice (a repeated --grid "
                        "value, or --random drew the same point twice)"
                    )
                seen.add(key)
                trials.append(Trial(len(trials), key, image.label, shown, settings))
    return trials


def _trial_key(digest: str, settings: Mapping[str, Any], budget: Mapping[str, Any]) -> str:
    blob = json.dumps({"image": digest, "settings": settings, "budget": budget}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


_SHORT = {"learning_rate": "lr", "encoding_learning_rate": "enc_lr", "batch_size": "batch"}


def _short(key: str) -> str:
    return _SHORT.get(key, key.removeprefix(ENCODING_PARAM_PREFIX))


def _describe(point: Mapping[str, Any]) -> str:
    return "{" + ", ".join(f"{k}={_format(v)}" for k, v in point.items()) + "}"


def _format(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)
