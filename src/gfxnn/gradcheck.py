"""Gradient checking: compare autodiff gradients with central finite differences in float64.

The check contracts the function's output with a random upstream gradient u, so one scalar
L = sum(u * f(x)) exercises every output element with a different weight; a VJP that mixes
up two outputs cannot pass by symmetry, as it could with u = 1.

`gradcheck(fn, inputs)` differentiates with respect to the inputs of a function;
`gradcheck_module(module, inputs)` also with respect to the module's own parameters, by
perturbing them in place, which is what a layer or an encoding with trainable tables needs:
copies of the parameters passed as extra inputs would never reach the module's forward pass
(their gradients would be compared as zero against zero).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from gfxnn.tensor import Tensor

if TYPE_CHECKING:
    from gfxnn.nn.module import Module


class GradcheckError(AssertionError):
    """Raised when an analytic gradient disagrees with its finite-difference estimate."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    rng: np.random.Generator | None = None,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of `fn(*inputs)` with respect to every input against
    central differences.

    Args:
        fn: takes float64 Tensors (one per input) and returns a Tensor of any shape.
        inputs: arrays or Tensors; each is copied to a float64 Tensor that requires grad.
        eps: finite-difference step.
        atol, rtol: an element passes when |analytic - numeric| <= atol + rtol * |numeric|.
        rng: generator for the random upstream gradient (seed 0 when omitted).
        raise_exception: raise GradcheckError on failure instead of returning False.

    Returns:
        True when every gradient matches.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    points = _float64_points(inputs)
    leaves = [Tensor(p, requires_grad=True) for p in points]
    upstream = _backward_with_random_upstream(fn(*leaves), rng)

    def weighted_output() -> float:
        return float(np.sum(upstream * fn(*[Tensor(p) for p in points]).data))

    for index, (leaf, point) in enumerate(zip(leaves, points, strict=True)):
        message = _compare(f"input {index}", leaf.grad, point, weighted_output, eps, atol, rtol)
        if message is not None:
            return _fail(message, raise_exception)
    return True


def gradcheck_module(
    module: Module,
    inputs: Sequence[Any],
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    *,
    check_inputs: bool = True,
    max_elements: int = 400,
    rng: np.random.Generator | None = None,
    raise_exception: bool = True,
) -> bool:
    """Check the gradients of `module(*inputs)` with respect to each of the module's
    parameters (and, when `check_inputs`, each input) against central differences taken by
    perturbing the parameters themselves.

    The parameters are cast to float64 for the check and restored afterwards (values and
    dtypes), so a float32 module can be checked too.

    Args:
        module: a Module; its `named_parameters()` are checked.
        inputs: arrays or Tensors, copied to float64 Tensors.
        eps, atol, rtol, rng, raise_exception: as `gradcheck`.
        check_inputs: also check the gradients with respect to the inputs.
        max_elements: per parameter, at most this many elements are perturbed: every element
            with a non-zero analytic gradient first (where a wrongly scaled gradient shows),
            then a random sample of the others (where a missing one would).

    Returns:
        True when every gradient matches.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    points = _float64_points(inputs)
    if not check_inputs and not module.parameters():
        raise ValueError(
            "gradcheck_module: the module has no parameters and inputs are not checked"
        )
    with _float64_parameters(module) as parameters:
        leaves = [Tensor(p, requires_grad=check_inputs) for p in points]
        for parameter in parameters.values():
            parameter.grad = None
        upstream = _backward_with_random_upstream(module(*leaves), rng)

        def weighted_output() -> float:
            return float(np.sum(upstream * module(*[Tensor(p) for p in points]).data))

        checked: list[tuple[str, np.ndarray | None, np.ndarray, np.ndarray | None]] = []
        if check_inputs:
            checked += [
                (f"input {i}", x.grad, p, None)
                for i, (x, p) in enumerate(zip(leaves, points, strict=True))
            ]
        for name, parameter in parameters.items():
            own = None if parameter.grad is None else parameter.grad.copy()
            positions = _positions(own, parameter.data.shape, max_elements, rng)
            checked.append((f"parameter {name!r}", own, parameter.data, positions))
        for label, grad, point, chosen in checked:
            message = _compare(label, grad, point, weighted_output, eps, atol, rtol, chosen)
            if message is not None:
                return _fail(message, raise_exception)
    return True


# ----- shared steps -------------------------------------------------------------------------
def _float64_points(inputs: Sequence[Any]) -> list[np.ndarray]:
    return [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]


def _backward_with_random_upstream(output: Any, rng: np.random.Generator) -> np.ndarray:
    if not isinstance(output, Tensor):
        raise TypeError(f"gradcheck: fn must return a Tensor, got {type(output).__name__}")
    if output.dtype != np.float64:
        raise TypeError(f"gradcheck: fn must compute in float64, its output is {output.dtype}")
    upstream = rng.standard_normal(output.shape)
    output.backward(upstream)
    return upstream


@contextmanager
def _float64_parameters(module: Module) -> Iterator[Mapping[str, Tensor]]:
    """The module's parameters as float64 for the duration; values, dtypes and gradients
    restored afterwards, whatever happens."""
    parameters = dict(module.named_parameters())
    saved = {name: (p.data, p.grad) for name, p in parameters.items()}
    try:
        for parameter in parameters.values():
            parameter.data = parameter.data.astype(np.float64)
        yield parameters
    finally:
        for name, parameter in parameters.items():
            parameter.data, parameter.grad = saved[name]


def _positions(
    grad: np.ndarray | None, shape: tuple[int, ...], limit: int, rng: np.random.Generator
) -> np.ndarray:
    """Flat indices to perturb: the non-zero analytic entries first, then random others."""
    size = int(np.prod(shape))
    if size <= limit:
        return np.arange(size)
    flat = np.zeros(size) if grad is None else grad.ravel()
    nonzero = np.flatnonzero(flat)
    chosen = nonzero if len(nonzero) <= limit else rng.choice(nonzero, limit, replace=False)
    rest = np.setdiff1d(np.arange(size), chosen)
    extra = rng.choice(rest, min(len(rest), max(limit - len(chosen), limit // 4)), replace=False)
    return np.concatenate([chosen, extra])


def _compare(
    label: str,
    grad: np.ndarray | None,
    point: np.ndarray,
    weighted_output: Callable[[], float],
    eps: float,
    atol: float,
    rtol: float,
    positions: np.ndarray | None = None,
) -> str | None:
    """Perturb `point` in place element by element (restoring each), compare with `grad`."""
    analytic = np.zeros(point.shape) if grad is None else np.asarray(grad, dtype=np.float64)
    flat_point = point.reshape(-1)  # a view: perturbing it perturbs what fn reads
    assert np.shares_memory(flat_point, point), "gradcheck perturbs contiguous arrays only"
    indices = np.arange(point.size) if positions is None else positions
    numeric = np.zeros(len(indices))
    for k, flat_index in enumerate(indices):
        original = flat_point[flat_index]
        flat_point[flat_index] = original + eps
        above = weighted_output()
        flat_point[flat_index] = original - eps
        below = weighted_output()
        flat_point[flat_index] = original
        numeric[k] = (above - below) / (2 * eps)
    expected = analytic.reshape(-1)[indices]
    error = np.abs(expected - numeric)
    bad = error > atol + rtol * np.abs(numeric)
    if not bad.any():
        return None
    worst = int(np.argmax(error))
    where = tuple(int(i) for i in np.unravel_index(indices[worst], point.shape))
    return (
        f"gradient of {label} (shape {point.shape}) is wrong at {bad.sum()} of "
        f"{len(indices)} checked elements; worst at {where}: analytic "
        f"{expected[worst]:.8g}, numeric {numeric[worst]:.8g}"
    )


def _fail(message: str, raise_exception: bool) -> bool:
    if raise_exception:
        raise GradcheckError(message)
    return False
