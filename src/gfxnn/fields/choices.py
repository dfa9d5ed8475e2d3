"""The one table of names the flagship offers: encodings, activations, losses, optimizers.

`gfxnn fit`, the CLI's choices, the studio's menus and the fitter's validation read these;
the backends' own tables (fused, Warp, export) are checked against them by
tests/test_choices.py, so a name cannot reach one place and miss another.

The encodings are derived from `gfxnn.registry.ENCODINGS` and what each class declares
(`Encoding.input_dims`, `Encoding.trainable`, its constructor's required arguments), never
listed by hand: a new encoding file registered in the registry is offered everywhere, or
lands in `EXCLUDED_ENCODINGS` with the reason it cannot be offered by name.
"""

from __future__ import annotations

import inspect

from gfxnn import registry
from gfxnn.encodings.base import Encoding

# The flagship fits (u, v): an encoding offered by name must take 2-D inputs.
N_INPUT_DIMS = 2
# Dx12NN's two encodings first (the menu's order), then the trainable grids (the menu's
# order before this table existed), then the registry's order.
_FIRST = ("Frequency", "Identity", "HashGrid", "DenseGrid")


def _otypes() -> list[str]:
    rest = [otype for otype in registry.ENCODINGS if otype not in _FIRST]
    return [*_FIRST, *rest]


def _class(otype: str) -> type[Encoding]:
    cls = registry.component_class("encoding", otype)
    assert issubclass(cls, Encoding), cls
    return cls


def _required_arguments(otype: str) -> list[str]:
    """Constructor arguments without a default (other than the input width): a name alone
    cannot build the encoding (Composite's `nested`)."""
    cls = _class(otype)
    return [
        name
        for name, parameter in inspect.signature(cls).parameters.items()
        if parameter.default is inspect.Parameter.empty and name != "n_input_dims"
    ]


def _exclusion(otype: str) -> str | None:
    """Why the encoding `otype` cannot be offered by name for (u, v), or None when it can."""
    cls = _class(otype)
    if cls.input_dims is not None and cls.input_dims != N_INPUT_DIMS:
        return f"it encodes {cls.input_dims}-D inputs; an image's (u, v) is {N_INPUT_DIMS}-D"
    required = _required_arguments(otype)
    if required:
        return f"it needs {', '.join(required)} from a config (--encoding-param or --config)"
    return None


def _name(otype: str) -> str:
    return otype.lower()


#: encodings offered by name (lower-cased otypes), Dx12NN's first
ENCODINGS: tuple[str, ...] = tuple(_name(o) for o in _otypes() if _exclusion(o) is None)
#: registered encodings not offered by name -> why
EXCLUDED_ENCODINGS: dict[str, str] = {
    _name(o): reason for o in _otypes() if (reason := _exclusion(o)) is not None
}
#: encodings the fitter accepts only with their parameters (a config), e.g. composite
CONFIG_ONLY_ENCODINGS: tuple[str, ...] = tuple(
    _name(o) for o in _otypes() if _required_arguments(o) and _class(o).input_dims is None
)
#: offered encodings with trainable parameters (their own optimizer state)
TRAINABLE_ENCODINGS: tuple[str, ...] = tuple(name for name in ENCODINGS if _class(name).trainable)
#: name -> the registry's otype
ENCODING_OTYPES: dict[str, str] = {_name(o): o for o in _otypes()}

#: activations after the hidden and the output layers (gfxnn.nn names), Dx12NN's three first
ACTIVATIONS: tuple[str, ...] = (
    "leaky_relu",
    "relu",
    "sigmoid",
    "tanh",
    "sine",
    "softplus",
    "none",
)
#: activation -> the integer the GPU kernels (Warp's and the WGSL shaders) switch on: their ABI,
#: so new names take new numbers
KERNEL_ACTIVATION_IDS: dict[str, int] = {
    "none": 0,
    "relu": 1,
    "leaky_relu": 2,
    "sigmoid": 3,
    "tanh": 4,
    "sine": 5,
    "softplus": 6,
}
#: losses -> their tiny-cuda-nn otype
LOSSES: dict[str, str] = {"l2": "L2", "relative_l2": "RelativeL2", "l1": "L1"}
#: optimizers -> their tiny-cuda-nn otype
OPTIMIZERS: dict[str, str] = {"adam": "Adam", "sgd": "SGD"}


def encoding_otype(name: str) -> str:
    """The otype of an encoding name ("hashgrid" -> "HashGrid"); ValueError for an unknown one."""
    if name not in ENCODING_OTYPES:
        raise ValueError(
            f"unknown encoding {name!r}; choose one of {', '.join(ENCODINGS)} "
            f"(or, with a config, {', '.join(CONFIG_ONLY_ENCODINGS)})"
        )
    return ENCODING_OTYPES[name]
