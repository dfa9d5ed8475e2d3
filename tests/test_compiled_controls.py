"""The compiled trainer's MLPZen controls and image render against the NumPy fused trainer:
initialisation schemes, freezing, gradient clipping (float64, to 1e-10), fp16 inference, live
`set_controls`, and the separable parallel render."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from test_compiled import batches, make_spec, max_difference  # noqa: E402

from gfxnn.compiled.trainer import CompiledTrainer  # noqa: E402
from gfxnn.fields.trainer import INITIALIZATIONS, ModelSpec  # noqa: E402
from gfxnn.fused import make_trainer  # noqa: E402

CONTROLS = [
    {"freeze_network": True},
    {"freeze_encoding": True},
    {"gradient_clip": "value", "clip_value": 1e-3},
    {"gradient_clip": "norm", "clip_value": 1e-2},
    {"gradient_clip": "norm", "clip_value": 1e-2, "freeze_network": True},
]


def train_both(spec: ModelSpec, n_steps: int = 12) -> tuple[CompiledTrainer, object]:
    compiled = CompiledTrainer(spec, dtype=np.float64)
    reference = make_trainer(spec, dtype=np.float64)
    assert max_difference(compiled.state_dict(), reference.state_dict()) == 0.0
    for inputs, targets in batches(n_steps, 300, np.float64):
        compiled.compute_gradients(inputs, targets)
        reference.compute_gradients(inputs, targets)
        compiled.update()
        reference.update()
    return compiled, reference


@pytest.mark.parametrize(
    "controls", CONTROLS, ids=lambda c: ",".join(f"{k}={v}" for k, v in c.items())
)
def test_controls_match_numpy_fused_float64(controls: dict) -> None:
    spec = make_spec("hashgrid", "relu", "l2", "adam", **controls)
    before = CompiledTrainer(spec, dtype=np.float64).state_dict()
    compiled, reference = train_both(spec)
    after = compiled.state_dict()
    assert max_difference(after, reference.state_dict()) < 1e-10
    frozen = {
        name
        for name in after
        if (name.startswith("layers") and controls.get("freeze_network"))
        or (name.startswith("encoding") and controls.get("freeze_encoding"))
    }
    for name in after:  # a frozen part does not move at all; the others do
        assert np.array_equal(after[name], before[name]) == (name in frozen), name


def test_clipping_changes_the_trajectory() -> None:
    """The clip tests above compare against a trainer that clips: check it bites here."""
    plain, _ = train_both(make_spec("hashgrid", "relu", "l2", "sgd"))
    clipped, _ = train_both(make_spec("hashgrid", "relu", "l2", "sgd", gradient_clip="value",
                                      clip_value=1e-4))  # fmt: skip
    assert max_difference(plain.state_dict(), clipped.state_dict()) > 1e-4


@pytest.mark.parametrize("scheme", INITIALIZATIONS)
def test_initialization_schemes_draw_as_numpy_fused(scheme: str) -> None:
    spec = make_spec("frequency", "relu", "l2", "adam", initialization=scheme)
    compiled = CompiledTrainer(spec)
    assert max_difference(compiled.state_dict(), make_trainer(spec).state_dict()) == 0.0
    if scheme != "xavier_uniform":
        default = CompiledTrainer(make_spec("frequency", "relu", "l2", "adam"))
        assert max_difference(compiled.state_dict(), default.state_dict()) > 0.0


def test_fp16_inference_and_live_controls() -> None:
    spec = make_spec("frequency", "sigmoid", "l2", "adam")
    compiled = CompiledTrainer(spec)
    compiled.compute_gradients(*next(batches(1, 64, np.float32)))
    compiled.update()
    moments = compiled._optimizer.m.copy()
    uv = np.random.default_rng(3).random((40, 2)).astype(np.float32)
    full = compiled.infer(uv)
    half_spec = spec.replace(precision="fp16")
    compiled.set_controls(half_spec)  # live: Adam's moments stay
    np.testing.assert_array_equal(compiled._optimizer.m, moments)
    reference = make_trainer(half_spec)
    reference.load_state_dict(compiled.state_dict())
    half = compiled.infer(uv)
    np.testing.assert_array_equal(half, reference.infer(uv))
    np.testing.assert_array_equal(compiled.render((5, 7)), reference.render((5, 7)))
    assert 0 < np.max(np.abs(half - full)) < 1e-2  # rounded, not garbage
    with pytest.raises(ValueError, match="precision"):
        compiled.set_controls(spec.replace(precision="fp8"))
    with pytest.raises(ValueError, match="rebuild"):
        compiled.set_controls(spec.replace(n_neurons=16))
    with pytest.raises(ValueError, match="gradient_clip"):
        CompiledTrainer(spec.replace(gradient_clip="sometimes"))


@pytest.mark.parametrize("encoding", ["frequency", "identity_scaled"])
# every activation: the render's value-only activations (activate_biased, _value) are
# written apart from the training kernels' activate_tile
@pytest.mark.parametrize(
    "activation", ["leaky_relu", "relu", "sigmoid", "tanh", "sine", "softplus", "none"]
)
def test_separable_render_matches_numpy_fused(encoding: str, activation: str) -> None:
    spec = make_spec(encoding, activation, "l2", "adam").replace(n_neurons=16)
    compiled = CompiledTrainer(spec, threads=2)
    reference = make_trainer(spec)
    for shape in [(9, 13), (1, 1), (1, 5), (70, 300)]:  # 21000 pixels: many tiles and chunks
        np.testing.assert_allclose(compiled.render(shape), reference.render(shape), atol=1e-6)
    with pytest.raises(ValueError, match="render shape"):
        compiled.render((0, 4))


def test_a_trainable_encoding_without_kernels_is_one_clear_error() -> None:
    nested = [
        {"otype": "HashGrid", "n_dims_to_encode": 1, "n_levels": 2, "log2_hashmap_size": 8},
        {"otype": "Frequency", "n_frequencies": 2},
    ]
    spec = ModelSpec(encoding={"otype": "Composite", "nested": nested})
    with pytest.raises(ValueError, match="compiled backend does not offer encoding=Composite"):
        CompiledTrainer(spec)
