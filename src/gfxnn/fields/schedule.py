"""MLPZen's learning-rate schedules: the network's rate at a given training step.

`step` counts the steps done before the one the rate is for (0 for the first step), so a
reset (Initialize Weights) restarts the schedule by restarting the step count.

- "fixed":  lr = learning_rate.
- "linear": lr = base + (max - base) (1 - clamp(step / decay_steps, 0, 1)), base =
  learning_rate, max = max_learning_rate: it starts at max and reaches base after decay_steps.
- "cosine": SGDR (Loshchilov & Hutter, https://arxiv.org/abs/1608.03983) as MLPZen runs it.
  Restart i lasts T_i = 2 base_period (i + 1) steps (100, 200, 300, ... for base_period 50:
  the period grows linearly), so restart i starts at step base_period i (i + 1). Within it,
  t = (steps into the period) / T_i, peak_i = max(min_lr, max_lr 0.8^i), and
  lr = min_lr + 1/2 (peak_i - min_lr) (1 + cos(pi t)).

The encoding's rate is scaled by the same factor lr / learning_rate (`learning_rates_at`).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["LR_SCHEDULES", "PEAK_DECAY", "learning_rate_at", "learning_rates_at"]

LR_SCHEDULES = ("fixed", "linear", "cosine")
# MLPZen's mLRMaxScaleFactor: each restart's peak is 0.8 times the previous one.
PEAK_DECAY = 0.8


def learning_rate_at(settings: Any, step: int) -> float:
    """The network's learning rate for the step after `step` steps (a FitSettings)."""
    schedule = settings.lr_schedule
    if schedule == "fixed":
        return float(settings.learning_rate)
    if schedule == "linear":
        base, peak = settings.learning_rate, settings.max_learning_rate
        progress = min(max(step / settings.decay_steps, 0.0), 1.0)
        return float(base + (peak - base) * (1.0 - progress))
    if schedule == "cosine":
        return _cosine(settings, step)
    raise ValueError(f"lr_schedule must be one of {', '.join(LR_SCHEDULES)}; got {schedule!r}")


def _cosine(settings: Any, step: int) -> float:
    base_period = settings.base_period
    low = settings.min_learning_rate
    # Restart i starts at base_period i (i + 1): the largest such i <= step, from the
    # quadratic's root, corrected for rounding.
    restart = int((math.sqrt(1.0 + 4.0 * step / base_period) - 1.0) / 2.0)
    while base_period * (restart + 1) * (restart + 2) <= step:
        restart += 1
    while restart > 0 and base_period * restart * (restart + 1) > step:
        restart -= 1
    period = 2 * base_period * (restart + 1)
    t = (step - base_period * restart * (restart + 1)) / period
    peak = max(low, settings.max_learning_rate * PEAK_DECAY**restart)
    return float(low + 0.5 * (peak - low) * (1.0 + math.cos(math.pi * t)))


def learning_rates_at(settings: Any, step: int) -> tuple[float, float]:
    """(network rate, encoding rate) at `step`: the encoding's own rate (or the network's)
    scaled by the schedule's factor, so a grid keeps its ratio to the network."""
    network = learning_rate_at(settings, step)
    encoding = settings.encoding_learning_rate or settings.learning_rate
    if settings.lr_schedule == "fixed":
        return network, float(encoding)
    return network, float(encoding * network / settings.learning_rate)
