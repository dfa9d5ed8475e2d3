"""The matrix layouts that convolution runs on (im2col), and its input gradient.

A convolution is one matrix product once every receptive field is a column: im2col's matrix
of a zero-padded channel-major image (C, N, Hp, Wp) is (C*KH*KW, N*OH*OW), one column per
output pixel of the whole batch, and `w.reshape(O, -1) @ cols` is the output (O, N*OH*OW).
`windows` is that matrix as a strided view; `conv_product` and `weight_gradient` copy it a
cache-sized chunk of columns at a time (`chunks`, on the engine's worker threads), right
before the product reads it, instead of writing the whole matrix to memory first.

Channel-major (C, N, H, W) rather than NCHW or channels-last: moving between it and NCHW
only swaps whole images (runs of H*W contiguous values), a plain copy, while a channels-last
transpose was 8x slower than a copy on the project's VM (64 channels at a 16 KiB stride),
more than the channels-last product layout gained.

With stride 1 the input gradient is itself a convolution (of the output gradient with the
flipped kernel), so `input_gradient` gathers instead of scattering when that copies no more;
the scatter form (`col2im` of a (C*KH*KW, N*OH*OW) product, one strided add per kernel tap)
serves the rest.
"""

from __future__ import annotations

import threading

import numpy as np
from numpy.lib.stride_tricks import as_strided

from gfxnn import parallel

IntPairT = tuple[int, int]

# Values in one chunk of im2col's matrix (1 MiB in float32). Measured on the project's VM (L2
# 512 KiB per core), 64 -> 64 3x3 layer on 16 64x64 images, forward + backward, idle: 2^18
# ran 341-370 ms, 2^17 373-433, 2^16 520, 2^19 352, 1.5 x 2^18 380 (alternating processes,
# 2026-12-01). 2^17 had been chosen on the machine under load, where a smaller chunk wins.
CHUNK_VALUES = 1 << 18
# Chunks per task of the weight gradient (its partial sums are added in this fixed grouping).
GROUP = 8


def tap_slices(kh: int, kw: int, out: IntPairT, stride: IntPairT, dilation: IntPairT) -> tuple:
    """The (rows, columns) slices of a padded image that kernel tap (kh, kw) reads."""
    top, left = kh * dilation[0], kw * dilation[1]
    return (
        slice(top, top + stride[0] * (out[0] - 1) + 1, stride[0]),
        slice(left, left + stride[1] * (out[1] - 1) + 1, stride[1]),
    )


def to_padded_cn(x: np.ndarray, padding: IntPairT) -> np.ndarray:
    """(N, C, H, W) -> zero-padded (C, N, H + 2 ph, W + 2 pw), the layout im2col reads fastest."""
    n, c, h, w = x.shape
    xp = np.zeros((c, n, h + 2 * padding[0], w + 2 * padding[1]), dtype=x.dtype)
    xp[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w] = x.transpose(1, 0, 2, 3)
    return xp


def from_padded_cn(xp: np.ndarray, padding: IntPairT, size: IntPairT) -> np.ndarray:
    """The inverse of `to_padded_cn` (the padding is cropped away): (N, C, H, W)."""
    inner = xp[:, :, padding[0] : padding[0] + size[0], padding[1] : padding[1] + size[1]]
    return np.ascontiguousarray(inner.transpose(1, 0, 2, 3))


def to_matrix(y: np.ndarray) -> np.ndarray:
    """(N, O, H, W) -> (O, N*H*W): channels as rows, every pixel of the batch as a column."""
    return y.transpose(1, 0, 2, 3).reshape(y.shape[1], -1)


def from_matrix(y: np.ndarray, n: int, size: IntPairT) -> np.ndarray:
    """(O, N*H*W) -> (N, O, H, W)."""
    return np.ascontiguousarray(y.reshape(y.shape[0], n, *size).transpose(1, 0, 2, 3))


def windows(
    xp: np.ndarray, kernel: IntPairT, out: IntPairT, stride: IntPairT, dilation: IntPairT
) -> np.ndarray:
    """Every receptive field of the padded (C, N, Hp, Wp) input, as a read-only strided view
    (C, KH, KW, N, OH, OW) of it: im2col's matrix (C*KH*KW, N*OH*OW) before the copy."""
    c, n = xp.shape[:2]
    s_c, s_n, s_h, s_w = xp.strides
    return as_strided(
        xp,
        shape=(c, kernel[0], kernel[1], n, out[0], out[1]),
        strides=(s_c, s_h * dilation[0], s_w * dilation[1], s_n, s_h * stride[0], s_w * stride[1]),
        writeable=False,
    )


def chunks(view: np.ndarray) -> list[tuple[slice, slice]]:
    """im2col's matrix of `view` in chunks of columns: (images, output rows) index pairs.

    A chunk is a band of output rows of one image, or several whole images, holding about
    CHUNK_VALUES values, so that it is still in cache when the product reads it: making the
    whole (C*KH*KW, N*OH*OW) matrix first wrote (and the product read back) 151 MB for a
    64 -> 64 3x3 layer on 16 64x64 images, and ran 1.5-2.5x slower on a busy machine.
    """
    c, kh, kw, n, oh, ow = view.shape
    rows_per_chunk = max(1, CHUNK_VALUES // (c * kh * kw * ow))
    if rows_per_chunk >= oh:
        per_chunk = rows_per_chunk // oh
        return [(slice(i, min(i + per_chunk, n)), slice(0, oh)) for i in range(0, n, per_chunk)]
    return [
        (slice(i, i + 1), slice(top, min(top + rows_per_chunk, oh)))
        for i in range(n)
        for top in range(0, oh, rows_per_chunk)
    ]


# Each worker thread copies its chunks into one buffer of its own, kept between calls: a
# fresh array per chunk (about 0.5 MB, above glibc's default mmap threshold) would be mapped,
# faulted in and unmapped again for every chunk.
_scratch = threading.local()


def columns(view: np.ndarray, chunk: tuple[slice, slice]) -> tuple[int, int, np.ndarray]:
    """One chunk of im2col's matrix, copied into this thread's buffer (valid until its next
    call on this thread): (start, stop, its columns start:stop)."""
    c, kh, kw, n, oh, ow = view.shape
    images, rows = chunk
    block = view[:, :, :, images, rows]
    buffer = getattr(_scratch, "buffer", None)
    if buffer is None or buffer.size < block.size or buffer.dtype != block.dtype:
        buffer = _scratch.buffer = np.empty(max(block.size, CHUNK_VALUES), dtype=block.dtype)
    cols = buffer[: block.size].reshape(block.shape)
    np.copyto(cols, block)
    start = (images.start * oh + rows.start) * ow
    return start, start + block.size // (c * kh * kw), cols.reshape(c * kh * kw, -1)


def conv_product(w_mat: np.ndarray, view: np.ndarray) -> np.ndarray:
    """w_mat (O, C*KH*KW) @ im2col's matrix of `view` (`windows`): (O, N*OH*OW), chunk by
    chunk on the engine's worker threads (`gfxnn.parallel`)."""
    n, oh, ow = view.shape[3:]
    y = np.empty((w_mat.shape[0], n * oh * ow), dtype=w_mat.dtype)

    def one_chunk(chunk: tuple[slice, slice]) -> None:
        start, stop, cols = columns(view, chunk)
        np.matmul(w_mat, cols, out=y[:, start:stop])

    with parallel.one_blas_thread():
        for _ in parallel.ordered_map(one_chunk, chunks(view)):
            pass
    return y


def weight_gradient(g_mat: np.ndarray, view: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """dL/dW = g_mat (O, N*OH*OW) @ im2col's matrix of `view` transposed, reshaped to `shape`:
    the sum of cols @ g_mat^T over the chunks, GROUP chunks per task, the groups' sums added
    in order (so the same bits at any thread count; with thousands of columns OpenBLAS runs
    this operand order faster than g_mat @ cols^T)."""
    every = chunks(view)
    groups = [every[i : i + GROUP] for i in range(0, len(every), GROUP)]

    def one_group(group: list[tuple[slice, slice]]) -> np.ndarray:
        total = None
        for chunk in group:
            start, stop, cols = columns(view, chunk)
            part = cols @ g_mat[:, start:stop].T
            total = part if total is None else np.add(total, part, out=total)
        assert total is not None
        return total

    total = np.zeros((g_mat.shape[0], int(np.prod(shape[1:]))), dtype=g_mat.dtype).T
    with parallel.one_blas_thread():
        for part in parallel.ordered_map(one_group, groups):
            total += part
    return np.ascontiguousarray(total.T).reshape(shape)


def col2im(
    cols: np.ndarray,
    padded_shape: tuple[int, int, int, int],
    kernel: IntPairT,
    out: IntPairT,
    stride: IntPairT,
    dilation: IntPairT,
) -> np.ndarray:
    """The adjoint of `im2col`: add each column entry back to the (C, N, Hp, Wp) pixel it
    was gathered from, one strided add per kernel tap."""
    c, n = padded_shape[:2]
    taps = cols.reshape(c, kernel[0], kernel[1], n, out[0], out[1])
    image = np.zeros(padded_shape, dtype=cols.dtype)
    for kh in range(kernel[0]):
        for kw in range(kernel[1]):
            image[(slice(None), slice(None), *tap_slices(kh, kw, out, stride, dilation))] += taps[
                :, kh, kw
            ]
    return image


def input_gradient(
    g: np.ndarray,
    w: np.ndarray,
    in_size: IntPairT,
    stride: IntPairT,
    padding: IntPairT,
    dilation: IntPairT,
) -> np.ndarray:
    """dL/dx of y = conv2d(x, w) for the output gradient g (N, O, OH, OW): (N, C, H, W).

    Per axis, dx[c, h] = sum over o, k of w[o, c, k] g[o, h + p - k d]. With stride 1 that
    is the correlation of g, zero-padded by d (K - 1) - p, with the kernel flipped and its
    channel axes swapped: a gather and one product. Otherwise (or when the padding exceeds
    the kernel's reach, d (K - 1), or the gather would copy more than the scatter writes)
    the product's columns are scattered back tap by tap.
    """
    kernel, n, out = (w.shape[2], w.shape[3]), g.shape[0], (g.shape[2], g.shape[3])
    reach = (dilation[0] * (kernel[0] - 1) - padding[0], dilation[1] * (kernel[1] - 1) - padding[1])
    # The gather copies O*KH*KW values per input pixel, the scatter's product writes C*KH*KW
    # per output pixel: gather when that is no more (64 -> 64 3x3: 1.6x faster; LeNet's
    # 6 -> 16 5x5 on 14x14 would gather 5x more values than the scatter writes).
    smaller = w.shape[0] * in_size[0] * in_size[1] <= w.shape[1] * out[0] * out[1]
    if stride == (1, 1) and min(reach) >= 0 and smaller:
        flipped = np.flip(w, (2, 3)).swapaxes(0, 1).reshape(w.shape[1], -1)  # (C, O*KH*KW)
        view = windows(to_padded_cn(g, reach), kernel, in_size, stride, dilation)
        return from_matrix(conv_product(flipped, view), n, in_size)
    padded = (w.shape[1], n, in_size[0] + 2 * padding[0], in_size[1] + 2 * padding[1])
    w_mat = w.reshape(w.shape[0], -1)
    image = col2im(parallel.product(w_mat.T, to_matrix(g)), padded, kernel, out, stride, dilation)
    return from_padded_cn(image, padding, in_size)
