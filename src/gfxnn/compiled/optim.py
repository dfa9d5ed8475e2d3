"""Gradient reduction and the optimizers of the compiled path, one pass over the parameters.

The update equations, and the order in which each one rounds, are those of
`gfxnn.fused.optim` (torch.optim's Adam and SGD with tiny-cuda-nn's `l2_reg` added to the
gradient first), so a compiled step and a NumPy step from the same gradient give the same bits:
    g <- g + l2_reg p
    SGD:  p <- p - g lr
    Adam: m <- m b1 + g (1 - b1);  v <- v b2 + (g g)(1 - b2)
          p <- p - (m / (sqrt(v) / sqrt(1 - b2^t) + eps)) (lr / (1 - b1^t))
`adam_range`/`sgd_range` run serially (the network's vector); `adam_step`/`sgd_step` split a
grid's table into fixed blocks over the threads; every element is independent, so the
result does not depend on the thread count.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

BLOCK = 16384  # elements per parallel task: large enough to amortise the task, small for balance
ADAM, SGD = range(2)  # `network_step`'s optimizer codes


@nb.njit(cache=True, error_model="numpy")
def reduce_gradients(partial: np.ndarray, n_rows: int, grads: np.ndarray) -> None:
    """grads = sum of partial[:n_rows] in row order (the chunks of `network.train_chunks`).
    Serial: a network's few thousand parameters take microseconds, less than waking threads."""
    grads[:] = partial[0]
    for row in range(1, n_rows):
        grads += partial[row]


@nb.njit(cache=True, error_model="numpy")
def adam_range(
    p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lo: int, hi: int,
    c: np.ndarray, use_l2: bool, zero_grads: bool,
) -> None:  # fmt: skip
    """Adam on elements [lo, hi); c (the dtype): l2_reg, b1, 1 - b1, b2, 1 - b2,
    sqrt(1 - b2^t), eps, lr / (1 - b1^t)."""
    _adam_elements(p[lo:hi], g[lo:hi], m[lo:hi], v[lo:hi], c, use_l2)
    if zero_grads:
        g[lo:hi] = 0


@nb.njit(cache=True, error_model="numpy")
def _adam_elements(
    p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, c: np.ndarray, use_l2: bool
) -> None:
    # Why the slices and the separate function: indexed from lo to hi in the caller's arrays,
    # with the gradient cleared in the same loop, LLVM kept this loop scalar (6.9 ns an
    # element, the sqrt and the two divisions one at a time); over whole slices it vectorises
    # (1.7 ns, float32, one core), and each element still rounds the same way: the same bits.
    l2, b1, one_b1, b2, one_b2 = c[0], c[1], c[2], c[3], c[4]
    correction, eps, step = c[5], c[6], c[7]
    for j in range(p.shape[0]):
        grad = g[j]
        if use_l2:
            grad = grad + p[j] * l2
        mj = m[j] * b1 + grad * one_b1
        vj = v[j] * b2 + (grad * grad) * one_b2
        m[j] = mj
        v[j] = vj
        p[j] = p[j] - (mj / (np.sqrt(vj) / correction + eps)) * step


@nb.njit(cache=True, error_model="numpy")
def sgd_range(
    p: np.ndarray, g: np.ndarray, lo: int, hi: int, c: np.ndarray, use_l2: bool,
    zero_grads: bool,
) -> None:  # fmt: skip
    """SGD on elements [lo, hi); c = [l2_reg, lr] in the dtype."""
    _sgd_elements(p[lo:hi], g[lo:hi], c, use_l2)
    if zero_grads:
        g[lo:hi] = 0


@nb.njit(cache=True, error_model="numpy")
def _sgd_elements(p: np.ndarray, g: np.ndarray, c: np.ndarray, use_l2: bool) -> None:
    l2, lr = c[0], c[1]  # whole slices, as `_adam_elements`, so that LLVM vectorises
    for j in range(p.shape[0]):
        grad = g[j]
        if use_l2:
            grad = grad + p[j] * l2
        p[j] = p[j] - grad * lr


@nb.njit(cache=True, error_model="numpy", parallel=True)
def adam_step(
    p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, c: np.ndarray, use_l2: bool,
    zero_grads: bool,
) -> None:  # fmt: skip
    """One Adam step over the flat vector p (constants c from `adam_constants`); with
    `zero_grads` the gradient is cleared behind the update (a grid's next scatter needs 0)."""
    n = p.shape[0]
    for block in nb.prange((n + BLOCK - 1) // BLOCK):
        adam_range(p, g, m, v, block * BLOCK, min((block + 1) * BLOCK, n), c, use_l2, zero_grads)


@nb.njit(cache=True, error_model="numpy", parallel=True)
def sgd_step(p: np.ndarray, g: np.ndarray, c: np.ndarray, use_l2: bool, zero_grads: bool) -> None:
    """One SGD step over the flat vector p (c = [l2_reg, lr] in p's dtype)."""
    n = p.shape[0]
    for block in nb.prange((n + BLOCK - 1) // BLOCK):
        sgd_range(p, g, block * BLOCK, min((block + 1) * BLOCK, n), c, use_l2, zero_grads)


@nb.njit(cache=True, error_model="numpy")
def transpose_weights(
    params: np.ndarray, sizes: np.ndarray, w_offsets: np.ndarray, transposed: np.ndarray
) -> None:
    """transposed[layer] = W_layer^T (in, out), for the forward products."""
    for layer in range(sizes.shape[0] - 1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w0 = w_offsets[layer]
        for o in range(n_out):
            for i in range(n_in):
                transposed[w0 + i * n_out + o] = params[w0 + o * n_in + i]


def adam_constants(
    dtype: np.dtype, lr: float, betas: tuple[float, float], eps: float, l2_reg: float, t: int
) -> np.ndarray:
    """The constants of Adam's step t (1-based), each rounded once to `dtype` as NumPy does."""
    beta1, beta2 = betas
    step_size = lr / (1.0 - beta1**t)
    correction = math.sqrt(1.0 - beta2**t)
    values = [l2_reg, beta1, 1.0 - beta1, beta2, 1.0 - beta2, correction, eps, step_size]
    return np.array(values, dtype)


@nb.njit(cache=True, error_model="numpy")
def network_step(
    code: int, partial: np.ndarray, n_rows: int, g: np.ndarray, p: np.ndarray, m: np.ndarray,
    v: np.ndarray, c: np.ndarray, use_l2: bool, sizes: np.ndarray, w_offsets: np.ndarray,
    transposed: np.ndarray,
) -> None:  # fmt: skip
    """The network's whole update in one call: `reduce_gradients`, then Adam (code ADAM) or
    SGD, then `transpose_weights`; the same bits as the three calls, with one dispatch from
    Python instead of three (tens of microseconds a step, a few percent of it)."""
    reduce_gradients(partial, n_rows, g)
    if code == ADAM:
        adam_range(p, g, m, v, 0, p.shape[0], c, use_l2, False)
    else:
        sgd_range(p, g, 0, p.shape[0], c, use_l2, False)
    transpose_weights(p, sizes, w_offsets, transposed)
