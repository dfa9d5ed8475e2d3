"""The fit settings as command-line options: declared from the settings, read back into them.

Every setting of `gfxnn.fields.settings.FitSettings` is an option, named after its field
(`n_layers` -> --n-layers); its help, range, choices and default are the settings' own
metadata (`settings_fields()`), never written here, so a new setting appears by itself.
`gfxnn fit` uses this module; so can any other app that trains the flagship (sweep).
"""

from __future__ import annotations

import argparse
import os
import stat
from collections.abc import Callable
from pathlib import Path
from typing import Any

from gfxnn.apps.command import UsageError, integer, nonempty_path, number, shown

__all__ = ["add_settings_options", "encoding_choices", "settings_from_args"]


# Flags kept from before the settings declared themselves (every other flag is the field's
# name with dashes). encoding_params is --encoding-param KEY=VALUE, below.
_FLAGS = {"learning_rate": "--lr", "encoding_learning_rate": "--encoding-lr"}
_JSON_FIELDS = ("encoding_params",)
_TYPES: dict[str, Callable[[str], Any]] = {"int": integer, "float": number, "str": str}
_METAVARS = {"int": "N", "float": "X"}


def encoding_choices() -> tuple[str, ...]:
    """Every encoding name --encoding takes: those offered by name, those that need a config
    (composite), and those refused with a reason by validation (sphericalharmonics)."""
    from gfxnn.fields import choices

    names = (*choices.ENCODINGS, *choices.CONFIG_ONLY_ENCODINGS, *choices.EXCLUDED_ENCODINGS)
    return tuple(dict.fromkeys(names))


def _flag(name: str) -> str:
    return _FLAGS.get(name, "--" + name.replace("_", "-"))


def _fields() -> list[Any]:
    from gfxnn.fields.settings import settings_fields

    return [field for field in settings_fields() if field.name not in _JSON_FIELDS]


def _help(field: Any) -> str:
    """The setting's own help, what it allows and its default, all read from the settings."""
    allowed = "" if field.choices else f"; {field.allowed}"
    # A nullable setting's help says what None means ("default: activation").
    default = "" if field.nullable else f" (default: {field.default})"
    return f"{field.help}{allowed}{default}"


def add_settings_options(parser: argparse.ArgumentParser) -> None:
    """Add --config, --encoding-param and one option per setting (group "settings")."""
    parser.add_argument(
        "--config",
        metavar="JSON",
        type=nonempty_path,
        default=None,
        help="a tiny-cuda-nn-format model config (encoding, network, loss, optimizer); "
        "settings given as options override it",
    )
    group = parser.add_argument_group("settings (defaults: Dx12NN's)")
    for field in _fields():
        if field.kind == "bool":
            # --freeze-mlp / --no-freeze-mlp; not given (None) leaves the setting as it is.
            group.add_argument(
                _flag(field.name),
                dest=field.name,
                action=argparse.BooleanOptionalAction,
                default=None,
                help=f"{field.help} (default: {'on' if field.default else 'off'})",
            )
            continue
        choices = encoding_choices() if field.name == "encoding" else field.choices
        group.add_argument(
            _flag(field.name),
            dest=field.name,
            metavar=None if choices else _METAVARS.get(field.kind),
            type=_TYPES[field.kind],
            choices=choices,
            default=None,
            help=_help(field),
        )
    group.add_argument(
        "--encoding-param",
        metavar="KEY=VALUE",
        action="append",
        default=None,
        dest="encoding_params",
        help="a tcnn parameter of the encoding, e.g. n_levels=16 (VALUE is JSON, or a bare "
        "word such as Smoothstep); repeatable",
    )


def settings_from_args(args: argparse.Namespace, base: Any = None) -> Any:
    """The validated `FitSettings` of `args` (--config first, then each option given).

    `base` (FitSettings, e.g. a preset; not with --config) gives the values of the options
    not given; its encoding_params are kept, merged under --encoding-param, while the
    encoding stays the same.

    Raises:
        UsageError: a bad value, a bad config file, or settings out of range.
    """
    from gfxnn.fields.settings import FitSettings

    given = {field.name: getattr(args, field.name) for field in _fields()}
    given = {name: value for name, value in given.items() if value is not None}
    if args.encoding_params is not None:
        given["encoding_params"] = _parse_encoding_params(args.encoding_params)
    try:
        if args.config is not None:
            settings = FitSettings.from_config(_read_json(args.config), **given)
        elif base is not None:
            values = base.to_dict()
            if given.get("encoding", base.encoding) != base.encoding:
                values["encoding_params"] = {}  # the base's parameters are another encoding's
            params = {**values["encoding_params"], **given.get("encoding_params", {})}
            settings = FitSettings(**{**values, **given, "encoding_params": params})
        else:
            settings = FitSettings(**given)
        settings.validate()
    except (ValueError, TypeError) as error:
        raise UsageError(error) from None
    return settings


def _read_json(path: Path) -> object:
    from gfxnn.io import parse_json

    try:
        # A FIFO would block open() and /dev/zero would fill the memory: regular files only,
        # and a bounded read (a model config is a few hundred bytes).
        if not stat.S_ISREG(os.stat(path).st_mode):
            raise UsageError(f"cannot read {path}: not a regular file")
        with open(path, "rb") as file:
            data = file.read(_MAX_CONFIG_BYTES + 1)
    except OSError as error:
        raise UsageError(f"cannot read {path}: {error.strerror or error}") from None
    if len(data) > _MAX_CONFIG_BYTES:
        raise UsageError(f"{path} is larger than {_MAX_CONFIG_BYTES} bytes; not a model config")
    try:
        return parse_json(data, str(path))
    except ValueError as error:
        raise UsageError(error) from None


_MAX_CONFIG_BYTES = 1024 * 1024


def _parse_encoding_params(items: list[str]) -> dict[str, object]:
    from gfxnn.io import parse_json

    params: dict[str, object] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--encoding-param needs KEY=VALUE, got {shown(item)}")
        if key in params:
            raise UsageError(f"--encoding-param {key} is given twice")
        try:
            params[key] = parse_json(text, f"--encoding-param {key}")
        except ValueError as error:
            if not _is_bare_word(text):
                raise UsageError(error) from None
            params[key] = text  # a bare word such as Linear or Smoothstep
    return params


def _is_bare_word(text: str) -> bool:
    """A word a tcnn string parameter takes unquoted (Smoothstep), not broken JSON."""
    return text.isascii() and text.replace("_", "").isalnum() and not text[:1].isdigit()
