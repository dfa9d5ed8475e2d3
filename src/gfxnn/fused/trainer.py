"""`FusedTrainer`: encoding + MLP + MSE loss + optimizer as one training step on fixed buffers."""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.fused.encoding import FusedFrequency, FusedIdentity
from gfxnn.fused.mlp import FusedMLP
from gfxnn.fused.optim import FusedAdam, FusedSGD
from gfxnn.losses import RELATIVE_L2_EPSILON

Optimizer = FusedAdam | FusedSGD

INFERENCE_CHUNK = 16384  # pixels per inference pass: buffers stay in cache-friendly sizes


def l2_loss(output: np.ndarray, residual: np.ndarray) -> float:
    """mean(r^2) over the batch and channels, r = y - t; residual becomes dL/dy = 2 r / N."""
    flat = residual.reshape(-1)
    loss = float(np.dot(flat, flat)) / flat.size
    np.multiply(residual, residual.dtype.type(2.0 / flat.size), out=residual)
    return loss


def relative_l2_loss(output: np.ndarray, residual: np.ndarray) -> float:
    """tiny-cuda-nn's RelativeL2, mean(r^2 / (y^2 + 0.01)) with the denominator held constant
    (as `gfxnn.losses.relative_l2`); residual becomes dL/dy = 2 r / ((y^2 + 0.01) N)."""
    denominator = output * output
    denominator += RELATIVE_L2_EPSILON
    np.divide(residual, denominator, out=denominator)  # r / (y^2 + 0.01)
    n = residual.size
    loss = float(np.dot(residual.reshape(-1), denominator.reshape(-1))) / n
    np.multiply(denominator, residual.dtype.type(2.0 / n), out=residual)
    return loss


def l1_loss(output: np.ndarray, residual: np.ndarray) -> float:
    """mean(|r|); residual becomes dL/dy = sign(r) / N (0 where r = 0, as `gfxnn.losses.l1`)."""
    n = residual.size
    loss = float(np.abs(residual).sum()) / n
    np.sign(residual, out=residual)
    np.multiply(residual, residual.dtype.type(1.0 / n), out=residual)
    return loss


#: name -> loss function(output, residual = output - target) writing dL/dy into residual.
LOSSES = {"l2": l2_loss, "relative_l2": relative_l2_loss, "l1": l1_loss}


class FusedTrainer:
    """One training step split into Dx12NN's two phases:

    compute_gradients(uv, target): encode, forward, loss (L2 by default), backward (gradients into
        `mlp.grads`, and into `encoder.grads` for a trainable encoding such as the hash grid);
        the loss L = mean((y - t)^2) over the batch and the channels gives
        dL/dy = 2 (y - t) / (B C).
    update(): the optimizer step (the network's, then the encoding's own optimizer).

    A trainable encoder has `params`, `grads` and `backward(grad_features)`; it needs
    `encoder_optimizer`, which may have its own learning rate and epsilon (tiny-cuda-nn
    trains hash grids with Adam's epsilon at 1e-15).
    """

    def __init__(
        self,
        encoder: Any,
        mlp: FusedMLP,
        optimizer: Optimizer,
        encoder_optimizer: Optimizer | None = None,
        loss: str = "l2",
    ) -> None:
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r}; the fused path supports {list(LOSSES)}")
        self.loss = loss
        self.encoder = encoder
        self.mlp = mlp
        self.optimizer = optimizer
        self.trains_encoder = hasattr(encoder, "backward")
        if self.trains_encoder and encoder_optimizer is None:
            raise ValueError(f"{type(encoder).__name__} is trainable: it needs encoder_optimizer")
        self.encoder_optimizer = encoder_optimizer
        self._batch = -1

    def _allocate(self, batch: int) -> None:
        dtype = self.mlp.dtype
        self._features = np.empty((batch, self.encoder.n_output_dims), dtype)
        self._scratch = self.encoder.make_scratch(batch, dtype)
        self._batch = batch

    def compute_gradients(self, uv: np.ndarray, target: np.ndarray) -> float:
        """Loss of the batch uv (B, 2) -> target (B, C); gradients only when it is finite."""
        if uv.shape[0] != self._batch:
            self._allocate(uv.shape[0])
        self.encoder.encode(uv, self._features, self._scratch)
        output = self.mlp.forward(self._features)
        residual = self.mlp.output_grad
        np.subtract(output, target, out=residual)
        loss = LOSSES[self.loss](output, residual)
        if not np.isfinite(loss):
            return loss
        self.mlp.backward(input_grad=self.trains_encoder)
        if self.trains_encoder:
            self.encoder.backward(self.mlp.input_grad)
        return loss

    def update(self) -> None:
        self.optimizer.step()
        if self.encoder_optimizer is not None:
            self.encoder_optimizer.step()

    def render(self, width: int, height: int) -> np.ndarray:
        """(height, width, C) output with pixel (x, y) at uv = (x / (width-1), y / (height-1))
        (0 along an axis of size 1)."""
        dtype = self.mlp.dtype
        u = (np.arange(width) / max(width - 1, 1)).astype(dtype)
        v = (np.arange(height) / max(height - 1, 1)).astype(dtype)
        if not getattr(self.encoder, "separable", False):
            return self._render_rows(u, v)
        n_features = self.encoder.n_output_dims
        half = n_features // 2  # both encodings give the u features first, then the v features
        # The encoding is separable: encode each column's u and each row's v once, then copy.
        encoded_u = np.empty((width, half), dtype)
        encoded_v = np.empty((height, half), dtype)
        one_d = _one_dim_like(self.encoder)
        one_d.encode(u[:, None], encoded_u, one_d.make_scratch(width, dtype))
        one_d.encode(v[:, None], encoded_v, one_d.make_scratch(height, dtype))
        n_out = self.mlp.sizes[-1]
        image = np.empty((height, width, n_out), dtype)
        rows = max(1, INFERENCE_CHUNK // width)
        features = np.empty((rows, width, n_features), dtype)
        for top in range(0, height, rows):
            n_rows = min(rows, height - top)
            chunk = features[:n_rows]
            chunk[:, :, :half] = encoded_u[None, :, :]
            chunk[:, :, half:] = encoded_v[top : top + n_rows, None, :]
            self.mlp.infer(
                chunk.reshape(n_rows * width, n_features),
                image[top : top + n_rows].reshape(n_rows * width, n_out),
            )
        return image

    def _render_rows(self, u: np.ndarray, v: np.ndarray) -> np.ndarray:
        """Inference for encodings that are not separable: encode each chunk of rows whole."""
        dtype = self.mlp.dtype
        width, height = len(u), len(v)
        n_out = self.mlp.sizes[-1]
        image = np.empty((height, width, n_out), dtype)
        rows = max(1, INFERENCE_CHUNK // width)
        uv = np.empty((rows, width, 2), dtype)
        uv[:, :, 0] = u[None, :]
        features = np.empty((rows * width, self.encoder.n_output_dims), dtype)
        scratch = self.encoder.make_scratch(rows * width, dtype)
        for top in range(0, height, rows):
            n_rows = min(rows, height - top)
            n = n_rows * width
            uv[:n_rows, :, 1] = v[top : top + n_rows, None]
            if n < rows * width:  # the last, shorter chunk
                scratch = self.encoder.make_scratch(n, dtype)
            self.encoder.encode(uv[:n_rows].reshape(n, 2), features[:n], scratch)
            self.mlp.infer(features[:n], image[top : top + n_rows].reshape(n, n_out))
        return image


def _one_dim_like(encoder: FusedFrequency | FusedIdentity) -> FusedFrequency | FusedIdentity:
    """The same encoding for a single input dimension."""
    if isinstance(encoder, FusedFrequency):
        return FusedFrequency(encoder.n_frequencies, n_input_dims=1)
    return FusedIdentity(n_input_dims=1)
