"""`Encoding`: the interface every input encoding implements (tiny-cuda-nn's taxonomy)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any

from gfxnn.tensor import Tensor


class Encoding(ABC):
    """Maps inputs (batch, n_input_dims) to features (batch, n_output_dims) with Tensor ops,
    so gradients flow through it like through any other op.

    Subclasses set `n_input_dims`, `n_output_dims` and implement `__call__` and `hyperparams`.
    """

    n_input_dims: int
    n_output_dims: int

    @abstractmethod
    def __call__(self, x: Tensor) -> Tensor:
        """The features of x (batch, n_input_dims): (batch, n_output_dims)."""

    @abstractmethod
    def hyperparams(self) -> dict[str, Any]:
        """The tcnn-style config ("otype" and parameters) that rebuilds this encoding."""

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items() if k != "otype")
        return f"{type(self).__name__}(n_input_dims={self.n_input_dims}, {params})"


def check_input(encoding: Encoding, x: Tensor) -> None:
    """A ValueError unless x has shape (batch, encoding.n_input_dims)."""
    if x.ndim != 2 or x.shape[1] != encoding.n_input_dims:
        raise ValueError(
            f"{type(encoding).__name__} expects inputs of shape (batch, {encoding.n_input_dims}), "
            f"got {x.shape}"
        )


def check_positive_int(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    allowed = f"{low}..{high}" if high is not None else f">= {low}"
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    if high is not None and value > high:
        raise ValueError(f"{name} must be an integer {allowed}, got {value!r}")
    return value
