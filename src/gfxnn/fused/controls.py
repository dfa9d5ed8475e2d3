"""MLPZen's training controls in the fused path: which parts learn, gradient clipping, and the
float16 rounding of the network's inference.

`TrainingControls.from_spec(spec)` checks a `ModelSpec`'s control fields (ValueError naming
the bad one) before anything uses them. The clipping acts on the batch-mean loss gradient,
after backward and before the optimizer (so before l2_reg, which the optimizer adds):
    "value": g <- clamp(g, -c, c), element by element, network and grid table alike;
    "norm":  g <- g * min(1, c / (||g||_2 + 1e-6)), one norm over the network's and the
             table's gradients together: torch.nn.utils.clip_grad_norm_ (its 1e-6 too).
Only the parts that learn count: a frozen part's gradient is computed but never used, as
torch leaves a parameter with requires_grad=False out of clip_grad_norm_.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from gfxnn.checks import check_bool, check_choice, check_rate

# The contract's names (gfxnn.fields.trainer imports nothing of gfxnn).
from gfxnn.fields.trainer import GRADIENT_CLIPS, PRECISIONS

if TYPE_CHECKING:
    from gfxnn.fields.trainer import ModelSpec

# The ModelSpec fields a trainer can switch without a rebuild (FusedTrainer.set_controls).
CONTROL_FIELDS = ("freeze_network", "freeze_encoding", "gradient_clip", "clip_value", "precision")
# torch.nn.utils.clip_grad_norm_'s guard against a zero norm.
NORM_EPSILON = 1e-6


@dataclass(frozen=True)
class TrainingControls:
    """The control fields of a ModelSpec, checked."""

    freeze_network: bool = False
    freeze_encoding: bool = False
    gradient_clip: str = "none"
    clip_value: float = 0.5
    precision: str = "fp32"

    @classmethod
    def from_spec(cls, spec: ModelSpec) -> TrainingControls:
        try:
            freeze_network = check_bool("freeze_network", spec.freeze_network)
            freeze_encoding = check_bool("freeze_encoding", spec.freeze_encoding)
        except TypeError as error:
            raise ValueError(str(error)) from None
        check_choice("gradient_clip", spec.gradient_clip, GRADIENT_CLIPS)
        check_choice("precision", spec.precision, PRECISIONS)
        return cls(
            freeze_network,
            freeze_encoding,
            spec.gradient_clip,
            check_rate("clip_value", spec.clip_value),
            spec.precision,
        )

    @classmethod
    def switched(cls, current: ModelSpec, spec: ModelSpec) -> TrainingControls:
        """`spec`'s controls, checked, for a trainer built from `current` to switch to in place
        (set_controls); ValueError when `spec` differs from `current` in anything else."""
        unchanged = current.replace(**{name: getattr(spec, name) for name in CONTROL_FIELDS})
        if unchanged != spec:
            raise ValueError("set_controls changes only the training controls; rebuild instead")
        return cls.from_spec(spec)


def clip_gradients(mode: str, bound: float, gradients: list[np.ndarray]) -> None:
    """Clip the flat gradient arrays in place as `mode` says (see the module docstring)."""
    if mode == "value":
        for grad in gradients:
            np.clip(grad, -bound, bound, out=grad)
    elif mode == "norm":
        # Each array's squared norm in float64, so the float32 sum loses nothing that matters.
        total = math.sqrt(sum(float(np.dot(g, g.astype(np.float64))) for g in gradients))
        scale = bound / (total + NORM_EPSILON)
        if scale < 1.0:
            for grad in gradients:
                np.multiply(grad, grad.dtype.type(scale), out=grad)


def round_to_half(values: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """`values` rounded to the nearest float16 (round half to even), kept in their dtype."""
    rounded = values.astype(np.float16)
    if out is None:
        return rounded.astype(values.dtype)
    np.copyto(out, rounded, casting="unsafe")
    return out
