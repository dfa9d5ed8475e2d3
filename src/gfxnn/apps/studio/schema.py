"""The studio's settings form, read from the settings' own declarations, and the form's
changes turned back into settings.

Every field of `FitSettings` becomes one control, described by `settings_fields()`
(`gfxnn.fields.settings`): its kind, default, choices (from `gfxnn.fields.choices`), range,
help, and whether a change is live (keeps the weights, applied at once) or waits for the
page's Apply button (rebuilds the network). Nothing is listed here but Dx12NN's and MLPZen's
labels, which control shows when (`SHOWN_WHEN`), the value a "use it" checkbox of a nullable
setting starts from (`ENABLE_VALUES`) and the grid parameters the panel shows as their own
controls (`GRID_FIELDS`, merged into `encoding_params`), so a new setting, encoding or
activation appears in the form by itself. The server validates everything with
`FitSettings.validate()`; the schema only guides the form.
"""

from __future__ import annotations

from typing import Any

from gfxnn import registry
from gfxnn.fields.choices import TRAINABLE_ENCODINGS
from gfxnn.fields.settings import settings_fields

__all__ = ["GRID_FIELDS", "LABELS", "form_changes", "settings_schema"]

# Dx12NN's and MLPZen's names for their controls; other fields get their name with spaces.
LABELS = {
    "batch_size": "Batch size",
    "learning_rate": "Learning rate",
    "optimizer": "Optimizer",
    "encoding": "Encoding",
    "n_frequencies": "Frequencies",
    "activation": "Activation",
    "output_activation": "Output activation",
    "n_layers": "Layer count",
    "n_neurons": "Neurons",
    "seed": "Seed",
    "initialization": "Initialization",
    "lr_schedule": "Learning rate schedule",
    "max_learning_rate": "Max. learning rate",
    "decay_steps": "Decay steps",
    "base_period": "Base Ti",
    "min_learning_rate": "Min. learning rate",
    "freeze_mlp": "Freeze MLP",
    "freeze_encoding": "Freeze hash-grid",
    "gradient_clip": "Clip gradient",
    "clip_value": "Clip value",
    "precision": "Precision",
    "steps_per_frame": "Training steps per frame",
    "frame_budget_ms": "Frame budget (ms)",
    "max_steps": "Max. training steps",
}

# A nullable setting is a checkbox ("use it") and a value; ticking it sends this value
# (MLPZen's Max. Training Steps defaults to 10000; 16 ms is one 60 Hz frame).
ENABLE_VALUES: dict[str, Any] = {
    "max_steps": 10000,
    "frame_budget_ms": 16.0,
    "encoding_learning_rate": 0.01,
    "output_activation": "sigmoid",
}

# MLPZen's panel shows these beyond Dx12NN's (the rest of FitSettings is "advanced").
MLPZEN_PANEL = frozenset(
    {
        "output_activation",
        "initialization",
        "lr_schedule",
        "max_learning_rate",
        "decay_steps",
        "base_period",
        "freeze_mlp",
        "freeze_encoding",
        "gradient_clip",
        "precision",
        "steps_per_frame",
        "frame_budget_ms",
        "max_steps",
    }
)

_GRIDS = list(TRAINABLE_ENCODINGS)
# Show a control only while another setting has one of these values (MLPZen hides them too).
SHOWN_WHEN: dict[str, dict[str, list[Any]]] = {
    "n_frequencies": {"encoding": ["frequency"]},
    "max_learning_rate": {"lr_schedule": ["linear", "cosine"]},
    "decay_steps": {"lr_schedule": ["linear"]},
    "base_period": {"lr_schedule": ["cosine"]},
    "min_learning_rate": {"lr_schedule": ["cosine"]},
    "clip_value": {"gradient_clip": ["value", "norm"]},
    "encoding_learning_rate": {"encoding": _GRIDS},
    "freeze_encoding": {"encoding": _GRIDS},
}

# The grid parameters MLPZen's panel shows (Levels, Feature Vector Length, Base Resolution,
# Max. Level Feature Vectors), as form fields merged into encoding_params; the ranges are
# those `gfxnn.encodings.grid_kernels.grid_layout` checks (None: no upper bound there).
GRID_FIELDS: tuple[tuple[str, str, tuple[int, int | None]], ...] = (
    ("n_levels", "Levels", (1, 64)),
    ("n_features_per_level", "Features per level", (1, 64)),
    ("base_resolution", "Base resolution", (1, None)),
    ("log2_hashmap_size", "log2 table size", (1, 31)),
)
PARENT = "encoding_params"


def _grid_fields() -> list[dict[str, Any]]:
    defaults = registry.complete_encoding_params(
        registry.component_class("encoding", "hashgrid"), {}
    )
    fields = []
    for key, label, (low, high) in GRID_FIELDS:
        fields.append(
            {
                "name": f"{PARENT}.{key}",
                "parent": PARENT,
                "key": key,
                "label": label,
                "kind": "int",
                "default": defaults[key],
                "nullable": False,
                "choices": None,
                "range": [low, high] if high is not None else None,
                "help": f"the grid's {key} (tcnn's name), kept in encoding_params",
                "allowed": f"{low}..{high}" if high is not None else f">= {low}",
                "live": False,
                "advanced": False,
                "shown_when": {"encoding": _GRIDS},
            }
        )
    return fields


def settings_schema() -> list[dict[str, Any]]:
    """One dict per FitSettings field, in declaration order:

    {"name", "label", "kind" ("int" | "float" | "str" | "bool" | "json"), "default",
    "nullable", "enable_value" (for nullable fields: what ticking "use it" sends), "choices"
    (list or None), "range" ([low, high] or None), "help", "allowed" (what validation
    accepts, in words), "live" (True when a change keeps the weights), "advanced" (True for
    fields beyond Dx12NN's and MLPZen's panels; the page folds them away), "shown_when"
    (None or {setting: [values]})}; the encoding_params entry also has "fields": the grid
    parameters as controls of their own (named "encoding_params.<key>", see form_changes).
    """
    schema = []
    for field in settings_fields():
        bounded = field.range is not None and field.range[1] is not None
        kind = "bool" if isinstance(field.default, bool) else field.kind
        entry: dict[str, Any] = {
            "name": field.name,
            "label": LABELS.get(field.name, field.name.replace("_", " ").capitalize()),
            "kind": kind,
            "default": field.default,
            "nullable": field.nullable,
            "choices": list(field.choices) if field.choices else None,
            "range": list(field.range) if bounded and field.range else None,
            "help": field.help,
            "allowed": "true or false" if kind == "bool" else field.allowed,
            "live": field.live,
            "advanced": not (field.panel or field.name in MLPZEN_PANEL),
            "shown_when": SHOWN_WHEN.get(field.name),
        }
        if field.nullable:
            entry["enable_value"] = _enable_value(field)
        if field.name == PARENT:
            entry["fields"] = _grid_fields()
        schema.append(entry)
    return schema


def _enable_value(field: Any) -> Any:
    if field.name in ENABLE_VALUES:
        return ENABLE_VALUES[field.name]
    if field.choices:
        return field.choices[0]
    if field.range is not None:
        return field.range[0]
    return 1.0


def form_changes(current: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    """The full settings dict after the page's `changes` to `current` (both plain dicts):
    "encoding_params.<key>" names are merged into encoding_params, and when the encoding
    changes without encoding_params being given, the parameters the new encoding does not
    take are dropped (a grid's n_levels would make the frequency encoding invalid).
    Unknown names are left for FitSettings.from_dict to refuse."""
    prefix = PARENT + "."
    plain = {name: value for name, value in changes.items() if not name.startswith(prefix)}
    dotted = {name[len(prefix) :]: value for name, value in changes.items() if name not in plain}
    result = current | plain
    if not isinstance(result.get(PARENT), dict):
        return result  # validation says what is wrong with it
    params = dict(result[PARENT])
    new_encoding = plain.get("encoding", current.get("encoding"))
    if PARENT not in plain and new_encoding != current.get("encoding"):
        params = {k: v for k, v in params.items() if k in _param_keys(new_encoding)}
    params.update(dotted)
    result[PARENT] = params
    return result


def _param_keys(encoding: Any) -> set[str]:
    """The encoding_params keys `encoding` takes (none for an unknown name: validation then
    names the encoding)."""
    try:
        cls = registry.component_class("encoding", encoding)
    except (KeyError, ValueError, TypeError):
        return set()
    keys = set(registry.config_keys(cls, ("n_input_dims",)))
    return keys - {"n_frequencies"} if encoding == "frequency" else keys
