"""The reverse-mode engine: grad mode, broadcast reduction and the backward pass.

A tensor produced by an op while grad mode is on remembers its parents (a tuple, so the
order is deterministic) and a vector-Jacobian product closure. `backward` walks that graph
in reverse topological order, found iteratively so that deep graphs never hit Python's
recursion limit, and sums each parent's gradient back to the parent's shape in one place
(`unbroadcast`), so no op has to think about broadcasting in its own backward code.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from gfxnn.tensor import Tensor

# A vector-Jacobian product: the output's gradient in, one gradient per input out
# (None for an input that gets no gradient).
VJPResult = Sequence[np.ndarray | None]
VJP = Callable[[np.ndarray], VJPResult]

_state = threading.local()


def is_grad_enabled() -> bool:
    """True when new ops record the graph for backward (the default)."""
    return getattr(_state, "grad_enabled", True)


@contextlib.contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    previous = is_grad_enabled()
    _state.grad_enabled = enabled
    try:
        yield
    finally:
        _state.grad_enabled = previous


def no_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager (also usable as a decorator) in which ops record no graph."""
    return _grad_mode(False)


def enable_grad() -> contextlib.AbstractContextManager[None]:
    """Context manager that turns graph recording back on inside `no_grad`."""
    return _grad_mode(True)


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum `grad` over the axes that broadcasting added or stretched, giving `shape`."""
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra > 0:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    assert grad.shape == shape, f"gradient shape {grad.shape} does not reduce to {shape}"
    return grad


def topological_order(root: Tensor) -> list[Tensor]:
    """Every tensor that `root` depends on through recorded ops, parents before children."""
    order: list[Tensor] = []
    visited: set[int] = {id(root)}
    # Each stack entry is (tensor, index of the next parent to visit).
    stack: list[tuple[Tensor, int]] = [(root, 0)]
    while stack:
        node, next_parent = stack[-1]
        if next_parent < len(node._parents):
            stack[-1] = (node, next_parent + 1)
            parent = node._parents[next_parent]
            if parent.requires_grad and id(parent) not in visited:
                visited.add(id(parent))
                stack.append((parent, 0))
        else:
            stack.pop()
            order.append(node)
    return order


def backward(root: Tensor, grad: np.ndarray | None = None, retain_graph: bool = False) -> None:
    """Accumulate d(root)/d(leaf), contracted with `grad`, into every leaf's `.grad`."""
    if not root.requires_grad:
        raise ValueError(
            "backward() called on a tensor that does not require grad: no input of the "
            "computation had requires_grad=True (or it ran under no_grad())"
        )
    if root._graph_freed:
        raise RuntimeError(
            "backward() through a graph that was already freed; pass retain_graph=True to "
            "the first backward() to run it twice"
        )
    if grad is None:
        if root.data.size != 1:
            raise ValueError(
                f"backward() without a gradient needs a scalar output, got shape {root.shape}; "
                "pass the upstream gradient explicitly: t.backward(grad)"
            )
        grad = np.ones_like(root.data)
    else:
        grad = np.asarray(grad, dtype=root.data.dtype)
        if grad.shape != root.shape:
            raise ValueError(
                f"upstream gradient has shape {grad.shape}, expected the output's shape "
                f"{root.shape}"
            )

    grads: dict[int, np.ndarray] = {id(root): grad}
    for node in reversed(topological_order(root)):
        node_grad = grads.pop(id(node), None)
        if node_grad is None:
            continue
        if node._vjp is None:
            if node._graph_freed:
                raise RuntimeError(
                    "backward() reached a tensor whose graph was freed by an earlier "
                    "backward(); pass retain_graph=True to that backward() to reuse it"
                )
            # A leaf: store a private copy so that two leaves never share one array.
            stored = np.array(node_grad, dtype=node.data.dtype)
            node.grad = stored if node.grad is None else node.grad + stored
            continue
        parent_grads = node._vjp(node_grad)
        for parent, parent_grad in zip(node._parents, parent_grads, strict=True):
            if parent_grad is None or not parent.requires_grad:
                continue
            parent_grad = unbroadcast(parent_grad, parent.shape)
            key = id(parent)
            grads[key] = parent_grad if key not in grads else grads[key] + parent_grad
        if not retain_graph:
            node._parents = ()
            node._vjp = None
            node._graph_freed = True
