"""Learning-rate schedules: pure functions of the step, and thin classes that set group["lr"].

The functions give the learning rate at step (or epoch) `step` in closed form, so a run that
resumes at step k gets exactly the rate it would have had. The classes follow
torch.optim.lr_scheduler: build one after the optimizer (it records each group's lr as
its base), call `scheduler.step()` once per epoch (or per step) after `optimizer.step()`.

    scheduler = StepLR(optimizer, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(); scheduler.step()
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from gfxnn.checks import check_int, check_non_negative, check_real
from gfxnn.optim.optimizer import Optimizer

__all__ = [
    "CosineWarmupLR",
    "ExponentialLR",
    "LRScheduler",
    "ReduceLROnPlateau",
    "StepLR",
    "cosine_warmup",
    "exponential_decay",
    "step_decay",
]


# ----- pure schedules ---------------------------------------------------------------------
def step_decay(step: int, lr: float, step_size: int, gamma: float = 0.1) -> float:
    """lr * gamma^floor(step / step_size): lr multiplied by gamma every `step_size` steps."""
    step = check_int("step", step, 0)
    step_size = check_int("step_size", step_size, 1)
    return check_non_negative("lr", lr) * check_non_negative("gamma", gamma) ** (step // step_size)


def exponential_decay(step: int, lr: float, gamma: float) -> float:
    """lr * gamma^step: lr multiplied by gamma every step."""
    step = check_int("step", step, 0)
    return check_non_negative("lr", lr) * check_non_negative("gamma", gamma) ** step


def cosine_warmup(
    step: int, lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0
) -> float:
    """Linear warm-up to `lr`, then a cosine decay to `min_lr` at `total_steps`.

        step < W:        lr * (step + 1) / W
        W <= step < T:   min_lr + (lr - min_lr) * (1 + cos(pi * (step - W) / (T - W))) / 2
        step >= T:       min_lr

    with W = warmup_steps and T = total_steps. The warm-up counts from step + 1 so that the
    first step already learns and step W - 1 reaches lr; the cosine part is SGDR's
    (Loshchilov & Hutter, https://arxiv.org/abs/1608.03983) without restarts.
    """
    step = check_int("step", step, 0)
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    total_steps = check_int("total_steps", total_steps, 1)
    if warmup_steps >= total_steps:
        raise ValueError(
            f"warmup_steps must be < total_steps, got {warmup_steps} and {total_steps}"
        )
    lr, min_lr = check_non_negative("lr", lr), check_non_negative("min_lr", min_lr)
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if step >= total_steps:
        return min_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (lr - min_lr) * (1 + math.cos(math.pi * progress)) / 2


# ----- scheduler classes ------------------------------------------------------------------
class LRScheduler:
    """Base class: sets each group's lr to `lr_at(step, base_lr)` on every `step()`.

    Attributes:
        base_lrs: each group's lr when the scheduler was built.
        last_epoch: the number of `step()` calls so far (0 right after construction, when
            the lr is set to lr_at(0, base_lr)).
    """

    def __init__(self, optimizer: Optimizer) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"expected a gfxnn Optimizer, got {type(optimizer).__name__}")
        self.optimizer = optimizer
        self.base_lrs = [float(group["lr"]) for group in optimizer.param_groups]
        self.last_epoch = 0
        self._apply()

    def lr_at(self, step: int, base_lr: float) -> float:
        raise NotImplementedError(f"{type(self).__name__} must define lr_at()")

    def _apply(self) -> None:
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.lr_at(self.last_epoch, base_lr)

    def step(self) -> None:
        """Advance one epoch (or step) and set every group's lr."""
        self.last_epoch += 1
        self._apply()

    def get_last_lr(self) -> list[float]:
        """The lr of each group as set by the last step."""
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    def state_dict(self) -> dict[str, Any]:
        """The scheduler's progress (JSON-friendly); the optimizer is saved separately."""
        return {"last_epoch": self.last_epoch, "base_lrs": list(self.base_lrs)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Resume from `state_dict()`, and set the lr of that step (a refused state changes
        nothing)."""
        _check_state_keys(state, ("base_lrs", "last_epoch"))
        base_lrs, n_groups = state["base_lrs"], len(self.optimizer.param_groups)
        if not isinstance(base_lrs, list | tuple) or len(base_lrs) != n_groups:
            raise ValueError(
                f"the state's base_lrs must be a list of one lr per parameter group "
                f"({n_groups}), got {base_lrs!r}"
            )
        last_epoch = check_int("last_epoch", state["last_epoch"], 0)
        self.base_lrs = [check_non_negative(f"base_lrs[{i}]", lr) for i, lr in enumerate(base_lrs)]
        self.last_epoch = last_epoch
        self._apply()


class StepLR(LRScheduler):
    """torch.optim.lr_scheduler.StepLR: lr = base_lr * gamma^(epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1) -> None:
        self.step_size = check_int("step_size", step_size, 1)
        self.gamma = check_non_negative("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return step_decay(step, base_lr, self.step_size, self.gamma)


class ExponentialLR(LRScheduler):
    """torch.optim.lr_scheduler.ExponentialLR: lr = base_lr * gamma^epoch."""

    def __init__(self, optimizer: Optimizer, gamma: float) -> None:
        self.gamma = check_non_negative("gamma", gamma)
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return exponential_decay(step, base_lr, self.gamma)


class CosineWarmupLR(LRScheduler):
    """Linear warm-up then cosine decay to min_lr (see `cosine_warmup`), per step."""

    def __init__(
        self, optimizer: Optimizer, warmup_steps: int, total_steps: int, min_lr: float = 0.0
    ) -> None:
        cosine_warmup(0, 1.0, warmup_steps, total_steps, min_lr)  # validates the arguments
        self.warmup_steps, self.total_steps, self.min_lr = warmup_steps, total_steps, min_lr
        super().__init__(optimizer)

    def lr_at(self, step: int, base_lr: float) -> float:
        return cosine_warmup(step, base_lr, self.warmup_steps, self.total_steps, self.min_lr)


class ReduceLROnPlateau:
    """Multiply lr by `factor` when a metric stops improving (torch's ReduceLROnPlateau).

    After each `step(metric)`: the metric improves when it is below best * (1 - threshold)
    (mode "min", threshold_mode "rel"; "abs" uses best - threshold; mode "max" mirrors
    both). After more than `patience` epochs in a row without improvement every group's lr
    becomes max(lr * factor, min_lr) (changes smaller than eps are skipped), and then
    `cooldown` epochs pass in which bad epochs are not counted.

    Args:
        optimizer: the optimizer whose groups' lr to reduce.
        mode: "min" (a loss) or "max" (an accuracy).
        factor: the multiplier, in [0, 1).
        patience: the number of bad epochs tolerated, >= 0.
        threshold: the smallest change that counts as an improvement, >= 0.
        threshold_mode: "rel" or "abs".
        cooldown: epochs to wait after a reduction, >= 0.
        min_lr: the lowest lr, >= 0.
        eps: reductions smaller than this are ignored.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr: float = 0.0,
        eps: float = 1e-8,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"expected a gfxnn Optimizer, got {type(optimizer).__name__}")
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"threshold_mode must be 'rel' or 'abs', got {threshold_mode!r}")
        factor = check_real("factor", factor)
        if not 0 <= factor < 1:
            raise ValueError(f"factor must be in [0, 1), got {factor!r}")
        self.optimizer = optimizer
        self.mode, self.threshold_mode, self.factor = mode, threshold_mode, factor
        self.patience = check_int("patience", patience, 0)
        self.cooldown = check_int("cooldown", cooldown, 0)
        self.threshold = check_non_negative("threshold", threshold)
        self.min_lr = check_non_negative("min_lr", min_lr)
        self.eps = check_non_negative("eps", eps)
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = 0
        self.cooldown_counter = 0
        self.last_epoch = 0

    def is_better(self, value: float, best: float) -> bool:
        """Whether `value` improves on `best` by more than the threshold."""
        if self.mode == "min":
            if self.threshold_mode == "rel":
                return value < best * (1 - self.threshold)
            return value < best - self.threshold
        if self.threshold_mode == "rel":
            return value > best * (1 + self.threshold)
        return value > best + self.threshold

    def step(self, metric: float) -> None:
        """Record one epoch's metric and reduce the lr after too many bad epochs."""
        value = check_real("metric", metric, finite=False)  # a NaN metric is a bad epoch
        self.last_epoch += 1
        if self.is_better(value, self.best):
            self.best = value
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group in self.optimizer.param_groups:
                new_lr = max(group["lr"] * self.factor, self.min_lr)
                if group["lr"] - new_lr > self.eps:
                    group["lr"] = new_lr
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0

    def get_last_lr(self) -> list[float]:
        return [float(group["lr"]) for group in self.optimizer.param_groups]

    _STATE_KEYS = ("best", "num_bad_epochs", "cooldown_counter", "last_epoch")

    def state_dict(self) -> dict[str, Any]:
        """The counters that a resumed run needs (the lr lives in the optimizer's state)."""
        return {key: getattr(self, key) for key in self._STATE_KEYS}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        _check_state_keys(state, self._STATE_KEYS)
        # JSON has no infinity: a checkpoint stores the initial best (+-inf) as None.
        initial = math.inf if self.mode == "min" else -math.inf
        best = initial if state["best"] is None else check_real("best", state["best"], finite=False)
        counts = {key: check_int(key, state[key], 0) for key in _COUNTERS}
        self.best = best
        for key, value in counts.items():
            setattr(self, key, value)


_COUNTERS = ("num_bad_epochs", "cooldown_counter", "last_epoch")


def _check_state_keys(state: Any, keys: Sequence[str]) -> None:
    """A ValueError unless `state` is a dict with exactly `keys` (what state_dict() gives)."""
    if not isinstance(state, Mapping) or set(state) != set(keys):
        got = f"keys {sorted(map(str, state))}" if isinstance(state, Mapping) else repr(state)
        raise ValueError(f"expected a state dict with keys {sorted(keys)}, got {got}")
