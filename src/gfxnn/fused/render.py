"""Inference of the fused path: a batch of inputs, or a whole regular grid (an image).

The grid convention is `gfxnn.fields.trainer.Trainer.render`'s: for a grid of shape
(n_{d-1}, ..., n_0) the input dimension k runs along array axis d - 1 - k (an image (H, W) puts
u along the width), and sample i along an axis of size n sits at i / (n - 1) (0 when n is 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.fused.encoding import FusedFrequency, FusedIdentity
from gfxnn.fused.mlp import FusedMLP

INFERENCE_CHUNK = 16384  # inputs per inference pass: buffers stay in cache-friendly sizes


def axis_samples(n: int, dtype: Any) -> np.ndarray:
    """The n sample positions i / (n - 1) along one grid axis (0 when n is 1)."""
    return (np.arange(n) / max(n - 1, 1)).astype(dtype)


def infer(encoder: Any, mlp: FusedMLP, inputs: np.ndarray) -> np.ndarray:
    """(N, n_out) network output for inputs (N, n_input_dims), encoded chunk by chunk."""
    dtype = mlp.dtype
    n = inputs.shape[0]
    out = np.empty((n, mlp.sizes[-1]), dtype)
    rows = min(n, INFERENCE_CHUNK)
    features = np.empty((rows, encoder.n_output_dims), dtype)
    scratch = encoder.make_scratch(rows, dtype)
    for start in range(0, n, rows):
        chunk = np.ascontiguousarray(inputs[start : start + rows], dtype)
        size = chunk.shape[0]
        if size < rows:  # the last, shorter chunk
            scratch = encoder.make_scratch(size, dtype)
        encoder.encode(chunk, features[:size], scratch)
        mlp.infer(features[:size], out[start : start + size])
    return out


def render_grid(encoder: Any, mlp: FusedMLP, shape: tuple[int, ...]) -> np.ndarray:
    """(*shape, n_out) output on the regular grid of `shape` (see the module docstring)."""
    dtype = mlp.dtype
    if len(shape) == 2:
        height, width = shape
        u, v = axis_samples(width, dtype), axis_samples(height, dtype)
        if getattr(encoder, "separable", False):
            return _render_separable(encoder, mlp, u, v)
        return _render_rows(encoder, mlp, u, v)
    axes = [axis_samples(n, dtype) for n in reversed(shape)]  # input dimension 0 first
    mesh = np.meshgrid(*axes, indexing="ij")  # (n_0, ..., n_{d-1})
    inputs = np.stack([m.T for m in mesh], axis=-1).reshape(-1, len(shape))
    return infer(encoder, mlp, inputs).reshape(*shape, mlp.sizes[-1])


def _render_separable(
    encoder: FusedFrequency | FusedIdentity, mlp: FusedMLP, u: np.ndarray, v: np.ndarray
) -> np.ndarray:
    """The u features depend on u only and the v features on v only: encode each column's u
    and each row's v once, then copy them into the chunks."""
    dtype = mlp.dtype
    width, height = len(u), len(v)
    n_features = encoder.n_output_dims
    half = n_features // 2  # both encodings give the u features first, then the v features
    encoded_u = np.empty((width, half), dtype)
    encoded_v = np.empty((height, half), dtype)
    one_d = _one_dim_like(encoder)
    one_d.encode(u[:, None], encoded_u, one_d.make_scratch(width, dtype))
    one_d.encode(v[:, None], encoded_v, one_d.make_scratch(height, dtype))
    n_out = mlp.sizes[-1]
    image = np.empty((height, width, n_out), dtype)
    rows = max(1, INFERENCE_CHUNK // width)
    features = np.empty((rows, width, n_features), dtype)
    for top in range(0, height, rows):
        n_rows = min(rows, height - top)
        chunk = features[:n_rows]
        chunk[:, :, :half] = encoded_u[None, :, :]
        chunk[:, :, half:] = encoded_v[top : top + n_rows, None, :]
        mlp.infer(
            chunk.reshape(n_rows * width, n_features),
            image[top : top + n_rows].reshape(n_rows * width, n_out),
        )
    return image


def _render_rows(encoder: Any, mlp: FusedMLP, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Inference for encodings that are not separable: encode each chunk of rows whole."""
    dtype = mlp.dtype
    width, height = len(u), len(v)
    n_out = mlp.sizes[-1]
    image = np.empty((height, width, n_out), dtype)
    rows = max(1, INFERENCE_CHUNK // width)
    uv = np.empty((rows, width, 2), dtype)
    uv[:, :, 0] = u[None, :]
    features = np.empty((rows * width, encoder.n_output_dims), dtype)
    scratch = encoder.make_scratch(rows * width, dtype)
    for top in range(0, height, rows):
        n_rows = min(rows, height - top)
        n = n_rows * width
        uv[:n_rows, :, 1] = v[top : top + n_rows, None]
        if n < rows * width:  # the last, shorter chunk
            scratch = encoder.make_scratch(n, dtype)
        encoder.encode(uv[:n_rows].reshape(n, 2), features[:n], scratch)
        mlp.infer(features[:n], image[top : top + n_rows].reshape(n, n_out))
    return image


def _one_dim_like(encoder: FusedFrequency | FusedIdentity) -> FusedFrequency | FusedIdentity:
    """The same encoding for a single input dimension."""
    if isinstance(encoder, FusedFrequency):
        return FusedFrequency(encoder.n_frequencies, n_input_dims=1)
    return FusedIdentity(n_input_dims=1)
