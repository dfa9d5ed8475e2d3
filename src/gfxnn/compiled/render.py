"""Inference of a whole image (H, W) in one parallel kernel, with the first layer separated.

For a separable encoding of (u, v) (Frequency, Identity: the first half of the features
depends on u only, the second half on v only) the first layer splits as well:

    z_1[y, x] = W_1 [f(u_x); f(v_y)] + b_1 = (W_1^u f(u_x)) + (W_1^v f(v_y) + b_1)

so the column terms (W x n_1) and the row terms (H x n_1) are computed once, on the host, and
each pixel's z_1 is one addition: the largest of the network's products (K = 32 features) costs
W + H rows instead of W H. The kernel then runs every pixel tile (`tile_rows` pixels, in
cache) through the activation and the remaining layers, chunks of tiles spread over the
threads. The values are the NumPy renderer's up to summation order (the first layer's sum is
split in two; tests/test_compiled.py compares the two).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from gfxnn.compiled import encode
from gfxnn.compiled.activations import activate_biased, activation_value
from gfxnn.compiled.narrow import layer_product


@nb.njit(cache=True, error_model="numpy")
def _render_chunk(
    lo: int, hi: int, width: int, columns: np.ndarray, rows_part: np.ndarray,
    params: np.ndarray, transposed: np.ndarray, sizes: np.ndarray, w_offsets: np.ndarray,
    b_offsets: np.ndarray, act_codes: np.ndarray, k: np.ndarray, tile_rows: int,
    mine: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """Pixels [lo, hi) (p = y W + x) tile by tile into out[lo:hi]; `mine` is the scratch."""
    n_layers = sizes.shape[0] - 1
    widest = 0
    for size in sizes[1:]:
        widest = max(widest, size)
    for start in range(lo, hi, tile_rows):
        stop = min(start + tile_rows, hi)
        rows = stop - start
        n1 = sizes[1]
        a = mine[: rows * n1].reshape((rows, n1))
        first = act_codes[0]
        for t in range(rows):
            p = start + t
            column, row = columns[p % width], rows_part[p // width]
            for o in range(n1):
                a[t, o] = activation_value(first, column[o] + row[o], k)
        inputs = a
        for layer in range(1, n_layers):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            # Ping-pong: layer l writes where layer l - 1 did not (slots 0 and 1 of widest).
            at = 0 if layer % 2 == 0 else rows * widest
            if layer == n_layers - 1:
                target = out[start:stop]
            else:
                target = mine[at : at + rows * n_out].reshape((rows, n_out))
            w0 = w_offsets[layer]
            w_t = transposed[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
            bias = params[b_offsets[layer] : b_offsets[layer] + n_out]
            weight = params[w0 : w0 + n_out * n_in].reshape((n_out, n_in))
            layer_product(inputs, weight, w_t, target)
            activate_biased(act_codes[layer], target, bias, k)  # no derivative: inference
            inputs = target
        if n_layers == 1:
            out[start:stop] = a


@nb.njit(cache=True, error_model="numpy", parallel=True)
def render_chunks(
    width: int, columns: np.ndarray, rows_part: np.ndarray, params: np.ndarray,
    transposed: np.ndarray, sizes: np.ndarray, w_offsets: np.ndarray, b_offsets: np.ndarray,
    act_codes: np.ndarray, k: np.ndarray, tile_rows: int, scratch: np.ndarray,
    out: np.ndarray,
) -> None:  # fmt: skip
    """out (H W, C): the network at every pixel, from the first layer's column terms
    (W, n_1) and row terms (H, n_1, bias included); scratch (n_chunks, 2 tile_rows widest)."""
    n_chunks = scratch.shape[0]
    n = out.shape[0]
    for c in nb.prange(n_chunks):
        _render_chunk(
            c * n // n_chunks, (c + 1) * n // n_chunks, width, columns, rows_part, params,
            transposed, sizes, w_offsets, b_offsets, act_codes, k, tile_rows, scratch[c], out,
        )  # fmt: skip


def axis_features(kind: int, values: np.ndarray, samples: np.ndarray) -> np.ndarray:
    """The features of one input dimension at `samples` (n,): (n, 2F) for Frequency, (n, 1)
    for Identity, by the training kernels' own encoders (the same bits)."""
    x = np.ascontiguousarray(samples[:, None])
    if kind == encode.FREQUENCY:
        n_frequencies = values.shape[0] - encode.N_FREQUENCY_CONSTANTS
        out = np.empty((len(samples), 2 * n_frequencies), values.dtype)
        encode.frequency_rows(x, 0, len(samples), values, out)
    else:
        out = np.empty((len(samples), 1), values.dtype)
        encode.identity_rows(x, 0, len(samples), values, out)
    return out
