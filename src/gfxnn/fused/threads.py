"""BLAS thread count around the training step and inference.

A training step's matrices are small (batch x 64 x 64), so BLAS threads gain little, and when
other processes share the cores OpenBLAS's spin-waiting threads fight them: on the project's
busy 2-core VM we measured ~300 steps/s with one BLAS thread and ~30 with two. The fused path
therefore runs its training steps and inference with a chosen number of BLAS threads, through
`threadpoolctl` when it is installed (without it nothing is changed). The limit is restored as
soon as the call returns, so the rest of the process is unaffected.
"""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

_controller: Any = None
_looked_up = False


def _get_controller() -> Any:
    global _controller, _looked_up
    if not _looked_up:
        _looked_up = True
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
    return controller.limit(limits=n_threads, user_api="blas")


def threadpoolctl_available() -> bool:
    return _get_controller() is not None
