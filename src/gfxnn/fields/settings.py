"""`FitSettings`: the flagship's controls, each declared once with its range, choices and help.

Every field carries its metadata (`setting(...)`): the check that validates it, its range or
choices (from `gfxnn.fields.choices`), a one-line help, whether a change keeps the weights
("live": training-only settings) and whether it is on Dx12NN's panel. `validate()`, the CLI's
options and help, and the studio's form all read it through `settings_fields()`, so a new
setting or choice appears everywhere by itself.

Validation also applies the encoders' own rules, without building anything large: the config
is checked against the constructor (keys, the encoders' own ranges, e.g. TriangleWave's
n_frequencies 1..32), the encoded width is capped (the fitter holds a (batch, features) buffer
and a (neurons, features) weight), and a grid's table is sized from its layout alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from gfxnn import registry
from gfxnn.checks import check_choice, check_fraction, check_int, check_rate
from gfxnn.encodings.grid_kernels import check_interpolation, grid_layout
from gfxnn.fields import choices
from gfxnn.fields.schedule import LR_SCHEDULES
from gfxnn.fields.tcnn_config import settings_to_config, settings_values
from gfxnn.fields.trainer import (
    GRADIENT_CLIPS,
    INITIALIZATIONS,
    PRECISIONS,
    ModelSpec,
    OptimizerSpec,
)

__all__ = [
    "GRID_ADAM_EPSILON",
    "MAX_ENCODED_FEATURES",
    "MAX_GRID_VALUES",
    "TRAINING_ONLY",
    "FitSettings",
    "SettingField",
    "settings_fields",
]

# Adam's epsilon for grid tables (tiny-cuda-nn's): rarely sampled entries get tiny gradients,
# which an epsilon of 1e-8 would swamp.
GRID_ADAM_EPSILON = 1e-15
# The largest grid table the fitter trains: 2^26 float32 values, 1 GiB with gradient and Adam.
MAX_GRID_VALUES = 2**26
# The widest encoding the fitter feeds its network: a batch of 65536 rows of 4096 float32
# features is 1 GiB, the grid's budget.
MAX_ENCODED_FEATURES = 4096
# The encodings accepted by name or by config (composite needs its nested list).
_ENCODINGS = (*choices.ENCODINGS, *choices.CONFIG_ONLY_ENCODINGS)


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    check: str,
    range: tuple[int, int | None] | None = None,
    choices: tuple[str, ...] | None = None,
    live: bool = False,
    panel: bool = False,
    nullable: bool = False,
    factory: Any = dataclasses.MISSING,
) -> Any:
    """A FitSettings field with its metadata. `check` is one of "int" (in `range`), "rate"
    (finite > 0), "fraction" ([0, 1)), "choice" (one of `choices`), "bool" (True or False)
    or "encoding_params"; `nullable` also allows None."""
    metadata = {
        "help": help,
        "check": check,
        "range": range,
        "choices": choices,
        "live": live,
        "panel": panel,
        "nullable": nullable,
    }
    if factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclass
class FitSettings:
    """Dx12NN's controls with its defaults, then tiny-cuda-nn's other options."""

    batch_size: int = setting(
        2048, check="int", range=(1, 65536), live=True, panel=True,
        help="training samples (UVs) per step",
    )  # fmt: skip
    learning_rate: float = setting(
        1e-3, check="rate", live=True, panel=True, help="learning rate of the network"
    )
    optimizer: str = setting(
        "adam", check="choice", choices=tuple(choices.OPTIMIZERS), live=True, panel=True,
        help="adam: (0.9, 0.999, 1e-8), bias-corrected",
    )  # fmt: skip
    encoding: str = setting(
        "frequency", check="choice", choices=choices.ENCODINGS, panel=True,
        help="input encoding of (u, v)",
    )  # fmt: skip
    n_frequencies: int = setting(
        8, check="int", range=(2, 16), panel=True,
        help="frequency-encoding octaves; the encoding gives 2 * 2 * F inputs",
    )  # fmt: skip
    activation: str = setting(
        "leaky_relu", check="choice", choices=choices.ACTIVATIONS, panel=True,
        help="on every layer, the output too unless output_activation is set",
    )  # fmt: skip
    n_layers: int = setting(
        4, check="int", range=(3, 8), panel=True, help="layers incl. input and output"
    )
    n_neurons: int = setting(
        64, check="int", range=(1, 256), panel=True, help="width of every hidden layer"
    )
    seed: int = setting(
        0, check="int", range=(0, None), panel=True, help="seeds the weights and the sampler"
    )
    # ----- beyond Dx12NN's panel (tiny-cuda-nn configs set these) ---------------------------
    encoding_params: dict[str, Any] = setting(
        check="encoding_params", factory=dict,
        help="the encoding's other tcnn parameters, e.g. {\"n_levels\": 16}",
    )  # fmt: skip
    output_activation: str | None = setting(
        None, check="choice", choices=choices.ACTIVATIONS, nullable=True,
        help="activation of the output layer (default: activation)",
    )  # fmt: skip
    encoding_learning_rate: float | None = setting(
        None, check="rate", live=True, nullable=True,
        help="learning rate of a grid encoding's table (default: learning_rate)",
    )  # fmt: skip
    beta1: float = setting(0.9, check="fraction", live=True, help="Adam's first moment decay")
    beta2: float = setting(0.999, check="fraction", live=True, help="Adam's second moment decay")
    epsilon: float = setting(1e-8, check="rate", live=True, help="Adam's epsilon (network)")
    l2_reg: float = setting(
        0.0, check="fraction", live=True, help="L2 regularisation of the network (tcnn's l2_reg)"
    )
    loss: str = setting(
        "l2", check="choice", choices=tuple(choices.LOSSES), live=True,
        help="l2: Dx12NN's MSE",
    )  # fmt: skip
    # ----- MLPZen's controls (defaults keep Dx12NN's behaviour) ----------------------------
    initialization: str = setting(
        "xavier_uniform", check="choice", choices=INITIALIZATIONS,
        help="weight initialisation; Gaussian draws are clamped at 3 sigma, biases are 0",
    )  # fmt: skip
    lr_schedule: str = setting(
        "fixed", check="choice", choices=LR_SCHEDULES, live=True,
        help="fixed: learning_rate; linear: max_learning_rate down to learning_rate over "
        "decay_steps; cosine: warm restarts every 2 base_period (i + 1) steps",
    )  # fmt: skip
    max_learning_rate: float = setting(
        0.05, check="rate", live=True, help="start (linear) and first peak (cosine) rate"
    )
    decay_steps: int = setting(
        500, check="int", range=(1, None), live=True,
        help="steps of the linear schedule's decay to learning_rate",
    )  # fmt: skip
    base_period: int = setting(
        50, check="int", range=(1, None), live=True,
        help="cosine schedule: restart i lasts 2 base_period (i + 1) steps, peak x0.8 each",
    )  # fmt: skip
    min_learning_rate: float = setting(
        1e-6, check="rate", live=True, help="the cosine schedule's floor"
    )
    freeze_mlp: bool = setting(
        False, check="bool", live=True,
        help="keep the network's weights and optimizer state as they are",
    )  # fmt: skip
    freeze_encoding: bool = setting(
        False, check="bool", live=True,
        help="keep a grid encoding's table and optimizer state as they are",
    )  # fmt: skip
    gradient_clip: str = setting(
        "none", check="choice", choices=GRADIENT_CLIPS, live=True,
        help="value: clamp each gradient element to +-clip_value; norm: scale network and "
        "table gradients to an L2 norm of at most clip_value",
    )  # fmt: skip
    clip_value: float = setting(
        0.5, check="rate", live=True, help="the bound of gradient_clip (MLPZen's 0.5)"
    )
    precision: str = setting(
        "fp32", check="choice", choices=PRECISIONS, live=True,
        help="fp16: the network's inference in float16 (training stays float32)",
    )  # fmt: skip
    steps_per_frame: int = setting(
        1, check="int", range=(1, 1024), live=True,
        help="training steps between two progress checks (a studio frame, a fit report)",
    )  # fmt: skip
    frame_budget_ms: float | None = setting(
        None, check="rate", live=True, nullable=True,
        help="train each frame until this many ms are spent, at least one step "
        "(default: steps_per_frame steps)",
    )  # fmt: skip
    max_steps: int | None = setting(
        None, check="int", range=(1, None), live=True, nullable=True,
        help="never train past this many steps (default: no limit)",
    )  # fmt: skip

    def validate(self) -> None:
        """Raise ValueError naming the first field out of range, its value and what is allowed."""
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "encoding":
                _check_encoding_name(value)
            elif not (value is None and field.metadata["nullable"]):
                _check_field(field, value)
        self._check_encoding()

    def _check_encoding(self) -> None:
        params = self.encoding_params
        if self.encoding == "frequency" and "n_frequencies" in params:
            raise ValueError("set the frequency encoding's octaves with n_frequencies")
        cls = registry.component_class("encoding", self.encoding)
        valid = registry.config_keys(cls, ("n_input_dims",))
        unknown = sorted(set(params) - set(valid))
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown} in encoding_params {params!r} for {self.encoding}; "
                f"valid keys are {valid}"
            )
        check_encoding_config(self.encoding_config(), "the image fitter")

    def encoding_config(self) -> dict[str, Any]:
        """The encoding as a tcnn config {"otype": ..., **parameters}."""
        otype = choices.encoding_otype(self.encoding)
        config: dict[str, Any] = {"otype": otype, **self.encoding_params}
        if otype == "Frequency":
            config["n_frequencies"] = self.n_frequencies
        return config

    def changed_fields(self, other: FitSettings) -> set[str]:
        """Names of the fields whose value differs in `other`."""
        return {
            f.name
            for f in dataclasses.fields(self)
            if getattr(self, f.name) != getattr(other, f.name)
        }

    def keeps_weights(self, other: FitSettings) -> bool:
        """True when switching to `other` changes only live (training-only) settings."""
        return not (self.changed_fields(other) - set(TRAINING_ONLY))

    def model_spec(self, n_input_dims: int = 2, n_output_dims: int = 3) -> ModelSpec:
        """The components these settings describe, for a target of the given sizes (what every
        Trainer backend is built from); validates first."""
        self.validate()
        betas = (self.beta1, self.beta2)
        network = OptimizerSpec(
            self.optimizer, self.learning_rate, betas, self.epsilon, self.l2_reg
        )
        encoding_optimizer = None
        if self.encoding in choices.TRAINABLE_ENCODINGS:
            rate = self.encoding_learning_rate or self.learning_rate
            encoding_optimizer = OptimizerSpec(self.optimizer, rate, betas, GRID_ADAM_EPSILON)
        return ModelSpec(
            n_input_dims=n_input_dims,
            n_output_dims=n_output_dims,
            encoding=complete_encoding_config(self.encoding_config()),
            n_neurons=self.n_neurons,
            n_hidden_layers=self.n_layers - 2,
            activation=self.activation,
            output_activation=self.output_activation or self.activation,
            loss=self.loss,
            optimizer=network,
            encoding_optimizer=encoding_optimizer,
            seed=self.seed,
            initialization=self.initialization,
            freeze_network=self.freeze_mlp,
            freeze_encoding=self.freeze_encoding,
            gradient_clip=self.gradient_clip,
            clip_value=self.clip_value,
            precision=self.precision,
        )

    def to_dict(self) -> dict[str, Any]:
        """The settings as a JSON-able dict."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: Any) -> FitSettings:
        """Settings from a dict (missing keys take defaults); unknown keys are a ValueError."""
        if not isinstance(values, dict):
            raise TypeError(f"settings must be a dict, got {type(values).__name__}")
        valid = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(valid), key=str)
        if unknown:
            raise ValueError(f"unknown setting(s) {unknown}; valid settings are {valid}")
        settings = cls(**values)
        settings.validate()
        return settings

    @classmethod
    def from_config(cls, config: Any, **overrides: Any) -> FitSettings:
        """Settings from a tiny-cuda-nn-format config; see `gfxnn.fields.tcnn_config`."""
        return cls.from_dict({**settings_values(config), **overrides})

    def to_config(self) -> dict[str, Any]:
        """These settings as a tiny-cuda-nn-format config; see `gfxnn.fields.tcnn_config`."""
        return settings_to_config(self)


def _check_encoding_name(value: Any) -> None:
    if value in choices.EXCLUDED_ENCODINGS and value not in _ENCODINGS:
        dims = registry.component_class("encoding", value).input_dims  # type: ignore[attr-defined]
        # The only fixed-width encodings are of directions (spherical harmonics).
        reason = (
            f"encodes {dims}-D directions; an image's (u, v) is 2-D"
            if dims is not None
            else f"cannot fit an image: {choices.EXCLUDED_ENCODINGS[value]}"
        )
        raise ValueError(
            f"encoding {value} {reason} (choose one of {', '.join(choices.ENCODINGS)}, "
            "or composite)"
        )
    check_choice("encoding", value, _ENCODINGS)


def _check_field(field: dataclasses.Field, value: Any) -> None:
    meta = field.metadata
    check = meta["check"]
    if check == "int":
        check_int(field.name, value, *meta["range"])
    elif check == "rate":
        check_rate(field.name, value)
    elif check == "fraction":
        check_fraction(field.name, value)
    elif check == "choice":
        check_choice(field.name, value, meta["choices"])
    elif check == "bool":
        # 0 and 1 are not flags: a JSON or checkpoint value must be true or false.
        if not isinstance(value, bool):
            raise ValueError(f"{field.name} must be true or false, got {value!r}")
    elif not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"{field.name} must be a dict of tcnn parameters, got {value!r}")


#: settings whose change keeps the weights; any other change rebuilds and re-initialises
TRAINING_ONLY: tuple[str, ...] = tuple(
    f.name for f in dataclasses.fields(FitSettings) if f.metadata["live"]
)


@dataclass(frozen=True)
class SettingField:
    """One setting as the CLI and the studio show it."""

    name: str
    kind: str  # "int" | "float" | "str" | "bool" | "json"
    default: Any
    range: tuple[int, int | None] | None  # ints: (low, high or None)
    allowed: str  # what validate() accepts, in words ("1..65536", "> 0", "[0, 1)", ...)
    choices: tuple[str, ...] | None
    help: str
    live: bool  # a change keeps the weights
    panel: bool  # on Dx12NN's panel (the rest is "advanced")
    nullable: bool  # None is allowed (and means the help's default)


_KINDS = {"int": "int", "rate": "float", "fraction": "float", "choice": "str", "bool": "bool"}


def settings_fields() -> Iterator[SettingField]:
    """Every FitSettings field with its metadata, in declaration order."""
    defaults = FitSettings().to_dict()
    for field in dataclasses.fields(FitSettings):
        meta = field.metadata
        yield SettingField(
            name=field.name,
            kind=_KINDS.get(meta["check"], "json"),
            default=defaults[field.name],
            range=meta["range"],
            allowed=_allowed(meta),
            choices=meta["choices"],
            help=meta["help"],
            live=meta["live"],
            panel=meta["panel"],
            nullable=meta["nullable"],
        )


def _allowed(meta: Any) -> str:
    check = meta["check"]
    if check == "int":
        low, high = meta["range"]
        return f"{low}..{high}" if high is not None else f">= {low}"
    if check == "choice":
        return ", ".join(meta["choices"])
    return {"rate": "> 0", "fraction": "[0, 1)", "bool": "true or false"}.get(
        check, "a JSON object"
    )


# ----- the encoders' own rules, without building anything large ----------------------------
def complete_encoding_config(config: dict[str, Any]) -> dict[str, Any]:
    """`config` with every constructor parameter given (the constructor's defaults), nested
    encodings of a Composite completed too."""
    otype, params = registry.encoding_parts(config)
    if otype == "Composite":
        nested = [complete_encoding_config(child) for child in params.get("nested", [])]
        return {"otype": otype, **params, "nested": nested}
    dims = {k: params.pop(k) for k in ("n_dims_to_encode",) if k in params}  # a nested one's
    cls = registry.component_class("encoding", otype)
    return {"otype": otype, **registry.complete_encoding_params(cls, params), **dims}


def check_encoding_config(config: Any, owner: str, n_input_dims: int = 2) -> int:
    """Check an encoding config as its constructor would, and the sizes `owner` can hold:
    returns the encoded width. Grids are sized from their layout (their table is not
    allocated); other encodings are built only once every count in them is within
    MAX_ENCODED_FEATURES (GaussianFourier's matrix is n_frequencies x n_input_dims)."""
    otype, params = registry.encoding_parts(config)
    cls = registry.component_class("encoding", otype)
    if getattr(cls, "trainable", False):
        width = _check_grid(otype, cls, params, owner, n_input_dims)
    else:
        _check_counts(otype, params, owner)
        try:
            width = registry.build_encoding({"otype": otype, **params}, n_input_dims).n_output_dims
        except (TypeError, ValueError) as error:
            # Name the encoding: its n_frequencies is not the frequency setting's.
            raise ValueError(f"the {otype} encoding's parameters {params}: {error}") from None
    if width > MAX_ENCODED_FEATURES:
        raise ValueError(
            f"the {otype} encoding {params} gives {width} features; {owner} allows at most "
            f"{MAX_ENCODED_FEATURES}"
        )
    return width


def _check_counts(otype: str, params: dict[str, Any], owner: str) -> None:
    """Every integer parameter (a count: bins, frequencies, degree) within
    MAX_ENCODED_FEATURES, nested encodings included; no grid nested in a Composite."""
    if otype != "Composite":
        cls = registry.component_class("encoding", otype)
        for key, value in registry.complete_encoding_params(cls, params).items():
            if key != "seed" and _is_int(value) and value > MAX_ENCODED_FEATURES:
                raise ValueError(
                    f"{otype} {key}={value} is too large: {owner} encodes at most "
                    f"{MAX_ENCODED_FEATURES} features"
                )
        return
    nested = params.get("nested")
    for child in nested if isinstance(nested, list) else []:
        if not isinstance(child, dict):
            continue  # the registry's build names the bad entry
        child_otype, child_params = registry.encoding_parts(child)
        child_params.pop("n_dims_to_encode", None)
        if getattr(registry.component_class("encoding", child_otype), "trainable", False):
            raise ValueError(
                f"{owner} trains a grid only as the whole encoding, not nested in a Composite "
                f"({child_otype} {child_params})"
            )
        _check_counts(child_otype, child_params, owner)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_grid(otype: str, cls: type, params: dict[str, Any], owner: str, dims: int) -> int:
    """Refuse grid tables `owner` cannot hold: it keeps the table, its gradient and two Adam
    moments, so MAX_GRID_VALUES float32 values cost 1 GiB. grid_layout checks each value."""
    values = registry.complete_encoding_params(cls, params)
    check_interpolation(values.pop("interpolation"))
    layout = grid_layout(dims, **values, hashed=otype == "HashGrid")
    n_values = layout.n_entries * layout.n_features
    if n_values > MAX_GRID_VALUES:
        raise ValueError(
            f"the {otype.lower()} table would hold {n_values} values ({values}); {owner} "
            f"allows at most {MAX_GRID_VALUES} (fewer n_levels, a smaller log2_hashmap_size "
            "or per_level_scale)"
        )
    return int(layout.n_output_dims)
