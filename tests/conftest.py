"""Test-wide settings."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_torch():
    """PyTorch as an oracle on one thread: its default pool fights pytest for the two cores
    of a CI machine and can make a millisecond comparison take seconds."""
    try:
        import torch
    except ImportError:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas():
    """NumPy's BLAS on one thread too: the test matrices are small, and on a busy 2-core
    machine OpenBLAS's spinning second thread made some tests 10x slower."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
