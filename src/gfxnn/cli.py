"""The `gfxnn` command: argument parsing and exit codes, nothing else.

Each subcommand is an app module (`APPS`) with `HELP` (its one-line summary),
`add_arguments(parser)` and `run(args) -> int`; a new command is one module and one line here.

Exit codes (docs/cli.md): 0 success; 1 the run diverged (outputs written with the last good
weights) or its outputs could not be written (the output directory is then unchanged); 2 bad
input (one line on stderr, no traceback, nothing written); 130 Ctrl-C, 143 SIGTERM and 129 SIGHUP
(outputs written with the weights so far).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from types import ModuleType
from typing import Any, NoReturn

from gfxnn.apps import command as command_module
from gfxnn.apps.command import EXIT_BAD_INPUT, EXIT_INTERRUPTED, EXIT_OK, UsageError, print_error

# The exit codes are spelled in gfxnn.apps.command; `gfxnn.cli.EXIT_*` (their old home) still
# reads them, through __getattr__ below.
__all__ = ["APPS", "UsageError", "build_parser", "main"]

APPS: dict[str, str] = {
    "fit": "gfxnn.apps.fit",
    "render": "gfxnn.apps.render",
    "export": "gfxnn.apps.export",
    "bench": "gfxnn.apps.bench",
    "studio": "gfxnn.apps.studio.run",
    "sweep": "gfxnn.apps.sweep.command",
}
"""command -> the module that declares its arguments and runs it."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage dump) and never exits by itself."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see {self.prog} --help)", prog=self.prog)


def _app(command: str) -> ModuleType:
    return importlib.import_module(APPS[command])


def build_parser() -> argparse.ArgumentParser:
    """The `gfxnn` argument parser with one subparser per command of `APPS`."""
    from gfxnn import __version__

    parser = _Parser(prog="gfxnn", description="Small neural networks for computer graphics.")
    parser.add_argument("--version", action="version", version=f"gfxnn {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for command in APPS:
        app = _app(command)
        sub = subparsers.add_parser(command, help=app.HELP, description=app.HELP)
        app.add_arguments(sub)
        sub.set_defaults(run=app.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `gfxnn` with `argv` (default: sys.argv[1:]); returns the exit code."""
    parser = build_parser()
    prog = "gfxnn"
    try:
        args, extra = parser.parse_known_args(argv)
        prog = f"gfxnn {args.command}"
        if extra:  # reported here so the message names the subcommand, not bare `gfxnn`
            raise UsageError(f"unrecognized arguments: {' '.join(extra)} (see {prog} --help)")
        return int(args.run(args))
    except KeyboardInterrupt:  # a second Ctrl-C during a fit, or one outside a fit's loop
        print_error(f"{prog}: interrupted")
        return EXIT_INTERRUPTED
    except SystemExit as exit_:  # --help and --version
        return exit_.code if isinstance(exit_.code, int) else EXIT_OK
    except UsageError as error:
        print_error(f"{error.prog or prog}: error: {error}")
        return EXIT_BAD_INPUT


def __getattr__(name: str) -> Any:
    if name.startswith("EXIT_") and hasattr(command_module, name):
        return getattr(command_module, name)
    # `gfxnn.cli._ENCODINGS` was the CLI's own encoding list; it is the settings' now.
    if name == "_ENCODINGS":
        from gfxnn.apps.settings_options import encoding_choices

        return encoding_choices()
    raise AttributeError(f"module 'gfxnn.cli' has no attribute {name!r}")


if __name__ == "__main__":
    sys.exit(main())
