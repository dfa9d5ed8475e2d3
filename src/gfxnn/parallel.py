"""How the autodiff engine's primitives use the machine's cores.

Two rules, both measured on the project's 2-core AMD EPYC VM (shared with other jobs):

- Every BLAS call inside an engine primitive (linear, matmul, convolution) runs on one BLAS
  thread (`one_blas_thread`). The engine's products are small (the classifier's largest is
  128x784 by 784x256, 2 ms on one core), and OpenBLAS's threads wait for each other at every
  product: with two BLAS threads the 784-256-128-10 classifier trained at 26 k samples/s on
  an idle machine (18.5 k with one) but at 1.0 k under load (8.4 k with one), and a 64 -> 64
  3x3 convolution took 2.7 s instead of 0.9 s.
- Work that splits into independent pieces (the convolution's chunks of im2col columns) runs
  on `threads()` worker threads (`ordered_map`; NumPy releases the GIL in copies and
  products), taken one piece at a time, so a core busy with another process slows the op
  by its share instead of stalling every product. Results come back in the pieces' order,
  so sums over them are the same bits at any thread count.

`set_threads(n)` sets the worker count (default: the machine's cores; 1 runs everything on
the calling thread). Without threadpoolctl the BLAS thread count is left alone. The BLAS
setting is process-wide while a primitive runs, so two threads that train at once each see
one BLAS thread during their products.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
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


@contextlib.contextmanager
def one_blas_thread() -> Iterator[None]:
    """BLAS on one thread inside the block (about 6 us to enter and leave), then as before."""
    if not _primed:
        _prime_blas()
    libraries = _blas_libraries()
    before = [lib.get_num_threads() for lib in libraries]
    for lib, n in zip(libraries, before, strict=True):
        if n != 1:
            lib.set_num_threads(1)
    try:
        yield
    finally:
        for lib, n in zip(libraries, before, strict=True):
            if n != 1:
                lib.set_num_threads(n)


def product(a: Any, b: Any) -> Any:
    """a @ b on one BLAS thread (the engine's dense products; see the module docstring)."""
    with one_blas_thread():
        return a @ b
