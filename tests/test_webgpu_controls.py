"""MLPZen's training controls on the WebGPU trainer, against the CPU trainer
(`gfxnn.fused.make_trainer`, the reference): initialisation, freezing, gradient clipping,
learning rates changed at every step inside one submission, fp16 inference; the examples'
input/output sizes (1-D -> 1, 3-D -> 3 with a trilinear hash grid); refused values.

Skips without a WebGPU adapter (fails under GFXNN_REQUIRE_SHADER_TOOLS=1, as in CI). Small
shapes and one network shape per group of tests: lavapipe compiles each pipeline slowly.
"""

from __future__ import annotations

import numpy as np
import pytest
from webgpu_reference import cpu_weights, gpu_weights, require_webgpu

from gfxnn.fields.targets import ImageTarget
from gfxnn.fields.trainer import ModelSpec, OptimizerSpec
from gfxnn.fused import make_trainer

WEIGHT_TOLERANCE = 1e-5  # absolute after 3 steps, as tests/test_webgpu.py
GRID = {
    "otype": "HashGrid",
    "n_levels": 4,
    "n_features_per_level": 2,
    "log2_hashmap_size": 7,
    "base_resolution": 4,
    "per_level_scale": 2.0,
}


@pytest.fixture(scope="module", autouse=True)
def _adapter() -> None:
    require_webgpu()


def make_spec(optimizer: str = "adam", **changes) -> ModelSpec:
    """A grid model (network and table both learn), seed 7."""
    rate = 0.5 if optimizer == "sgd" else 1e-2
    spec = ModelSpec(
        encoding=GRID,
        n_neurons=16,
        n_hidden_layers=2,
        activation="relu",
        output_activation="sigmoid",
        optimizer=OptimizerSpec(optimizer, rate, l2_reg=1e-3),
        encoding_optimizer=OptimizerSpec(optimizer, rate, epsilon=1e-15),
        seed=7,
    )
    return spec.replace(**changes)


def batch(n: int = 192, d: int = 2, c: int = 3, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.random((n, d), dtype=np.float32), 0.6 + 0.4 * rng.random((n, c), dtype=np.float32)


def host_fed_steps(trainer, inputs, targets, steps: int = 3) -> None:
    for _ in range(steps):
        trainer.compute_gradients(inputs, targets)
        trainer.update()


CONTROL_CASES = {
    # SGD: the clipped step is the clipped gradient itself (Adam would normalise it away)
    "clip_value": ("sgd", {"gradient_clip": "value", "clip_value": 2e-3}),
    "clip_norm": ("sgd", {"gradient_clip": "norm", "clip_value": 5e-3}),
    "clip_value_adam": ("adam", {"gradient_clip": "value", "clip_value": 1e-4}),
    "freeze_network": ("adam", {"freeze_network": True}),
    "freeze_encoding_clip_norm": (
        "sgd",
        {"freeze_encoding": True, "gradient_clip": "norm", "clip_value": 5e-3},
    ),
    "he_gaussian": ("adam", {"initialization": "he_gaussian"}),
    "lecun_uniform": ("sgd", {"initialization": "lecun_uniform"}),
}


@pytest.mark.parametrize("case", list(CONTROL_CASES))
def test_each_control_matches_the_cpu_trainer(case):
    from gfxnn.webgpu import WebGpuTrainer

    optimizer, changes = CONTROL_CASES[case]
    spec = make_spec(optimizer, **changes)
    cpu, gpu = make_trainer(spec), WebGpuTrainer(spec)
    np.testing.assert_array_equal(gpu_weights(gpu.state_dict()), cpu_weights(cpu))
    inputs, targets = batch()
    host_fed_steps(cpu, inputs, targets)
    host_fed_steps(gpu, inputs, targets)
    expected = cpu_weights(cpu)
    np.testing.assert_allclose(gpu_weights(gpu.state_dict()), expected, rtol=0, atol=1e-5)
    # The control matters: without it the CPU trainer ends elsewhere.
    plain = make_trainer(make_spec(optimizer))
    host_fed_steps(plain, inputs, targets)
    assert np.abs(cpu_weights(plain) - expected).max() > 10 * WEIGHT_TOLERANCE


def test_freezing_keeps_weights_and_moments_bit_identical_while_the_other_part_learns():
    """Device-sampled training with set_controls toggling the freezes, as the controller does
    on a live change: the frozen part's weights and Adam moments do not move by one bit; its
    optimizer's t stands still, so the run then equals the CPU trainer's (host-fed) one."""
    from gfxnn.webgpu import WebGpuTrainer

    spec = make_spec()
    gpu = WebGpuTrainer(spec, ImageTarget(batch(64)[1].reshape(8, 8, 3)))
    n = gpu.plan.n_params
    gpu.train(3, 128)
    for frozen in ("freeze_network", "freeze_encoding"):
        gpu.set_controls(spec.replace(**{frozen: True}))
        before, (m, v) = gpu_weights(gpu.state_dict()), gpu.moments()
        gpu.train(4, 128)
        after, (m2, v2) = gpu_weights(gpu.state_dict()), gpu.moments()
        part = slice(0, n) if frozen == "freeze_network" else slice(n, None)
        other = slice(n, None) if frozen == "freeze_network" else slice(0, n)
        for old, new in ((before, after), (m, m2), (v, v2)):
            np.testing.assert_array_equal(new[part], old[part], err_msg=frozen)
            assert np.abs(new[other] - old[other]).max() > 0, frozen
    # Host-fed, the same toggles on both trainers: same weights (t counted per optimizer).
    cpu, gpu = make_trainer(spec), WebGpuTrainer(spec)
    inputs, targets = batch()
    for changes in ({"freeze_network": True}, {}, {"freeze_encoding": True}, {}):
        for trainer in (cpu, gpu):
            trainer.set_controls(spec.replace(**changes))
            host_fed_steps(trainer, inputs, targets, steps=2)
    atol = WEIGHT_TOLERANCE
    np.testing.assert_allclose(gpu_weights(gpu.state_dict()), cpu_weights(cpu), rtol=0, atol=atol)


def test_learning_rates_change_at_every_step_inside_one_submission():
    """set_learning_rates then train(1), eight times: one submission (the steps wait, encoded,
    until read), and the same bits as eight separately submitted steps at those rates; a
    constant rate ends elsewhere."""
    from gfxnn.webgpu import WebGpuTrainer

    spec = make_spec("sgd", encoding={"otype": "Frequency", "n_frequencies": 4})
    spec = spec.replace(encoding_optimizer=None)
    target = ImageTarget(batch(64)[1].reshape(8, 8, 3))
    rates = [0.5 * 0.7**k for k in range(8)]
    batched, separate, constant = (WebGpuTrainer(spec, target) for _ in range(3))
    for rate in rates:
        batched.set_learning_rates(rate, None)
        batched.train(1, 128)
        separate.set_learning_rates(rate, None)
        separate.train(1, 128)
        separate.read_losses()  # submits and waits: one step per submission
    assert batched._pending == len(rates)  # nothing submitted yet
    constant.train(len(rates), 128)
    assert batched.read_losses() != constant.read_losses()
    for name, value in separate.state_dict().items():
        np.testing.assert_array_equal(batched.state_dict()[name], value, err_msg=name)
    assert not np.array_equal(
        batched.state_dict()["layers.0.weight"], constant.state_dict()["layers.0.weight"]
    )


SIZE_CASES = {
    "cosine_frequency": (1, 1, {"otype": "Frequency", "n_frequencies": 6}),
    "cosine_one_blob": (1, 1, {"otype": "OneBlob", "n_bins": 16}),
    "bubbles_hash_grid": (3, 3, {**GRID, "interpolation": "Linear"}),
}


@pytest.mark.parametrize("case", list(SIZE_CASES))
def test_the_examples_sizes_match_the_cpu_trainer(case):
    """Learn Cosine (1-D -> 1) and Bubbles (3-D -> RGB, hash grid with trilinear
    interpolation: 8 corners): host-fed steps and the rendered grid equal the CPU's."""
    from gfxnn.webgpu import WebGpuTrainer

    d, c, encoding = SIZE_CASES[case]
    grid = encoding["otype"] == "HashGrid"
    spec = make_spec(n_input_dims=d, n_output_dims=c, encoding=encoding)
    if not grid:
        spec = spec.replace(encoding_optimizer=None)
    cpu, gpu = make_trainer(spec), WebGpuTrainer(spec)
    inputs, targets = batch(d=d, c=c)
    cpu_loss = cpu.compute_gradients(inputs, targets)
    assert abs(gpu.compute_gradients(inputs, targets) - cpu_loss) <= 1e-5 * cpu_loss
    cpu.update()
    gpu.update()
    host_fed_steps(cpu, inputs, targets, steps=2)
    host_fed_steps(gpu, inputs, targets, steps=2)
    atol = WEIGHT_TOLERANCE
    np.testing.assert_allclose(gpu_weights(gpu.state_dict()), cpu_weights(cpu), rtol=0, atol=atol)
    shape = (5, 4, 3)[:d] if d > 1 else (33,)
    np.testing.assert_allclose(gpu.render(shape), cpu.render(shape), rtol=0, atol=1e-5)


def test_fp16_inference_matches_the_cpu_trainers_half_inference():
    """precision "fp16" (when the adapter offers shader-f16): the render rounds features,
    weights and activations to float16 as the CPU's half inference does (within an f16 ulp
    of the outputs, ~1e-3 at 1), and differs from fp32; training stays float32."""
    from gfxnn.webgpu import WebGpuTrainer, get_gpu

    if not get_gpu().has_feature("shader-f16"):
        pytest.skip("the adapter lacks shader-f16 (refusal tested below)")
    spec = make_spec(activation="tanh", output_activation="none")
    gpu = WebGpuTrainer(spec)
    inputs, targets = batch()
    host_fed_steps(gpu, inputs, targets)
    cpu = make_trainer(spec.replace(precision="fp16"))
    cpu.load_state_dict(gpu.state_dict())
    full = gpu.render((9, 11))
    gpu.set_controls(spec.replace(precision="fp16"))
    half = gpu.render((9, 11))
    np.testing.assert_allclose(half, cpu.render((9, 11)), rtol=0, atol=1e-3)
    assert np.abs(half - full).max() > 1e-5  # it does round
    np.testing.assert_array_equal(np.asarray(half, np.float16), half)  # f16 values


def test_fp16_without_shader_f16_is_refused_at_construction(monkeypatch):
    from gfxnn.webgpu import WebGpuTrainer
    from gfxnn.webgpu.device import Gpu

    monkeypatch.setattr(Gpu, "has_feature", lambda self, name: False)
    with pytest.raises(ValueError, match=r"precision='fp16'.*shader-f16 .*choose fp32"):
        WebGpuTrainer(make_spec(precision="fp16"))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"gradient_clip": "max"}, "gradient_clip must be one of none, value, norm, got 'max'"),
        ({"clip_value": 0.0}, "clip_value must be a finite number > 0, got 0.0"),
        ({"clip_value": float("nan")}, "clip_value must be a finite number > 0"),
        ({"precision": "fp64"}, "precision must be one of fp32, fp16, got 'fp64'"),
        ({"freeze_network": 1}, "freeze_network must be True or False, got 1"),
        ({"initialization": "orthogonal"}, "initialization"),
    ],
)
def test_bad_control_values_are_refused_by_name(changes, message):
    from gfxnn.webgpu import WebGpuTrainer

    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        WebGpuTrainer(make_spec(**changes))


def test_set_controls_refuses_other_changes_and_keeps_the_trainer():
    from gfxnn.webgpu import WebGpuTrainer

    spec = make_spec()
    gpu = WebGpuTrainer(spec)
    with pytest.raises(ValueError, match="n_neurons changed: build a new trainer"):
        gpu.set_controls(spec.replace(n_neurons=8, freeze_network=True))
    with pytest.raises(ValueError, match="clip_value"):
        gpu.set_controls(spec.replace(clip_value=-1.0))
    assert gpu.spec == spec and not gpu.controls.freeze_network


def test_every_encoding_the_studio_offers_runs_or_is_refused_by_name():
    """The studio's menu (gfxnn.fields.choices.ENCODINGS): the kernels run all but OneHot
    and GaussianFourier, which are one ValueError listing what they run (no adapter needed:
    the plan is checked before any device work)."""
    from gfxnn.fields import choices
    from gfxnn.webgpu import layout

    refused = []
    for name in choices.ENCODINGS:
        otype = choices.ENCODING_OTYPES[name]
        config = (
            {**GRID, "otype": otype} if otype in ("HashGrid", "DenseGrid") else {"otype": otype}
        )
        spec = make_spec(encoding=config)
        try:
            layout.model_plan(spec)
        except ValueError as error:
            assert str(error) == (
                f"the WebGPU backend cannot run encoding='{otype}'; it supports "
                "Identity, Frequency, OneBlob, TriangleWave, HashGrid, DenseGrid"
            )
            refused.append(otype)
    assert refused == ["OneHot", "GaussianFourier"]


@pytest.mark.parametrize("case", ["cosine_frequency", "bubbles_hash_grid"])
def test_exact_targets_train_on_the_cpu_trainers_own_batches(case):
    """Learn Cosine and Bubbles evaluate their function at the drawn point (no grid): the
    WebGPU trainer draws those batches on the host with the CPU trainer's generator, so both
    train on the same rows (several steps per submission, each its own block; the generator
    outlives a change of batch size, as the CPU trainer's)."""
    from gfxnn.fields.examples import BubblesTarget, CosineTarget
    from gfxnn.webgpu import WebGpuTrainer

    d, c, encoding = SIZE_CASES[case]
    target = CosineTarget(64) if d == 1 else BubblesTarget(8)
    spec = make_spec(n_input_dims=d, n_output_dims=c, encoding=encoding)
    if d == 1:
        spec = spec.replace(encoding_optimizer=None)
    cpu, gpu = make_trainer(spec, target), WebGpuTrainer(spec, target, steps_per_submit=4)
    for each in (cpu, gpu):
        each.train(6, 128)
        each.train(3, 64)  # a new batch size: the generator carries on
    cpu_losses, gpu_losses = cpu.read_losses(), gpu.read_losses()
    np.testing.assert_allclose(gpu_losses, cpu_losses, rtol=1e-5)
    atol = WEIGHT_TOLERANCE
    np.testing.assert_allclose(gpu_weights(gpu.state_dict()), cpu_weights(cpu), rtol=0, atol=atol)


def test_the_fitters_check_covers_the_examples_sizes_and_fp16(monkeypatch):
    """`--device webgpu`'s check (gfxnn.webgpu.fitter.check_supported): 1-D and 3-D sizes
    pass, fp16 without shader-f16 is the trainer's message."""
    from gfxnn.fields.settings import FitSettings
    from gfxnn.webgpu.device import Gpu
    from gfxnn.webgpu.fitter import check_supported

    check_supported(FitSettings(encoding="oneblob"), 1, 1)
    check_supported(FitSettings(encoding="hashgrid"), 3, 3)
    check_supported(FitSettings(precision="fp16"))
    monkeypatch.setattr(Gpu, "has_feature", lambda self, name: False)
    with pytest.raises(ValueError, match=r"does not offer precision='fp16'.*choose fp32"):
        check_supported(FitSettings(precision="fp16"))
    with pytest.raises(ValueError, match="cannot run encoding='OneHot'"):
        check_supported(FitSettings(encoding="onehot"))


def test_the_controller_switches_freeze_in_place_on_webgpu():
    """FitController.apply of a live freeze goes through set_controls: the same trainer, its
    network and Adam moments unchanged by the frozen steps, the schedule's rate reported."""
    import dataclasses

    from gfxnn.fields.controller import FitController
    from gfxnn.fields.settings import FitSettings
    from gfxnn.webgpu import make_trainer as webgpu_trainer

    settings = FitSettings(batch_size=128, n_neurons=16, n_frequencies=4, lr_schedule="cosine")
    controller = FitController(ImageTarget(batch(64)[1].reshape(8, 8, 3)), settings, webgpu_trainer)
    controller.step(3)
    trainer = controller._trainer
    controller.apply(dataclasses.replace(settings, freeze_mlp=True))
    assert controller._trainer is trainer and trainer.controls.freeze_network
    before, moments = controller.state_dict(), trainer.moments()
    controller.step(4)
    for name, value in controller.state_dict().items():
        np.testing.assert_array_equal(value, before[name], err_msg=name)
    np.testing.assert_array_equal(trainer.moments()[0], moments[0])
    assert controller.steps == 7
