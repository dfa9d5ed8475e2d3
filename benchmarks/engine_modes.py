"""Thread modes, machine line and load figures shared by the engine benchmarks
(mlp_classifier.py, conv.py).

A mode is "1" (both libraries on one thread), "cores" (both on every core: torch's pool,
NumPy's BLAS and gfxnn's engine workers) or "default" (each library as it comes: torch on
every core, gfxnn's engine with its own policy, see gfxnn.parallel); "all" runs the three.
"""

from __future__ import annotations

import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager

from threads import thread_limit

from gfxnn import parallel

MODES = ("1", "cores", "default", "all")


def mode_threads(mode: str) -> list[int | None]:
    """The thread counts a --threads mode runs (None: library defaults)."""
    cores = os.cpu_count() or 1
    table: dict[str, list[int | None]] = {"1": [1], "cores": [cores], "default": [None]}
    table["all"] = [1, cores, None]
    return table[mode]


def label(n_threads: int | None) -> str:
    return "library defaults" if n_threads is None else f"both {n_threads} thread(s)"


@contextmanager
def engine_threads(n_threads: int | None) -> Iterator[None]:
    """torch, BLAS and gfxnn's engine workers at `n_threads` (None: leave the defaults)."""
    before = parallel.threads()
    if n_threads is not None:
        parallel.set_threads(n_threads)
    try:
        with thread_limit(n_threads):
            yield
    finally:
        parallel.set_threads(before)


def machine() -> str:
    """CPU model and core count, from /proc/cpuinfo where there is one."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{model}, {os.cpu_count()} cores"


def load() -> str:
    """The 1-minute load average (the machine may be shared: it says how busy it was)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return "n/a"
