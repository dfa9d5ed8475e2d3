"""The WebGPU trainer against the CPU trainer (`gfxnn.fused.make_trainer`) on host-fed batches:
every encoding x activation x optimizer (the three losses in turn), loss, gradients and
weights after three steps; inference of the same weights; state dicts; refused specs.

Runs on any WebGPU adapter (Mesa's lavapipe in CI); skips without one, saying so, except
under GFXNN_REQUIRE_SHADER_TOOLS=1 (CI), where it fails. Shapes are small: lavapipe is slow.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from webgpu_reference import cpu_gradients, cpu_weights, gpu_weights, require_webgpu

from gfxnn.fields.trainer import LOSSES, ModelSpec, OptimizerSpec
from gfxnn.fused import make_trainer

LOSS_TOLERANCE = 1e-5  # relative; measured <= 2e-7 on lavapipe
GRADIENT_TOLERANCE = 1e-4  # of the largest gradient; measured <= 9e-7
WEIGHT_TOLERANCE = 1e-5  # absolute, after 3 steps at lr 1e-2; measured <= 1e-6
# The grid table's gradient goes through 64-bit fixed point (2^-32 units of dL/dtable * B C):
# measured <= 7e-7 of the largest table gradient; its weights after 3 steps within 6e-7.
TABLE_GRADIENT_TOLERANCE = 1e-5

ENCODINGS = {
    "identity": {"otype": "Identity"},
    "frequency": {"otype": "Frequency", "n_frequencies": 6},
    "one_blob": {"otype": "OneBlob", "n_bins": 8},
    "triangle_wave": {"otype": "TriangleWave", "n_frequencies": 6},
    "hash_grid": {
        "otype": "HashGrid",
        "n_levels": 4,
        "n_features_per_level": 2,
        "log2_hashmap_size": 7,  # the finer levels are hashed
        "base_resolution": 4,
        "per_level_scale": 2.0,
    },
}
ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "sine", "softplus", "none")
OPTIMIZERS = ("adam", "sgd")


@pytest.fixture(scope="module", autouse=True)
def _adapter() -> None:
    require_webgpu()


def make_spec(encoding: str, activation: str, optimizer: str, loss: str, **changes) -> ModelSpec:
    grid = encoding == "hash_grid"
    spec = ModelSpec(
        encoding=ENCODINGS[encoding],
        n_neurons=16,
        n_hidden_layers=2,
        activation=activation,
        # the output activation differs from the hidden one, so a swap cannot pass
        output_activation="sigmoid" if activation != "sigmoid" else "none",
        loss=loss,
        optimizer=OptimizerSpec(optimizer, 1e-2, l2_reg=1e-3),
        encoding_optimizer=OptimizerSpec(optimizer, 1e-2, epsilon=1e-15) if grid else None,
        seed=7,
    )
    return spec.replace(**changes)


def batch(n: int = 192, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs, and targets in [0.6, 1) above the initial outputs (about 0.5 or 0):
    with targets on both sides, L1's sum of signs can cancel to rounding noise, which Adam
    then scales up to a full step in either backend (a measured 3e-4 apart)."""
    rng = np.random.default_rng(seed)
    targets = 0.6 + 0.4 * rng.random((n, 3), dtype=np.float32)
    return rng.random((n, 2), dtype=np.float32), targets


CASES = list(itertools.product(ENCODINGS, ACTIVATIONS, OPTIMIZERS))


@pytest.mark.parametrize(("encoding", "activation", "optimizer"), CASES)
def test_host_fed_steps_match_the_cpu_trainer(encoding, activation, optimizer):
    from gfxnn.webgpu import WebGpuTrainer

    loss = LOSSES[CASES.index((encoding, activation, optimizer)) % len(LOSSES)]
    spec = make_spec(encoding, activation, optimizer, loss)
    cpu, gpu = make_trainer(spec), WebGpuTrainer(spec)
    np.testing.assert_array_equal(gpu_weights(gpu.state_dict()), cpu_weights(cpu))
    inputs, targets = batch()
    n = cpu.mlp.params.size
    for step in range(3):
        cpu_loss = cpu.compute_gradients(inputs, targets)
        gpu_loss = gpu.compute_gradients(inputs, targets)
        assert abs(gpu_loss - cpu_loss) <= LOSS_TOLERANCE * abs(cpu_loss), (step, loss)
        expected, got = cpu_gradients(cpu), gpu.gradients()
        scale = np.abs(expected[:n]).max()
        np.testing.assert_allclose(got[:n], expected[:n], rtol=0, atol=GRADIENT_TOLERANCE * scale)
        if expected.size > n:
            table_scale = np.abs(expected[n:]).max()
            atol = TABLE_GRADIENT_TOLERANCE * table_scale
            np.testing.assert_allclose(got[n:], expected[n:], rtol=0, atol=atol)
        cpu.update()
        gpu.update()
    np.testing.assert_allclose(
        gpu_weights(gpu.state_dict()), cpu_weights(cpu), rtol=0, atol=WEIGHT_TOLERANCE
    )


@pytest.mark.parametrize("encoding", list(ENCODINGS))
def test_inference_equals_the_cpu_trainer_on_the_same_weights(encoding):
    from gfxnn.webgpu import WebGpuTrainer

    spec = make_spec(encoding, "leaky_relu", "adam", "l2")  # the pipelines of the cases above
    gpu = WebGpuTrainer(spec)
    inputs, targets = batch()
    for _ in range(5):  # weights away from their initial values
        gpu.compute_gradients(inputs, targets)
        gpu.update()
    cpu = make_trainer(spec)
    cpu.load_state_dict(gpu.state_dict())
    shape = (13, 21)  # not square: a transposed image cannot pass
    np.testing.assert_allclose(gpu.render(shape), cpu.render(shape), rtol=0, atol=1e-5)
    points = np.random.default_rng(5).random((77, 2), dtype=np.float32)
    np.testing.assert_allclose(gpu.infer(points), cpu.infer(points), rtol=0, atol=1e-5)


def test_deeper_wider_network_and_no_hidden_layer():
    """Widths up to 128 and any layer count: 3 hidden layers of 128, and 0 hidden layers."""
    from gfxnn.webgpu import WebGpuTrainer

    inputs, targets = batch(64)
    for changes in ({"n_neurons": 128, "n_hidden_layers": 3}, {"n_hidden_layers": 0}):
        spec = make_spec("frequency", "relu", "adam", "l2", **changes)
        cpu, gpu = make_trainer(spec), WebGpuTrainer(spec)
        cpu_loss, gpu_loss = (
            cpu.compute_gradients(inputs, targets),
            gpu.compute_gradients(inputs, targets),
        )
        assert abs(gpu_loss - cpu_loss) <= LOSS_TOLERANCE * cpu_loss
        scale = np.abs(cpu.mlp.grads).max()
        np.testing.assert_allclose(gpu.gradients(), cpu.mlp.grads, rtol=0, atol=1e-4 * scale)


def test_state_dict_round_trip_and_checks():
    from gfxnn.webgpu import WebGpuTrainer

    spec = make_spec("hash_grid", "relu", "adam", "l2")
    gpu = WebGpuTrainer(spec)
    state = make_trainer(spec.replace(seed=11)).state_dict()
    gpu.load_state_dict(state)
    for name, value in gpu.state_dict().items():
        np.testing.assert_array_equal(value, state[name])
    with pytest.raises(ValueError, match="missing"):
        gpu.load_state_dict({k: v for k, v in state.items() if k != "layers.0.bias"})
    with pytest.raises(ValueError, match=r"layers\.1\.weight has shape"):
        gpu.load_state_dict({**state, "layers.1.weight": np.zeros((2, 2), np.float32)})


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"n_neurons": 129}, "n_neurons=129"),
        ({"encoding": {"otype": "SphericalHarmonics", "degree": 2}}, "SphericalHarmonics"),
        ({"encoding": {"otype": "Frequency", "n_frequencies": 40}}, "n_frequencies"),
        ({"activation": "gelu"}, "activation='gelu'"),
    ],
)
def test_specs_the_kernels_cannot_run_are_refused_by_name(changes, message):
    from gfxnn.webgpu import WebGpuTrainer

    with pytest.raises(ValueError, match=message):
        WebGpuTrainer(make_spec("frequency", "relu", "adam", "l2").replace(**changes))


def test_device_frequency_encoding_is_the_shared_polynomial():
    """The WGSL sin/cos (phase reduced exactly, one polynomial) equals gfxnn.encodings.sincos
    (the CPU paths' float32 formula) to 2 float32 ulps at 16 octaves (measured on lavapipe:
    bit-identical; a GPU contracting into FMAs may differ by an ulp), and float64's
    sin(pi 2^k x) to 2e-7 (measured 9.1e-8), where sin(float32(pi 2^k) x) is 6.3e-3 off."""
    from gfxnn.encodings.sincos import sincos_octaves
    from gfxnn.webgpu import WebGpuTrainer

    n_frequencies = 16
    encoding = {"otype": "Frequency", "n_frequencies": n_frequencies}
    spec = make_spec("frequency", "relu", "adam", "l2").replace(encoding=encoding)
    trainer = WebGpuTrainer(spec)
    inputs, targets = batch(512, seed=9)
    trainer.compute_gradients(inputs, targets)
    features = trainer.last_features().reshape(512, 2, n_frequencies, 2)
    sines, cosines = sincos_octaves(inputs, n_frequencies)
    np.testing.assert_allclose(features[..., 0], sines, rtol=0, atol=2.4e-7)
    np.testing.assert_allclose(features[..., 1], cosines, rtol=0, atol=2.4e-7)
    octaves = np.pi * 2.0 ** np.arange(n_frequencies)
    exact = np.sin(inputs.astype(np.float64)[:, :, None] * octaves)
    np.testing.assert_allclose(features[..., 0], exact, rtol=0, atol=2e-7)
