"""`Tensor`: a NumPy array that remembers how it was computed, so gradients can flow back.

Only float32 (the default) and float64 data are allowed: float32 is what graphics networks
train in, float64 is what gradient checks need. Mixing the two in one op is an error rather
than a silent promotion, so a float64 constant never quietly doubles a model's cost.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gfxnn import autograd
from gfxnn.autograd import VJP

float32 = np.float32
float64 = np.float64
FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def resolve_dtype(dtype: Any) -> np.dtype:
    """The NumPy dtype for `dtype`, which must name float32 or float64."""
    try:
        resolved = np.dtype(dtype)
    except TypeError as error:
        raise TypeError(f"dtype {dtype!r} is not a dtype; use float32 or float64") from error
    if resolved not in FLOAT_DTYPES:
        raise TypeError(f"dtype {resolved} is not supported; use float32 or float64")
    return resolved


def to_float_array(data: Any, dtype: Any = None) -> np.ndarray:
    """`data` as a float array: float32/float64 arrays keep their dtype, all else is float32."""
    if isinstance(data, Tensor):
        data = data.data
    if dtype is not None:
        target = resolve_dtype(dtype)
    elif isinstance(data, np.ndarray | np.generic) and data.dtype in FLOAT_DTYPES:
        target = data.dtype
    else:
        target = np.dtype(np.float32)
    array = np.asarray(data)
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"cannot make a tensor from data of dtype {array.dtype}; "
            "use real numbers (bool, int or float)"
        )
    return array.astype(target, copy=False)


class Tensor:
    """An n-dimensional float array with an optional gradient.

    Args:
        data: array-like; float32 and float64 arrays keep their dtype, anything else
            becomes float32 unless `dtype` says otherwise.
        requires_grad: whether `backward()` should compute `.grad` for this tensor.
        dtype: float32 or float64.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_vjp", "_graph_freed", "__weakref__")
    # Makes NumPy hand `ndarray + Tensor` to Tensor.__radd__ instead of broadcasting itself.
    __array_ufunc__ = None

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None) -> None:
        self.data: np.ndarray = to_float_array(data, dtype)
        self.grad: np.ndarray | None = None
        self.requires_grad = bool(requires_grad)
        self._parents: tuple[Tensor, ...] = ()
        self._vjp: VJP | None = None
        self._graph_freed = False

    # ----- basic properties -------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def is_leaf(self) -> bool:
        """True for tensors made by the user rather than by an op that recorded a graph."""
        return self._vjp is None and not self._graph_freed

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        return f"Tensor({np.array2string(self.data, precision=4)}, dtype={self.dtype}{grad})"

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        """The value of a one-element tensor as a Python float."""
        if self.data.size != 1:
            raise ValueError(f"item() needs a tensor with one element, got shape {self.shape}")
        return float(self.data.reshape(()))

    def detach(self) -> Tensor:
        """A tensor sharing this data but cut from the graph."""
        return Tensor(self.data, requires_grad=False)

    def zero_grad(self) -> None:
        self.grad = None

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate gradients of this tensor into the `.grad` of every leaf it depends on.

        Args:
            grad: upstream gradient with this tensor's shape; may be omitted for a scalar,
                where it is 1.
            retain_graph: keep the graph so backward() can run through it again.
        """
        autograd.backward(self, None if grad is None else to_float_array(grad), retain_graph)

    # ----- arithmetic ---------------------------------------------------------------------
    def __add__(self, other: Any) -> Tensor:
        return _ops.add(self, other)

    def __radd__(self, other: Any) -> Tensor:
        return _ops.add(other, self)

    def __sub__(self, other: Any) -> Tensor:
        return _ops.sub(self, other)

    def __rsub__(self, other: Any) -> Tensor:
        return _ops.sub(other, self)

    def __mul__(self, other: Any) -> Tensor:
        return _ops.mul(self, other)

    def __rmul__(self, other: Any) -> Tensor:
        return _ops.mul(other, self)

    def __truediv__(self, other: Any) -> Tensor:
        return _ops.div(self, other)

    def __rtruediv__(self, other: Any) -> Tensor:
        return _ops.div(other, self)

    def __neg__(self) -> Tensor:
        return _ops.neg(self)

    def __pow__(self, exponent: Any) -> Tensor:
        return _ops.pow(self, exponent)

    def __rpow__(self, base: Any) -> Tensor:
        return _ops.pow(base, self)

    def __matmul__(self, other: Any) -> Tensor:
        return _ops.matmul(self, other)

    def __rmatmul__(self, other: Any) -> Tensor:
        return _ops.matmul(other, self)

    def __getitem__(self, index: Any) -> Tensor:
        return _ops.getitem(self, index)

    # Comparisons give plain boolean arrays (no gradient), e.g. for `where`.
    def __lt__(self, other: Any) -> np.ndarray:
        return self.data < _raw(other)

    def __le__(self, other: Any) -> np.ndarray:
        return self.data <= _raw(other)

    def __gt__(self, other: Any) -> np.ndarray:
        return self.data > _raw(other)

    def __ge__(self, other: Any) -> np.ndarray:
        return self.data >= _raw(other)

    # ----- methods that forward to ops ------------------------------------------------------
    def sum(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.sum(self, axis, keepdims)

    def mean(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.mean(self, axis, keepdims)

    def max(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.max(self, axis, keepdims)

    def min(self, axis: int | tuple[int, ...] | None = None, keepdims: bool = False) -> Tensor:
        return _ops.min(self, axis, keepdims)

    def reshape(self, *shape: Any) -> Tensor:
        if len(shape) == 1 and isinstance(shape[0], tuple | list):
            shape = tuple(shape[0])
        return _ops.reshape(self, shape)

    def transpose(self, *axes: int) -> Tensor:
        return _ops.transpose(self, axes or None)

    def permute(self, *axes: int) -> Tensor:
        return _ops.transpose(self, axes)

    @property
    def T(self) -> Tensor:
        return _ops.transpose(self, None)

    def astype(self, dtype: Any) -> Tensor:
        return _ops.cast(self, dtype)

    def exp(self) -> Tensor:
        return _ops.exp(self)

    def log(self) -> Tensor:
        return _ops.log(self)

    def sqrt(self) -> Tensor:
        return _ops.sqrt(self)

    def sin(self) -> Tensor:
        return _ops.sin(self)

    def cos(self) -> Tensor:
        return _ops.cos(self)

    def abs(self) -> Tensor:
        return _ops.abs(self)

    def clip(self, low: float | None = None, high: float | None = None) -> Tensor:
        return _ops.clip(self, low, high)


def _raw(value: Any) -> Any:
    return value.data if isinstance(value, Tensor) else value


def tensor(data: Any, requires_grad: bool = False, dtype: Any = None) -> Tensor:
    """Make a Tensor (float32 unless `data` is float64 or `dtype` says otherwise)."""
    return Tensor(data, requires_grad=requires_grad, dtype=dtype)


# Tensor's operators and methods forward to the primitives of `gfxnn.ops`, which needs the
# Tensor class itself; so ops binds itself here when it loads (`bind_ops`, the last line of
# ops.py) instead of this module importing ops, which would make the two an import cycle.
# Importing any part of gfxnn runs gfxnn/__init__.py, which imports ops, so the binding is in
# place before user code holds a Tensor.
_ops: Any = None


def bind_ops(module: Any) -> None:
    """Make `module` (gfxnn.ops) the implementation of Tensor's operators and methods."""
    global _ops
    _ops = module
