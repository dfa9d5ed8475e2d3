"""Thread settings shared by the benchmark scripts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def thread_limit(n_threads: int | None) -> Iterator[None]:
    """Both torch and NumPy's BLAS at `n_threads` (None: each library's default)."""
    if n_threads is None:
        yield
        return
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(n_threads)
    try:
        with threadpool_limits(n_threads, user_api="blas"):
            yield
    finally:
        torch.set_num_threads(before)
