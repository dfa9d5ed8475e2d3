"""The engine's contract: accumulation, graph freeing, no_grad, dtypes and clear errors."""

from __future__ import annotations

import numpy as np
import pytest

import gfxnn
from gfxnn import functional as F
from gfxnn import ops


def test_scalar_backward_seeds_one_and_reuses_a_node():
    x = gfxnn.tensor([2.0, -3.0], requires_grad=True)
    y = x * x  # used twice below: its gradient must be summed, not overwritten
    z = (y + y * 3.0).sum()
    z.backward()
    np.testing.assert_allclose(x.grad, 8 * x.data)


def test_leaf_gradients_accumulate_across_backward_calls():
    x = gfxnn.tensor([1.0, 2.0], requires_grad=True)
    (x * 3.0).sum().backward()
    (x * 3.0).sum().backward()
    np.testing.assert_allclose(x.grad, [6.0, 6.0])


def test_non_scalar_backward_needs_an_explicit_gradient():
    x = gfxnn.tensor(np.ones((2, 3)), requires_grad=True)
    y = x * 2.0
    with pytest.raises(ValueError, match=r"scalar output, got shape \(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"upstream gradient has shape \(3,\)"):
        y.backward(np.ones(3))
    y.backward(np.full((2, 3), 0.5))
    np.testing.assert_allclose(x.grad, np.ones((2, 3)))


def test_graph_is_freed_unless_retained():
    x = gfxnn.tensor([1.0, 2.0], requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad, 4 * x.data)
    with pytest.raises(RuntimeError, match="freed"):
        y.backward()


def test_backward_without_any_grad_input_is_an_error():
    with pytest.raises(ValueError, match="does not require grad"):
        (gfxnn.tensor([1.0]) * 2.0).sum().backward()


def test_no_grad_records_nothing_and_restores_the_mode():
    x = gfxnn.tensor([1.0], requires_grad=True)
    with gfxnn.no_grad():
        assert not gfxnn.is_grad_enabled()
        y = x * 2.0
        with gfxnn.enable_grad():
            assert (x * 2.0).requires_grad
    assert gfxnn.is_grad_enabled()
    assert not y.requires_grad and y.is_leaf


def test_no_grad_as_decorator():
    @gfxnn.no_grad()
    def double(t):
        return t * 2.0

    assert not double(gfxnn.tensor([1.0], requires_grad=True)).requires_grad


def test_detach_cuts_the_graph():
    x = gfxnn.tensor([3.0], requires_grad=True)
    y = (x * x.detach()).sum()
    y.backward()
    np.testing.assert_allclose(x.grad, [3.0])


def test_deep_graph_does_not_hit_the_recursion_limit():
    x = gfxnn.tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y * 1.0001
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [1.0001**5000], rtol=1e-4)


def test_dtypes_default_float32_keep_float64_and_refuse_mixing():
    assert gfxnn.tensor([1, 2]).dtype == np.float32
    assert gfxnn.tensor(np.zeros(2)).dtype == np.float64
    assert gfxnn.tensor([1.0], dtype="float64").dtype == np.float64
    assert (gfxnn.tensor(np.zeros(2)).sum()).dtype == np.float64
    single = gfxnn.tensor([1.0])
    assert (single + np.ones(1)).dtype == np.float32  # raw arrays adopt the tensor's dtype
    with pytest.raises(TypeError, match="dtype mismatch: float32 and float64"):
        _ = single + gfxnn.tensor(np.ones(1))
    with pytest.raises(TypeError, match="float16 is not supported"):
        gfxnn.tensor([1.0], dtype="float16")
    with pytest.raises(TypeError, match="dtype <U1"):
        gfxnn.tensor(["a"])


def test_shape_errors_name_the_shapes():
    a = gfxnn.tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"matmul: shapes \(2, 3\) and \(2, 3\) do not align"):
        _ = a @ a
    with pytest.raises(ValueError, match=r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"):
        _ = a + gfxnn.tensor(np.ones(4))
    with pytest.raises(ValueError, match=r"cannot reshape a tensor of shape \(2, 3\) into \(4,\)"):
        a.reshape(4)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        a.sum(axis=2)


def test_numpy_array_on_the_left_defers_to_tensor():
    x = gfxnn.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0], dtype=np.float32) * x
    assert isinstance(y, gfxnn.Tensor)
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 4.0])


def test_unknown_activation_name_lists_the_choices():
    with pytest.raises(ValueError, match="unknown activation 'gelu'.*leaky_relu"):
        F.activation_by_name("gelu")


def test_leaf_grads_are_private_copies():
    a = gfxnn.tensor([1.0], requires_grad=True)
    b = gfxnn.tensor([1.0], requires_grad=True)
    (a + b).sum().backward()
    assert a.grad is not b.grad
    a.grad += 1.0
    assert b.grad[0] == 1.0


def test_record_is_the_public_way_to_add_a_primitive() -> None:
    """ops.record: a graph node only when grad mode is on and a parent requires grad."""
    x = gfxnn.tensor([1.0, 2.0], requires_grad=True)

    def cube(t: gfxnn.Tensor) -> gfxnn.Tensor:
        return ops.record(t.data**3, [t], lambda g: (3 * g * t.data**2,))

    y = cube(x)
    assert y.requires_grad and not y.is_leaf
    y.sum().backward()
    np.testing.assert_allclose(x.grad, [3.0, 12.0])
    with gfxnn.no_grad():
        assert cube(x).is_leaf and not cube(x).requires_grad
    assert not cube(gfxnn.tensor([1.0])).requires_grad  # no parent needs a gradient
    assert gfxnn.gradcheck(cube, [np.array([0.5, -1.5])])
