"""BLAS thread count around the training step and inference.

A training step's matrices are small (batch x 64 x 64), so BLAS threads gain little, and when
other processes share the cores OpenBLAS's spin-waiting threads fight them: on the project's
busy 2-core VM we measured ~300 steps/s with one BLAS thread and ~30 with two. The fused path
therefore runs its training steps and inference with a chosen number of BLAS threads, through
`threadpoolctl` when it is installed (without it nothing is changed). The limit is restored as
soon as the call returns, so the rest of the process is unaffected.
"""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from typing import Any

_controller: Any = None
_modules_seen = -1


def _get_controller() -> Any:
    """A ThreadpoolController for the BLAS libraries loaded now, or None without threadpoolctl.

    Looking the libraries up costs ~0.5 ms, too much for every training step, so the
    controller is kept; it is made anew when modules were imported since, because an import
    (say, of SciPy) can load another BLAS library that the old controller would not limit.
    """
    global _controller, _modules_seen
    if len(sys.modules) != _modules_seen:
        _modules_seen = len(sys.modules)
        try:
            from threadpoolctl import ThreadpoolController
        except ImportError:  # optional: without it the BLAS default stays
            _controller = None
        else:
            _controller = ThreadpoolController()
    return _controller


def blas_threads(n_threads: int | None) -> AbstractContextManager[Any]:
    """A context in which BLAS uses `n_threads` threads (None: leave the default alone)."""
    if n_threads is None:
        return nullcontext()
    controller = _get_controller()
    if controller is None:
        return nullcontext()
    context: AbstractContextManager[Any] = controller.limit(limits=n_threads, user_api="blas")
    return context


def threadpoolctl_available() -> bool:
    return _get_controller() is not None
