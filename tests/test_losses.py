"""Losses: values and gradients against PyTorch, finite differences in float64, bad inputs."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import gfxnn
from gfxnn import losses
from gfxnn.tensor import Tensor

REDUCTIONS = ["mean", "sum", "none"]


# ----- inputs, drawn away from every kink (|d| = 0, 0.3 and 1 for l1 and huber) -----------------
def regression_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    prediction = rng.normal(size=(5, 3))
    magnitude = rng.choice([0.15, 0.6, 1.8], size=(5, 3)) + rng.uniform(-0.05, 0.05, (5, 3))
    difference = magnitude * rng.choice([-1.0, 1.0], size=(5, 3))
    return prediction, prediction - difference


def probability_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.05, 0.95, size=(5, 3)), rng.uniform(0, 1, size=(5, 3))


def logit_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=3.0, size=(5, 3)), rng.uniform(0, 1, size=(5, 3))


def class_label_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=2.0, size=(6, 4)), rng.integers(0, 4, size=6)


def class_probability_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scores = rng.normal(size=(6, 4))
    probabilities = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    return rng.normal(scale=2.0, size=(6, 4)), probabilities


def class_weight_pair(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Targets that do not sum to 1 per sample (PyTorch takes them as they are)."""
    rng = np.random.default_rng(seed)
    return rng.normal(scale=2.0, size=(6, 4)), rng.uniform(0.0, 1.5, size=(6, 4))


# ----- the torch side ---------------------------------------------------------------------------
def torch_relative_l2(torch: Any, p: Any, t: Any, reduction: str) -> Any:
    loss = (p - t) ** 2 / (p.detach() ** 2 + 0.01)
    return {"mean": loss.mean, "sum": loss.sum, "none": lambda: loss}[reduction]()


def F(torch: Any) -> Any:
    return torch.nn.functional


# name: (gfxnn loss(p, t, reduction), torch loss(torch, p, t, reduction), input pair maker)
CASES: dict[str, tuple[Callable[..., Any], Callable[..., Any], Callable[[], Any]]] = {
    "mse": (losses.mse, lambda tc, p, t, r: F(tc).mse_loss(p, t, reduction=r), regression_pair),
    "l1": (losses.l1, lambda tc, p, t, r: F(tc).l1_loss(p, t, reduction=r), regression_pair),
    "huber": (
        losses.huber,
        lambda tc, p, t, r: F(tc).huber_loss(p, t, reduction=r),
        regression_pair,
    ),
    "huber_delta_0.3": (
        lambda p, t, r: losses.huber(p, t, delta=0.3, reduction=r),
        lambda tc, p, t, r: F(tc).huber_loss(p, t, reduction=r, delta=0.3),
        regression_pair,
    ),
    "relative_l2": (losses.relative_l2, torch_relative_l2, regression_pair),
    "bce": (
        losses.binary_cross_entropy,
        lambda tc, p, t, r: F(tc).binary_cross_entropy(p, t, reduction=r),
        probability_pair,
    ),
    "bce_with_logits": (
        losses.binary_cross_entropy_with_logits,
        lambda tc, p, t, r: F(tc).binary_cross_entropy_with_logits(p, t, reduction=r),
        logit_pair,
    ),
    "cross_entropy_labels": (
        losses.cross_entropy,
        lambda tc, p, t, r: F(tc).cross_entropy(p, t, reduction=r),
        class_label_pair,
    ),
    "cross_entropy_labels_smoothed": (
        lambda p, t, r: losses.cross_entropy(p, t, r, label_smoothing=0.1),
        lambda tc, p, t, r: F(tc).cross_entropy(p, t, reduction=r, label_smoothing=0.1),
        class_label_pair,
    ),
    "cross_entropy_probabilities": (
        losses.cross_entropy,
        lambda tc, p, t, r: F(tc).cross_entropy(p, t, reduction=r),
        class_probability_pair,
    ),
    "cross_entropy_probabilities_smoothed": (
        lambda p, t, r: losses.cross_entropy(p, t, r, label_smoothing=0.2),
        lambda tc, p, t, r: F(tc).cross_entropy(p, t, reduction=r, label_smoothing=0.2),
        class_probability_pair,
    ),
    "cross_entropy_unnormalised_targets": (
        losses.cross_entropy,
        lambda tc, p, t, r: F(tc).cross_entropy(p, t, reduction=r),
        class_weight_pair,
    ),
}
CASE_NAMES = list(CASES)


def check_against_torch(
    our_loss: Callable[..., Any],
    torch_loss: Callable[..., Any],
    prediction: np.ndarray,
    target: np.ndarray,
    reduction: str,
) -> None:
    """Compare value and gradients (prediction, and target when it is a float array)."""
    torch = pytest.importorskip("torch")
    differentiable_target = target.dtype.kind == "f"
    ours_p = Tensor(prediction, requires_grad=True)
    ours_t = Tensor(target, requires_grad=True) if differentiable_target else target
    theirs_p = torch.tensor(prediction, requires_grad=True)
    theirs_t = torch.tensor(target, requires_grad=differentiable_target)
    ours, theirs = (
        our_loss(ours_p, ours_t, reduction),
        torch_loss(torch, theirs_p, theirs_t, reduction),
    )
    np.testing.assert_allclose(ours.data, theirs.detach().numpy(), rtol=1e-10, atol=1e-12)
    upstream = np.random.default_rng(7).normal(size=ours.shape)
    ours.backward(upstream)
    theirs.backward(torch.tensor(upstream))
    np.testing.assert_allclose(ours_p.grad, theirs_p.grad.numpy(), rtol=1e-9, atol=1e-12)
    if differentiable_target:
        np.testing.assert_allclose(ours_t.grad, theirs_t.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_loss_matches_torch(name: str, reduction: str) -> None:
    our_loss, torch_loss, make_pair = CASES[name]
    check_against_torch(our_loss, torch_loss, *make_pair(), reduction)


@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", CASE_NAMES)
def test_loss_gradcheck(name: str, reduction: str) -> None:
    our_loss, _, make_pair = CASES[name]
    prediction, target = make_pair()
    if name == "relative_l2":
        # The detached denominator makes the prediction's gradient differ from the true
        # derivative on purpose (checked by formula below); the target's is exact.
        gfxnn.gradcheck(lambda t: our_loss(Tensor(prediction), t, reduction), [target])
    elif target.dtype.kind == "f":
        gfxnn.gradcheck(lambda p, t: our_loss(p, t, reduction), [prediction, target])
    else:
        gfxnn.gradcheck(lambda p: our_loss(p, target, reduction), [prediction])


# ----- meaning beyond the oracle -----------------------------------------------------------------
def test_relative_l2_follows_tcnn_with_a_detached_denominator() -> None:
    prediction, target = regression_pair()
    p = Tensor(prediction, requires_grad=True)
    loss = losses.relative_l2(p, target)
    denominator = prediction**2 + 0.01
    np.testing.assert_allclose(loss.item(), np.mean((prediction - target) ** 2 / denominator))
    loss.backward()
    # tcnn's gradient: 2 (p - t) / (p^2 + 0.01) / n_elements, no term from the denominator.
    expected = 2 * (prediction - target) / denominator / prediction.size
    np.testing.assert_allclose(p.grad, expected, rtol=1e-12)


def test_bce_clamps_logs_at_minus_100_and_stays_finite() -> None:
    torch = pytest.importorskip("torch")
    prediction = np.array([0.0, 1.0, 0.0, 1.0, 0.5])
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.25])
    p = Tensor(prediction, requires_grad=True)
    loss = losses.binary_cross_entropy(p, target, reduction="none")
    expected = torch.nn.functional.binary_cross_entropy(
        torch.tensor(prediction), torch.tensor(target), reduction="none"
    )
    np.testing.assert_allclose(loss.data, expected.numpy())
    assert loss.data[0] == loss.data[1] == 100.0
    loss.sum().backward()
    assert np.isfinite(p.grad).all()


def test_bce_with_logits_is_stable_for_huge_logits() -> None:
    torch = pytest.importorskip("torch")
    logits = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    target = np.array([1.0, 0.0, 0.5, 1.0, 0.0])
    x = Tensor(logits, requires_grad=True)
    loss = losses.binary_cross_entropy_with_logits(x, target, reduction="none")
    theirs_x = torch.tensor(logits, requires_grad=True)
    theirs = torch.nn.functional.binary_cross_entropy_with_logits(
        theirs_x, torch.tensor(target), reduction="none"
    )
    # log(1 + exp(-50)) = 1.9e-22, which torch rounds to 0 where x = -50, t = 0.
    np.testing.assert_allclose(loss.data, theirs.detach().numpy(), rtol=1e-12, atol=1e-20)
    np.testing.assert_allclose(loss.data[[1, 3]], np.log1p(np.exp(-50.0)), rtol=1e-12)
    loss.sum().backward()
    theirs.sum().backward()
    # sigmoid(-50) = 1.9e-22: the two frameworks round it to 0 at different elements.
    np.testing.assert_allclose(x.grad, theirs_x.grad.numpy(), rtol=1e-12, atol=1e-20)


def test_cross_entropy_is_stable_for_huge_logits() -> None:
    logits = Tensor(np.array([[1000.0, 0.0, -1000.0], [0.0, 0.0, 0.0]]), requires_grad=True)
    loss = losses.cross_entropy(logits, np.array([2, 0]), reduction="none")
    np.testing.assert_allclose(loss.data, [2000.0, np.log(3.0)])
    loss.sum().backward()
    np.testing.assert_allclose(logits.grad, [[1.0, 0.0, -1.0], [-2 / 3, 1 / 3, 1 / 3]], atol=1e-12)


def test_losses_keep_float32() -> None:
    prediction, target = regression_pair()
    loss = losses.mse(Tensor(prediction.astype(np.float32), requires_grad=True), target)
    assert loss.dtype == np.float32
    logits, labels = class_label_pair()
    assert losses.cross_entropy(logits.astype(np.float32), labels).dtype == np.float32


# (Module, constructor keyword arguments, the function it wraps, input pair maker)
MODULES = [
    (losses.MSELoss, {}, losses.mse, regression_pair),
    (losses.L1Loss, {"reduction": "sum"}, lambda p, t: losses.l1(p, t, "sum"), regression_pair),
    (losses.HuberLoss, {"delta": 0.3}, lambda p, t: losses.huber(p, t, delta=0.3), regression_pair),
    (
        losses.RelativeL2Loss,
        {"reduction": "none"},
        lambda p, t: losses.relative_l2(p, t, "none"),
        regression_pair,
    ),
    (losses.BCELoss, {}, losses.binary_cross_entropy, probability_pair),
    (losses.BCEWithLogitsLoss, {}, losses.binary_cross_entropy_with_logits, logit_pair),
    (losses.CrossEntropyLoss, {}, losses.cross_entropy, class_label_pair),
    (
        losses.CrossEntropyLoss,
        {"label_smoothing": 0.1},
        lambda p, t: losses.cross_entropy(p, t, label_smoothing=0.1),
        class_probability_pair,
    ),
]


@pytest.mark.parametrize(("module", "kwargs", "function", "make_pair"), MODULES)
def test_loss_modules_match_their_functions(
    module: Any, kwargs: dict[str, Any], function: Callable[..., Any], make_pair: Callable[[], Any]
) -> None:
    prediction, target = make_pair()
    np.testing.assert_array_equal(
        module(**kwargs)(prediction, target).data, function(prediction, target).data
    )


# ----- bad inputs ----------------------------------------------------------------------------------
def bad(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Callable[[], Any]:
    return lambda: function(*args, **kwargs)


P3, T4 = np.zeros((2, 3)), np.zeros((2, 4))
LOGITS, LABELS = class_label_pair()


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (
            bad(losses.mse, P3, T4),
            ValueError,
            r"prediction has shape \(2, 3\) but target has shape \(2, 4\)",
        ),
        (bad(losses.l1, P3, P3[0]), ValueError, r"target has shape \(3,\)"),
        (bad(losses.huber, P3, T4), ValueError, r"huber: prediction has shape"),
        (bad(losses.relative_l2, P3, T4), ValueError, r"relative_l2: prediction has shape"),
        (bad(losses.binary_cross_entropy, P3, T4), ValueError, r"binary_cross_entropy: prediction"),
        (
            bad(losses.binary_cross_entropy_with_logits, P3, T4),
            ValueError,
            r"with_logits: prediction",
        ),
        (
            bad(losses.mse, P3, P3, reduction="avg"),
            ValueError,
            r"unknown reduction 'avg'; choose one of",
        ),
        (
            bad(losses.cross_entropy, LOGITS, LABELS, reduction="Mean"),
            ValueError,
            r"unknown reduction 'Mean'",
        ),
        (bad(losses.MSELoss, reduction="batchmean"), ValueError, r"unknown reduction 'batchmean'"),
        (bad(losses.huber, P3, P3, delta=0.0), ValueError, r"delta must be a number > 0, got 0\.0"),
        (bad(losses.HuberLoss, delta=-1), ValueError, r"delta must be a number > 0, got -1"),
        (
            bad(losses.binary_cross_entropy, P3 + 1.5, P3),
            ValueError,
            r"probabilities in \[0, 1\].*1\.5",
        ),
        (
            bad(losses.cross_entropy, LOGITS, np.array([0, 1, 2, 3, 4, 0])),
            ValueError,
            r"in \[0, 4\), got values in \[0, 4\]",
        ),
        (
            bad(losses.cross_entropy, LOGITS, -LABELS - 1),
            ValueError,
            r"class labels must be in \[0, 4\)",
        ),
        (
            bad(losses.cross_entropy, LOGITS, LABELS[:4]),
            ValueError,
            r"class labels have shape \(4,\), expected \(6,\)",
        ),
        (
            bad(losses.cross_entropy, LOGITS, LABELS.astype(float)),
            TypeError,
            r"must be an integer array, got dtype float64",
        ),
        (
            bad(losses.cross_entropy, LOGITS, LABELS.astype(bool)),
            TypeError,
            r"integer array, got dtype bool",
        ),
        (bad(losses.cross_entropy, LOGITS, Tensor(LABELS)), TypeError, r"must be an integer array"),
        (
            bad(losses.cross_entropy, LOGITS, np.ones((6, 4), dtype=int)),
            TypeError,
            r"float class probabilities",
        ),
        (
            bad(losses.cross_entropy, LOGITS, np.ones((6, 3))),
            ValueError,
            r"probabilities have shape \(6, 3\)",
        ),
        (
            bad(losses.cross_entropy, LOGITS[0], LABELS),
            ValueError,
            r"logits must have shape \(N, C\), got \(4,\)",
        ),
        (
            bad(losses.cross_entropy, LOGITS, LABELS, label_smoothing=1.5),
            ValueError,
            r"label_smoothing.*1\.5",
        ),
        (bad(losses.CrossEntropyLoss, label_smoothing=-0.1), ValueError, r"label_smoothing.*-0\.1"),
        (bad(losses.mse, Tensor(P3, dtype=np.float32), Tensor(P3)), TypeError, r"dtype mismatch"),
    ],
)
def test_bad_inputs_raise(call: Callable[[], Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        call()


@pytest.mark.parametrize("delta", [float("inf"), float("nan"), True, 0.0])
def test_huber_delta_must_be_finite_and_positive(delta: Any) -> None:
    # inf was accepted before: Huber silently became an L2 loss.
    with pytest.raises(ValueError, match=r"delta must be a number > 0"):
        losses.HuberLoss(delta=delta)
