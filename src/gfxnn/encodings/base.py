"""`Encoding`: the interface every input encoding implements (tiny-cuda-nn's taxonomy)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

from gfxnn.checks import check_int
from gfxnn.nn.module import Module
from gfxnn.tensor import Tensor


class Encoding(Module, ABC):
    """Maps inputs (batch, n_input_dims) in [0, 1]^d to features (batch, n_output_dims) with
    Tensor ops, so gradients flow through it like through any other op: to the inputs where the
    encoding is differentiable, and to its Parameters (the grids' tables) where it has any.

    An encoding is a Module: its parameters are found by optimizers and saved by state_dict(),
    and fixed random state (GaussianFourier's matrix) is a Buffer.
    Subclasses call `super().__init__()`, set `n_input_dims`, `n_output_dims` and implement
    `forward` and `hyperparams`.
    """

    n_input_dims: int
    n_output_dims: int
    # The tcnn name, declared once per concrete class: `hyperparams()` returns it, and the
    # registry finds every class of this package's modules that sets it (no list to extend).
    otype: ClassVar[str]
    # Declared per class so that the menus of `gfxnn.fields.choices` derive from the classes:
    # the only input width the encoding accepts (None: any), and whether it has Parameters.
    input_dims: ClassVar[int | None] = None
    trainable: ClassVar[bool] = False

    @abstractmethod
    def forward(self, x: Tensor) -> Tensor:
        """The features of x (batch, n_input_dims): (batch, n_output_dims)."""

    @abstractmethod
    def hyperparams(self) -> dict[str, Any]:
        """The tcnn-style config ("otype" and parameters) that rebuilds this encoding."""

    def extra_repr(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items() if k != "otype")
        return f"n_input_dims={self.n_input_dims}, {params}"


class BinnedEncoding(Encoding):
    """An encoding that gives every input dimension `n_bins` features (OneHot, OneBlob):
    n_output_dims = n_bins * n_input_dims, all bins of input 0 first, then input 1, ...

    Subclasses set `otype` and implement `forward`; the constructor, the config and the
    sizes are the same for all of them.
    """

    def __init__(self, n_input_dims: int, n_bins: int = 16) -> None:
        super().__init__()
        self.n_input_dims = check_positive_int("n_input_dims", n_input_dims)
        self.n_bins = check_positive_int("n_bins", n_bins)
        self.n_output_dims = self.n_bins * self.n_input_dims

    def hyperparams(self) -> dict[str, Any]:
        return {"otype": self.otype, "n_bins": self.n_bins}


def check_input(encoding: Encoding, x: Tensor) -> None:
    """A ValueError unless x has shape (batch, encoding.n_input_dims)."""
    if x.ndim != 2 or x.shape[1] != encoding.n_input_dims:
        raise ValueError(
            f"{type(encoding).__name__} expects inputs of shape (batch, {encoding.n_input_dims}), "
            f"got {x.shape}"
        )


def check_positive_int(name: str, value: Any, low: int = 1, high: int | None = None) -> int:
    """An integer in low..high (bools refused), through the package's one checker."""
    return check_int(name, value, low, high)
