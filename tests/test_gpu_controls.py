"""MLPZen's training controls on the Warp trainer against the NumPy fused trainer (the
reference): initialisation, freezing (bit-identical weights and moments), gradient clipping by
value and by norm, learning rates written live, fp16 inference; refused values and sizes.

Runs on Warp's CPU device (CI has no GPU; "cuda" joins when Warp sees one). One network shape
(tests/test_gpu.py's), so the compiled modules are shared.
"""

from __future__ import annotations

import numpy as np
import pytest

wp = pytest.importorskip("warp")

from gfxnn import gpu  # noqa: E402
from gfxnn.fields.targets import ImageTarget  # noqa: E402
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec  # noqa: E402
from gfxnn.fused import make_trainer  # noqa: E402
from gfxnn.gpu.trainer import GpuTrainer  # noqa: E402

wp.config.cpu_compiler_flags = "-march=native"  # as tests/test_gpu.py: faster CPU builds
wp.config.optimization_level = 1

DEVICES = ["cpu"] + (["cuda"] if gpu.available() else [])
BACKEND = {"cpu": {}, "cuda": {"mathdx": False}}
BATCH = 100


def make_spec(optimizer: str = "sgd", **changes) -> ModelSpec:
    rate = 0.5 if optimizer == "sgd" else 1e-2
    spec = ModelSpec(
        encoding={"otype": "Frequency", "n_frequencies": 2},
        n_neurons=16,
        n_hidden_layers=2,  # tests/test_gpu.py's SMALL shape: one compiled module for both
        activation="tanh",
        output_activation="sigmoid",
        optimizer=OptimizerSpec(optimizer, rate, l2_reg=1e-3),
    )
    return spec.replace(**changes)


def batch(seed: int = 7) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((BATCH, 2), dtype=np.float32), rng.random((BATCH, 3), dtype=np.float32)


def host_fed_steps(trainer, steps: int = 3) -> None:
    inputs, targets = batch()
    for _ in range(steps):
        trainer.compute_gradients(inputs, targets)
        trainer.update()


def weights(trainer) -> np.ndarray:
    return np.concatenate([v.reshape(-1) for v in trainer.state_dict().values()])


CASES = {
    "clip_value": ("sgd", {"gradient_clip": "value", "clip_value": 2e-3}),
    "clip_norm": ("sgd", {"gradient_clip": "norm", "clip_value": 1e-2}),
    "clip_value_adam": ("adam", {"gradient_clip": "value", "clip_value": 1e-4}),
    "he_gaussian": ("adam", {"initialization": "he_gaussian"}),
}


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("case", list(CASES))
def test_each_control_matches_the_fused_trainer(device: str, case: str) -> None:
    optimizer, changes = CASES[case]
    spec = make_spec(optimizer, **changes)
    warp_trainer, fused = GpuTrainer(spec, device=device, **BACKEND[device]), make_trainer(spec)
    np.testing.assert_array_equal(weights(warp_trainer), weights(fused))
    host_fed_steps(warp_trainer)
    host_fed_steps(fused)
    np.testing.assert_allclose(weights(warp_trainer), weights(fused), rtol=1e-5, atol=2e-6)
    plain = make_trainer(make_spec(optimizer))  # the control matters
    host_fed_steps(plain)
    assert np.abs(weights(plain) - weights(fused)).max() > 1e-4


@pytest.mark.parametrize("device", DEVICES)
def test_freezing_the_network_keeps_weights_and_moments_bit_identical(device: str) -> None:
    """Device-loop steps while frozen change nothing, not even Adam's moments; Adam's t then
    resumes where it stopped, so toggling freeze on host-fed steps equals the fused path."""
    spec = make_spec("adam")
    image = batch()[1][:64].reshape(8, 8, 3)
    trainer = GpuTrainer(spec, ImageTarget(image), device=device, **BACKEND[device])
    trainer.train(3, BATCH)
    trainer.set_controls(spec.replace(freeze_network=True))
    before, m, v = weights(trainer), trainer.m.numpy().copy(), trainer.v.numpy().copy()
    trainer.train(4, BATCH)
    assert len(trainer.read_losses()) == 7  # the frozen steps ran (losses) ...
    np.testing.assert_array_equal(weights(trainer), before)  # ... and changed nothing
    np.testing.assert_array_equal(trainer.m.numpy(), m)
    np.testing.assert_array_equal(trainer.v.numpy(), v)
    trainer.set_controls(spec)
    trainer.train(1, BATCH)
    assert np.abs(weights(trainer) - before).max() > 0
    warp_trainer = GpuTrainer(spec, device=device, **BACKEND[device])
    fused = make_trainer(spec)
    for frozen in (False, True, False):
        for each in (warp_trainer, fused):
            each.set_controls(spec.replace(freeze_network=frozen))
            host_fed_steps(each, steps=2)
    np.testing.assert_allclose(weights(warp_trainer), weights(fused), rtol=1e-5, atol=2e-6)


def test_learning_rates_are_written_live_and_used_by_the_next_step() -> None:
    spec = make_spec("sgd")
    warp_trainer, fused = GpuTrainer(spec, device="cpu"), make_trainer(spec)
    for rate in (0.5, 0.05, 0.2):
        for each in (warp_trainer, fused):
            each.set_learning_rates(rate, None)
            host_fed_steps(each, steps=1)
    np.testing.assert_allclose(weights(warp_trainer), weights(fused), rtol=1e-5, atol=2e-6)
    assert warp_trainer.rates.numpy()[0] == 0.2


def test_fp16_inference_rounds_like_the_fused_half_inference() -> None:
    """precision "fp16": float16 features, activations and weights with float32 sums (biases
    and outputs stay float32 on Warp, the fused path rounds them too: measured 2.5e-4)."""
    spec = make_spec("adam")
    trainer = GpuTrainer(spec, device="cpu")
    host_fed_steps(trainer)
    full = trainer.render((7, 13))
    trainer.set_controls(spec.replace(precision="fp16"))
    half = trainer.render((7, 13))
    fused = make_trainer(spec.replace(precision="fp16"))
    fused.load_state_dict(trainer.state_dict())
    np.testing.assert_allclose(half, fused.render((7, 13)), rtol=0, atol=1e-3)
    assert np.abs(half - full).max() > 1e-5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gradient_clip": "max"}, "gradient_clip"),
        ({"clip_value": 0.0}, "clip_value"),
        ({"precision": "fp64"}, "precision"),
        ({"freeze_network": 1}, "freeze_network"),
        ({"initialization": "orthogonal"}, "initialization"),
        ({"n_input_dims": 1, "n_output_dims": 1}, "2 inputs and 3 outputs; got 1 -> 1"),
        ({"n_input_dims": 3}, "2 inputs and 3 outputs; got 3 -> 3"),
        ({"encoding": {"otype": "OneBlob", "n_bins": 8}}, "supports the encodings"),
    ],
)
def test_bad_values_and_sizes_are_refused_by_name(changes, message) -> None:
    with pytest.raises(ValueError, match=message):
        GpuTrainer(make_spec(**changes), device="cpu")


def test_set_controls_refuses_other_changes() -> None:
    spec = make_spec()
    trainer = GpuTrainer(spec, device="cpu")
    with pytest.raises(ValueError, match="rebuild the trainer"):
        trainer.set_controls(spec.replace(n_neurons=8))
    assert trainer.spec == spec


def test_every_encoding_the_studio_offers_runs_or_is_refused_by_name() -> None:
    from gfxnn.fields import choices
    from gfxnn.gpu.spec import check_supported

    accepted = []
    for name in choices.ENCODINGS:
        otype = choices.ENCODING_OTYPES[name]
        config = {"otype": otype, **({"n_frequencies": 4} if otype == "Frequency" else {})}
        try:
            check_supported(make_spec(encoding=config))
            accepted.append(name)
        except ValueError as error:
            assert "the GPU path supports the encodings ('frequency', 'identity')" in str(error)
    assert accepted == ["frequency", "identity"]
