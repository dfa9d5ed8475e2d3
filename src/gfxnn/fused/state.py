"""The fused path's parameters under the names every backend uses (`gfxnn.fields.trainer`):
"layers.{i}.weight" (out, in) and "layers.{i}.bias" (out,) as `gfxnn.nn.MLP`'s state_dict(),
plus "encoding.table" (a grid's flat table, the autodiff encoding's "table" Parameter
row-major) and "encoding.{name}" for an autodiff-run encoding's fixed state (GaussianFourier's
matrix B), saved so that a checkpoint does not depend on a random generator reproducing it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.fused.mlp import FusedMLP

ENCODING_TABLE = "encoding.table"


def _fixed_encoding_state(encoder: Any) -> dict[str, np.ndarray]:
    module = getattr(encoder, "encoding", None)
    return module.state_dict() if module is not None else {}


def state_dict(mlp: FusedMLP, encoder: Any) -> dict[str, np.ndarray]:
    """Copies of the network's and the encoder's parameters (encoder None: the network's)."""
    state = {}
    for i, (weight, bias) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        state[f"layers.{i}.weight"] = weight.copy()
        state[f"layers.{i}.bias"] = bias.copy()
    if hasattr(encoder, "params"):
        state[ENCODING_TABLE] = encoder.params.copy()
    for name, value in _fixed_encoding_state(encoder).items():
        state[f"encoding.{name}"] = value.copy()
    return state


def check_state(mlp: FusedMLP, encoder: Any, state: dict[str, np.ndarray]) -> None:
    """ValueError naming the first name, shape or value of `state` that does not fit."""
    expected = state_dict(mlp, encoder)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    if missing or unexpected:
        raise ValueError(
            f"state dict does not match the network {mlp.sizes}: "
            f"missing {missing}, unexpected {unexpected}"
        )
    for name, target in expected.items():
        value = np.asarray(state[name])
        if name == ENCODING_TABLE and value.size == target.size:
            value = value.reshape(target.shape)  # a table saved in the autodiff (rows, F) shape
        if value.shape != target.shape:
            raise ValueError(
                f"{name} has shape {value.shape}, the network {mlp.sizes} needs {target.shape}"
            )
        if value.dtype.kind not in "fiu":
            raise ValueError(f"{name} must hold numbers, got dtype {value.dtype}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} holds NaN or infinite values")


def load_state(mlp: FusedMLP, encoder: Any, state: dict[str, np.ndarray]) -> None:
    """Copy `state` (checked first: nothing changes when it does not fit) into the buffers."""
    check_state(mlp, encoder, state)
    for i, (weight, bias) in enumerate(zip(mlp.weights, mlp.biases, strict=True)):
        weight[...] = state[f"layers.{i}.weight"]
        bias[...] = state[f"layers.{i}.bias"]
    if hasattr(encoder, "params"):
        encoder.params[...] = np.asarray(state[ENCODING_TABLE]).reshape(encoder.params.shape)
    fixed = _fixed_encoding_state(encoder)
    if fixed:
        encoder.encoding.load_state_dict({name: state[f"encoding.{name}"] for name in fixed})
