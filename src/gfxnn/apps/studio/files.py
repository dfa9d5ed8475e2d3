"""The files a studio session writes: names chosen by the server, never a client's, in one
output directory, and a cap on how many and how large.

A name is used only when no file in the directory shares its stem with any suffix (an export
writes NAME.glsl and NAME.grid.bin beside NAME.safetensors), so the session never replaces a
file, its own or anyone's. Once the session has written `max_files` files or `max_bytes`
bytes, no save or export starts (the cap bounds the disk a page, or a script on the
WebSocket, can fill, and the file list sent in every state).
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import glob
from pathlib import Path

__all__ = ["MAX_SESSION_BYTES", "MAX_SESSION_FILES", "SavedFile", "SessionFiles"]

MAX_SESSION_FILES = 200  # files one session writes to --out (each is listed in every state)
MAX_SESSION_BYTES = 1024**3  # bytes one session writes to --out


@dataclasses.dataclass
class SavedFile:
    """A file the session wrote into its output directory, downloadable by its name."""

    name: str
    path: Path
    kind: str  # "checkpoint" or "export"


class SessionFiles:
    """The session's output directory, its written files (by exact name) and its cap.
    Not thread-safe by itself: the session calls it under its own lock where needed."""

    def __init__(self, out_dir: str | Path, max_files: int, max_bytes: int) -> None:
        for name, value in (("max_files", max_files), ("max_bytes", max_bytes)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be an integer >= 1, got {value!r}")
        self.out_dir = Path(out_dir)
        self.max_files = max_files
        self.max_bytes = max_bytes
        self.bytes_written = 0
        self.saved: dict[str, SavedFile] = {}

    def get(self, name: str) -> SavedFile | None:
        """A file this session wrote, by its exact name (None for any other name)."""
        return self.saved.get(name)

    def listing(self) -> list[dict[str, str]]:
        """What a state lists: [{name, kind, url}] in the order written."""
        return [
            {"name": f.name, "kind": f.kind, "url": f"/api/files/{f.name}"}
            for f in self.saved.values()
        ]

    def new_path(self, label: str, suffix: str) -> Path:
        """A fresh name `studio-<date>-<time>-<label><suffix>` in out_dir (created if
        needed); refused with a ValueError once the cap is reached."""
        if len(self.saved) >= self.max_files or self.bytes_written >= self.max_bytes:
            raise ValueError(
                f"this studio session has written {len(self.saved)} files "
                f"({self.bytes_written} bytes) to {self.out_dir}; its cap is {self.max_files} "
                f"files or {self.max_bytes} bytes: restart gfxnn studio to write more"
            )
        self.out_dir.mkdir(parents=True, exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        stem, counter = f"studio-{stamp}-{label}", 2
        while self._stem_taken(stem):
            stem, counter = f"studio-{stamp}-{label}-{counter}", counter + 1
        return self.out_dir / f"{stem}{suffix}"

    def _stem_taken(self, stem: str) -> bool:
        if any(Path(name).name.split(".")[0] == stem for name in self.saved):
            return True
        return any(self.out_dir.glob(glob.escape(stem) + ".*"))

    def remember(self, path: Path, kind: str) -> SavedFile:
        """Record a file just written (downloadable from now on, counted in the cap)."""
        saved = SavedFile(path.name, path, kind)
        with contextlib.suppress(OSError):
            self.bytes_written += path.stat().st_size
        self.saved[path.name] = saved
        return saved
