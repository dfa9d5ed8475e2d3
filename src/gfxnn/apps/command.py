"""What every app's command-line side shares: the usage error, exit codes, argument types.

An app module (`gfxnn.apps.fit`, `render`, `export`, `bench`, `studio.run`, ...) declares
`HELP` (its one-line summary), `add_arguments(parser)` and `run(args) -> int`; `gfxnn.cli`
builds the parser from them and turns a `UsageError` into one line on stderr and exit code 2.
This module imports nothing heavy, so `gfxnn --help` stays quick.
"""

from __future__ import annotations

import argparse
import contextlib
import math
import os
import signal
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_FAILED",
    "EXIT_HANGUP",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "STOP_EXIT_CODES",
    "StopRequest",
    "UsageError",
    "check_output_file",
    "discard_stdout",
    "nonempty_path",
    "positive_float",
    "positive_int",
    "print_error",
    "print_result",
    "stdout_to_stderr",
    "stop_requests",
]

EXIT_OK = 0
EXIT_FAILED = 1  # the run diverged (outputs written from the last good weights), or writing failed
EXIT_BAD_INPUT = 2  # one line on stderr, nothing written
EXIT_INTERRUPTED = 130  # Ctrl-C (SIGINT): 128 + 2, the shell's convention; outputs written
EXIT_TERMINATED = 143  # SIGTERM (timeout, docker stop, Slurm): 128 + 15; outputs written
EXIT_HANGUP = 129  # SIGHUP (the terminal or ssh session closed): 128 + 1; outputs written

_SHOWN_CHARS = 40  # how much of a bad value a message repeats (a 5000-digit number is not shown)


class UsageError(Exception):
    """Bad input: printed as one line `gfxnn <command>: error: <message>`, exit code 2."""

    def __init__(self, message: object, prog: str | None = None) -> None:
        super().__init__(str(message))
        self.prog = prog


def shown(text: str) -> str:
    """`text` quoted for a message, cut to a readable length."""
    if len(text) <= _SHOWN_CHARS:
        return repr(text)
    return f"{text[:_SHOWN_CHARS]!r}... ({len(text)} characters)"


_MAX_DIGITS = 18  # every count and seed gfxnn takes fits; a longer literal is a typo or an attack


def _integer(text: str, option_check: str) -> int:
    # int() also takes Unicode digits, underscores and spaces, and raises its own ValueError
    # past 4300 digits; a command line means ASCII digits, and a number of more than 18
    # digits is out of every range gfxnn has.
    body = text[1:] if text[:1] in "+-" else text
    if not (body.isascii() and body.isdigit()):
        raise argparse.ArgumentTypeError(f"{option_check}, got {shown(text)}")
    if len(body.lstrip("0")) > _MAX_DIGITS:
        raise argparse.ArgumentTypeError(
            f"{option_check} of at most {_MAX_DIGITS} digits, got {shown(text)}"
        )
    return int(text)


def integer(text: str) -> int:
    """argparse type: an integer (range checks are the settings' job)."""
    return _integer(text, "invalid int value: must be an integer")


def number(text: str) -> float:
    """argparse type: a decimal number (range checks are the settings' job)."""
    try:
        return float(text) if len(text) <= 400 else float("nan")
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid number: {shown(text)}") from None


def positive_int(text: str) -> int:
    """argparse type: an integer >= 1."""
    value = _integer(text, "must be an integer >= 1")
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be an integer >= 1, got {shown(text)}")
    return value


def positive_float(text: str) -> float:
    """argparse type: a finite number > 0."""
    try:
        value = float(text) if len(text) <= 400 else math.nan
    except ValueError:
        value = math.nan
    if not (value > 0 and math.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a number > 0, got {shown(text)}")
    return value


def nonempty_path(text: str) -> Path:
    """argparse type: a path; '' is refused (Path('') is the current directory, silently)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"must name a file or directory, got {text!r}")
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"contains a NUL byte: {shown(text)}")
    return Path(text)


def check_output_file(path: Path, option: str) -> None:
    """UsageError unless `path` can be written as a file: its directory exists, and it is
    absent or a regular file. Outputs are written atomically (a temporary file, then a rename),
    which would replace a device, a FIFO or a link such as /dev/stdout instead of writing to it.
    """
    parent = path.parent
    if not parent.is_dir():
        why = "is not a directory" if parent.exists() else "does not exist"
        raise UsageError(f"cannot write {option} {path}: {parent} {why}")
    if os.path.lexists(path) and not (path.is_file() and not path.is_symlink()):
        kind = "a directory" if path.is_dir() else "not a regular file"
        if path.is_symlink():
            kind = "a symbolic link"
        raise UsageError(f"{option} {path} is {kind}; give the path of a regular file")


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Send everything written to stdout (Python's and the C library's, fd 1) to stderr.

    stdout carries a command's results; a dependency's start-up banner (Warp prints six
    lines when it initialises) goes to stderr instead.
    """
    sys.stdout.flush()
    try:
        saved = os.dup(1)
    except OSError:  # no fd 1 at all (a daemon): Python-level redirection is all there is
        saved = None
    try:
        if saved is not None:
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def print_error(line: str) -> None:
    """One line on stderr (newlines in a message would break the one-line promise)."""
    print(line.replace("\n", " "), file=sys.stderr)


def print_result(text: str) -> None:
    """`text` on stdout, the results channel. A reader that went away (`gfxnn ... | head`)
    is not an error of the run: the rest of stdout is discarded quietly."""
    try:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        discard_stdout()


def discard_stdout() -> None:
    """Point stdout at the null device (after EPIPE, so the exit's flush does not fail too)."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class StopRequest(threading.Event):
    """Set by the first Ctrl-C (SIGINT), SIGTERM or SIGHUP; `signum` says which."""

    signum: int | None = None

    def reason(self) -> str:
        """metrics.json's stopped_by: "interrupted" (Ctrl-C), "terminated" (SIGTERM) or
        "hangup" (SIGHUP: the terminal or the ssh session went away)."""
        return _STOP_REASONS.get(self.signum or signal.SIGINT, "interrupted")


# The signals a run stops on, writing its outputs: Ctrl-C, `timeout`/`docker stop`/Slurm
# (SIGTERM), a closed terminal or ssh session (SIGHUP; not on Windows).
_STOP_REASONS: dict[int, str] = {signal.SIGINT: "interrupted", signal.SIGTERM: "terminated"}
if hasattr(signal, "SIGHUP"):
    _STOP_REASONS[signal.SIGHUP] = "hangup"

STOP_EXIT_CODES = {
    "interrupted": EXIT_INTERRUPTED,
    "terminated": EXIT_TERMINATED,
    "hangup": EXIT_HANGUP,
}
"""Exit code of a run stopped by each reason: 128 + the signal's number, the shell's way."""


@contextlib.contextmanager
def stop_requests() -> Iterator[StopRequest]:
    """The first stop signal (Ctrl-C, SIGTERM, SIGHUP) sets the event, so a loop can stop
    between chunks and still write its outputs; a second one raises KeyboardInterrupt (abort).
    Outside the main thread signals cannot be caught: the event is never set."""
    stop = StopRequest()
    if threading.current_thread() is not threading.main_thread():
        yield stop
        return
    previous = {number: signal.getsignal(number) for number in _STOP_REASONS}

    def handle(signum: int, frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.signum = signum
        stop.set()

    for number in _STOP_REASONS:
        signal.signal(number, handle)
    try:
        yield stop
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
