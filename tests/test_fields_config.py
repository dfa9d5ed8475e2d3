"""The image fitter beyond Dx12NN's panel: every encoding by name, tiny-cuda-nn configs,
output activations and the fused losses, each checked against the autodiff engine."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

import gfxnn
from gfxnn import losses
from gfxnn.fields.autodiff import autodiff_model
from gfxnn.fields.checkpoint import load_model as model_from_checkpoint
from gfxnn.fields.choices import ENCODINGS, LOSSES
from gfxnn.fields.image import ImageFitter
from gfxnn.fields.render import render_state
from gfxnn.fields.settings import FitSettings
from gfxnn.fused import FusedMLP, FusedSGD, FusedTrainer, make_encoder
from gfxnn.io import save_checkpoint

# Small parameters per encoding so each fit takes a fraction of a second.
SMALL_PARAMS = {
    "hashgrid": {"n_levels": 4, "log2_hashmap_size": 10, "base_resolution": 4},
    "densegrid": {"n_levels": 3, "base_resolution": 4},
    "oneblob": {"n_bins": 16},
    "onehot": {"n_bins": 16},
    "trianglewave": {"n_frequencies": 4},
    "gaussianfourier": {"n_frequencies": 16, "sigma": 4.0},
}

# tiny-cuda-nn's image-learning sample config, shipped for `gfxnn fit --config`.
TCNN_IMAGE_CONFIG = json.loads(
    (Path(__file__).parent.parent / "examples" / "configs" / "hashgrid_image.json").read_text()
)


def blobs_image(size: int = 24) -> np.ndarray:
    v, u = np.meshgrid(np.linspace(0, 1, size), np.linspace(0, 1, size), indexing="ij")
    return np.stack([np.sin(3 * u) ** 2, v * u, 0.5 + 0.5 * np.cos(4 * v)], axis=2).astype(
        np.float32
    )


def test_tcnn_config_becomes_settings_and_back() -> None:
    settings = FitSettings.from_config(TCNN_IMAGE_CONFIG, batch_size=512)
    assert (settings.encoding, settings.loss, settings.optimizer) == (
        "hashgrid",
        "relative_l2",
        "adam",
    )
    assert settings.encoding_params["log2_hashmap_size"] == 15
    assert (settings.activation, settings.output_activation) == ("relu", "none")
    assert (settings.n_neurons, settings.n_layers, settings.batch_size) == (64, 4, 512)
    assert (settings.beta2, settings.epsilon, settings.l2_reg) == (0.99, 1e-15, 1e-6)
    assert FitSettings.from_config(settings.to_config(), batch_size=512) == settings
    newer = json.loads(json.dumps(TCNN_IMAGE_CONFIG))  # tcnn's newer copy of the file
    newer["encoding"]["fixed_point_pos"] = False
    assert FitSettings.from_config(newer, batch_size=512) == settings
    # The written config builds the same model in the autodiff engine.
    model = gfxnn.build(settings.to_config(), 2, 3)
    assert model.encoding.n_output_dims == 32


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"loss": {"otype": "Huber"}}, "trains with the losses"),
        ({"optimizer": {"otype": "RMSprop"}}, "Adam or SGD"),
        ({"network": {"otype": "MLP", "bias": False}}, "always has biases"),
        ({"network": {"otype": "MLP", "n_neurons": [8, 16]}}, "n_neurons"),
        ({"encoding": {"otype": "SphericalHarmonics"}}, "3-D directions"),
        ({"encoding": {"otype": "HashGrid", "n_level": 2}}, "valid keys"),
        ({"model": {}}, "valid are"),
    ],
)
def test_configs_the_fitter_cannot_run_are_refused(change: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        FitSettings.from_config({**TCNN_IMAGE_CONFIG, **change})


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_every_encoding_fits_and_renders_like_the_autodiff_model(encoding: str) -> None:
    settings = FitSettings(
        encoding=encoding,
        encoding_params=SMALL_PARAMS.get(encoding, {}),
        n_frequencies=4,
        n_neurons=16,
        batch_size=256,
        learning_rate=1e-2,
        output_activation="none",
    )
    fitter = ImageFitter(blobs_image(), settings)
    before = fitter.psnr()
    fitter.step(150)
    assert fitter.psnr() > before + 3.0, encoding

    # The fused render equals the autodiff engine's encoding + MLP on the same weights.
    encoding_module, network = autodiff_model(fitter.state_dict(), fitter.settings)
    height, width = 5, 7
    v, u = np.meshgrid(np.arange(height) / (height - 1), np.arange(width) / (width - 1))
    uv = np.stack([u.T.ravel(), v.T.ravel()], axis=1).astype(np.float32)
    with gfxnn.no_grad():
        expected = network(encoding_module(gfxnn.Tensor(uv))).data.reshape(height, width, 3)
    np.testing.assert_allclose(fitter.predict(width, height), expected, atol=2e-5)


def test_grid_checkpoint_renders_and_loads_as_autodiff_model(tmp_path: Path) -> None:
    settings = FitSettings(
        encoding="hashgrid", encoding_params=SMALL_PARAMS["hashgrid"], n_neurons=16
    )
    fitter = ImageFitter(blobs_image(), settings)
    fitter.step(20)
    state = fitter.state_dict()
    assert "encoding.table" in state
    path = tmp_path / "grid.safetensors"
    save_checkpoint(path, state, {"settings": settings.to_dict()})
    encoding, network, loaded = model_from_checkpoint(path)
    assert loaded == settings
    np.testing.assert_array_equal(render_state(state, settings, (24, 24)), fitter.predict(24, 24))
    fresh = ImageFitter(blobs_image(), settings)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.predict(), fitter.predict())


def test_encoding_learning_rate_only_moves_the_table() -> None:
    settings = FitSettings(
        encoding="hashgrid",
        encoding_params=SMALL_PARAMS["hashgrid"],
        n_neurons=16,
        optimizer="sgd",
        learning_rate=1e-12,
        encoding_learning_rate=1.0,
    )
    fitter = ImageFitter(blobs_image(), settings)
    start = fitter.state_dict()
    fitter.step(3)
    end = fitter.state_dict()
    assert np.abs(end["encoding.table"] - start["encoding.table"]).max() > 1e-4
    assert np.abs(end["layers.0.weight"] - start["layers.0.weight"]).max() < 1e-9
    fitter.apply(dataclasses.replace(settings, encoding_learning_rate=2.0))  # keeps weights
    assert fitter.steps == 3


@pytest.mark.parametrize("loss", list(LOSSES))
@pytest.mark.parametrize("output_activation", ["none", "tanh", "sine", "softplus"])
def test_fused_losses_and_activations_match_autodiff(loss: str, output_activation: str) -> None:
    rng = np.random.default_rng(0)
    uv = rng.random((32, 2))
    target = rng.random((32, 3))
    encoder = make_encoder("frequency", 3)
    mlp = FusedMLP(encoder.n_output_dims, 3, 8, 1, "tanh", np.float64, output_activation)
    mlp.initialize(np.random.default_rng(1))
    trainer = FusedTrainer(encoder, mlp, FusedSGD(mlp.params, mlp.grads, 0.0), loss=loss)
    fused_loss = trainer.compute_gradients(uv, target)

    net = gfxnn.nn.MLP(12, 3, 8, 1, "tanh", output_activation, rng=1, dtype=np.float64)
    features = gfxnn.encodings.FrequencyEncoding(2, 3)(gfxnn.Tensor(uv, dtype=np.float64))
    function = {"l2": losses.mse, "relative_l2": losses.relative_l2, "l1": losses.l1}[loss]
    reference = function(net(features), gfxnn.Tensor(target, dtype=np.float64))
    reference.backward()
    assert fused_loss == pytest.approx(float(reference.data), rel=1e-12)
    expected = np.concatenate(
        [p.grad.ravel() for layer in net.layers for p in (layer.weight, layer.bias)]
    )
    np.testing.assert_allclose(mlp.grads, expected, rtol=1e-9, atol=1e-13)


def test_fit_command_reads_a_tcnn_config(tmp_path: Path) -> None:
    from gfxnn.cli import main

    config = json.loads(json.dumps(TCNN_IMAGE_CONFIG))
    config["encoding"].update(n_levels=4, log2_hashmap_size=10)
    path = tmp_path / "model.json"
    path.write_text(json.dumps(config))
    out = tmp_path / "run"
    args = ["fit", "--image-name", "circle", "--config", str(path), "--steps", "30"]
    assert main([*args, "--batch-size", "256", "--quiet", "--out", str(out)]) == 0
    settings = json.loads((out / "config.json").read_text())["settings"]
    assert settings["encoding"] == "hashgrid" and settings["loss"] == "relative_l2"
    assert settings["batch_size"] == 256


def test_fused_grid_training_equals_autodiff_training_float64() -> None:
    """The fused path with a hash grid (network Adam + the table's own Adam with eps 1e-15)
    and the autodiff engine, from the same start on the same batches, stay together."""
    from gfxnn.encodings.hash_grid import HashGridEncoding
    from gfxnn.fused import FusedAdam
    from gfxnn.fused.grid import FusedGrid
    from gfxnn.nn import MLP
    from gfxnn.optim import Adam

    grid_params = {"n_levels": 3, "log2_hashmap_size": 6, "base_resolution": 4}
    encoder = FusedGrid(2, **grid_params, dtype=np.float64)
    mlp = FusedMLP(encoder.n_output_dims, 3, 16, 2, "relu", np.float64, "none")
    rng = np.random.default_rng(0)
    mlp.initialize(rng)
    encoder.initialize(rng)
    trainer = FusedTrainer(
        encoder,
        mlp,
        FusedAdam(mlp.params, mlp.grads, 1e-2),
        FusedAdam(encoder.params, encoder.grads, 1e-2, eps=1e-15),
    )

    net = MLP(encoder.n_output_dims, 3, 16, 2, "relu", "none", rng=0, dtype=np.float64)
    grid = HashGridEncoding(2, **grid_params, dtype=np.float64)
    grid.table.data = encoder.params.reshape(grid.table.shape).copy()
    adam_net = Adam(net.parameters(), lr=1e-2)
    adam_grid = Adam([grid.table], lr=1e-2, eps=1e-15)

    batches = np.random.default_rng(1)
    for _ in range(30):
        uv, target = batches.random((64, 2)), batches.random((64, 3))
        fused_loss = trainer.compute_gradients(uv, target)
        trainer.update()
        adam_net.zero_grad()
        adam_grid.zero_grad()
        loss = losses.mse(net(grid(gfxnn.Tensor(uv, dtype=np.float64))), target)
        loss.backward()
        adam_net.step()
        adam_grid.step()
        assert fused_loss == pytest.approx(float(loss.data), rel=1e-10)
    np.testing.assert_allclose(encoder.params, grid.table.data.ravel(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(mlp.weights[0], net.layers[0].weight.data, rtol=1e-9, atol=1e-12)


def test_shipped_example_config_is_tcnn_image_sample() -> None:
    assert TCNN_IMAGE_CONFIG["encoding"]["otype"] == "HashGrid"
    assert TCNN_IMAGE_CONFIG["network"]["otype"] == "FullyFusedMLP"
    assert TCNN_IMAGE_CONFIG["loss"] == {"otype": "RelativeL2"}


def test_gaussian_matrix_is_saved_in_the_fitter_state() -> None:
    settings = FitSettings(encoding="gaussianfourier", encoding_params={"n_frequencies": 8})
    fitter = ImageFitter(blobs_image(), settings)
    state = fitter.state_dict()
    assert state["encoding.B"].shape == (8, 2)
    state["encoding.B"] = state["encoding.B"] * 2.0  # a checkpoint's matrix wins over the seed
    fresh = ImageFitter(blobs_image(), settings)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal(fresh.state_dict()["encoding.B"], state["encoding.B"])
    encoding, _ = autodiff_model(state, settings)
    np.testing.assert_array_equal(encoding.state_dict()["B"], state["encoding.B"])


def test_every_encoding_name_is_accepted_or_refused_with_a_reason(tmp_path: Path) -> None:
    from gfxnn import registry
    from gfxnn.cli import _ENCODINGS, main

    assert sorted(_ENCODINGS) == sorted(name.lower() for name in registry.names("encoding"))
    assert set(ENCODINGS) <= set(_ENCODINGS)
    with pytest.raises(ValueError, match="3-D directions"):
        FitSettings(encoding="sphericalharmonics").validate()
    nested = (
        '[{"otype": "Frequency", "n_frequencies": 4, "n_dims_to_encode": 1}, {"otype": "OneBlob"}]'
    )
    args = ["fit", "--image-name", "circle", "--encoding", "composite", "--steps", "5"]
    args += ["--encoding-param", f"nested={nested}", "--quiet", "--out", str(tmp_path / "run")]
    assert main(args) == 0


def test_grid_tables_too_large_for_the_fitter_are_refused() -> None:
    FitSettings(encoding="hashgrid").validate()  # tcnn's defaults: 2^19 entries per level
    with pytest.raises(ValueError, match="at most 67108864"):
        FitSettings(encoding="hashgrid", encoding_params={"log2_hashmap_size": 24}).validate()
    with pytest.raises(ValueError, match="n_levels"):
        FitSettings(encoding="densegrid").validate()  # a 2^19-wide dense level


def test_a_config_means_what_gfxnn_build_makes_of_it() -> None:
    config = {"encoding": {"otype": "Frequency"}, "network": {"otype": "MLP"}}
    settings = FitSettings.from_config(config)
    assert settings.n_frequencies == 12  # FrequencyEncoding's default, as gfxnn.build uses
    assert gfxnn.build(config, 2, 3).encoding.n_output_dims == 4 * settings.n_frequencies
    grid = FitSettings.from_config({"encoding": {"otype": "Grid", "type": "Dense", "n_levels": 2}})
    assert (grid.encoding, grid.encoding_params) == ("densegrid", {"n_levels": 2})
