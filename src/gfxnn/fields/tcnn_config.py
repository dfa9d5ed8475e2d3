"""The one translation between tiny-cuda-nn's JSON config and `FitSettings`.

Reading goes through the registry's own reading of each part (`registry.encoding_parts`,
`split_config`, `optimizer_kwargs`, `activation_name`), so a config means here what it means
to `gfxnn.build`: tcnn's own configs run unchanged (FullyFusedMLP / CutlassMLP / MLP, tcnn's
activation and Adam key spellings, Grid with a type). What the fitter cannot do is a
ValueError that says so: another loss or optimizer, per-layer widths, no biases.

tiny-cuda-nn has no name for the batch size, the seed or MLPZen's controls (initialisation,
learning-rate schedule, freezing, gradient clipping, precision, pacing, step limit): its
configs leave them at their defaults. gfxnn's own config file, the `config.json` that
`gfxnn fit` writes beside its checkpoint ({"settings": {...}, "run", "image", "app"}), holds
every setting, and `settings_values` reads it too, so `--config run/config.json` repeats a run
with all of them.
"""

from __future__ import annotations

import inspect
from typing import Any

from gfxnn import registry
from gfxnn.fields import choices

__all__ = ["settings_to_config", "settings_values"]


# The sections of gfxnn's own config file (gfxnn.fields.checkpoint.checkpoint_config).
GFXNN_CONFIG_KEYS = ("settings", "run", "image", "app")


def settings_to_config(settings: Any) -> dict[str, Any]:
    """`settings` (a FitSettings; not imported, settings.py imports this module) as a
    tiny-cuda-nn-format config (`gfxnn.build` and `FitSettings.from_config` read it back);
    batch size, seed and MLPZen's controls are not part of the format (see the module
    docstring: gfxnn's own config file keeps them)."""
    optimizer: dict[str, Any] = {
        "otype": choices.OPTIMIZERS[settings.optimizer],
        "learning_rate": settings.learning_rate,
    }
    if settings.optimizer == "adam":
        optimizer.update(beta1=settings.beta1, beta2=settings.beta2, epsilon=settings.epsilon)
    if settings.l2_reg:
        optimizer["l2_reg"] = settings.l2_reg
    return {
        "loss": {"otype": choices.LOSSES[settings.loss]},
        "optimizer": optimizer,
        "encoding": settings.encoding_config(),
        "network": {
            "otype": "MLP",
            "activation": settings.activation,
            "output_activation": settings.output_activation or settings.activation,
            "n_neurons": settings.n_neurons,
            "n_hidden_layers": settings.n_layers - 2,
        },
    }


def settings_values(config: Any) -> dict[str, Any]:
    """The FitSettings values a tiny-cuda-nn-format config sets (FitSettings.from_dict
    validates them)."""
    if not isinstance(config, dict):
        raise ValueError(f"a model config must be a JSON object, got {type(config).__name__}")
    if "settings" in config:
        return _from_gfxnn_config(config)
    registry.check_config_keys(config)
    values: dict[str, Any] = {}
    values.update(_from_encoding(config.get("encoding", {"otype": "Identity"})))
    values.update(_from_network(config.get("network", {"otype": "MLP"})))
    values.update(_from_optimizer(config.get("optimizer", {"otype": "Adam"})))
    values["loss"] = _from_loss(config.get("loss", {"otype": "L2"}))
    return values


def _from_gfxnn_config(config: dict[str, Any]) -> dict[str, Any]:
    """The settings of gfxnn's own config file (every setting by its FitSettings name)."""
    unknown = sorted(set(config) - set(GFXNN_CONFIG_KEYS), key=str)
    if unknown:
        raise ValueError(
            f"unknown section(s) {unknown} in a gfxnn config (it has {list(GFXNN_CONFIG_KEYS)}; "
            f"a tiny-cuda-nn config has {list(registry.CONFIG_KEYS)})"
        )
    settings = config["settings"]
    if not isinstance(settings, dict):
        raise ValueError(f"a gfxnn config's settings must be a JSON object, got {settings!r}")
    return dict(settings)


def _from_encoding(config: Any) -> dict[str, Any]:
    otype, params = registry.encoding_parts(config)
    values: dict[str, Any] = {"encoding": otype.lower(), "encoding_params": params}
    if otype == "Frequency":
        # A config means what gfxnn.build makes of it: the constructor's default octaves
        # (tcnn's 12), not Dx12NN's 8 that FitSettings starts from.
        default = inspect.signature(registry.component_class("encoding", otype))
        values["n_frequencies"] = params.pop(
            "n_frequencies", default.parameters["n_frequencies"].default
        )
    return values


def _from_network(config: Any) -> dict[str, Any]:
    otype, params = registry.split_config("network", config)
    registry.drop_no_op_options("network", otype, params)
    valid = ["activation", "output_activation", "n_neurons", "n_hidden_layers", "bias"]
    registry.check_keys("network", otype, params, valid)
    if params.pop("bias", True) is not True:
        raise ValueError("the image fitter's network always has biases (bias must be true)")
    values: dict[str, Any] = {}
    if "n_neurons" in params:
        values["n_neurons"] = params["n_neurons"]  # validate() rejects per-layer lists
    if "n_hidden_layers" in params:
        hidden = params["n_hidden_layers"]
        # true is not 1: only a real integer becomes a layer count (validate() names the rest).
        is_int = isinstance(hidden, int) and not isinstance(hidden, bool)
        if not is_int:
            raise ValueError(f"n_hidden_layers must be an integer, got {hidden!r}")
        values["n_layers"] = hidden + 2
    for key in ("activation", "output_activation"):
        if key in params:
            values[key] = registry.activation_name(params[key])
    return values


def _from_optimizer(config: Any) -> dict[str, Any]:
    cls, params = registry.optimizer_kwargs(config)
    name = cls.__name__.lower()
    if name not in choices.OPTIMIZERS:
        raise ValueError(f"the image fitter trains with Adam or SGD; the config asks for {name}")
    supported = {"lr", "betas", "eps", "weight_decay"}
    unsupported = sorted(set(params) - supported)
    if unsupported:
        raise ValueError(f"the image fitter's {name} does not support {unsupported}")
    values: dict[str, Any] = {"optimizer": name}
    if "lr" in params:
        values["learning_rate"] = params["lr"]
    if "betas" in params:
        values["beta1"], values["beta2"] = params["betas"]
    if "eps" in params:
        values["epsilon"] = params["eps"]
    if "weight_decay" in params:
        values["l2_reg"] = params["weight_decay"]
    return values


def _from_loss(config: Any) -> str:
    loss, params = registry.split_config("loss", config)
    by_otype = {otype: name for name, otype in choices.LOSSES.items()}
    if loss not in by_otype or params:
        raise ValueError(
            f"the image fitter trains with the losses {list(by_otype)} (no parameters); "
            f"the config asks for {config!r}"
        )
    return by_otype[loss]
