"""Budgets and the early-stopping rule: successive halving on PSNR, decided per rung.

`--scheduler asha` runs every trial to the first rung's budget (the full budget / eta^(R-1)),
then, separately for each image (PSNRs of different images do not compare), keeps the best
max(1, n // eta) of the n trials that ran the rung and stops the rest; the survivors run to the
next rung (budget x eta), and so on up to the full budget. This is the promotion rule of ASHA
(Li et al. 2020, https://arxiv.org/abs/1810.05934): a trial goes on when it is in the top 1/eta
of its rung. ASHA applies it asynchronously, as results arrive, so which trials survive depends
on the order they finish in; here a rung is decided once all of its trials are in, so the
decisions (and every row) are the same whichever executor ran the trials and in what order.

A survivor is re-run from step 0 to the next budget rather than continued: the fit's optimizer
state is not part of its checkpoint, and a seeded re-run reaches the same weights as continuing
would. With R rungs, re-running costs R / (1 + (R - 1)(1 - 1/eta)) times what continuing would
(1.29x at eta 3, R 3), and the whole sweep still costs about R / eta^(R-1) of training every
trial to the full budget (1/3 at eta 3, R 3).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from gfxnn.apps.sweep.trial import UNLIMITED_STEPS

__all__ = ["Budget", "rung_budgets", "survivors"]


@dataclass(frozen=True)
class Budget:
    """How long a trial trains: `steps` steps, or `seconds` of wall-clock time."""

    steps: int | None = None
    seconds: float | None = None

    @property
    def key(self) -> str:
        """ "steps=500" or "seconds=2.5": names the rung in results.json (resume uses it)."""
        return f"steps={self.steps}" if self.seconds is None else f"seconds={self.seconds:g}"

    def run_fit_args(self) -> tuple[int, float | None]:
        """(steps, seconds) as `run_fit` takes them."""
        if self.seconds is None:
            assert self.steps is not None
            return self.steps, None
        return UNLIMITED_STEPS, self.seconds

    def as_dict(self) -> dict[str, int | float | None]:
        return {"steps": self.steps, "seconds": self.seconds}


def rung_budgets(final: Budget, scheduler: str, eta: int, n_rungs: int) -> list[Budget]:
    """The budgets trials run to, smallest first; the last is `final`. "none": [final]."""
    if scheduler == "none" or n_rungs == 1:
        return [final]
    if final.seconds is not None:
        return [Budget(seconds=final.seconds / eta**k) for k in reversed(range(n_rungs))]
    assert final.steps is not None
    steps = sorted({max(1, round(final.steps / eta**k)) for k in range(n_rungs)})
    return [Budget(steps=n) for n in steps]


def survivors(results: Sequence[tuple[int, float | None]], eta: int) -> set[int]:
    """Trial indices that go on to the next rung, from (index, PSNR) of one image's trials at
    one rung (PSNR None: the trial diverged or failed there, and never goes on). Keeps the
    best max(1, n // eta) of the n; ties go to the earlier trial, so the choice is stable."""
    keep = max(1, len(results) // eta)
    finite = [(index, psnr) for index, psnr in results if psnr is not None and not math.isnan(psnr)]
    ranked = sorted(finite, key=lambda item: (-item[1], item[0]))
    return {index for index, _ in ranked[:keep]}
