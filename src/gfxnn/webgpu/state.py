"""The trainer's flat parameter buffer (network in FusedMLP.params' layout, then a grid's
table) as a state dict with `gfxnn.nn.MLP`'s names, and back."""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn.webgpu.layout import ModelPlan

__all__ = ["TABLE", "flatten", "split_moments", "unflatten"]

TABLE = "encoding.table"


def unflatten(plan: ModelPlan, flat: np.ndarray) -> dict[str, np.ndarray]:
    """ "layers.{i}.weight" (out, in), "layers.{i}.bias", then "encoding.table" (flat) for a
    grid: float32 copies."""
    state: dict[str, np.ndarray] = {}
    offset = 0
    sizes = plan.sizes
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        state[f"layers.{i}.weight"] = flat[offset : offset + n_out * n_in].reshape(n_out, n_in)
        offset += n_out * n_in
        state[f"layers.{i}.bias"] = flat[offset : offset + n_out]
        offset += n_out
    if plan.grid is not None:
        state[TABLE] = flat[offset : offset + plan.n_table]
    return {name: value.copy() for name, value in state.items()}


def flatten(plan: ModelPlan, expected: dict[str, np.ndarray], state: Any) -> np.ndarray:
    """`state` as the flat buffer, checked against `expected` (the trainer's own state dict):
    TypeError for a non-dict, ValueError naming the first missing, unexpected, misshapen or
    non-finite entry."""
    if not isinstance(state, dict):
        raise TypeError(f"state must be a dict of arrays, got {type(state).__name__}")
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected), key=str)
    if missing or unexpected:
        raise ValueError(
            f"state dict does not match the network {list(plan.sizes)}: "
            f"missing {missing}, unexpected {unexpected}"
        )
    parts = []
    for name, target in expected.items():
        value = np.asarray(state[name], np.float32)
        if value.size != target.size or (value.shape != target.shape and name != TABLE):
            raise ValueError(f"{name} has shape {value.shape}, the network needs {target.shape}")
        if not np.all(np.isfinite(value)):
            raise ValueError(f"{name} holds NaN or infinite values")
        parts.append(value.reshape(-1))
    return np.concatenate(parts)


def split_moments(plan: ModelPlan, words: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Adam's (m, v) from the `moments` buffer (bindings.wgsl: the network's m then v, then
    the table's m then v), each flat as network then table."""
    n_params, n_table = plan.n_params, plan.n_table
    table = words[2 * n_params :]
    m = np.concatenate([words[:n_params], table[:n_table]])
    v = np.concatenate([words[n_params : 2 * n_params], table[n_table : 2 * n_table]])
    return m, v
