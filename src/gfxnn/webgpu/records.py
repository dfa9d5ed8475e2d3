"""The per-step uniform record of the WebGPU kernels (wgsl/bindings.wgsl's `Step`) and the
training controls it carries.

A record is 256 bytes (WebGPU's default min-uniform-buffer-offset-alignment), one per step of
a submission, bound at a dynamic offset; the kernels read 128 bytes of it (`RECORD_BINDING`).
Everything a step may change without a new pipeline lives here: the step index and loss-ring
slot, the activations, loss and optimizers, both optimizers' rates and bias corrections, and
the gradient clip. So a learning-rate schedule costs one record write per step.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import numpy as np

from gfxnn.fields.trainer import GRADIENT_CLIPS, PRECISIONS, ModelSpec, OptimizerSpec

__all__ = [
    "LIVE_CONTROLS",
    "RECORD",
    "RECORD_BINDING",
    "Controls",
    "optimizer_words",
    "step_record",
    "switched_controls",
    "with_rates",
]

RECORD = 256  # bytes between records
RECORD_BINDING = 128  # bytes of `Step` (112 before the clip fields were appended)
CLIP_IDS = {name: i for i, name in enumerate(GRADIENT_CLIPS)}  # the kernels' CLIP_* ids
# The spec fields a trainer's `set_controls` changes in place (with the learning rates).
LIVE_CONTROLS = ("freeze_network", "freeze_encoding", "gradient_clip", "clip_value", "precision")


def optimizer_words(spec: OptimizerSpec, t: int) -> list[float]:
    """OptimizerStep of wgsl/bindings.wgsl for Adam's step t, in float64 then rounded."""
    b1, b2 = spec.betas
    if spec.name == "adam":
        rate = spec.learning_rate / (1.0 - b1**t)
        sqrt_c2 = math.sqrt(1.0 - b2**t)
    else:
        rate, sqrt_c2 = spec.learning_rate, 1.0
    return [rate, sqrt_c2, b1, 1.0 - b1, b2, 1.0 - b2, spec.epsilon, spec.l2_reg]


@dataclass(frozen=True)
class Controls:
    """MLPZen's training controls of a ModelSpec, checked (ValueError naming the value and
    what is allowed). `norm_parts` is what the "norm" clip's ||g|| sums over (bit 0 the
    network, bit 1 the grid table): the parts that are trained."""

    freeze_network: bool
    freeze_encoding: bool
    clip: str
    clip_value: float
    precision: str

    @classmethod
    def of(cls, spec: ModelSpec) -> Controls:
        for name in ("freeze_network", "freeze_encoding"):
            if not isinstance(getattr(spec, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(spec, name)!r}")
        if spec.gradient_clip not in GRADIENT_CLIPS:
            raise ValueError(
                f"gradient_clip must be one of {', '.join(GRADIENT_CLIPS)}, "
                f"got {spec.gradient_clip!r}"
            )
        value = spec.clip_value
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and value > 0)
        ):
            raise ValueError(f"clip_value must be a finite number > 0, got {value!r}")
        if spec.precision not in PRECISIONS:
            raise ValueError(
                f"precision must be one of {', '.join(PRECISIONS)}, got {spec.precision!r}"
            )
        return cls(
            spec.freeze_network,
            spec.freeze_encoding,
            spec.gradient_clip,
            float(value),
            spec.precision,
        )

    def norm_parts(self, has_table: bool) -> int:
        return int(not self.freeze_network) | (2 * int(has_table and not self.freeze_encoding))


def step_record(
    spec: ModelSpec,
    controls: Controls,
    choices: tuple[int, ...],
    *,
    step: int,
    slot: int,
    loss_scale: float,
    t_network: int,
    t_table: int,
    has_table: bool,
) -> np.ndarray:
    """One `Step` record as RECORD // 4 uint32 words."""
    record = np.zeros(RECORD // 4, np.uint32)
    record[:3] = (step, slot, spec.seed % 2**32)
    record[3:8] = choices
    table = spec.encoding_optimizer or spec.optimizer
    numbers = [loss_scale, 0.0, 0.0, 0.0]
    numbers += optimizer_words(spec.optimizer, max(1, t_network))
    numbers += optimizer_words(table, max(1, t_table))
    record[8:28] = np.array(numbers, np.float32).view(np.uint32)
    record[28] = CLIP_IDS[controls.clip]
    record[29] = np.array([controls.clip_value], np.float32).view(np.uint32)[0]
    record[30] = controls.norm_parts(has_table)
    return record


def with_rates(spec: ModelSpec, network: float, encoding: float | None) -> ModelSpec:
    """`spec` with these learning rates (encoding None: unchanged)."""
    spec = spec.replace(optimizer=_with_rate(spec.optimizer, network))
    if encoding is not None and spec.encoding_optimizer is not None:
        spec = spec.replace(encoding_optimizer=_with_rate(spec.encoding_optimizer, encoding))
    return spec


def _with_rate(spec: OptimizerSpec, rate: float) -> OptimizerSpec:
    return dataclasses.replace(spec, learning_rate=float(rate))


def switched_controls(old: ModelSpec, new: ModelSpec) -> Controls:
    """The controls of `new`, checked, when it differs from `old` only in LIVE_CONTROLS and
    the learning rates; ValueError naming the other fields that differ."""
    encoding_rate = old.encoding_optimizer.learning_rate if old.encoding_optimizer else None
    same = with_rates(new, old.optimizer.learning_rate, encoding_rate).replace(
        **{name: getattr(old, name) for name in LIVE_CONTROLS}
    )
    changed = [
        f.name for f in dataclasses.fields(old) if getattr(same, f.name) != getattr(old, f.name)
    ]
    if changed:
        raise ValueError(
            f"set_controls changes only {', '.join(LIVE_CONTROLS)} and the learning rates; "
            f"{', '.join(changed)} changed: build a new trainer"
        )
    return Controls.of(new)
