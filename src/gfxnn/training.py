"""`fit`: the training loop a user reaches for, plus `Standardize` and `History`.

One straight loop, no callbacks: for each epoch, shuffle, step through mini-batches
(forward, loss, backward, optimizer step), evaluate on the validation set, record the
history, keep the best weights for early stopping, save a checkpoint. Stopping a run (Ctrl-C,
a crash) and calling `fit` again with the same checkpoint path resumes after the last
finished epoch and gives bit-identical results to an uninterrupted run.

    model = Sequential(Standardize(64), MLP(64, 10, n_neurons=64, rng=0))
    history = fit(model, cross_entropy, Adam(model.parameters()), x, y,
                  epochs=30, batch_size=32, metrics=["accuracy"], rng=0)
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from gfxnn import ops
from gfxnn.autograd import no_grad
from gfxnn.checks import check_int
from gfxnn.data.batching import iterate_minibatches, split_indices
from gfxnn.nn.module import Buffer, Module
from gfxnn.optim.optimizer import Optimizer
from gfxnn.optim.schedules import LRScheduler, ReduceLROnPlateau
from gfxnn.rng import as_generator
from gfxnn.tensor import Tensor

__all__ = ["METRICS", "History", "Standardize", "evaluate", "fit", "predict"]

LossFunction = Callable[[Tensor, Any], Tensor]
Metric = Callable[[np.ndarray, np.ndarray], float]

CHECKPOINT_KIND = "gfxnn.fit/1"


# ----- input normalisation -------------------------------------------------------------------
class Standardize(Module):
    """Input shift and scale: (x - mean) / std per feature, fitted on training data.

    Put it first in a model; `fit` fits it on the training split (never the validation
    data) unless it is already fitted. mean, std and the sample count are Buffers, so they
    are saved in the model's state_dict and checkpoints and restored with it.

    Args:
        n_features: the size of the last axis of the inputs.
        dtype: float32 (default) or float64.
    """

    n_features: int
    mean: Buffer
    std: Buffer
    n_samples: Buffer

    def __init__(self, n_features: int, dtype: Any = np.float32) -> None:
        super().__init__()
        if isinstance(n_features, bool) or not isinstance(n_features, numbers.Integral):
            raise TypeError(f"n_features must be an integer, got {n_features!r}")
        if n_features < 1:
            raise ValueError(f"n_features must be >= 1, got {n_features}")
        self.n_features = int(n_features)
        self.mean = Buffer(np.zeros(n_features), dtype=dtype)
        self.std = Buffer(np.ones(n_features), dtype=dtype)
        self.n_samples = Buffer(np.zeros(1), dtype=dtype)

    @property
    def fitted(self) -> bool:
        return bool(self.n_samples.data[0] > 0)

    def fit(self, x: np.ndarray) -> Standardize:
        """Set mean and std from samples x (N, ..., n_features); constant features get std 1."""
        x = np.asarray(x, dtype=np.float64)
        if x.ndim == 0 or x.shape[-1] != self.n_features or x.size == 0:
            raise ValueError(
                f"Standardize({self.n_features}) cannot fit data of shape {x.shape}; "
                f"expected (N, ..., {self.n_features}) with N >= 1"
            )
        flat = x.reshape(-1, self.n_features)
        std = flat.std(axis=0)
        # A constant feature (e.g. an always-black MNIST border pixel) is only shifted.
        std[std < 1e-8] = 1.0
        self.mean.data = flat.mean(axis=0).astype(self.mean.dtype)
        self.std.data = std.astype(self.std.dtype)
        self.n_samples.data = np.array([len(flat)], dtype=self.n_samples.dtype)
        return self

    def forward(self, x: Any) -> Tensor:
        return ops.div(ops.sub(x, self.mean.data), self.std.data)

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, fitted={self.fitted}"


# ----- metrics -------------------------------------------------------------------------------
def accuracy(output: np.ndarray, target: np.ndarray) -> float:
    """Share of correct predictions: argmax over classes for (N, C) outputs with C > 1
    (targets: labels (N,) or one-hot/probabilities (N, C)); for one output per sample, a
    logit, the prediction is output > 0 against targets in {0, 1}."""
    if output.ndim == 2 and output.shape[1] > 1:
        predicted = output.argmax(axis=1)
        labels = target.argmax(axis=1) if target.ndim == 2 else target
    else:
        predicted = output.reshape(len(output)) > 0
        labels = target.reshape(len(target)) > 0.5
    return float(np.mean(predicted == labels))


def binary_accuracy(output: np.ndarray, target: np.ndarray) -> float:
    """Share of correct predictions for one probability per sample: output > 0.5."""
    return float(
        np.mean((output.reshape(len(output)) > 0.5) == (target.reshape(len(target)) > 0.5))
    )


def mean_absolute_error(output: np.ndarray, target: np.ndarray) -> float:
    return float(np.mean(np.abs(output - target.reshape(output.shape))))


METRICS: dict[str, Metric] = {
    "accuracy": accuracy,
    "binary_accuracy": binary_accuracy,
    "mae": mean_absolute_error,
}


def _resolve_metrics(metrics: Sequence[str | Metric]) -> dict[str, Metric]:
    resolved: dict[str, Metric] = {}
    for metric in metrics:
        if isinstance(metric, str):
            if metric not in METRICS:
                raise ValueError(f"unknown metric {metric!r}; choose from {list(METRICS)}")
            resolved[metric] = METRICS[metric]
        elif callable(metric):
            resolved[getattr(metric, "__name__", "metric")] = metric
        else:
            raise TypeError(f"a metric is a name or a function (output, target), got {metric!r}")
    return resolved


# ----- history -------------------------------------------------------------------------------
@dataclass
class History:
    """Per-epoch records of a `fit` run.

    Attributes:
        records: lists by name, one value per finished epoch: "loss" (mean training loss
            over the epoch's batches), each metric on the training batches, and "val_loss"
            and "val_<metric>" when there is validation data.
        best_epoch: the epoch (1-based) with the best monitored value, when early stopping.
        stopped_early: whether early stopping ended the run.
    """

    records: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int | None = None
    stopped_early: bool = False

    @property
    def epochs(self) -> int:
        return len(self.records.get("loss", []))

    def __getitem__(self, name: str) -> list[float]:
        return self.records[name]

    def append(self, values: dict[str, float]) -> None:
        for name, value in values.items():
            self.records.setdefault(name, []).append(float(value))

    def to_dict(self) -> dict[str, Any]:
        return {
            "records": self.records,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        # JSON has no NaN: a diverged epoch's loss comes back as None.
        records = {
            name: [math.nan if v is None else float(v) for v in values]
            for name, values in data["records"].items()
        }
        return cls(records, data["best_epoch"], bool(data["stopped_early"]))


# ----- data checks ---------------------------------------------------------------------------
def _model_dtype(model: Module) -> np.dtype:
    parameters = model.parameters()
    return parameters[0].dtype if parameters else np.dtype(np.float32)


def _check_data(name: str, x: Any, y: Any, dtype: np.dtype) -> tuple[np.ndarray, np.ndarray]:
    """x as a finite float array (N, ...) and y (N, ...) as labels or finite floats."""
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim == 0 or y.ndim == 0:
        raise ValueError(
            f"{name}: x and y must be arrays of samples, got shapes {x.shape}, {y.shape}"
        )
    if len(x) != len(y):
        raise ValueError(f"{name}: x has {len(x)} samples but y has {len(y)}; they must match")
    if len(x) == 0:
        raise ValueError(f"{name}: the dataset is empty (0 samples)")
    if x.dtype.kind not in "fiub" or y.dtype.kind not in "fiub":
        raise TypeError(f"{name}: x and y must be numeric, got dtypes {x.dtype} and {y.dtype}")
    x = x.astype(dtype, copy=False)
    if not np.isfinite(x).all():
        raise ValueError(f"{name}: x contains NaN or infinite values")
    if y.dtype.kind == "f":
        y = y.astype(dtype, copy=False)
        if not np.isfinite(y).all():
            raise ValueError(f"{name}: y contains NaN or infinite values")
    elif y.dtype.kind in "ub":
        y = y.astype(np.int64)
    return x, y


def _check_labels(model: Module, x: np.ndarray, y: np.ndarray) -> None:
    """Integer class labels must index the model's outputs: checked once, up front."""
    if y.dtype.kind != "i" or y.ndim != 1:
        return
    model.eval()
    with no_grad():
        n_outputs = np.asarray(model(Tensor(x[:1])).data).shape[-1]
    if n_outputs > 1 and (y.min() < 0 or y.max() >= n_outputs):
        raise ValueError(
            f"class labels must be in [0, {n_outputs}) for a model with {n_outputs} outputs, "
            f"got labels in [{y.min()}, {y.max()}]"
        )


# ----- evaluation ----------------------------------------------------------------------------
def predict(model: Module, x: Any, batch_size: int = 1024) -> np.ndarray:
    """The model's outputs for inputs x (N, ...), in eval mode and without a graph."""
    x = np.asarray(x, dtype=_model_dtype(model))
    batch_size = check_int("batch_size", batch_size, 1)
    model.eval()
    with no_grad():
        outputs = [
            np.asarray(model(Tensor(x[i : i + batch_size])).data)
            for i in range(0, len(x), batch_size)
        ]
    return np.concatenate(outputs) if outputs else np.zeros((0,))


def evaluate(
    model: Module,
    loss: LossFunction,
    x: Any,
    y: Any,
    metrics: Sequence[str | Metric] = (),
    batch_size: int = 1024,
) -> dict[str, float]:
    """Loss (mean over samples, for a mean-reduced loss) and metrics on (x, y): {"loss": ...}."""
    x, y = _check_data("evaluate", x, y, _model_dtype(model))
    output = predict(model, x, batch_size)
    with no_grad():
        values = {"loss": float(loss(Tensor(output), y).data)}
    for name, metric in _resolve_metrics(metrics).items():
        values[name] = metric(output, y)
    return values


# ----- checkpoints ---------------------------------------------------------------------------
def _save(path: Path, model: Module, optimizer: Optimizer, state: dict[str, Any]) -> None:
    """Model, optimizer, best weights and loop state in one checkpoint file."""
    from gfxnn.io import save_checkpoint

    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    tensors.update((f"best.{k}", v) for k, v in (state.pop("best_weights") or {}).items())
    tensors.update((f"split.{k}", v) for k, v in (state.pop("split") or {}).items())
    optimizer_state = optimizer.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for index, values in optimizer_state["state"].items():
        for name, value in values.items():
            if isinstance(value, np.ndarray):
                tensors[f"optimizer.{index}.{name}"] = value
            else:
                scalars.setdefault(str(index), {})[name] = value
    config = {
        "kind": CHECKPOINT_KIND,
        "optimizer": {
            "type": type(optimizer).__name__,
            "param_groups": optimizer_state["param_groups"],
            "state": scalars,
        },
        **state,
    }
    save_checkpoint(path, tensors, config)


def _load(
    path: Path, model: Module, optimizer: Optimizer
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Restore model and optimizer from a checkpoint; return the loop state and the
    "best" and "split" arrays."""
    from gfxnn.io import CheckpointError, load_checkpoint

    tensors, config = load_checkpoint(path)
    if config.get("kind") != CHECKPOINT_KIND:
        raise CheckpointError(f"{path} is not a checkpoint written by gfxnn.training.fit")
    saved = config.pop("optimizer")
    if saved["type"] != type(optimizer).__name__:
        raise CheckpointError(
            f"{path} holds the state of a {saved['type']} optimizer, "
            f"not a {type(optimizer).__name__}"
        )
    groups: dict[str, dict[str, np.ndarray]] = {"model": {}, "best": {}, "split": {}}
    state: dict[int, dict[str, Any]] = {int(i): dict(v) for i, v in saved["state"].items()}
    for key, value in tensors.items():
        prefix, rest = key.split(".", 1)
        if prefix == "optimizer":
            index, name = rest.split(".", 1)
            state.setdefault(int(index), {})[name] = value
        else:
            groups[prefix][rest] = value
    model.load_state_dict(groups["model"])
    optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    return config, groups


# ----- the loop ------------------------------------------------------------------------------
def _split(
    x: np.ndarray,
    y: np.ndarray,
    validation_split: float,
    validation_data: tuple[Any, Any] | None,
    split: dict[str, np.ndarray] | None,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray | None, dict | None]:
    """(x_train, y_train, x_val, y_val, split): validation data given, split off at random
    (or as in a resumed run's `split` indices), or none."""
    if validation_data is not None:
        x_val, y_val = _check_data("validation_data", *validation_data, x.dtype)
        return x, y, x_val, y_val, None
    if not validation_split:
        return x, y, None, None, None
    if split is None:
        train_index, val_index = split_indices(len(x), validation_split, rng)
        split = {"train": train_index, "val": val_index}
    if max(split["train"].max(initial=0), split["val"].max(initial=0)) >= len(x):
        raise ValueError("the checkpoint's validation split does not fit this dataset")
    return x[split["train"]], y[split["train"]], x[split["val"]], y[split["val"]], split


def _progress_bar(enabled: bool) -> Any:
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeRemainingColumn,
    )

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    return Progress(*columns, TimeRemainingColumn(), disable=not enabled)


def fit(
    model: Module,
    loss: LossFunction,
    optimizer: Optimizer,
    x: Any,
    y: Any,
    epochs: int,
    batch_size: int = 32,
    *,
    shuffle: bool = True,
    validation_split: float = 0.2,
    validation_data: tuple[Any, Any] | None = None,
    early_stopping_patience: int | None = None,
    metrics: Sequence[str | Metric] = (),
    lr_scheduler: LRScheduler | ReduceLROnPlateau | None = None,
    rng: np.random.Generator | int = 0,
    progress: bool = True,
    checkpoint: str | Path | None = None,
) -> History:
    """Train `model` on (x, y) with mini-batches for `epochs` epochs.

    Args:
        model: the network; its Standardize modules that are not fitted yet are fitted on
            the training samples first.
        loss: loss(prediction, target) -> scalar Tensor, e.g. `gfxnn.losses.cross_entropy`.
        optimizer: built over the model's parameters.
        x: inputs (N, ...); y: targets (N, ...) (integer class labels or float targets).
        epochs: the total number of epochs (a resumed run continues up to it), >= 1.
        batch_size: samples per step, >= 1; the last batch of an epoch may be smaller.
        shuffle: draw a new sample order every epoch.
        validation_split: the share of (x, y) held out for validation (0 for none),
            ignored when `validation_data` is given. The split is random (from `rng`).
        validation_data: (x_val, y_val) to validate on instead.
        early_stopping_patience: stop after this many epochs without improvement of the
            validation loss (the training loss without validation data), and restore the
            weights of the best epoch. None trains all epochs.
        metrics: names from `METRICS` (e.g. "accuracy") or functions (output, target).
        lr_scheduler: stepped once after every epoch (ReduceLROnPlateau with the validation
            loss, or the training loss without validation data); the history records "lr".
        rng: generator or seed for the split and the shuffling.
        progress: show a rich progress bar with the loss.
        checkpoint: a file to save the run to after every epoch, and to resume from when it
            exists (the model, optimizer and scheduler must be built as for the saved run).

    Returns:
        The `History` of all epochs, including those before a resume.
    """
    epochs = check_int("epochs", epochs, 1)
    batch_size = check_int("batch_size", batch_size, 1)
    if early_stopping_patience is not None:
        early_stopping_patience = check_int("early_stopping_patience", early_stopping_patience, 1)
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer must be a gfxnn Optimizer, got {type(optimizer).__name__}")
    rng = as_generator(rng)
    metric_functions = _resolve_metrics(metrics)
    x, y = _check_data("fit", x, y, _model_dtype(model))
    path = Path(checkpoint) if checkpoint is not None else None

    # A resumed run restores everything, including the generator and the validation split.
    loop: dict[str, Any] = {"epoch": 0, "best": None, "wait": 0, "history": None}
    saved: dict[str, dict[str, np.ndarray]] = {"best": {}, "split": {}}
    if path is not None and path.exists():
        loop, saved = _load(path, model, optimizer)
        rng.bit_generator.state = loop["rng_state"]
        if lr_scheduler is not None and loop.get("lr_scheduler") is not None:
            lr_scheduler.load_state_dict(loop["lr_scheduler"])
    x_train, y_train, x_val, y_val, split = _split(
        x, y, validation_split, validation_data, saved["split"] or None, rng
    )
    for module in model.modules():
        if isinstance(module, Standardize) and not module.fitted:
            module.fit(x_train)
    _check_labels(model, x_train, y_train)

    history = History() if loop["history"] is None else History.from_dict(loop["history"])
    best_weights = saved["best"] or None
    best = math.inf if loop["best"] is None else loop["best"]
    wait, start = loop["wait"], loop["epoch"]
    monitor = "val_loss" if x_val is not None else "loss"
    n_batches = math.ceil(len(x_train) / batch_size)
    with _progress_bar(progress) as bar:
        task = bar.add_task("training", total=(epochs - start) * n_batches)
        for epoch in range(start + 1, epochs + 1):
            if history.stopped_early:
                break
            # One epoch of mini-batch steps; the loss and metrics are averaged over samples.
            model.train()
            sums = dict.fromkeys(["loss", *metric_functions], 0.0)
            learning_rate = optimizer.param_groups[0]["lr"]
            for index in iterate_minibatches(len(x_train), batch_size, rng, shuffle):
                optimizer.zero_grad()
                output = model(Tensor(x_train[index]))
                batch_loss = loss(output, y_train[index])
                batch_loss.backward()
                optimizer.step()
                sums["loss"] += float(batch_loss.data) * len(index)
                for name, metric in metric_functions.items():
                    sums[name] += metric(output.data, y_train[index]) * len(index)
                description = f"epoch {epoch}/{epochs} loss {float(batch_loss.data):.4g}"
                bar.update(task, advance=1, description=description)
            record = {name: total / len(x_train) for name, total in sums.items()}
            if x_val is not None:
                scores = evaluate(model, loss, x_val, y_val, metrics)
                record.update((f"val_{name}", value) for name, value in scores.items())
            if lr_scheduler is not None:
                record["lr"] = learning_rate
                if isinstance(lr_scheduler, ReduceLROnPlateau):
                    lr_scheduler.step(record[monitor])
                else:
                    lr_scheduler.step()
            history.append(record)

            # Early stopping: remember the best weights, stop after `patience` bad epochs.
            if early_stopping_patience is not None:
                if record[monitor] < best:
                    best, wait, history.best_epoch = record[monitor], 0, epoch
                    best_weights = model.state_dict()
                else:
                    wait += 1
                    history.stopped_early = wait >= early_stopping_patience
            if path is not None:
                loop_state = {
                    "epoch": epoch,
                    "history": history.to_dict(),
                    "best": best if math.isfinite(best) else None,
                    "wait": wait,
                    "rng_state": rng.bit_generator.state,
                    "lr_scheduler": None if lr_scheduler is None else lr_scheduler.state_dict(),
                    "best_weights": best_weights,
                    "split": split,
                }
                _save(path, model, optimizer, loop_state)
    if early_stopping_patience is not None and best_weights is not None:
        model.load_state_dict(best_weights)
    return history
