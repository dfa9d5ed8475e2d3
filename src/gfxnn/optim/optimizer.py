"""`Optimizer`: the thin stateful shell around the pure update rules in `optim.functional`.

It holds parameter groups (each a dict of hyperparameters plus its "params", as in
torch.optim), per-parameter state created lazily on a parameter's first update, and saves
and restores both with `state_dict()` / `load_state_dict()` so that a resumed run continues
bit-identically. Subclasses define their defaults, validate hyperparameters and implement
`_update_group`.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

import numpy as np

from gfxnn.autograd import enable_grad
from gfxnn.tensor import Tensor

ParamGroup = dict[str, Any]
State = dict[str, Any]  # one parameter's optimizer state


Checker = Callable[[str, Any], Any]


def options(group: ParamGroup, *names: str) -> dict[str, Any]:
    """The hyperparameters `names` of a group, as the keywords of an update rule."""
    return {name: group[name] for name in names}


def hyperparameters(arguments: Mapping[str, Any]) -> dict[str, Any]:
    """An optimizer constructor's `locals()` without self and params: its hyperparameters.

    Each optimizer's signature is the one place its hyperparameters and defaults are written
    (the registry reads config keys from it too); this turns the call's values into the
    `defaults` dict without spelling every name a second time.
    """
    return {k: v for k, v in arguments.items() if k not in ("self", "params", "__class__")}


class Optimizer:
    """Base class: parameter groups, lazy per-parameter state, zero_grad, state_dict.

    Args:
        params: an iterable of Tensors, or of dicts each with a "params" entry (an iterable of
            Tensors) and optional per-group hyperparameters overriding `defaults`.
        defaults: every hyperparameter of the optimizer with its default value.

    Attributes:
        param_groups: list of dicts, each with "params" (list of Tensors) and every
            hyperparameter; change e.g. group["lr"] between steps to schedule it.
        state: per-parameter state dicts keyed by the parameter Tensor, created on the
            parameter's first update.
    """

    # Hyperparameter name -> its checker, applied by `_validate_group` (set by subclasses).
    checks: ClassVar[dict[str, Checker]] = {}
    # Per-parameter state (see `_init_state`), named as in torch.optim.
    state_arrays: ClassVar[tuple[str, ...]] = ()
    lazy_state: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Iterable[Any], defaults: Mapping[str, Any]) -> None:
        # Checked once here so a bad default is reported even if every group overrides it.
        self._validate_group(dict(defaults))
        self.defaults = dict(defaults)
        self.param_groups: list[ParamGroup] = []
        self.state: dict[Tensor, dict[str, Any]] = {}
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of Tensors or of dicts, got a single Tensor; "
                "wrap it in a list"
            )
        if isinstance(params, Mapping):
            raise TypeError(
                "params must be an iterable of Tensors or of dicts, got a dict; "
                "wrap a parameter group in a list"
            )
        entries = list(params)
        if not entries:
            raise ValueError("optimizer got an empty parameter list")
        groups = entries if isinstance(entries[0], Mapping) else [{"params": entries}]
        for group in groups:
            self.add_param_group(group)

    def hyperparams(self) -> dict[str, Any]:
        """The config that rebuilds this optimizer: {"otype": class name, **defaults} (the
        constructor's keyword names; tuples as lists, so it is JSON-able)."""
        values = {k: list(v) if isinstance(v, tuple) else v for k, v in self.defaults.items()}
        return {"otype": type(self).__name__, **values}

    # ----- groups -------------------------------------------------------------------------
    def add_param_group(self, group: Mapping[str, Any]) -> None:
        """Add a group of parameters with its own hyperparameters (missing ones use defaults)."""
        if not isinstance(group, Mapping):
            raise TypeError(
                "a parameter group must be a dict with a 'params' entry, "
                f"got {type(group).__name__}"
            )
        if "params" not in group:
            raise ValueError(f"a parameter group needs a 'params' entry, got keys {sorted(group)}")
        unknown = sorted(set(group) - set(self.defaults) - {"params"})
        if unknown:
            raise ValueError(
                f"unknown hyperparameters {unknown} for {type(self).__name__}; "
                f"valid keys are {sorted(self.defaults)}"
            )
        raw_params = group["params"]
        params = [raw_params] if isinstance(raw_params, Tensor) else list(raw_params)
        if not params:
            raise ValueError("a parameter group got an empty parameter list")
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizers update Tensors, got {type(p).__name__}")
        if len({id(p) for p in params}) != len(params):
            raise ValueError("a parameter group lists the same parameter more than once")
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        new_group: ParamGroup = {**self.defaults, **group, "params": params}
        self._validate_group(new_group)
        self.param_groups.append(new_group)

    def _validate_group(self, group: ParamGroup) -> None:
        """Raise ValueError/TypeError naming any bad hyperparameter; normalises the values.

        Each hyperparameter goes through its checker in `checks` (finite numbers only: an
        infinite learning rate is as wrong as a NaN one), then `_check_group` sees the
        relations between them.
        """
        if not isinstance(group, dict):
            raise TypeError(f"a parameter group must be a dict, got {type(group).__name__}")
        for name, check in self.checks.items():
            group[name] = check(name, group[name])
        self._check_group(group)

    def _check_group(self, group: ParamGroup) -> None:
        """Relations between hyperparameters (e.g. Nesterov needs momentum); none by default."""

    # ----- stepping ---------------------------------------------------------------------------
    def zero_grad(self) -> None:
        """Set every parameter's gradient to None (the next backward starts afresh)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; others (grad None) are left alone.

        Args:
            closure: optional function that recomputes the loss (with backward); it is
                called first, with grad mode on, and its result is returned.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.shape != p.shape:
                    raise ValueError(
                        f"a parameter of shape {p.shape} has a gradient of shape {p.grad.shape}"
                    )
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = self._init_state(p)
                if "step" in state:  # the 1-based count of this parameter's updates
                    state["step"] += 1
                self._update(p, p.grad, state, group)
        return loss

    def _init_state(self, param: Tensor) -> dict[str, Any]:
        """The state of a parameter before its first update: a step count, a zero array like
        the parameter for each name in `state_arrays`, None for each in `lazy_state` (made
        by `_update` when it first needs the group's values)."""
        zeros = {name: np.zeros_like(param.data) for name in self.state_arrays}
        return {"step": 0, **zeros, **dict.fromkeys(self.lazy_state)}

    def _update(self, param: Tensor, grad: np.ndarray, state: State, group: ParamGroup) -> None:
        """Update one parameter in place, using and updating its `state`."""
        raise NotImplementedError(f"{type(self).__name__} must define _update()")

    # ----- saving and resuming ----------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """A deep copy of the optimizer's state, parameters referred to by their index.

        Returns:
            {"state": {index: {name: value}}, "param_groups": [{hyperparameters...,
            "params": [index, ...]}]}, with indices counting parameters across groups in
            order, as torch.optim does. Arrays are copies, so later steps do not change it.
        """
        index_of: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            indices = []
            for p in group["params"]:
                index_of[id(p)] = len(index_of)
                indices.append(index_of[id(p)])
            saved = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            groups.append({**saved, "params": indices})
        state = {
            index_of[id(p)]: copy.deepcopy(s)
            for group in self.param_groups
            for p in group["params"]
            if (s := self.state.get(p)) is not None
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore hyperparameters and per-parameter state saved by `state_dict()`.

        The optimizer must have been built over parameters of the same shapes in the same
        groups; the values are copied, so `state_dict` can be reused.
        """
        if not isinstance(state_dict, Mapping) or set(state_dict) != {"state", "param_groups"}:
            got = type(state_dict).__name__
            if isinstance(state_dict, Mapping):
                got = f"a dict with keys {sorted(map(str, state_dict))}"
            raise ValueError(
                "load_state_dict expects the dict that state_dict() returns, with keys "
                f"'state' and 'param_groups'; got {got}"
            )
        if not isinstance(state_dict["param_groups"], list | tuple) or not isinstance(
            state_dict["state"], Mapping
        ):
            raise ValueError(
                "load_state_dict: 'param_groups' must be a list and 'state' a dict, got "
                f"{type(state_dict['param_groups']).__name__} and "
                f"{type(state_dict['state']).__name__}"
            )
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"the state dict has {len(saved_groups)} parameter groups, this optimizer has "
                f"{len(self.param_groups)}"
            )
        params_by_index: dict[int, Tensor] = {}
        for number, (saved, own) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if not isinstance(saved, Mapping) or "params" not in saved:
                raise ValueError(f"parameter group {number} of the state dict has no 'params'")
            if len(saved["params"]) != len(own["params"]):
                raise ValueError(
                    f"parameter group {number} has {len(saved['params'])} parameters in the "
                    f"state dict and {len(own['params'])} in this optimizer"
                )
            params_by_index.update(zip(saved["params"], own["params"], strict=True))
        unknown = sorted(set(state_dict["state"]) - set(params_by_index))
        if unknown:
            raise ValueError(f"the state dict has state for unknown parameter indices {unknown}")
        new_state: dict[Tensor, dict[str, Any]] = {}
        for index, saved_state in state_dict["state"].items():
            param = params_by_index[index]
            new_state[param] = {
                name: self._restore_value(name, value, param) for name, value in saved_state.items()
            }
        new_groups = []
        for saved, own in zip(saved_groups, self.param_groups, strict=True):
            unknown_keys = sorted(set(saved) - set(self.defaults) - {"params"})
            if unknown_keys:
                raise ValueError(
                    f"the state dict has unknown hyperparameters {unknown_keys} for "
                    f"{type(self).__name__}; valid keys are {sorted(self.defaults)}"
                )
            # Keys missing from an older state dict take this optimizer's defaults.
            group = {**copy.deepcopy(self.defaults), **copy.deepcopy(dict(saved))}
            group["params"] = own["params"]
            self._validate_group(group)
            new_groups.append(group)
        self.param_groups = new_groups
        self.state = new_state

    @staticmethod
    def _restore_value(name: str, value: Any, param: Tensor) -> Any:
        """A copy of a saved state value; arrays must match the parameter's shape."""
        if not isinstance(value, np.ndarray):
            return copy.deepcopy(value)
        if value.shape != param.shape:
            raise ValueError(
                f"saved state {name!r} has shape {value.shape}, the parameter has shape "
                f"{param.shape}"
            )
        return value.astype(param.dtype, copy=True)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for number, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {number} ({len(group['params'])} params): {settings}")
        return "\n".join([*lines, ")"])
