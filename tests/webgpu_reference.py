"""Helpers of the WebGPU tests: the adapter check, and the CPU trainer's flat weights and
gradients in `WebGpuTrainer.gradients()`'s layout (network parameters, then the grid table)."""

from __future__ import annotations

import os

import numpy as np
import pytest

from gfxnn.fused import FusedTrainer


def cpu_weights(trainer: FusedTrainer) -> np.ndarray:
    parts = [trainer.mlp.params]
    if hasattr(trainer.encoder, "params"):
        parts.append(trainer.encoder.params)
    return np.concatenate(parts)


def cpu_gradients(trainer: FusedTrainer) -> np.ndarray:
    parts = [trainer.mlp.grads]
    if hasattr(trainer.encoder, "grads"):
        parts.append(trainer.encoder.grads)
    return np.concatenate(parts)


def gpu_weights(state: dict[str, np.ndarray]) -> np.ndarray:
    """A state dict's values flat, in its (network, then table) order."""
    return np.concatenate([value.reshape(-1) for value in state.values()])


# CI sets GFXNN_REQUIRE_SHADER_TOOLS=1: a missing adapter (lavapipe) fails the tests there.
REQUIRED = os.environ.get("GFXNN_REQUIRE_SHADER_TOOLS") == "1"


def require_webgpu() -> None:
    """Skip (or, in CI, fail) when no WebGPU adapter is found, saying why."""
    from gfxnn.webgpu import NoAdapterError, get_gpu

    try:
        get_gpu()
    except NoAdapterError as error:
        if REQUIRED:
            pytest.fail(f"{error} (GFXNN_REQUIRE_SHADER_TOOLS=1)")
        pytest.skip(str(error))
