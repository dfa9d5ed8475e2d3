"""The compiled CPU trainer against its references: the NumPy fused trainer (every encoding x
activation x loss x optimizer, float64), the autodiff engine (200 steps, float64 to 1e-10 and
float32 at a small batch to 1e-5, as tests/test_fused.py checks the NumPy path), and its own
promises (same bits at any thread count, in-kernel sampling = the target's, divergence)."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

import gfxnn  # noqa: E402
from gfxnn.compiled.threads import ThreadPolicy, check_threads, max_threads  # noqa: E402
from gfxnn.compiled.trainer import CompiledTrainer, chunking  # noqa: E402
from gfxnn.encodings import FrequencyEncoding  # noqa: E402
from gfxnn.fields.targets import ImageTarget  # noqa: E402
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec  # noqa: E402
from gfxnn.fused import make_trainer  # noqa: E402

ENCODINGS = {
    "frequency": {"otype": "Frequency", "n_frequencies": 3},
    "identity": {"otype": "Identity", "scale": 1.0, "offset": 0.0},
    "identity_scaled": {"otype": "Identity", "scale": 2.0, "offset": -1.0},
    "hashgrid": {
        "otype": "HashGrid", "n_levels": 4, "n_features_per_level": 2, "log2_hashmap_size": 6,
        "base_resolution": 4, "per_level_scale": 1.5, "interpolation": "Linear",
    },
    "densegrid": {
        "otype": "DenseGrid", "n_levels": 3, "n_features_per_level": 2, "log2_hashmap_size": 19,
        "base_resolution": 3, "per_level_scale": 2.0, "interpolation": "Smoothstep",
    },
    "oneblob": {"otype": "OneBlob", "n_bins": 8},  # encoded on the host
}  # fmt: skip
ACTIVATIONS = ["leaky_relu", "relu", "sigmoid", "tanh", "sine", "softplus", "none"]
LOSSES = ["l2", "relative_l2", "l1"]
OPTIMIZERS = ["adam", "sgd"]


def make_spec(encoding: str, activation: str, loss: str, optimizer: str, **kw) -> ModelSpec:
    # RelativeL2's gradient is up to 100x L2's: SGD at 0.1 is chaotic there (rounding then
    # grows 10x a step), which would test the trajectory's stability, not the formulas.
    lr = 1e-2 if optimizer == "adam" or loss == "relative_l2" else 0.1
    grid = ENCODINGS[encoding]["otype"] in ("HashGrid", "DenseGrid")
    return ModelSpec(
        encoding=dict(ENCODINGS[encoding]),
        n_neurons=8,
        n_hidden_layers=2,
        activation=activation,
        output_activation="sigmoid" if activation == "none" else activation,
        loss=loss,
        optimizer=OptimizerSpec(optimizer, lr, l2_reg=1e-3),
        encoding_optimizer=OptimizerSpec(optimizer, lr, epsilon=1e-15) if grid else None,
        **kw,
    )


def batches(n_steps: int, batch: int, dtype: type, seed: int = 2):
    rng = np.random.default_rng(seed)
    for _ in range(n_steps):
        yield rng.random((batch, 2)).astype(dtype), rng.random((batch, 3)).astype(dtype)


def max_difference(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in a)


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_compiled_matches_numpy_fused_float64(
    encoding: str, activation: str, loss: str, optimizer: str
) -> None:
    spec = make_spec(encoding, activation, loss, optimizer)
    compiled = CompiledTrainer(spec, dtype=np.float64)
    reference = make_trainer(spec, dtype=np.float64)
    assert max_difference(compiled.state_dict(), reference.state_dict()) == 0.0  # same draws
    for inputs, targets in batches(15, 300, np.float64):  # 300 rows: 2 chunks, several tiles
        loss_c = compiled.compute_gradients(inputs, targets)
        loss_r = reference.compute_gradients(inputs, targets)
        assert loss_c == pytest.approx(loss_r, rel=1e-9)
        compiled.update()
        reference.update()
    assert max_difference(compiled.state_dict(), reference.state_dict()) < 1e-10
    uv = np.random.default_rng(7).random((50, 2))
    np.testing.assert_allclose(compiled.infer(uv), reference.infer(uv), rtol=0, atol=1e-9)


def train_against_autodiff(
    optimizer: str, activation: str, dtype: type, steps: int = 200, batch_size: int = 64
) -> float:
    """Dx12NN's default network (frequency 8 -> 64 -> 64 -> 3) from seed 0: the compiled
    trainer and the autodiff engine on the same batches; the largest weight difference."""
    from gfxnn.nn import MLP
    from gfxnn.optim import SGD, Adam

    lr = 1e-3 if optimizer == "adam" else 0.1
    net = MLP(32, 3, 64, 2, activation, output_activation=activation, rng=0, dtype=dtype)
    encoding = FrequencyEncoding(2, 8)
    autodiff_optimizer = (Adam if optimizer == "adam" else SGD)(net.parameters(), lr=lr)
    spec = ModelSpec(
        activation=activation, output_activation=activation, optimizer=OptimizerSpec(optimizer, lr)
    )
    compiled = CompiledTrainer(spec, dtype=dtype)
    for inputs, targets in batches(steps, batch_size, dtype, seed=1):
        loss = compiled.compute_gradients(inputs, targets)
        compiled.update()
        autodiff_optimizer.zero_grad()
        prediction = net(encoding(gfxnn.Tensor(inputs)))
        reference = ((prediction - gfxnn.Tensor(targets)) ** 2).mean()
        reference.backward()
        autodiff_optimizer.step()
        assert loss == pytest.approx(float(reference.data), rel=1e-4)
    return max_difference(compiled.state_dict(), net.state_dict())


@pytest.mark.parametrize(
    ("optimizer", "activation"), [("adam", "leaky_relu"), ("adam", "relu"), ("sgd", "sigmoid")]
)
def test_compiled_and_autodiff_train_to_the_same_weights_float64(
    optimizer: str, activation: str
) -> None:
    # In float64 rounding cannot hide a different formula: 200 steps must agree to ~1e-12.
    assert train_against_autodiff(optimizer, activation, np.float64) < 1e-10


def test_compiled_and_autodiff_train_to_the_same_weights_float32() -> None:
    # float32 differs only by summation order (chunked BLAS vs NumPy reductions); see
    # tests/test_fused.py for why a few float32 ulps of the weights is the right tolerance.
    assert train_against_autodiff("adam", "leaky_relu", np.float32) < 1e-5


def image_target() -> ImageTarget:
    return ImageTarget(np.random.default_rng(5).random((23, 37, 3)))


def test_in_kernel_sampling_is_the_targets_and_training_matches_numpy() -> None:
    spec = ModelSpec(encoding={"otype": "Frequency", "n_frequencies": 4}, n_neurons=16)
    compiled = CompiledTrainer(spec, image_target())
    reference = make_trainer(spec, image_target())
    compiled.train(30, 500)
    reference.train(30, 500)
    np.testing.assert_allclose(compiled.read_losses(), reference.read_losses(), rtol=2e-5)
    assert max_difference(compiled.state_dict(), reference.state_dict()) < 1e-4
    # The kernel's nearest texels are exactly the target's.
    host = CompiledTrainer(spec)
    rng = np.random.default_rng([spec.seed, 1])
    for _ in range(3):
        inputs = np.empty((500, 2), np.float32)
        targets = np.empty((500, 3), np.float32)
        image_target().sample(rng, inputs, targets)
        host.compute_gradients(inputs, targets)
        host.update()
    again = CompiledTrainer(spec, image_target())
    again.train(3, 500)
    assert max_difference(host.state_dict(), again.state_dict()) == 0.0


@pytest.mark.skipif(max_threads() < 2, reason="needs 2 threads")
@pytest.mark.parametrize("encoding", ["frequency", "hashgrid"])
def test_same_bits_at_every_thread_count(encoding: str) -> None:
    spec = make_spec(encoding, "relu", "l2", "adam")
    runs = []
    for threads in (1, 2, "auto"):
        trainer = CompiledTrainer(spec, image_target(), threads=threads)
        trainer.train(20, 1024)
        runs.append(trainer.state_dict())
    assert max_difference(runs[0], runs[1]) == 0.0
    assert max_difference(runs[0], runs[2]) == 0.0


def test_chunking_depends_on_sizes_only() -> None:
    assert chunking(2048, 64) == (6, 342)  # one tile per chunk
    assert chunking(100, 64) == (1, 100)
    assert chunking(2**14, 64) == (16, 342)  # 1024-row chunks: three tiles, the last 340
    assert chunking(2**16, 256) == (16, 96)  # 4096 rows in 43 tiles of at most 96


def test_render_matches_numpy_fused_and_infer() -> None:
    spec = make_spec("hashgrid", "relu", "l2", "adam")
    compiled = CompiledTrainer(spec, image_target())
    compiled.train(5, 256)
    reference = make_trainer(spec)
    reference.load_state_dict(compiled.state_dict())
    image = compiled.render((9, 13))
    assert image.shape == (9, 13, 3)
    np.testing.assert_allclose(image, reference.render((9, 13)), atol=1e-6)
    # pixel (x, y) at (x / (W - 1), y / (H - 1))
    np.testing.assert_allclose(image[4, 6], compiled.infer(np.array([[0.5, 0.5]]))[0], atol=1e-7)
    assert compiled.render((1, 1)).shape == (1, 1, 3)
    with pytest.raises(ValueError, match="render shape"):
        compiled.render((4,))


def test_state_dict_round_trip_errors_and_divergence() -> None:
    spec = make_spec("hashgrid", "leaky_relu", "l2", "adam")
    trainer = CompiledTrainer(spec, image_target())
    trainer.train(3, 128)
    state = trainer.state_dict()
    assert set(state) == {*(f"layers.{i}.{p}" for i in range(3) for p in ("weight", "bias")),
                          "encoding.table"}  # fmt: skip
    other = CompiledTrainer(spec, initialize=False)
    other.load_state_dict(state)
    assert max_difference(other.state_dict(), state) == 0.0
    bad = dict(state, **{"layers.0.weight": np.zeros((2, 2), np.float32)})
    with pytest.raises(ValueError, match=r"layers\.0\.weight"):
        other.load_state_dict(bad)
    # A learning rate that blows up: training stops at the first non-finite loss, weights kept.
    wild = CompiledTrainer(make_spec("frequency", "none", "l2", "sgd").replace(
        optimizer=OptimizerSpec("sgd", 1e30)), image_target())  # fmt: skip
    wild.train(50, 64)
    step = wild.diverged_at()
    assert 1 < step <= 50
    assert len(wild.read_losses()) == step - 1
    assert all(np.all(np.isfinite(v)) for v in wild.state_dict().values())


def test_bad_arguments_name_the_value() -> None:
    with pytest.raises(ValueError, match="threads"):
        check_threads(0)
    with pytest.raises(ValueError, match="'many'"):
        check_threads("many")
    with pytest.raises(ValueError, match="unknown loss 'l3'"):
        CompiledTrainer(ModelSpec(loss="l3"))
    with pytest.raises(ValueError, match="no target"):
        CompiledTrainer(ModelSpec()).train(1, 8)


def test_thread_policy_keeps_the_faster_and_remeasures_the_other() -> None:
    policy = ThreadPolicy("auto")
    policy.candidates = [4, 1]
    first, second = policy.choose(), (policy.record(4, 1.2, 1), policy.choose())[1]
    assert (first, second) == (4, 1)  # each measured once
    policy.record(1, 1.0, 1)
    choices = []
    for _ in range(32):
        choices.append(policy.choose())
    assert choices.count(1) >= 30 and 4 in choices  # mostly the faster, the other re-measured
    # a far slower other count (2x here) is re-timed four times less often
    far = ThreadPolicy("auto")
    far.candidates = [4, 1]
    far.choose(), far.record(4, 2.0, 1), far.choose(), far.record(1, 1.0, 1)
    far_choices = [far.choose() for _ in range(128)]
    assert far_choices.count(4) == 2  # rounds 64 and 128 of the 130
    # when the best slows down (load), the policy switches without exploring
    for _ in range(3):
        far.record(1, 5.0, 1)
    assert far.best() == 4 and far.choose() == 4
    assert ThreadPolicy(3).candidates == [min(3, max_threads())]


def test_gfxnn_fit_cpu_backend_flag(tmp_path) -> None:
    """`gfxnn fit --cpu-backend compiled` trains with the compiled trainer and writes a checkpoint
    that renders as the NumPy path renders it; NumPy is the default; a bad name is exit 2."""
    from gfxnn.cli import main
    from gfxnn.fields import checkpoint
    from gfxnn.imagefit import ImageFitter

    default = ImageFitter(np.zeros((4, 4, 3), np.float32))
    assert type(default._trainer).__name__ == "FusedTrainer"
    from gfxnn.apps.devices import make_fitter

    chosen = make_fitter(
        np.zeros((4, 4, 3), np.float32), default.settings, "cpu", cpu_backend="compiled"
    )
    assert isinstance(chosen._trainer, CompiledTrainer)
    args = ["fit", "--image-name", "circle", "--steps", "20", "--batch-size", "64", "--quiet"]
    for backend in ("numpy", "compiled"):
        out = tmp_path / backend
        assert main([*args, "--cpu-backend", backend, "--out", str(out)]) == 0
        assert (out / "checkpoint.safetensors").exists()
    numpy_run, compiled_run = (
        checkpoint.load(tmp_path / b / "checkpoint.safetensors") for b in ("numpy", "compiled")
    )
    # Same seed, same batches, float32 sums in another order: the weights agree closely.
    for name, value in numpy_run.state.items():
        np.testing.assert_allclose(compiled_run.state[name], value, atol=1e-4)
    assert main([*args, "--cpu-backend", "fortran", "--out", str(tmp_path / "bad")]) == 2
    assert not (tmp_path / "bad").exists()


def test_without_numba_the_numpy_trainer_runs_and_compiled_is_one_line(tmp_path) -> None:
    """Numba is an extra (`gfxnn[compiled]`): without it the default fitter still trains, and
    `gfxnn fit --cpu-backend compiled` is one line, exit 2, nothing written."""
    import subprocess
    import sys

    script = """
import sys
sys.modules["numba"] = None  # as if Numba were not installed
import numpy as np
from gfxnn.cli import main
from gfxnn.imagefit import ImageFitter
fitter = ImageFitter(np.random.default_rng(0).random((8, 8, 3)))
fitter.step(3)
assert fitter.steps == 3
code = main(["fit", "--image-name", "circle", "--steps", "5", "--quiet",
             "--cpu-backend", "compiled", "--out", sys.argv[1]])
sys.exit(code)
"""
    out = tmp_path / "run"
    done = subprocess.run(
        [sys.executable, "-c", script, str(out)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.strip().splitlines() == [
        "gfxnn fit: error: --cpu-backend compiled needs Numba: pip install 'gfxnn[compiled]'"
    ]
    assert not out.exists()


def test_a_round_keeps_its_thread_count_and_the_first_round_is_not_timed(monkeypatch) -> None:
    """Each round of steps runs at the count the policy chose for it (an update inside the round
    must not switch back to the best count), and the first round, which loads or compiles the
    kernels, is not taken as a speed."""
    import numba

    calls: list[int] = []
    monkeypatch.setattr(numba, "set_num_threads", calls.append)
    trainer = CompiledTrainer(make_spec("frequency", "relu", "l2", "adam"), image_target())
    trainer.policy.candidates = [2, 1]
    trainer.train(24, 64)  # three rounds of 8 steps
    assert calls == [2, 2, 1]  # round 1 was not timed: 2 threads is measured again
    assert set(trainer.policy.seconds_per_step) == {1, 2}
    assert len(trainer.policy._history[2]) == 1


CONCURRENT = """
import threading, numpy as np
from gfxnn.compiled.trainer import CompiledTrainer
from gfxnn.fields.targets import ImageTarget
from gfxnn.fields.trainer import ModelSpec
image = np.random.default_rng(0).random((32, 32, 3)).astype(np.float32)
trainer = CompiledTrainer(ModelSpec(), ImageTarget(image), threads=2)
trainer.train(8, 2048)
trainer.render((64, 64))
renders = threading.Thread(target=lambda: [trainer.render((64, 64)) for _ in range(40)])
renders.start()
trainer.train(160, 2048)
renders.join()
print("ok")
"""


def test_render_while_training_in_another_thread_under_workqueue() -> None:
    """The studio renders from one thread while it trains in another. Numba's fallback
    threading layer aborts the process on two concurrent parallel launches (measured: it did
    before the trainer serialised its launches), so the trainer holds one lock around each."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_THREADING_LAYER": "workqueue", "NUMBA_NUM_THREADS": "2"}
    run = subprocess.run(
        [sys.executable, "-c", CONCURRENT], env=env, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-500:]
