"""The studio's settings form, read from the settings' own declarations.

Every field of `FitSettings` becomes one control, described by `settings_fields()`
(`gfxnn.fields.settings`): its kind, default, choices (from `gfxnn.fields.choices`), range,
help, and whether a change is live (keeps the weights, applied at once) or waits for the
page's Apply button (rebuilds the network). Nothing is listed here but Dx12NN's labels, so a
new setting, encoding or activation appears in the form by itself. The server validates
everything with `FitSettings.validate()`; the schema only guides the form.
"""

from __future__ import annotations

from typing import Any

from gfxnn.fields.settings import settings_fields

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


def settings_schema() -> list[dict[str, Any]]:
    """One dict per FitSettings field, in declaration order:

    {"name", "label", "kind" ("int" | "float" | "str" | "json"), "default", "nullable",
    "choices" (list or None), "range" ([low, high] or None), "help", "allowed" (what
    validation accepts, in words), "live" (True when a change keeps the weights),
    "advanced" (True for fields beyond Dx12NN's panel; the page folds them away)}.
    """
    schema = []
    for field in settings_fields():
        bounded = field.range is not None and field.range[1] is not None
        schema.append(
            {
                "name": field.name,
                "label": LABELS.get(field.name, field.name.replace("_", " ").capitalize()),
                "kind": field.kind,
                "default": field.default,
                "nullable": field.nullable,
                "choices": list(field.choices) if field.choices else None,
                "range": list(field.range) if bounded and field.range else None,
                "help": field.help,
                "allowed": field.allowed,
                "live": field.live,
                "advanced": not field.panel,
            }
        )
    return schema
