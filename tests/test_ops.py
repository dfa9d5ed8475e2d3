"""Every primitive and composite op: gradcheck in float64, and values/gradients vs PyTorch."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from helpers import check_against_torch, random_inputs

import gfxnn
from gfxnn import functional as F
from gfxnn import ops

# Each case: (name, our function, the torch version taking the torch module first, input
# shapes, input range, kinks the inputs keep away from).
# fmt: off
CASES: list[tuple[str, Callable, Callable, list, tuple[float, float], tuple[float, ...]]] = [
    ("add", lambda a, b: a + b, lambda t, a, b: a + b, [(3, 4), (3, 4)], (-2, 2), ()),
    ("add_broadcast", lambda a, b: a + b, lambda t, a, b: a + b, [(2, 3, 4), (3, 1)], (-2, 2), ()),
    ("sub", lambda a, b: a - b, lambda t, a, b: a - b, [(3, 4), (4,)], (-2, 2), ()),
    ("mul", lambda a, b: a * b, lambda t, a, b: a * b, [(3, 4), (1, 4)], (-2, 2), ()),
    ("div", lambda a, b: a / b, lambda t, a, b: a / b, [(3, 4), (3, 4)], (0.5, 2), ()),
    ("neg", lambda a: -a, lambda t, a: -a, [(5,)], (-2, 2), ()),
    ("pow_const", lambda a: a**3, lambda t, a: a**3, [(3, 4)], (-2, 2), ()),
    ("pow_tensor", lambda a, b: a**b, lambda t, a, b: a**b, [(3, 4), (3, 4)], (0.5, 2), ()),
    ("rpow", lambda a: 2.0**a, lambda t, a: 2.0**a, [(3,)], (-2, 2), ()),
    ("exp", ops.exp, lambda t, a: a.exp(), [(3, 4)], (-2, 2), ()),
    ("log", ops.log, lambda t, a: a.log(), [(3, 4)], (0.1, 3), ()),
    ("log1p", ops.log1p, lambda t, a: a.log1p(), [(3, 4)], (-0.5, 3), ()),
    ("sqrt", ops.sqrt, lambda t, a: a.sqrt(), [(3, 4)], (0.1, 3), ()),
    ("sin", ops.sin, lambda t, a: a.sin(), [(3, 4)], (-3, 3), ()),
    ("cos", ops.cos, lambda t, a: a.cos(), [(3, 4)], (-3, 3), ()),
    ("abs", ops.abs, lambda t, a: a.abs(), [(3, 4)], (-2, 2), (0.0,)),
    ("maximum", ops.maximum, lambda t, a, b: t.maximum(a, b), [(3, 4), (4,)], (-2, 2), ()),
    ("minimum", ops.minimum, lambda t, a, b: t.minimum(a, b), [(3, 4), (3, 1)], (-2, 2), ()),
    ("where", lambda a, b: ops.where(a.data > 0, a, b), lambda t, a, b: t.where(a > 0, a, b), [(3, 4), (3, 4)], (-2, 2), (0.0,)),
    ("clip", lambda a: a.clip(-0.5, 0.7), lambda t, a: a.clamp(-0.5, 0.7), [(4, 5)], (-2, 2), (-0.5, 0.7)),
    ("linear", ops.linear, lambda t, a, b, c: t.nn.functional.linear(a, b, c), [(2, 3, 4), (5, 4), (5,)], (-2, 2), ()),
    ("linear_no_bias", ops.linear, lambda t, a, b: t.nn.functional.linear(a, b), [(3, 4), (5, 4)], (-2, 2), ()),
    ("matmul", lambda a, b: a @ b, lambda t, a, b: a @ b, [(3, 4), (4, 5)], (-2, 2), ()),
    ("matmul_batched", lambda a, b: a @ b, lambda t, a, b: a @ b, [(2, 3, 4), (4, 5)], (-2, 2), ()),
    ("matmul_vec_mat", lambda a, b: a @ b, lambda t, a, b: a @ b, [(4,), (4, 5)], (-2, 2), ()),
    ("matmul_mat_vec", lambda a, b: a @ b, lambda t, a, b: a @ b, [(3, 4), (4,)], (-2, 2), ()),
    ("sum_all", lambda a: a.sum(), lambda t, a: a.sum(), [(3, 4)], (-2, 2), ()),
    ("sum_axis", lambda a: a.sum(axis=1), lambda t, a: a.sum(dim=1), [(3, 4, 2)], (-2, 2), ()),
    ("sum_keepdims", lambda a: a.sum((0, 2), True), lambda t, a: a.sum((0, 2), True), [(3, 4, 2)], (-2, 2), ()),
    ("mean", lambda a: a.mean(axis=0), lambda t, a: a.mean(dim=0), [(3, 4)], (-2, 2), ()),
    ("max_all", lambda a: a.max(), lambda t, a: a.amax(), [(3, 4)], (-2, 2), ()),
    ("max_axis", lambda a: a.max(axis=1), lambda t, a: a.amax(dim=1), [(3, 4)], (-2, 2), ()),
    ("min_axis", lambda a: a.min(axis=0, keepdims=True), lambda t, a: a.amin(dim=0, keepdim=True), [(3, 4)], (-2, 2), ()),
    ("reshape", lambda a: a.reshape(4, 3) * 2, lambda t, a: a.reshape(4, 3) * 2, [(3, 4)], (-2, 2), ()),
    ("transpose", lambda a: a.T * 2, lambda t, a: a.T * 2, [(3, 4)], (-2, 2), ()),
    ("permute", lambda a: a.permute(2, 0, 1), lambda t, a: a.permute(2, 0, 1), [(2, 3, 4)], (-2, 2), ()),
    ("slice", lambda a: a[1:, ::2], lambda t, a: a[1:, ::2], [(3, 4)], (-2, 2), ()),
    ("fancy_index", lambda a: a[[0, 2, 0]], lambda t, a: a[[0, 2, 0]], [(3, 4)], (-2, 2), ()),
    ("concatenate", lambda a, b: ops.concatenate([a, b], axis=1), lambda t, a, b: t.cat([a, b], 1), [(3, 2), (3, 4)], (-2, 2), ()),
    ("stack", lambda a, b: ops.stack([a, b], axis=1), lambda t, a, b: t.stack([a, b], 1), [(3, 4), (3, 4)], (-2, 2), ()),
    ("pad", lambda a: ops.pad(a, ((1, 2), (0, 3)), 0.5), lambda t, a: t.nn.functional.pad(a, (0, 3, 1, 2), value=0.5), [(3, 4)], (-2, 2), ()),
    ("cast", lambda a: a.astype("float32").astype("float64") * 1.0, lambda t, a: a.float().double(), [(3,)], (-2, 2), ()),
    ("relu", F.relu, lambda t, a: a.relu(), [(4, 5)], (-2, 2), (0.0,)),
    ("leaky_relu", lambda a: F.leaky_relu(a, 0.2), lambda t, a: t.nn.functional.leaky_relu(a, 0.2), [(4, 5)], (-2, 2), (0.0,)),
    ("sigmoid", F.sigmoid, lambda t, a: a.sigmoid(), [(4, 5)], (-8, 8), ()),
    ("tanh", F.tanh, lambda t, a: a.tanh(), [(4, 5)], (-4, 4), ()),
    ("sigmoid_wide", ops.sigmoid, lambda t, a: a.sigmoid(), [(6, 5)], (-30, 30), ()),
    ("tanh_wide", ops.tanh, lambda t, a: a.tanh(), [(6, 5)], (-12, 12), ()),
    ("softplus", F.softplus, lambda t, a: t.nn.functional.softplus(a), [(4, 5)], (-8, 8), ()),
    ("silu", F.silu, lambda t, a: t.nn.functional.silu(a), [(4, 5)], (-4, 4), ()),
    ("sine", lambda a: F.sine(a, 3.0), lambda t, a: (3.0 * a).sin(), [(4, 5)], (-2, 2), ()),
    ("softmax", F.softmax, lambda t, a: a.softmax(-1), [(3, 5)], (-3, 3), ()),
    ("softmax_axis0", lambda a: F.softmax(a, 0), lambda t, a: a.softmax(0), [(3, 5)], (-3, 3), ()),
    ("log_softmax", F.log_softmax, lambda t, a: a.log_softmax(-1), [(3, 5)], (-3, 3), ()),
    ("logsumexp", F.logsumexp, lambda t, a: a.logsumexp(-1), [(3, 5)], (-3, 3), ()),
]
# fmt: on

NAMES = [case[0] for case in CASES]
# Casting through float32 rounds at ~1e-7, so finite differences need a larger step there.
GRADCHECK_OPTIONS = {"cast": {"eps": 1e-2, "atol": 1e-4}}


@pytest.mark.parametrize("name, ours, _theirs, shapes, bounds, kinks", CASES, ids=NAMES)
def test_gradcheck(name, ours, _theirs, shapes, bounds, kinks):
    inputs = random_inputs(shapes, *bounds, away_from=kinks)
    assert gfxnn.gradcheck(ours, inputs, **GRADCHECK_OPTIONS.get(name, {}))


@pytest.mark.parametrize("name, ours, theirs, shapes, bounds, kinks", CASES, ids=NAMES)
def test_against_torch(name, ours, theirs, shapes, bounds, kinks):
    torch = pytest.importorskip("torch")
    inputs = random_inputs(shapes, *bounds, away_from=kinks)
    check_against_torch(
        ours, lambda *args: theirs(torch, *args), inputs, atol=1e-6 if name == "cast" else 1e-9
    )


def test_gradcheck_catches_a_wrong_derivative():
    """A deliberately wrong VJP must fail the check (the check itself can fail)."""

    def wrong_square(x):
        out = ops.record(x.data**2, (x,), lambda g: (g * x.data,))  # true VJP is 2 g x
        return out

    with pytest.raises(gfxnn.GradcheckError, match="wrong"):
        gfxnn.gradcheck(wrong_square, [np.array([1.0, 2.0])])
    assert not gfxnn.gradcheck(wrong_square, [np.array([1.0, 2.0])], raise_exception=False)


@pytest.mark.parametrize("ties", ["maximum", "max"])
def test_ties_split_the_gradient_like_torch(ties):
    torch = pytest.importorskip("torch")
    x = np.array([1.0, 3.0, 3.0, 2.0])
    y = np.array([1.0, 0.0, 3.0, 5.0])
    if ties == "maximum":
        check_against_torch(ops.maximum, torch.maximum, [x, y])
    else:
        check_against_torch(lambda a: a.max(), lambda a: a.amax(), [x])


def test_relu_gradient_at_zero_is_zero_and_softplus_half():
    x = gfxnn.tensor([0.0], requires_grad=True)
    F.relu(x).sum().backward()
    assert x.grad is not None and x.grad[0] == 0.0
    x.grad = None
    F.softplus(x).sum().backward()
    assert x.grad[0] == pytest.approx(0.5)


@pytest.mark.parametrize("fn", [F.sigmoid, F.tanh, F.softplus, F.silu, F.log_softmax, F.softmax])
def test_activations_stay_finite_for_extreme_inputs(fn):
    x = gfxnn.tensor([[-1000.0, -50.0, 0.0, 50.0, 1000.0]], requires_grad=True)
    y = fn(x)
    y.backward(np.ones(y.shape))
    assert np.isfinite(y.data).all()
    assert np.isfinite(x.grad).all()


def recorded_nodes(out: gfxnn.Tensor) -> int:
    """How many op nodes the graph behind `out` holds (leaves not counted)."""
    from gfxnn.autograd import topological_order

    return sum(1 for node in topological_order(out) if not node.is_leaf)


@pytest.mark.parametrize(
    ("fn", "nodes"), [(F.sigmoid, 1), (F.tanh, 1), (F.relu, 1), (F.silu, 2)], ids=str
)
def test_activations_record_few_nodes(fn, nodes):
    # sigmoid and tanh are primitives that save their output (sigmoid was 9 nodes composed).
    x = gfxnn.tensor(np.linspace(-3, 3, 7), requires_grad=True)
    assert recorded_nodes(fn(x)) == nodes


# NaN in, NaN out, as PyTorch does: a clamp to 0 would hide a diverged input downstream.
# fmt: off
NAN_CASES = [
    ("relu", F.relu, lambda t, a: a.relu()),
    ("leaky_relu", F.leaky_relu, lambda t, a: t.nn.functional.leaky_relu(a, 0.01)),
    ("sigmoid", F.sigmoid, lambda t, a: a.sigmoid()),
    ("tanh", F.tanh, lambda t, a: a.tanh()),
    ("softplus", F.softplus, lambda t, a: t.nn.functional.softplus(a)),
    ("silu", F.silu, lambda t, a: t.nn.functional.silu(a)),
    ("maximum", lambda a: ops.maximum(a, 0.0), lambda t, a: t.maximum(a, t.zeros(()))),
    ("minimum", lambda a: ops.minimum(a, 0.0), lambda t, a: t.minimum(a, t.zeros(()))),
    ("max", lambda a: a.max(axis=0), lambda t, a: a.amax(0)),
    ("clip", lambda a: a.clip(-1.0, 1.0), lambda t, a: a.clamp(-1.0, 1.0)),
    ("abs", ops.abs, lambda t, a: a.abs()),
]
# fmt: on


@pytest.mark.parametrize("name, ours, theirs", NAN_CASES, ids=[c[0] for c in NAN_CASES])
def test_nan_propagates_like_torch(name, ours, theirs):
    torch = pytest.importorskip("torch")
    x = np.array([np.nan, -2.0, 0.5, 3.0])
    with np.errstate(invalid="raise"):  # no "invalid value" from inside the op
        out = ours(gfxnn.Tensor(x, requires_grad=True)).data
    expected = theirs(torch, torch.tensor(x)).numpy()
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    np.testing.assert_allclose(out[~np.isnan(out)], expected[~np.isnan(expected)], rtol=1e-12)
