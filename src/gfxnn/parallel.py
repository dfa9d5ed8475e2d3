"""How the autodiff engine's primitives use the machine's cores.

Two rules, both measured on the project's 2-core AMD EPYC VM:

- The engine's dense products (`product`: linear, matmul) choose their BLAS thread count per
  product shape, by measuring ("auto", the default; `set_blas_threads`): one thread, or the
  count BLAS has outside the engine (the process's setting, e.g. threadpoolctl's limit), the
  faster of the last three calls of each, the other re-timed one call in 16, and one in up to
  1024 (doubling) while it stays 1.5x slower or more. Both matter: with two BLAS threads the
  784-256-128-10 classifier trained at 26 k samples/s on an idle machine (18.5 k with one)
  but at 1.0 k under load (8.4 k with one), OpenBLAS's threads waiting for each other at
  every product; a fixed one thread (the earlier rule, chosen under load) left the idle
  machine's second core unused (0.80x PyTorch at library defaults).
- Work that splits into independent pieces (the convolution's chunks of im2col columns) runs
  on `threads()` worker threads (`ordered_map`; NumPy releases the GIL in copies and
  products) with one BLAS thread each (`one_blas_thread`: a 64 -> 64 3x3 convolution took
  2.7 s instead of 0.9 s with BLAS's own threads on top), taken one piece at a time, so a
  core busy with another process slows the op by its share instead of stalling every
  product. Results come back in the pieces' order, so sums over them are the same bits at
  any thread count.

`set_threads(n)` sets the worker count (default: the machine's cores; 1 runs everything on
the calling thread). Without threadpoolctl the BLAS thread count is left alone. The BLAS
setting is process-wide while a primitive runs, so two threads that train at once each see
the other's choice during their products.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import numpy as np

from gfxnn.checks import check_positive_int

T = TypeVar("T")
R = TypeVar("R")

_threads = os.cpu_count() or 1
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()
_blas: list[Any] = []
_modules_seen = -1


def threads() -> int:
    """The number of worker threads the engine's chunked primitives use."""
    return _threads


def set_threads(n_threads: int) -> None:
    """Use `n_threads` (>= 1) worker threads for chunked primitives (convolution)."""
    global _threads, _pool
    n_threads = check_positive_int("n_threads", n_threads)
    with _pool_lock:
        if _pool is not None and n_threads != _threads:
            _pool.shutdown(wait=True)
            _pool = None
        _threads = n_threads


def ordered_map(function: Callable[[T], R], items: Iterable[T]) -> Iterator[R]:
    """function(item) for each item, on `threads()` workers, yielded in the items' order."""
    if _threads == 1:
        return map(function, items)
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(_threads, thread_name_prefix="gfxnn-engine")
        pool = _pool
    return pool.map(function, items)


def _blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the BLAS libraries loaded now (looked up again after
    an import, which may have loaded another one, e.g. SciPy's OpenBLAS)."""
    global _blas, _modules_seen
    if len(sys.modules) != _modules_seen:
        _modules_seen = len(sys.modules)
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional at run time: then BLAS keeps its own setting
            _blas = []
        else:
            controllers = ThreadpoolController().lib_controllers
            _blas = [lib for lib in controllers if lib.user_api == "blas"]
    return _blas


_primed = False


def _prime_blas() -> None:
    """Run one product of 1024 columns, once per process, before the engine's first.

    Measured on the project's VM with NumPy's OpenBLAS 0.3.31: in a fresh process a
    (64, 576) @ (576, 192) float32 product (one chunk of a 64 -> 64 3x3 convolution) took
    1250 us, and 400 us in every thread once any product with 1024 or more columns had run
    (not one with 192 columns, nor an 8-row one); a fresh benchmark of that convolution ran
    2.4x PyTorch's time before and about 1.2x after. Why (OpenBLAS's work buffer, its pages)
    was not found out; this costs about 3 ms once.
    """
    global _primed
    _primed = True
    np.ones((64, 576), np.float32) @ np.ones((576, 1024), np.float32)


def _blas_counts() -> tuple[list[Any], list[int]]:
    """The BLAS libraries loaded now and their thread counts (primes BLAS on first use)."""
    if not _primed:
        _prime_blas()
    libraries = _blas_libraries()
    return libraries, [lib.get_num_threads() for lib in libraries]


@contextlib.contextmanager
def _counts_at(libraries: list[Any], before: list[int], n_threads: int) -> Iterator[None]:
    """`libraries` (at the counts `before`) on `n_threads` inside the block, then back."""
    for lib, n in zip(libraries, before, strict=True):
        if n != n_threads:
            lib.set_num_threads(n_threads)
    try:
        yield
    finally:
        for lib, n in zip(libraries, before, strict=True):
            if n != n_threads:
                lib.set_num_threads(n)


def blas_threads_at(n_threads: int) -> contextlib.AbstractContextManager[None]:
    """BLAS on `n_threads` inside the block, then as before (about 6 us to enter and leave
    when it changes the count)."""
    return _counts_at(*_blas_counts(), n_threads)


def one_blas_thread() -> contextlib.AbstractContextManager[None]:
    """BLAS on one thread inside the block, then as before."""
    return blas_threads_at(1)


EXPLORE_EVERY, MAX_EXPLORE_EVERY = 16, 1024  # calls between two timings of the slower count
FAR_SLOWER = 1.5  # ... doubling the interval while the slower one stays this much slower
MAX_SHAPES = 512  # shapes with a policy of their own; others run on one BLAS thread
_blas_setting: int | str = "auto"
_choices: dict[tuple, BlasChoice] = {}


def set_blas_threads(n_threads: int | str) -> None:
    """The BLAS threads of the engine's products: "auto" (measured per shape, the default) or
    a fixed count >= 1 (1: the earlier rule, for a machine known to be busy)."""
    global _blas_setting
    if n_threads != "auto":
        n_threads = check_positive_int("n_threads", n_threads)
    _blas_setting = n_threads
    _choices.clear()


def blas_setting() -> int | str:
    """What `set_blas_threads` set ("auto" or a count)."""
    return _blas_setting


class BlasChoice:
    """One product shape's BLAS thread count: the faster of `counts` by the median of the
    last three calls of each; the slower one re-timed every `every` calls."""

    def __init__(self, counts: tuple[int, ...]) -> None:
        self.counts = counts
        self.seconds: dict[int, list[float]] = {n: [] for n in counts}
        self.calls = 0
        self.every = EXPLORE_EVERY

    def median(self, n: int) -> float:
        return statistics.median(self.seconds[n])

    def best(self) -> int:
        return min(self.counts, key=self.median)

    def choose(self) -> int:
        for n in self.counts:
            if not self.seconds[n]:
                return n
        self.calls += 1
        best = self.best()
        if len(self.counts) > 1 and self.calls % self.every == 0:
            return next(n for n in self.counts if n != best)
        return best

    def record(self, n_threads: int, seconds: float) -> None:
        history = self.seconds[n_threads]
        history.append(seconds)
        del history[:-3]
        if len(self.counts) < 2 or any(not self.seconds[n] for n in self.counts):
            return
        best = self.best()
        if n_threads != best:  # the slower count was timed again
            far = self.median(n_threads) >= FAR_SLOWER * self.median(best)
            self.every = min(2 * self.every, MAX_EXPLORE_EVERY) if far else EXPLORE_EVERY


def product(a: Any, b: Any) -> Any:
    """a @ b, the engine's dense products, on the BLAS threads `set_blas_threads` says (see
    the module docstring)."""
    if _blas_setting != "auto":
        with blas_threads_at(int(_blas_setting)):
            return a @ b
    libraries, before = _blas_counts()  # read once: the count outside, and what to restore
    outside = max(before, default=1)
    if outside == 1:
        return a @ b
    key = (np.shape(a), np.shape(b), getattr(a, "dtype", None), outside)
    choice = _choices.get(key)
    if choice is None:
        if len(_choices) >= MAX_SHAPES:
            with _counts_at(libraries, before, 1):
                return a @ b
        choice = _choices[key] = BlasChoice((outside, 1))
    n_threads = choice.choose()
    with _counts_at(libraries, before, n_threads):
        start = time.perf_counter()
        result = a @ b
        choice.record(n_threads, time.perf_counter() - start)
    return result
