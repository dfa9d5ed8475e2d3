"""The studio's settings form, derived from `gfxnn.imagefit` so new settings appear by themselves.

Every field of `FitSettings` becomes one control. Its kind comes from its default value (and,
for a default of None, from its annotation); its choices and range come from the constants of
`gfxnn.imagefit`, found by name:

- choices: the plural `<NAME>S`/`<NAME>ES` (encoding -> ENCODINGS, loss -> LOSSES, a dict's
  keys), then the same for the field's last words (output_activation -> OUTPUT_ACTIVATIONS,
  then ACTIVATIONS);
- range: `<NAME>_RANGE`, then the name without its `n_` prefix or `_size` suffix, singular
  (n_frequencies -> FREQUENCY_RANGE, batch_size -> BATCH_RANGE, n_layers -> LAYER_RANGE).

Settings named in `imagefit.TRAINING_ONLY` change live and keep the weights; any other change
rebuilds the network and waits for the page's Apply button. The server validates everything
with `FitSettings.validate()`, so the schema only guides the form.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gfxnn import imagefit

__all__ = ["LABELS", "settings_schema"]

# Dx12NN's names for its controls; other fields get their name with spaces.
LABELS = {
    "batch_size": "Batch size",
    "learning_rate": "Learning rate",
    "optimizer": "Optimizer",
    "encoding": "Encoding",
    "n_frequencies": "Frequencies",
    "activation": "Activation",
    "n_layers": "Layer count",
    "n_neurons": "Neurons",
    "seed": "Seed",
}


def _constant(name: str) -> Any:
    return getattr(imagefit, name, None)


def _plurals(word: str) -> list[str]:
    forms = [word + "S", word + "ES"]
    if word.endswith("Y"):
        forms.append(word[:-1] + "IES")
    return forms


def _choices(name: str) -> list[str] | None:
    words = name.upper().split("_")
    for start in range(len(words)):
        for constant in _plurals("_".join(words[start:])):
            value = _constant(constant)
            if isinstance(value, dict):  # e.g. LOSSES: our name -> tcnn's name
                value = tuple(value)
            if isinstance(value, tuple | list) and value and all(isinstance(v, str) for v in value):
                return list(value)
    return None


def _singular(word: str) -> str:
    if word.endswith("IES"):
        return word[:-3] + "Y"
    if word.endswith("S") and not word.endswith("SS"):
        return word[:-1]
    return word


def _range(name: str) -> list[float] | None:
    upper = name.upper()
    stem = upper.removeprefix("N_").removesuffix("_SIZE")
    for candidate in (upper, stem, _singular(stem)):
        value = _constant(f"{candidate}_RANGE")
        if isinstance(value, tuple | list) and len(value) == 2:
            return [value[0], value[1]]
    return None


def _kind(field: dataclasses.Field, default: Any) -> str:
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "float"
    if isinstance(default, str):
        return "str"
    annotation = str(field.type)
    if default is None and "str" in annotation:
        return "str"
    if default is None and "float" in annotation:
        return "float"
    if default is None and "int" in annotation:
        return "int"
    return "json"  # dicts, lists and anything else: edited as JSON text


def settings_schema() -> list[dict[str, Any]]:
    """One dict per FitSettings field, in declaration order:

    {"name", "label", "kind" ("int" | "float" | "str" | "bool" | "json"), "default",
    "nullable", "choices" (list or None), "range" ([low, high] or None), "live" (True when a
    change keeps the weights, i.e. the field is in imagefit.TRAINING_ONLY), "advanced" (True
    for fields beyond Dx12NN's panel; the page folds them away)}.
    """
    defaults = imagefit.FitSettings().to_dict()
    live = set(getattr(imagefit, "TRAINING_ONLY", ()))
    schema = []
    for field in dataclasses.fields(imagefit.FitSettings):
        default = defaults[field.name]
        kind = _kind(field, default)
        schema.append(
            {
                "name": field.name,
                "label": LABELS.get(field.name, field.name.replace("_", " ").capitalize()),
                "kind": kind,
                "default": default,
                "nullable": default is None or "None" in str(field.type),
                "choices": _choices(field.name) if kind == "str" else None,
                "range": _range(field.name) if kind in ("int", "float") else None,
                "live": field.name in live,
                "advanced": field.name not in LABELS,
            }
        )
    return schema
