"""Where a run's files go, and the rules that keep a run directory whole and inputs safe.

A run writes all its files into a hidden staging directory beside `--out` and moves them into
place together at the end, so `--out` always holds one complete run (the previous one until the
new one is complete), whatever stops the run (an error, Ctrl-C, SIGTERM, a full disk):

- `--out` does not exist or is empty: the staging directory is renamed to it (one rename);
- `--out` holds a previous gfxnn run and nothing else (its manifest, `.gfxnn-run.json`, lists
  every entry): the old directory is renamed away, the new one renamed in, the old one removed;
- `--out` holds other files: refused unless `force`; with it, each file is moved in atomically
  and the manifest last, and config.json, metrics.json and the checkpoint carry the run's id.

No output may replace an input (the image, the config), `--force` or not.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterable
from pathlib import Path

from gfxnn.io import atomic_write_bytes, atomic_write_json, parse_json

__all__ = [
    "MANIFEST",
    "OutputDirError",
    "RunDirectory",
    "default_output_dir",
    "prepare_output_dir",
    "same_file",
]

MANIFEST = ".gfxnn-run.json"
"""The file that lists what a gfxnn run wrote into its directory (written last)."""

_MANIFEST_FORMAT = "gfxnn-run/1"
_MAX_MANIFEST_BYTES = 64 * 1024  # a manifest lists a few names
_MAX_LISTED = 5  # foreign entries a message names before "and N more"


class OutputDirError(ValueError):
    """The output directory cannot be used: a file has its name, it is not writable, it holds
    files gfxnn did not write (without --force), or an output would replace an input."""


def default_output_dir(base: str | Path = "runs") -> Path:
    """runs/fit-YYYYmmdd-HHMMSS (with a -2, -3, ... suffix if that already exists)."""
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    candidate = Path(base) / f"fit-{stamp}"
    suffix = 2
    while candidate.exists():
        candidate = Path(base) / f"fit-{stamp}-{suffix}"
        suffix += 1
    return candidate


def prepare_output_dir(path: str | Path) -> Path:
    """Create `path` (and parents) and check a file can be written there (the studio's
    directory, where files accumulate one by one).

    Raises:
        OutputDirError: it exists as a file, lies under a file, or is not writable.
    """
    path = Path(path)
    if str(path).strip() == "":
        raise OutputDirError("the output directory must be named, got ''")
    try:
        path.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path / ".gfxnn-write-test", b"")
        (path / ".gfxnn-write-test").unlink()
    except FileExistsError:
        raise OutputDirError(f"cannot use output directory {path}: a file has that name") from None
    except OSError as error:
        reason = error.strerror or str(error)
        raise OutputDirError(f"cannot write to output directory {path}: {reason}") from None
    return path


def same_file(a: Path, b: Path) -> bool:
    """True when `a` and `b` exist and are one file (same path, a link, a hard link)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


class RunDirectory:
    """The output directory of one run: checked first, staged, then committed whole.

    Usage: `check()` before anything is computed (bad input writes nothing), `stage()` gives
    the directory to write into, then `commit()` (or `discard()` when the run fails).
    """

    def __init__(
        self,
        path: str | Path,
        names: Iterable[str],
        inputs: Iterable[Path] = (),
        force: bool = False,
    ) -> None:
        self.path = Path(path)
        self.names = tuple(names)
        self.inputs = tuple(Path(p) for p in inputs)
        self.force = force
        self.run_id = uuid.uuid4().hex
        self._staging: Path | None = None
        self._mode = "rename"

    def check(self) -> None:
        """Refuse what would lose data or cannot work, before anything is written."""
        path = self.path
        if str(path).strip() == "":
            raise OutputDirError("--out must name a directory, got ''")
        for name in self.names:
            for source in self.inputs:
                if same_file(source, path / name):
                    raise OutputDirError(
                        f"the output {path / name} would replace the input {source}; choose "
                        "another --out"
                    )
        if path.is_symlink() or (path.exists() and not path.is_dir()):
            if not path.is_dir():
                raise OutputDirError(f"cannot use output directory {path}: a file has that name")
            self._mode = "files"  # a link to a directory: write into it, keep the link
        for parent in path.parents:
            if parent.exists() and not parent.is_dir():
                raise OutputDirError(
                    f"cannot write to output directory {path}: {parent} is not a directory"
                )
        if not path.is_dir():
            return
        entries = sorted(e.name for e in path.iterdir())
        ours = set(_manifest_files(path)) | {MANIFEST}
        foreign = [name for name in entries if name not in ours]
        if foreign and not self.force:
            listed = ", ".join(foreign[:_MAX_LISTED])
            more = f" and {len(foreign) - _MAX_LISTED} more" if len(foreign) > _MAX_LISTED else ""
            raise OutputDirError(
                f"output directory {path} holds files gfxnn did not write ({listed}{more}); "
                "choose a new --out, or give --force to write the outputs beside them"
            )
        if foreign:
            self._mode = "files"

    def stage(self) -> Path:
        """Create and return the staging directory: hidden, beside the output directory (or
        inside it when its parent cannot be written).

        Raises:
            OutputDirError: nothing can be written there (directories it created are removed).
        """
        parent = self.path.parent
        missing = [p for p in (parent, *parent.parents) if not p.exists()]
        try:
            parent.mkdir(parents=True, exist_ok=True)
            self._staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.", dir=parent))
        except PermissionError as error:
            if not self.path.is_dir():
                raise self._unwritable(error, missing) from None
            self._mode = "files"
            try:
                self._staging = Path(tempfile.mkdtemp(prefix=".gfxnn-staging.", dir=self.path))
            except OSError as inner:
                raise self._unwritable(inner, missing) from None
        except OSError as error:
            raise self._unwritable(error, missing) from None
        # mkdtemp creates mode 0700; the outputs are the user's, so honour the umask.
        os.chmod(self._staging, 0o777 & ~_umask())
        return self._staging

    def _unwritable(self, error: OSError, created: list[Path]) -> OutputDirError:
        for directory in created:  # innermost first: leave no empty directories behind
            with contextlib.suppress(OSError):
                directory.rmdir()
        reason = error.strerror or str(error)
        return OutputDirError(f"cannot write to output directory {self.path}: {reason}")

    def commit(self) -> None:
        """Move the staged files into the output directory together, manifest last."""
        staging = self._require_staging()
        atomic_write_json(
            staging / MANIFEST,
            {"format": _MANIFEST_FORMAT, "run_id": self.run_id, "files": list(self.names)},
        )
        if self._mode == "rename" and self._rename_into_place(staging):
            self._staging = None
            return
        self.path.mkdir(parents=True, exist_ok=True)
        for name in (*self.names, MANIFEST):
            os.replace(staging / name, self.path / name)
        self.discard()

    def discard(self) -> None:
        """Remove the staging directory and whatever is in it."""
        if self._staging is not None:
            shutil.rmtree(self._staging, ignore_errors=True)
            self._staging = None

    def _rename_into_place(self, staging: Path) -> bool:
        """One rename when the target is absent or empty; two when it holds an old run.
        False when something appeared there meanwhile (then files are moved one by one)."""
        try:
            os.rename(staging, self.path)  # POSIX: replaces an empty directory
            return True
        except OSError:
            pass
        if not self.path.is_dir() or not _only_ours(self.path):
            return False
        old = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.old.", dir=self.path.parent))
        os.rename(self.path, old / "run")
        os.rename(staging, self.path)
        shutil.rmtree(old, ignore_errors=True)
        return True

    def _require_staging(self) -> Path:
        if self._staging is None:
            raise RuntimeError("RunDirectory.stage() was not called")
        return self._staging


def _manifest_files(path: Path) -> list[str]:
    """The files the manifest in `path` lists (empty when there is none or it is not ours)."""
    if not (path / MANIFEST).is_file():  # a FIFO of that name must not block us
        return []
    with contextlib.suppress(OSError, ValueError), open(path / MANIFEST, "rb") as file:
        manifest = parse_json(file.read(_MAX_MANIFEST_BYTES), str(path / MANIFEST))
        if isinstance(manifest, dict) and manifest.get("format") == _MANIFEST_FORMAT:
            files = manifest.get("files")
            if isinstance(files, list) and all(isinstance(f, str) for f in files):
                return files
    return []


def _only_ours(path: Path) -> bool:
    ours = set(_manifest_files(path)) | {MANIFEST}
    return all(entry.name in ours for entry in path.iterdir())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
