"""The compiled training step: sampling, encoding, forward, loss and backward of a batch.

The batch is split into a fixed number of chunks (`n_chunks`, a function of the batch size
only, never of the thread count); each chunk runs on one thread, tile by tile (`tile_rows`
rows, sized so a tile's activations stay in L2 cache), and writes its own partial gradient
row. `optim.reduce_gradients` then sums the rows in chunk order, so a step gives the same
bits with 1 thread or 16.

A tile's matrix products of float32 layers 16, 32, 48... wide go to `compiled.blocked`
(register-blocked FMA blocks, 1.2-2.4x OpenBLAS on these shapes on one core), the others to
BLAS (`np.dot` in Numba calls the BLAS of SciPy directly, without NumPy's per-call
overhead), a layer of at most 8 outputs to `compiled.narrow`; everything between them
(bias, activation and its derivative, loss, gradient of the loss, bias gradients) is one
pass over rows that are still in cache. Layer l maps x_l (T, n_l) to z_l = x_l W_l^T + b_l
and a_l = act_l(z_l); backward, with g_l = dL/da_l:
    dz = g_l * act'(z_l);  dW_l = dz^T x_l;  db_l = 1^T dz;  g_{l-1} = dz W_l.

Parameters are one flat vector (weight (out, in) row-major, then bias, layer by layer: the
layout of `gfxnn.fused.FusedMLP`); `transposed` holds each W_l^T for the forward product.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from gfxnn.compiled import encode
from gfxnn.compiled.activations import K_LOSS_SCALE, K_REL_EPS, activate_tile, backward_tile
from gfxnn.compiled.narrow import (
    NARROW,
    input_grad_product,
    layer_product,
    narrow_backward,
    weight_grad_product,
)

L2, RELATIVE_L2, L1 = range(3)
LOSS_CODES = {"l2": L2, "relative_l2": RELATIVE_L2, "l1": L1}


@nb.njit(cache=True, error_model="numpy")
def _sample_rows(
    x: np.ndarray, lo: int, hi: int, texels: np.ndarray, image_size: np.ndarray,
    image_scale: np.ndarray, targets: np.ndarray,
) -> None:  # fmt: skip
    """targets[t] = texels[y * width + x] with x = min(int(u W), W - 1), y likewise (Dx12NN);
    u W is rounded in the dtype (image_scale = [W, H] in it), as NumPy's sampler rounds it."""
    width, height = image_size[0], image_size[1]
    for t in range(lo, hi):
        column = min(np.int64(x[t, 0] * image_scale[0]), width - 1)
        row = min(np.int64(x[t, 1] * image_scale[1]), height - 1)
        for c in range(targets.shape[1]):
            targets[t, c] = texels[row * width + column, c]


@nb.njit(cache=True, error_model="numpy")
def _loss_rows(
    code: int, y: np.ndarray, targets: np.ndarray, lo: int, g: np.ndarray, k: np.ndarray
) -> float:
    """g = dL/dy of the tile's outputs y (T, C) (rows lo.. of targets); returns the tile's
    unnormalised loss sum (float64): sum r^2, sum r^2 / (y^2 + eps) or sum |r|."""
    total = 0.0
    scale = k[K_LOSS_SCALE]
    for t in range(y.shape[0]):
        for c in range(y.shape[1]):
            r = y[t, c] - targets[lo + t, c]
            if code == L2:
                total += np.float64(r * r)
                g[t, c] = r * scale
            elif code == RELATIVE_L2:
                quotient = r / (y[t, c] * y[t, c] + k[K_REL_EPS])
                total += np.float64(r * quotient)
                g[t, c] = quotient * scale
            else:
                total += np.float64(abs(r))
                sign = (r > 0) - (r < 0)
                g[t, c] = sign * scale
    return total


@nb.njit(cache=True, error_model="numpy")
def _encode_rows(
    kind: int, x: np.ndarray, lo: int, hi: int, enc_values: np.ndarray, table: np.ndarray,
    grid_levels: tuple, grid_ints: np.ndarray, host_features: np.ndarray, k: np.ndarray,
    out: np.ndarray,
) -> None:  # fmt: skip
    if kind == encode.FREQUENCY:
        encode.frequency_rows(x, lo, hi, enc_values, out)
    elif kind == encode.IDENTITY:
        encode.identity_rows(x, lo, hi, enc_values, out)
    elif kind == encode.LEVELS:  # row t of level l is host_features[l B + t]
        per_level = host_features.shape[1]
        batch = x.shape[0]
        for level in range(out.shape[1] // per_level):
            rows = host_features[level * batch + lo : level * batch + hi]
            out[:, level * per_level : (level + 1) * per_level] = rows
    elif kind == encode.GRID:  # (2-D grids come gathered: kind LEVELS)
        scales, offsets, sizes, resolutions, hashed = grid_levels
        encode.grid_rows(
            x, lo, hi, table, scales, offsets, sizes, resolutions, hashed,
            grid_ints[0], grid_ints[1], k, out,
        )  # fmt: skip
    else:
        out[:, :] = host_features[lo:hi]


@nb.njit(cache=True, error_model="numpy")
def _layer_forward(
    inputs: np.ndarray, weight: np.ndarray, transposed: np.ndarray, bias: np.ndarray,
    code: int, a: np.ndarray, d: np.ndarray, k: np.ndarray,
) -> None:  # fmt: skip
    layer_product(inputs, weight, transposed, a)
    activate_tile(code, a, bias, d, k)


@nb.njit(cache=True, error_model="numpy")
def _train_chunk(
    lo: int, hi: int, x: np.ndarray, targets: np.ndarray, texels: np.ndarray,
    image_size: np.ndarray, image_scale: np.ndarray, kind: int, enc_values: np.ndarray,
    table: np.ndarray, grid_levels: tuple, grid_ints: np.ndarray, host_features: np.ndarray,
    params: np.ndarray, transposed: np.ndarray, sizes: np.ndarray, w_offsets: np.ndarray,
    b_offsets: np.ndarray, act_codes: np.ndarray, loss_code: int, k: np.ndarray,
    tile_rows: int, mine: np.ndarray, grads: np.ndarray, feature_grads: np.ndarray,
    out: np.ndarray,
) -> float:  # fmt: skip
    """Rows [lo, hi) tile by tile: gradient sums into `grads`, returns the loss sum; `mine`
    is this chunk's scratch. Inference when `out` has rows: the outputs go to out[lo:hi] and
    there is no loss or backward (one kernel serves both, so it compiles once)."""
    n_layers = sizes.shape[0] - 1
    widest = 0
    for size in sizes[1:]:
        widest = max(widest, size)
    if lo == hi:
        grads[:] = 0
    for layer in range(n_layers):  # the first tile writes the weight gradients, not adds
        grads[b_offsets[layer] : b_offsets[layer] + sizes[layer + 1]] = 0
    loss = 0.0
    for start in range(lo, hi, tile_rows):
        stop = min(start + tile_rows, hi)
        rows = stop - start
        # Tile buffers, carved from this chunk's scratch row: features, then a_l and d_l
        # of every layer, then two ping-pong gradient buffers and one weight gradient.
        at = rows * sizes[0]
        features = mine[:at].reshape((rows, sizes[0]))
        if image_size[0] > 0:
            _sample_rows(x, start, stop, texels, image_size, image_scale, targets)
        _encode_rows(
            kind, x, start, stop, enc_values, table, grid_levels, grid_ints,
            host_features, k, features,
        )  # fmt: skip
        a_at = np.empty(n_layers, np.int64)  # where each layer's a_l starts (d_l follows)
        for layer in range(n_layers):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            a_at[layer] = at
            a = mine[at : at + rows * n_out].reshape((rows, n_out))
            d = mine[at + rows * n_out : at + 2 * rows * n_out].reshape((rows, n_out))
            at += 2 * rows * n_out
            inputs = features if layer == 0 else _rows(mine, a_at[layer - 1], rows, n_in)
            w0 = w_offsets[layer]
            w_t = transposed[w0 : w0 + n_in * n_out].reshape((n_in, n_out))
            weight = params[w0 : w0 + n_out * n_in].reshape((n_out, n_in))
            bias = params[b_offsets[layer] : b_offsets[layer] + n_out]
            _layer_forward(inputs, weight, w_t, bias, act_codes[layer], a, d, k)
        if out.shape[0] > 0:
            out[start:stop] = _rows(mine, a_at[n_layers - 1], rows, sizes[n_layers])
            continue
        ping = at
        pong = at + rows * widest
        weight_tmp = mine[at + 2 * rows * widest :]
        n_last = sizes[n_layers]
        grad = _rows(mine, ping, rows, n_last)
        output = _rows(mine, a_at[n_layers - 1], rows, n_last)
        loss += _loss_rows(loss_code, output, targets, start, grad, k)
        for layer in range(n_layers - 1, -1, -1):
            n_in, n_out = sizes[layer], sizes[layer + 1]
            d = _rows(mine, a_at[layer] + rows * n_out, rows, n_out)
            bias_grad = grads[b_offsets[layer] : b_offsets[layer] + n_out]
            values = _rows(mine, a_at[layer], rows, n_out)  # act(z): the derivative of ReLUs
            backward_tile(act_codes[layer], grad, values, d, k, bias_grad)
            inputs = features if layer == 0 else _rows(mine, a_at[layer - 1], rows, n_in)
            w0 = w_offsets[layer]
            weight_grad = grads[w0 : w0 + n_out * n_in].reshape((n_out, n_in))
            weight = params[w0 : w0 + n_out * n_in].reshape((n_out, n_in))
            if layer > 0:
                below = _rows(mine, pong, rows, n_in)
            elif feature_grads.shape[0] > 0:
                below = feature_grads[start:stop]
            else:
                below = feature_grads  # no rows: the features' gradient is not wanted
            if n_out <= NARROW:
                narrow_backward(grad, inputs, weight, weight_grad, start > lo, below)
            else:  # the first tile writes dW, later ones add theirs through weight_tmp
                into = weight_grad
                if start > lo:
                    into = weight_tmp[: n_out * n_in].reshape((n_out, n_in))
                weight_grad_product(grad, inputs, into)
                if start > lo:
                    weight_grad += into
                if below.shape[0] > 0:
                    input_grad_product(grad, weight, below)
            if layer > 0:
                grad = below
                ping, pong = pong, ping
    return loss


@nb.njit(cache=True, error_model="numpy")
def _rows(buffer: np.ndarray, at: int, rows: int, width: int) -> np.ndarray:
    """The (rows, width) block of the flat `buffer` that starts at `at`."""
    return buffer[at : at + rows * width].reshape((rows, width))


@nb.njit(cache=True, error_model="numpy", parallel=True)
def train_chunks(
    x: np.ndarray, targets: np.ndarray, texels: np.ndarray, image_size: np.ndarray,
    image_scale: np.ndarray, kind: int, enc_values: np.ndarray, table: np.ndarray,
    grid_levels: tuple, grid_ints: np.ndarray, host_features: np.ndarray,
    params: np.ndarray, transposed: np.ndarray, sizes: np.ndarray, w_offsets: np.ndarray,
    b_offsets: np.ndarray, act_codes: np.ndarray, loss_code: int, k: np.ndarray,
    n_chunks: int, tile_rows: int, scratch: np.ndarray, partial: np.ndarray,
    chunk_losses: np.ndarray, feature_grads: np.ndarray, out: np.ndarray,
) -> None:  # fmt: skip
    """One batch: partial[c] = chunk c's gradient sum, chunk_losses[c] its loss sum (or, when
    `out` (B, C) has rows, only the network's outputs, for inference).

    x (B, d) inputs; targets (B, C) read, or written from `texels` (H W, C) when image_size
    (W, H) is non-zero (nearest-texel sampling). feature_grads (B, n_features) receives
    dL/dfeatures when it has rows (a trained grid needs it)."""
    batch = x.shape[0]
    for c in nb.prange(n_chunks):
        chunk_losses[c] = _train_chunk(
            c * batch // n_chunks, (c + 1) * batch // n_chunks, x, targets, texels,
            image_size, image_scale, kind, enc_values, table, grid_levels, grid_ints,
            host_features, params, transposed, sizes, w_offsets, b_offsets, act_codes,
            loss_code, k, tile_rows, scratch[nb.get_thread_id()], partial[c], feature_grads, out,
        )  # fmt: skip
