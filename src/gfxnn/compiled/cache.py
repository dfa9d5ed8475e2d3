"""Keep Numba's on-disk kernel cache in step with the kernels' sources.

Numba (`cache=True`) invalidates a cached kernel when its own file changes, but not when a
function it calls from another file does: a kernel of network.py would keep running an old
encode.py. This module hashes every kernel source of the package and, when the hash differs
from the one stored beside the cache, removes the package's cached kernels first, so an edit
(or an upgrade) never runs stale code. Only the in-tree cache (`__pycache__` beside these
files, Numba's default) is managed; with NUMBA_CACHE_DIR set nothing is touched.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent
CACHE = PACKAGE / "__pycache__"
STAMP = CACHE / "gfxnn_kernels.sha256"


def sources_hash() -> str:
    """A hash of the kernel modules (those that compile a function: `@nb.njit`); the host
    code (trainer.py, threads.py, ...) can change without dropping the compiled kernels."""
    digest = hashlib.sha256()
    for path in sorted(PACKAGE.glob("*.py")):
        source = path.read_bytes()
        if b"@nb.njit" in source:
            digest.update(path.name.encode())
            digest.update(source)
    return digest.hexdigest()


def ensure_fresh() -> None:
    """Drop cached kernels compiled from other sources than the present ones."""
    if os.environ.get("NUMBA_CACHE_DIR"):
        return
    current = sources_hash()
    try:
        if STAMP.read_text() == current:
            return
    except OSError:
        pass
    try:
        CACHE.mkdir(exist_ok=True)
        for cached in (*CACHE.glob("*.nbi"), *CACHE.glob("*.nbc")):
            cached.unlink(missing_ok=True)
        STAMP.write_text(current)
    except OSError:  # a read-only install: Numba then caches in its user-wide directory
        return
