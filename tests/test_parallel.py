"""The engine's use of cores (gfxnn.parallel): one BLAS thread inside primitives, chunked work
on worker threads with results in order, the same bits at any thread count."""

from __future__ import annotations

import time

import numpy as np
import pytest
from helpers import random_inputs

from gfxnn import Tensor, im2col, image_ops, parallel


@pytest.fixture
def restore_threads():
    before = parallel.threads()
    yield
    parallel.set_threads(before)


def test_one_blas_thread_limits_blas_inside_and_restores_it_after():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(2, user_api="blas"):

        def blas_threads():
            return [
                i["num_threads"] for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"
            ]

        assert set(blas_threads()) == {2}
        with parallel.one_blas_thread():
            assert set(blas_threads()) == {1}
        assert set(blas_threads()) == {2}


def test_ordered_map_keeps_the_order_of_the_items(restore_threads):
    parallel.set_threads(3)

    def slow_first(i):
        time.sleep(0.02 if i == 0 else 0.0)  # the first item finishes last
        return i * i

    assert list(parallel.ordered_map(slow_first, range(8))) == [i * i for i in range(8)]


def test_convolution_gives_the_same_bits_at_any_thread_count(restore_threads, monkeypatch):
    monkeypatch.setattr(im2col, "CHUNK_VALUES", 512)  # one output row per chunk: 60 chunks
    x, w, b = (
        a.astype(np.float32) for a in random_inputs([(3, 8, 20, 20), (8, 8, 3, 3), (8,)], seed=3)
    )
    upstream = np.random.default_rng(4).standard_normal((3, 8, 20, 20)).astype(np.float32)
    results = []
    for n_threads in (1, 3):
        parallel.set_threads(n_threads)
        leaves = [Tensor(a, requires_grad=True) for a in (x, w, b)]
        out = image_ops.conv2d(*leaves, padding=1)
        out.backward(upstream)
        results.append([out.data] + [t.grad for t in leaves])
    for single, threaded in zip(*results, strict=True):
        np.testing.assert_array_equal(single, threaded)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True])
def test_set_threads_refuses_what_is_not_a_positive_count(bad, restore_threads):
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        parallel.set_threads(bad)


def test_blas_choice_keeps_the_faster_and_backs_off_from_a_far_slower_count():
    choice = parallel.BlasChoice((2, 1))
    assert choice.choose() == 2
    choice.record(2, 1.0)
    assert choice.choose() == 1  # each count timed once first
    choice.record(1, 1.2)  # near: re-timed one call in 16
    picks = [choice.choose() for _ in range(32)]
    assert picks.count(1) == 2 and choice.best() == 2
    for _ in range(3):
        choice.record(1, 5.0)  # far slower (a loaded machine's other count)
    assert choice.every == 8 * parallel.EXPLORE_EVERY  # doubled at each timing
    for _ in range(20):
        choice.record(1, 5.0)
    assert choice.every == parallel.MAX_EXPLORE_EVERY
    for _ in range(3):
        choice.record(2, 9.0)  # the best slows down: the other wins at once, no exploring
    assert choice.best() == 1 and choice.choose() == 1


def test_products_are_the_same_at_every_blas_setting():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((128, 300)), rng.standard_normal((300, 64))
    expected = a @ b
    before = parallel.blas_setting()
    try:
        for setting in ("auto", 1, 2):
            parallel.set_blas_threads(setting)
            for _ in range(40):  # auto: both counts timed, then the faster
                np.testing.assert_allclose(parallel.product(a, b), expected, rtol=1e-12)
    finally:
        parallel.set_blas_threads(before)


@pytest.mark.parametrize("bad", [0, -2, 1.5, "fast"])
def test_set_blas_threads_refuses_what_is_not_auto_or_a_count(bad):
    before = parallel.blas_setting()
    with pytest.raises((ValueError, TypeError), match="n_threads"):
        parallel.set_blas_threads(bad)
    assert parallel.blas_setting() == before  # a refused change changes nothing
