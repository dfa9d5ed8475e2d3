"""Components by their tiny-cuda-nn name (`otype`), and `build(config)` for a whole model.

A tiny-cuda-nn (tcnn) config is a JSON object with up to four entries, each
{"otype": name, **parameters}:

    {"encoding": {"otype": "HashGrid", "n_levels": 16, ...},
     "network": {"otype": "FullyFusedMLP", "activation": "ReLU", "n_neurons": 64, ...},
     "loss": {"otype": "L2"},
     "optimizer": {"otype": "Adam", "learning_rate": 1e-2, ...}}

Names are case-insensitive and ignore "_" and "-" ("HashGrid", "hash_grid", "hashgrid");
tcnn's own aliases are understood ("Grid" with "type": "Hash" or "Dense", the network names
"FullyFusedMLP" and "CutlassMLP" for gfxnn's MLP, tcnn's activation spellings, the Adam keys
"learning_rate", "beta1", "beta2", "epsilon", "l2_reg").

Strict by design: an unknown key or name is a ValueError that lists the valid ones, and a tcnn
option gfxnn does not implement is an error that says so, never silently dropped. Defaults live
only in the constructors: a key missing from a config is simply not passed. Every component's
`hyperparams()` gives back a config that rebuilds it (tests/test_registry.py checks the round
trip for every registered name).

tcnn's networks have no biases; gfxnn's MLP has them unless the config says "bias": false.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Mapping
from typing import Any

import numpy as np

from gfxnn.checks import check_seed
from gfxnn.encodings.base import Encoding
from gfxnn.nn.module import Module
from gfxnn.tensor import Tensor

# tcnn's order, which the menus and messages keep; an encoding not named here follows by name.
_ENCODING_ORDER = (
    "Identity",
    "Frequency",
    "OneBlob",
    "OneHot",
    "TriangleWave",
    "GaussianFourier",
    "SphericalHarmonics",
    "HashGrid",
    "DenseGrid",
    "Composite",
)


def _discovered_encodings() -> dict[str, str]:
    """otype -> "module:Class" of every encoding class the gfxnn.encodings package defines
    (each declares its `otype`): a new encoding file registers itself."""
    from gfxnn.encodings import encoding_classes

    classes = encoding_classes()
    order = [o for o in _ENCODING_ORDER if o in classes] + sorted(set(classes) - {*_ENCODING_ORDER})
    return {o: f"{classes[o].__module__}:{classes[o].__qualname__}" for o in order}


# otype -> "module:Class", as for the other kinds (whose classes are imported on first use).
ENCODINGS: dict[str, str] = _discovered_encodings()
NETWORKS: dict[str, str] = {"MLP": "gfxnn.nn.mlp:MLP"}
LOSSES: dict[str, str] = {
    "L2": "gfxnn.losses:MSELoss",
    "L1": "gfxnn.losses:L1Loss",
    "Huber": "gfxnn.losses:HuberLoss",
    "RelativeL2": "gfxnn.losses:RelativeL2Loss",
    "BCE": "gfxnn.losses:BCELoss",
    "BCEWithLogits": "gfxnn.losses:BCEWithLogitsLoss",
    "CrossEntropy": "gfxnn.losses:CrossEntropyLoss",
}
OPTIMIZERS: dict[str, str] = {
    "SGD": "gfxnn.optim.sgd:SGD",
    "Adam": "gfxnn.optim.adam:Adam",
    "AdamW": "gfxnn.optim.adam:AdamW",
    "RMSprop": "gfxnn.optim.rmsprop:RMSprop",
    "Rprop": "gfxnn.optim.rprop:Rprop",
    "Adagrad": "gfxnn.optim.adagrad:Adagrad",
    "Adadelta": "gfxnn.optim.adadelta:Adadelta",
}
ALIASES: dict[str, dict[str, str]] = {
    "encoding": {
        "grid": "HashGrid",
        "randomfourier": "GaussianFourier",
        "sh": "SphericalHarmonics",
    },
    "network": {"fullyfusedmlp": "MLP", "cutlassmlp": "MLP"},
    "loss": {"mse": "L2"},
    "optimizer": {},
}
# tcnn names that gfxnn knows but does not implement: an error says so instead of "unknown".
UNSUPPORTED: dict[str, tuple[str, ...]] = {
    "encoding": ("TiledGrid",),
    "network": ("CutlassResNet",),
    "loss": ("RelativeL1", "MAPE", "SMAPE", "LogL1", "Variance", "RelativeL2Luminance"),
    "optimizer": ("Novograd", "Shampoo", "EMA", "ExponentialDecay", "Lookahead", "Composite"),
}
TABLES: dict[str, dict[str, str]] = {
    "encoding": ENCODINGS,
    "network": NETWORKS,
    "loss": LOSSES,
    "optimizer": OPTIMIZERS,
}
KINDS = tuple(TABLES)

# tcnn's activation names -> gfxnn.nn's (keys normalised).
_ACTIVATIONS = {
    "none": "none",
    "identity": "none",
    "relu": "relu",
    "leakyrelu": "leaky_relu",
    "sigmoid": "sigmoid",
    "tanh": "tanh",
    "sine": "sine",
    "softplus": "softplus",
    "silu": "silu",
}
_UNSUPPORTED_ACTIVATIONS = ("Exponential", "Squareplus")
# tcnn optimizer keys -> torch/gfxnn keyword names; these tcnn options are accepted only at
# the value that turns them off.
_OPTIMIZER_KEYS = {"learning_rate": "lr", "epsilon": "eps", "l2_reg": "weight_decay"}
_OPTIMIZER_NO_OPS = {"relative_decay": 0, "absolute_decay": 0, "adabound": False}
_NETWORK_NO_OPS = {"feedback_alignment": False}
# tcnn's grid options at their defaults, which are what gfxnn's grids do.
_GRID_NO_OPS = {
    "fixed_point_pos": False,
    "stochastic_interpolation": False,
    "hash": "CoherentPrime",
}
_NO_OPS: dict[str, dict[str, Any]] = {
    "network": _NETWORK_NO_OPS,
    "optimizer": _OPTIMIZER_NO_OPS,
    "HashGrid": _GRID_NO_OPS,
    "DenseGrid": _GRID_NO_OPS,
}


def _key(name: str) -> str:
    return name.lower().replace("_", "").replace("-", "")


def names(kind: str) -> list[str]:
    """The registered otype names of `kind` ("encoding", "network", "loss", "optimizer")."""
    return list(_table(kind))


def _table(kind: str) -> dict[str, str]:
    if kind not in TABLES:
        raise ValueError(f"unknown component kind {kind!r}; valid kinds are {list(KINDS)}")
    return TABLES[kind]


def canonical_name(kind: str, otype: Any) -> str:
    """The registered name for `otype` in `kind` (case-insensitive, aliases resolved)."""
    table = _table(kind)
    if not isinstance(otype, str):
        raise ValueError(f"{kind} otype must be a string, got {otype!r}")
    by_key = {_key(name): name for name in table}
    by_key.update({alias: name for alias, name in ALIASES[kind].items()})
    if _key(otype) in by_key:
        return by_key[_key(otype)]
    if _key(otype) in {_key(name) for name in UNSUPPORTED[kind]}:
        raise ValueError(
            f"{kind} {otype!r} is a tiny-cuda-nn component gfxnn does not implement; "
            f"supported: {sorted(table)}"
        )
    raise ValueError(f"unknown {kind} {otype!r}; valid names are {sorted(table)}")


def component_class(kind: str, otype: str) -> type:
    """The class registered as `otype` in `kind`."""
    module_name, class_name = _table(kind)[canonical_name(kind, otype)].split(":")
    cls: type = getattr(importlib.import_module(module_name), class_name)
    return cls


def split_config(kind: str, config: Any) -> tuple[str, dict[str, Any]]:
    """(registered name, the other parameters) of a component config."""
    if not isinstance(config, Mapping):
        raise ValueError(f"a {kind} config must be a JSON object, got {config!r}")
    if "otype" not in config:
        raise ValueError(f"a {kind} config needs an 'otype'; valid names are {names(kind)}")
    params = dict(config)
    return canonical_name(kind, params.pop("otype")), params


def check_keys(kind: str, otype: str, params: Mapping[str, Any], valid: list[str]) -> None:
    """A ValueError listing the valid keys when `params` has any other."""
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {unknown} for {kind} {otype!r}; valid keys are {valid}")


def config_keys(cls: type, skip: tuple[str, ...]) -> list[str]:
    """The constructor's named parameters a config may set (keyword-only ones, such as rng
    and dtype, excluded)."""
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD,)
    return [
        name
        for name, p in inspect.signature(cls).parameters.items()
        if p.kind in kinds and name not in skip
    ]


def complete_encoding_params(cls: type, params: Mapping[str, Any]) -> dict[str, Any]:
    """An encoding's `params` checked against its constructor's config keys and completed with
    its defaults (for code that needs every value without building the encoding)."""
    keys = config_keys(cls, ("n_input_dims",))
    check_keys("encoding", cls.__name__, params, keys)
    signature = inspect.signature(cls).parameters
    return {key: params.get(key, signature[key].default) for key in keys}


def drop_no_op_options(kind: str, otype: str, params: dict[str, Any]) -> None:
    """Remove the tcnn options gfxnn does not implement when they are set to their "off"
    value; any other value is a ValueError that says the option is not supported."""
    no_ops: Mapping[str, Any] = _NO_OPS.get(kind, _NO_OPS.get(otype, {}))
    for name, off in no_ops.items():
        if name in params:
            if params[name] != off:
                raise ValueError(
                    f"{kind} {otype!r}: tiny-cuda-nn's {name}={params[name]!r} is not "
                    f"supported by gfxnn (only {off!r})"
                )
            del params[name]


# ----- encodings ---------------------------------------------------------------------------
def build_encoding(
    config: Mapping[str, Any], n_input_dims: int, *, rng: np.random.Generator | int | None = None
) -> Encoding:
    """The encoding a tcnn encoding config describes, for inputs of width n_input_dims."""
    otype, params = encoding_parts(config)
    if otype == "Composite":
        return _build_composite(params, n_input_dims, rng)
    cls = component_class("encoding", otype)
    check_keys("encoding", otype, params, config_keys(cls, ("n_input_dims",)))
    if "rng" in inspect.signature(cls).parameters:
        params["rng"] = rng
    encoding: Encoding = cls(n_input_dims, **params)
    return encoding


def encoding_parts(config: Any) -> tuple[str, dict[str, Any]]:
    """(registered name, parameters) of an encoding config: tcnn's "Grid" resolved to HashGrid
    or DenseGrid, and options at the values gfxnn implements dropped."""
    config = dict(config) if isinstance(config, Mapping) else config
    if isinstance(config, dict) and _key(str(config.get("otype", ""))) == "grid":
        config = resolve_grid(config)
    otype, params = split_config("encoding", config)
    drop_no_op_options("encoding", otype, params)
    return otype, params


def resolve_grid(config: dict[str, Any]) -> dict[str, Any]:
    """tcnn's {"otype": "Grid", "type": "Hash" | "Dense" | "Tiled"} as HashGrid / DenseGrid."""
    grid_type = config.pop("type", "Hash")
    types = {"hash": "HashGrid", "dense": "DenseGrid", "tiled": "TiledGrid"}
    if not isinstance(grid_type, str) or grid_type.lower() not in types:
        raise ValueError(f"Grid type must be one of Hash, Dense, Tiled; got {grid_type!r}")
    return {**config, "otype": types[grid_type.lower()]}


def _build_composite(
    params: dict[str, Any], n_input_dims: int, rng: np.random.Generator | int | None
) -> Encoding:
    check_keys("encoding", "Composite", params, ["nested"])
    nested = params.get("nested")
    if not isinstance(nested, list) or not nested:
        raise ValueError(f"Composite needs 'nested': a non-empty list of encodings, got {nested!r}")
    children = []
    remaining = n_input_dims
    for i, child in enumerate(nested):
        if not isinstance(child, Mapping):
            raise ValueError(f"Composite nested[{i}] must be a JSON object, got {child!r}")
        child = dict(child)
        last = i == len(nested) - 1
        n_dims = child.pop("n_dims_to_encode", remaining if last else None)
        if isinstance(n_dims, bool) or not isinstance(n_dims, int) or not 1 <= n_dims <= remaining:
            raise ValueError(
                f"Composite nested[{i}] needs n_dims_to_encode in 1..{remaining} "
                f"(only the last may omit it), got {n_dims!r}"
            )
        children.append(build_encoding(child, n_dims, rng=rng))
        remaining -= n_dims
    if remaining:
        raise ValueError(
            f"Composite encodes {n_input_dims - remaining} of {n_input_dims} input dimensions; "
            "the nested n_dims_to_encode must add up to n_input_dims"
        )
    cls = component_class("encoding", "Composite")
    composite: Encoding = cls(n_input_dims, children)
    return composite


# ----- networks ----------------------------------------------------------------------------
def activation_name(name: Any) -> str:
    """gfxnn's name for an activation in tcnn's ("LeakyReLU") or gfxnn's ("leaky_relu") spelling."""
    if not isinstance(name, str):
        raise ValueError(f"an activation must be a name, got {name!r}")
    if _key(name) in _ACTIVATIONS:
        return _ACTIVATIONS[_key(name)]
    if _key(name) in {_key(n) for n in _UNSUPPORTED_ACTIVATIONS}:
        raise ValueError(f"tiny-cuda-nn's activation {name!r} is not supported by gfxnn")
    raise ValueError(f"unknown activation {name!r}; valid names are {sorted(set(_ACTIVATIONS))}")


def build_network(
    config: Mapping[str, Any],
    n_input_dims: int,
    n_output_dims: int,
    *,
    rng: np.random.Generator | int | None = None,
) -> Module:
    """The network a tcnn network config describes (gfxnn's MLP for every MLP name)."""
    otype, params = split_config("network", config)
    drop_no_op_options("network", otype, params)
    cls = component_class("network", otype)
    check_keys("network", otype, params, config_keys(cls, ("n_input_dims", "n_output_dims")))
    for key in ("activation", "output_activation"):
        if key in params:
            params[key] = activation_name(params[key])
    network: Module = cls(n_input_dims, n_output_dims, **params, rng=rng)
    return network


# ----- losses ------------------------------------------------------------------------------
def build_loss(config: Mapping[str, Any]) -> Module:
    """The loss module a tcnn loss config describes."""
    otype, params = split_config("loss", config)
    cls = component_class("loss", otype)
    check_keys("loss", otype, params, config_keys(cls, ()))
    loss: Module = cls(**params)
    return loss


# ----- optimizers --------------------------------------------------------------------------
def optimizer_kwargs(config: Mapping[str, Any]) -> tuple[type, dict[str, Any]]:
    """(optimizer class, constructor keywords) for a tcnn or gfxnn optimizer config; tcnn's
    keys (learning_rate, beta1, beta2, epsilon, l2_reg) become torch's (lr, betas, eps,
    weight_decay)."""
    otype, params = split_config("optimizer", config)
    drop_no_op_options("optimizer", otype, params)
    cls = component_class("optimizer", otype)
    signature = inspect.signature(cls).parameters
    for tcnn_key, key in _OPTIMIZER_KEYS.items():
        if tcnn_key in params and key in signature:
            if key in params:
                raise ValueError(f"optimizer {otype!r}: give {tcnn_key!r} or {key!r}, not both")
            params[key] = params.pop(tcnn_key)
    if ("beta1" in params or "beta2" in params) and "betas" in signature:
        if "betas" in params:
            raise ValueError(f"optimizer {otype!r}: give beta1/beta2 or betas, not both")
        default1, default2 = signature["betas"].default
        params["betas"] = (params.pop("beta1", default1), params.pop("beta2", default2))
    valid = [name for name in signature if name != "params"]
    check_keys("optimizer", otype, params, valid)
    if isinstance(params.get("betas"), list):
        params["betas"] = tuple(params["betas"])
    for key in ("etas", "step_sizes"):
        if isinstance(params.get(key), list):
            params[key] = tuple(params[key])
    return cls, params


def build_optimizer(config: Mapping[str, Any], parameters: Any) -> Any:
    """The optimizer a tcnn optimizer config describes, over `parameters`."""
    cls, params = optimizer_kwargs(config)
    return cls(parameters, **params)


# ----- a whole model -----------------------------------------------------------------------
CONFIG_KEYS = ("encoding", "network", "loss", "optimizer")


class Model(Module):
    """encoding -> network, with the loss and the optimizer of one tcnn config.

    `model(x)` maps inputs (batch, n_input_dims) in [0, 1]^d to (batch, n_output_dims);
    `train_step(x, target)` does zero_grad, loss, backward and one optimizer step.
    """

    def __init__(
        self,
        encoding: Encoding,
        network: Any,
        loss: Any,
        optimizer_config: Mapping[str, Any],
    ) -> None:
        super().__init__()
        self.encoding = encoding
        self.network = network
        self.loss = loss
        self.optimizer = build_optimizer(optimizer_config, self.parameters())

    def forward(self, x: Any) -> Tensor:
        out: Tensor = self.network(self.encoding(x))
        return out

    def train_step(self, x: Any, target: Any) -> float:
        """One optimisation step on (x, target); returns the loss before the update."""
        self.optimizer.zero_grad()
        loss = self.loss(self(x), target)
        loss.backward()
        self.optimizer.step()
        return float(loss.data)

    def hyperparams(self) -> dict[str, Any]:
        """The whole tcnn-format config that rebuilds this model."""
        return {
            "encoding": self.encoding.hyperparams(),
            "network": self.network.hyperparams(),
            "loss": self.loss.hyperparams(),
            "optimizer": self.optimizer.hyperparams(),
        }


def check_config_keys(config: Any) -> None:
    """A ValueError unless `config` is a JSON object with only the four tcnn sections."""
    if not isinstance(config, Mapping):
        raise ValueError(f"a model config must be a JSON object, got {type(config).__name__}")
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise ValueError(f"unknown config section(s) {unknown}; valid are {list(CONFIG_KEYS)}")


def build(
    config: Mapping[str, Any],
    n_input_dims: int,
    n_output_dims: int,
    *,
    seed: int = 0,
) -> Model:
    """A Model from a tcnn-format config. "network" is required; a missing "encoding" is
    Identity, a missing "loss" is L2 and a missing "optimizer" is Adam, each with its
    constructor's defaults. `seed` seeds the weights (and grid tables) reproducibly."""
    check_config_keys(config)
    if "network" not in config:
        raise ValueError(f"a model config needs a 'network'; valid keys are {list(CONFIG_KEYS)}")
    rng = np.random.default_rng(check_seed("seed", seed))
    encoding = build_encoding(config.get("encoding", {"otype": "Identity"}), n_input_dims, rng=rng)
    n_features = encoding.n_output_dims
    network = build_network(config["network"], n_features, n_output_dims, rng=rng)
    loss = build_loss(config.get("loss", {"otype": "L2"}))
    return Model(encoding, network, loss, config.get("optimizer", {"otype": "Adam"}))
