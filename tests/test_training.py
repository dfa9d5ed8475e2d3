"""fit, Standardize, History, mini-batching, the Playground problems."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gfxnn.data import iterate_minibatches, playground, train_val_split
from gfxnn.losses import cross_entropy, mse
from gfxnn.nn import MLP, Sequential
from gfxnn.optim import SGD, Adadelta, Adagrad, Adam, ReduceLROnPlateau, RMSprop, Rprop, StepLR
from gfxnn.training import Standardize, evaluate, fit, predict


def blobs(n: int = 200, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian classes in 4-D, offset and scaled far from zero mean / unit variance."""
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 3, n)
    x = rng.standard_normal((n, 4)) + 3 * np.eye(3, 4)[y]
    return (50 + 10 * x).astype(np.float32), y


def classifier(seed: int = 0) -> Sequential:
    return Sequential(Standardize(4), MLP(4, 3, n_neurons=16, n_hidden_layers=1, rng=seed))


# ----- fit -------------------------------------------------------------------------------------
def test_fit_learns_and_records_history() -> None:
    x, y = blobs()
    model = classifier()
    history = fit(
        model, cross_entropy, Adam(model.parameters(), lr=1e-2), x, y, epochs=15,
        batch_size=16, metrics=["accuracy"], rng=0, progress=False,
    )  # fmt: skip
    assert history.epochs == 15
    assert sorted(history.records) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert all(len(values) == 15 for values in history.records.values())
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    assert history["val_accuracy"][-1] >= 0.9
    assert history.best_epoch is None and not history.stopped_early


def test_standardize_is_fitted_on_the_training_split_only() -> None:
    x, y = blobs()
    model = classifier()
    fit(model, cross_entropy, SGD(model.parameters(), lr=0.1), x, y, epochs=1, rng=3,
        progress=False)  # fmt: skip
    train, _, _, _ = train_val_split(x, y, 0.2, 3)  # the same draw as fit's split
    standardize = model[0]
    assert isinstance(standardize, Standardize) and standardize.fitted
    np.testing.assert_allclose(standardize.mean.data, train.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(standardize.std.data, train.std(axis=0), rtol=1e-4)
    assert standardize.n_samples.data[0] == 160
    # Saved with the model, and restored by load_state_dict.
    state = model.state_dict()
    assert {"0.mean", "0.std", "0.n_samples"} <= set(state)
    other = classifier(seed=5)
    assert not other[0].fitted  # type: ignore[attr-defined]
    other.load_state_dict(state)
    assert other[0].fitted  # type: ignore[attr-defined]
    np.testing.assert_array_equal(predict(other, x), predict(model, x))


def test_standardize_output_has_zero_mean_unit_variance() -> None:
    x = np.random.default_rng(0).normal(5, 3, (500, 3))
    x[:, 2] = 7.0  # a constant feature is shifted, not divided by zero
    module = Standardize(3, dtype=np.float64).fit(x)
    out = module(x).data
    np.testing.assert_allclose(out.mean(axis=0), 0, atol=1e-12)
    np.testing.assert_allclose(out.std(axis=0), [1, 1, 0], atol=1e-12)
    with pytest.raises(ValueError, match=r"cannot fit data of shape \(500, 2\)"):
        Standardize(3).fit(x[:, :2])


SCHEDULERS: list[Any] = [
    None,
    lambda optimizer: StepLR(optimizer, step_size=2, gamma=0.5),
    lambda optimizer: ReduceLROnPlateau(optimizer, factor=0.5, patience=0, threshold=0.5),
]


@pytest.mark.parametrize("make_scheduler", SCHEDULERS, ids=["none", "step", "plateau"])
def test_resume_from_checkpoint_is_bit_identical(tmp_path: Path, make_scheduler: Any) -> None:
    x, y = blobs(120)

    def run(epochs: int, seed: int, checkpoint: Path | None) -> tuple[Any, Any]:
        model = classifier(seed)
        optimizer = Adam(model.parameters(), lr=1e-2)
        scheduler = None if make_scheduler is None else make_scheduler(optimizer)
        history = fit(
            model, cross_entropy, optimizer, x, y, epochs=epochs, batch_size=16,
            metrics=["accuracy"], rng=7, progress=False, checkpoint=checkpoint,
            early_stopping_patience=50, lr_scheduler=scheduler,
        )  # fmt: skip
        return model, history

    straight, straight_history = run(6, 0, None)
    path = tmp_path / "run.safetensors"
    run(3, 0, path)  # "interrupted" after 3 epochs
    assert path.exists()
    # A fresh process: other initial weights and another seed, all restored from the file.
    resumed, resumed_history = run(6, 99, path)
    assert resumed_history.records == straight_history.records
    assert resumed_history.best_epoch == straight_history.best_epoch
    for key, value in straight.state_dict().items():
        assert np.array_equal(resumed.state_dict()[key], value), key
    if make_scheduler is not None:
        assert len(set(straight_history["lr"])) > 1  # the schedule did change the rate


def test_fit_steps_the_scheduler_once_per_epoch() -> None:
    x, y = blobs(60)
    model = classifier()
    optimizer = Adam(model.parameters(), lr=0.1)
    history = fit(model, cross_entropy, optimizer, x, y, epochs=5, progress=False,
                  lr_scheduler=StepLR(optimizer, step_size=2, gamma=0.1))  # fmt: skip
    assert history["lr"] == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001])
    assert optimizer.param_groups[0]["lr"] == pytest.approx(0.001)


def test_checkpoint_of_another_optimizer_is_rejected(tmp_path: Path) -> None:
    x, y = blobs(40)
    model = classifier()
    path = tmp_path / "run.safetensors"
    fit(model, cross_entropy, Adam(model.parameters()), x, y, epochs=1, progress=False,
        checkpoint=path)  # fmt: skip
    with pytest.raises(ValueError, match="state of a Adam optimizer, not a SGD"):
        fit(model, cross_entropy, SGD(model.parameters(), lr=0.1), x, y, epochs=2,
            progress=False, checkpoint=path)  # fmt: skip


def test_early_stopping_restores_the_best_weights() -> None:
    # Built to overfit: 40 noisy samples of a 1-D trend, a wide network, a high rate.
    rng = np.random.default_rng(0)
    x = rng.standard_normal((80, 8)).astype(np.float32)
    y = (x[:, :1] + rng.standard_normal((80, 1))).astype(np.float32)
    x_val, y_val = x[40:], y[40:]
    model = MLP(8, 1, n_neurons=128, n_hidden_layers=2, rng=0)
    history = fit(
        model, mse, Adam(model.parameters(), lr=1e-2), x[:40], y[:40], epochs=300,
        batch_size=8, validation_data=(x_val, y_val), early_stopping_patience=5, rng=0,
        progress=False,
    )  # fmt: skip
    assert history.stopped_early and history.epochs < 300
    best = history.best_epoch
    assert best is not None and history.epochs == best + 5
    val_loss = history["val_loss"]
    assert val_loss[best - 1] == min(val_loss)
    assert val_loss[-1] > val_loss[best - 1]  # the last weights were worse ...
    assert history["loss"][-1] < history["loss"][best - 1]  # ... though better on training
    restored = evaluate(model, mse, x_val, y_val)["loss"]
    assert restored == pytest.approx(val_loss[best - 1], rel=1e-6)  # the best ones are back


def test_no_validation_and_explicit_validation_data() -> None:
    x, y = blobs(60)
    model = classifier()
    history = fit(model, cross_entropy, Adam(model.parameters()), x, y, epochs=2,
                  validation_split=0, progress=False)  # fmt: skip
    assert sorted(history.records) == ["loss"]
    history = fit(model, cross_entropy, Adam(model.parameters()), x, y, epochs=2,
                  validation_data=blobs(30, seed=1), metrics=["accuracy"], progress=False)  # fmt: skip
    assert len(history["val_accuracy"]) == 2


def test_progress_bar_renders(capsys: pytest.CaptureFixture[str]) -> None:
    x, y = blobs(40)
    model = classifier()
    fit(model, cross_entropy, Adam(model.parameters()), x, y, epochs=2, progress=True)
    assert "epoch 2/2 loss" in capsys.readouterr().out


def _fit(**overrides: Any) -> None:
    x, y = blobs(40)
    model = classifier()
    arguments: dict[str, Any] = {"x": x, "y": y, "epochs": 1, "progress": False}
    arguments.update(overrides)
    fit(model, cross_entropy, Adam(model.parameters()), **arguments)


@pytest.mark.parametrize(
    ("overrides", "error", "message"),
    [
        ({"y": np.zeros(39, dtype=int)}, ValueError, r"x has 40 samples but y has 39"),
        ({"y": np.full(40, 3)}, ValueError, r"class labels must be in \[0, 3\).*\[3, 3\]"),
        ({"y": np.full(40, -1)}, ValueError, r"class labels must be in \[0, 3\)"),
        ({"x": np.full((40, 4), np.nan)}, ValueError, r"x contains NaN"),
        ({"y": np.full((40, 3), np.inf)}, ValueError, r"y contains NaN or infinite"),
        ({"x": np.zeros((0, 4)), "y": np.zeros(0, int)}, ValueError, r"dataset is empty"),
        ({"batch_size": 0}, ValueError, r"batch_size must be an integer >= 1, got 0"),
        ({"epochs": 0}, ValueError, r"epochs must be an integer >= 1, got 0"),
        ({"early_stopping_patience": 0}, ValueError, r"early_stopping_patience must be"),
        ({"validation_split": 1.5}, ValueError, r"fraction must be in \(0, 1\), got 1\.5"),
        ({"metrics": ["f1"]}, ValueError, r"unknown metric 'f1'"),
        ({"x": np.array(["a"] * 40)}, TypeError, r"must be numeric"),
        ({"rng": "seed"}, TypeError, r"rng must be"),
    ],
)
def test_bad_input_gives_clear_errors(overrides: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        _fit(**overrides)


# ----- batching ----------------------------------------------------------------------------------
def test_minibatches_cover_every_sample_once() -> None:
    batches = list(iterate_minibatches(10, 3, rng=0))
    assert [len(b) for b in batches] == [3, 3, 3, 1]
    assert sorted(np.concatenate(batches)) == list(range(10))
    assert not np.array_equal(np.concatenate(batches), np.arange(10))
    again = list(iterate_minibatches(10, 3, rng=0))
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    assert [len(b) for b in iterate_minibatches(10, 3, rng=0, drop_last=True)] == [3, 3, 3]
    ordered = np.concatenate(list(iterate_minibatches(5, 2, shuffle=False)))
    assert ordered.tolist() == [0, 1, 2, 3, 4]
    rng = np.random.default_rng(1)
    first, second = (np.concatenate(list(iterate_minibatches(8, 8, rng))) for _ in range(2))
    assert not np.array_equal(first, second)  # one generator: a new order each epoch


def test_minibatch_errors() -> None:
    with pytest.raises(ValueError, match="shuffle=True needs an rng"):
        list(iterate_minibatches(10, 2))
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        list(iterate_minibatches(10, 0, rng=0))
    with pytest.raises(ValueError, match="number of samples"):
        list(iterate_minibatches(0, 2, rng=0))


def test_train_val_split() -> None:
    x, y = np.arange(50).reshape(25, 2), np.arange(25)
    x_train, y_train, x_val, y_val = train_val_split(x, y, 0.2, rng=0)
    assert len(x_train) == 20 and len(x_val) == 5
    assert sorted([*y_train, *y_val]) == list(range(25))
    np.testing.assert_array_equal(x_train[:, 0], 2 * y_train)  # rows stay paired
    with pytest.raises(ValueError, match="same number of samples"):
        train_val_split(x, y[:3], 0.2, rng=0)


# ----- Playground problems ----------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(playground.PROBLEMS))
def test_playground_problems(name: str) -> None:
    x_train, y_train, x_test, y_test = playground.make_problem(name, 400, 0.1, 0.6, rng=2)
    assert x_train.shape == (240, 2) and x_test.shape == (160, 2)
    labels = np.concatenate([y_train, y_test])
    assert set(labels.tolist()) == {0, 1} and 0.3 < labels.mean() < 0.7
    assert np.abs(np.concatenate([x_train, x_test])).max() < 8
    again = playground.make_problem(name, 400, 0.1, 0.6, rng=2)
    assert np.array_equal(again[0], x_train)


def test_playground_geometry_without_noise() -> None:
    x, y = playground.circle(300, 0.0, rng=0)
    radius = np.linalg.norm(x, axis=1)
    assert (radius[y == 1] < 2.5).all() and (radius[y == 0] >= 3.5).all()
    x, y = playground.xor(300, 0.0, rng=0)
    assert ((x[:, 0] * x[:, 1] > 0) == (y == 1)).all() and np.abs(x).min() >= 0.3
    x, y = playground.spiral(300, 0.0, rng=0)
    np.testing.assert_allclose(x[y == 0], -x[y == 1])  # the second arm is the first turned by pi
    x, y = playground.gaussian(2000, 0.0, rng=0)
    np.testing.assert_allclose(x[y == 1].mean(axis=0), [2, 2], atol=0.1)
    np.testing.assert_allclose(x[y == 1].var(axis=0), [0.5, 0.5], rtol=0.15)


def test_playground_errors() -> None:
    with pytest.raises(ValueError, match="unknown Playground problem 'moons'"):
        playground.make_problem("moons")
    with pytest.raises(ValueError, match=r"noise must be a number in \[0, 0\.5\]"):
        playground.spiral(100, 0.8, rng=0)
    with pytest.raises(ValueError, match=r"train_fraction must be in \(0, 1\)"):
        playground.make_problem("xor", train_fraction=1.0)


def test_metrics() -> None:
    from gfxnn.training import METRICS

    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.5, 0.1], [0.0, 0.0, 3.0], [1.0, 0.0, 0.0]])
    labels = np.array([0, 1, 1, 2])
    assert METRICS["accuracy"](logits, labels) == 0.5
    assert METRICS["accuracy"](logits, np.eye(3)[labels]) == 0.5  # one-hot targets
    single = np.array([[-1.0], [2.0], [0.5], [-0.2]])  # one logit per sample: > 0 is class 1
    assert METRICS["accuracy"](single, np.array([[0.0], [1.0], [0.0], [0.0]])) == 0.75
    probabilities = np.array([0.2, 0.9, 0.6, 0.4])  # one probability: > 0.5 is class 1
    assert METRICS["binary_accuracy"](probabilities, np.array([0, 1, 0, 0])) == 0.75
    assert METRICS["mae"](np.array([[1.0], [3.0]]), np.array([2.0, 2.0])) == 1.0


def test_custom_metric_function_is_recorded_under_its_name() -> None:
    x, y = blobs(60)
    model = classifier()

    def mean_logit(output: np.ndarray, target: np.ndarray) -> float:
        return float(output.mean())

    history = fit(model, cross_entropy, Adam(model.parameters()), x, y, epochs=2,
                  metrics=[mean_logit], progress=False)  # fmt: skip
    assert len(history["mean_logit"]) == len(history["val_mean_logit"]) == 2
    with pytest.raises(TypeError, match="a metric is a name or a function"):
        fit(model, cross_entropy, Adam(model.parameters()), x, y, epochs=1,
            metrics=[3], progress=False)  # type: ignore[list-item]  # fmt: skip


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda p: SGD(p, lr=0.1),  # state holds None (no momentum buffer): JSON null
        lambda p: SGD(p, lr=0.1, momentum=0.9, nesterov=True),
        lambda p: Rprop(p),
        lambda p: RMSprop(p, momentum=0.5, centered=True),
        lambda p: Adagrad(p, lr_decay=0.01),
        lambda p: Adadelta(p),
    ],
    ids=["sgd", "nesterov", "rprop", "rmsprop", "adagrad", "adadelta"],
)
def test_checkpoint_resume_with_every_optimizer(tmp_path: Path, make_optimizer: Any) -> None:
    x, y = blobs(64)

    def run(epochs: int, seed: int, checkpoint: Path | None) -> Any:
        model = classifier(seed)
        fit(model, cross_entropy, make_optimizer(model.parameters()), x, y, epochs=epochs,
            batch_size=16, rng=1, progress=False, checkpoint=checkpoint)  # fmt: skip
        return model.state_dict()

    straight = run(4, 0, None)
    run(2, 0, tmp_path / "run.safetensors")
    resumed = run(4, 5, tmp_path / "run.safetensors")
    for key, value in straight.items():
        assert np.array_equal(resumed[key], value), key
