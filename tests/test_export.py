"""gfxnn.export: the IR means what the model means, ONNX runs equal under onnxruntime, the CLI,
and every bad input. The shader tests that need glslangValidator / wgpu are in
test_export_shaders.py, the golden files in test_export_golden.py.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gfxnn import registry
from gfxnn.cli import main
from gfxnn.encodings import (
    FrequencyEncoding,
    GaussianFourierEncoding,
    IdentityEncoding,
    OneBlobEncoding,
    OneHotEncoding,
    SphericalHarmonicsEncoding,
    TriangleWaveEncoding,
)
from gfxnn.encodings.dense_grid import DenseGridEncoding
from gfxnn.encodings.hash_grid import HashGridEncoding
from gfxnn.export import (
    ExportError,
    export,
    export_checkpoint,
    export_with_data,
    lower,
    suffix,
)
from gfxnn.export.languages import LANGUAGES
from gfxnn.export.lower import lowerable_encodings
from gfxnn.export.shader import float_literal
from gfxnn.fields import choices
from gfxnn.imagefit import FitSettings, ImageFitter
from gfxnn.io import save_checkpoint
from gfxnn.nn import MLP, LeakyReLU, Sine, Softmax

ACTIVATIONS = ("relu", "leaky_relu", "sigmoid", "tanh", "sine", "softplus", "silu", "none")


def encodings() -> list:
    chosen = [
        IdentityEncoding(2),
        FrequencyEncoding(2, 4),
        OneBlobEncoding(2, 8),
        TriangleWaveEncoding(2, 5),
        GaussianFourierEncoding(2, 6, sigma=3.0, seed=1),
        OneHotEncoding(2, 5),
    ]
    # Every other lowerable encoding the flagship offers by name, with its defaults: a new
    # parameter-free encoding is exported by these tests without being listed here.
    # (The trainable grids have their own tests below.)
    listed = {e.otype for e in chosen}
    offered = {
        choices.encoding_otype(name)
        for name in choices.ENCODINGS
        if name not in choices.TRAINABLE_ENCODINGS
    }
    extra = [o for o in lowerable_encodings() if o in offered and o not in listed]
    return chosen + [registry.build_encoding({"otype": o}, 2, rng=0) for o in extra]


def model(encoding, activation: str, output_activation: str | None = None, seed: int = 0):
    """An MLP of 2 hidden layers of 12 (not a multiple of 4, so padding is exercised) whose
    biases are random too, so every weight shows in the output."""
    network = MLP(
        encoding.n_output_dims, 3, 12, 2, activation, output_activation or activation, rng=seed
    )
    rng = np.random.default_rng(seed + 100)
    for layer in network.layers:
        layer.bias.data[...] = rng.uniform(-0.5, 0.5, layer.bias.data.shape)
    return network


def uv_grid(width: int, height: int) -> np.ndarray:
    """(height * width, 2) float32 uvs of `gfxnn render`: pixel (x, y) at (x/(w-1), y/(h-1))."""
    u = (np.arange(width) / max(width - 1, 1)).astype(np.float32)
    v = (np.arange(height) / max(height - 1, 1)).astype(np.float32)
    return np.stack(np.meshgrid(u, v), axis=-1).reshape(-1, 2)


def make_checkpoint(
    path: Path, encoding: str, activation: str, steps: int = 20, **settings_kwargs
) -> tuple[Path, FitSettings, dict[str, np.ndarray]]:
    """A real `gfxnn fit`-style checkpoint: a few training steps on a small picture."""
    x, y = np.meshgrid(np.linspace(0, 1, 16), np.linspace(0, 1, 16))
    image = np.stack([x, y, 0.5 + 0.5 * np.sin(8 * x * y)], axis=2).astype(np.float32)
    settings = FitSettings(
        encoding=encoding,
        activation=activation,
        n_neurons=16,
        batch_size=256,
        learning_rate=1e-2,
        **settings_kwargs,
    )
    fitter = ImageFitter(image, settings)
    fitter.step(steps)
    state = fitter.state_dict()
    save_checkpoint(path, state, {"settings": settings.to_dict()})
    return path, settings, state


# ----- the IR --------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("encoding", encodings(), ids=lambda e: e.hyperparams()["otype"])
def test_ir_interpreter_equals_the_model(encoding, activation: str) -> None:
    network = model(encoding, activation)
    x = np.random.default_rng(1).random((200, 2)).astype(np.float32)
    expected = network(encoding(x)).data
    program = lower(encoding, network)
    np.testing.assert_allclose(program.evaluate(x), expected, rtol=0, atol=1e-6)
    assert program.evaluate(x).dtype == np.float32


def test_ir_keeps_parameters_and_output_activation() -> None:
    encoding = IdentityEncoding(2, scale=2.0, offset=-0.5)
    network = MLP(2, 1, 8, 1, LeakyReLU(0.2), Sine(3.0), rng=0)
    x = np.random.default_rng(2).random((50, 2)).astype(np.float32)
    np.testing.assert_allclose(
        lower(encoding, network).evaluate(x), network(encoding(x)).data, rtol=0, atol=1e-6
    )
    assert "leaky_relu(0.2)" in lower(encoding, network).describe()


def test_float_literals_read_back_to_the_same_float32() -> None:
    values = np.random.default_rng(3).standard_normal(2000).astype(np.float32)
    values *= np.float32(10.0) ** np.random.default_rng(4).integers(-12, 12, 2000)
    for value in [*values, np.float32(0), np.float32(-0.0), np.float32(1), np.float32(3e38)]:
        text = float_literal(value)
        assert "." in text or "e" in text, text
        assert np.float32(float(text)) == value, (value, text)
    with pytest.raises(ValueError, match="non-finite"):
        float_literal(float("nan"))


# ----- ONNX ----------------------------------------------------------------------------------
@pytest.mark.parametrize("activation", ACTIVATIONS)
@pytest.mark.parametrize("encoding", encodings(), ids=lambda e: e.hyperparams()["otype"])
def test_onnx_matches_the_model_under_onnxruntime(encoding, activation: str) -> None:
    ort = pytest.importorskip("onnxruntime")
    network = model(encoding, activation, seed=5)
    data = export(encoding, network, "onnx", name="texture")
    assert isinstance(data, bytes)
    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(6).random((300, 2)).astype(np.float32)
    (result,) = session.run(["output"], {"uv": x})
    expected = network(encoding(x)).data
    np.testing.assert_allclose(result, expected, rtol=0, atol=1e-5)


def test_onnx_takes_any_batch_size() -> None:
    ort = pytest.importorskip("onnxruntime")
    encoding = FrequencyEncoding(2, 3)
    network = model(encoding, "relu")
    session = ort.InferenceSession(export(encoding, network, "onnx"))
    for batch in (1, 7):
        x = np.full((batch, 2), 0.25, np.float32)
        assert session.run(None, {"uv": x})[0].shape == (batch, 3)


# ----- bad input -----------------------------------------------------------------------------
def test_unknown_format_and_wrapper_are_errors() -> None:
    encoding = IdentityEncoding(2)
    network = model(encoding, "relu")
    with pytest.raises(ExportError, match="unknown export format 'spirv'.*glsl, hlsl, wgsl, onnx"):
        export(encoding, network, "spirv")
    with pytest.raises(ExportError, match="unknown wrapper 'fragment'"):
        export(encoding, network, "glsl", wrapper="fragment")
    with pytest.raises(ExportError, match="shadertoy wrapper is GLSL only"):
        export(encoding, network, "wgsl", wrapper="shadertoy")
    with pytest.raises(ExportError, match="compute wrapper is for shader formats"):
        export(encoding, network, "onnx", wrapper="compute")
    with pytest.raises(ExportError, match="unknown export format"):
        suffix("png")


def test_components_without_an_emitter_are_named() -> None:
    harmonics = SphericalHarmonicsEncoding(3, degree=2)
    with pytest.raises(
        ExportError,
        match=r"no emitter for the encoding SphericalHarmonicsEncoding \(otype 'SphericalHarmonics'\)",
    ):
        export(harmonics, MLP(harmonics.n_output_dims, 3, 8, 1, rng=0), "glsl")
    grid = HashGridEncoding(2, n_levels=2, log2_hashmap_size=8, rng=0)
    with pytest.raises(ExportError, match="no ONNX emitter for the encoding HashGrid"):
        export_with_data(grid, MLP(grid.n_output_dims, 3, 8, 1, rng=0), "onnx")
    network = MLP(2, 3, 8, 1, "relu", Softmax(), rng=0)
    with pytest.raises(ExportError, match="no emitter for the activation Softmax"):
        export(IdentityEncoding(2), network, "onnx")
    with pytest.raises(ExportError, match="no emitter for the network Linear"):
        export(IdentityEncoding(2), network.layers[0], "wgsl")
    with pytest.raises(ExportError, match="gives 8 features but the network takes 2"):
        export(FrequencyEncoding(2, 2), MLP(2, 3, rng=0), "hlsl")


def grid(cls, interpolation: str = "Linear", seed: int = 0):
    """A small grid with hashed and dense levels and a table of visible values."""
    encoding = cls(2, 4, 2, 6, 3, 2.0, interpolation, rng=seed)
    encoding.table.data[...] = np.random.default_rng(seed).uniform(-1, 1, encoding.table.shape)
    return encoding


@pytest.mark.parametrize("interpolation", ["Nearest", "Linear", "Smoothstep"])
@pytest.mark.parametrize("cls", [HashGridEncoding, DenseGridEncoding])
def test_grid_ir_equals_the_model(cls, interpolation: str) -> None:
    encoding = grid(cls, interpolation)
    network = model(encoding, "tanh")
    x = np.random.default_rng(7).random((300, 2)).astype(np.float32)
    program = lower(encoding, network)
    np.testing.assert_array_equal(program.nodes[0].evaluate(x), encoding(x).data)
    np.testing.assert_allclose(program.evaluate(x), network(encoding(x)).data, rtol=0, atol=1e-6)
    if cls is HashGridEncoding:
        assert any(program.nodes[0].hashed) and not all(program.nodes[0].hashed)


def test_grid_tables_go_to_a_buffer_beside_the_code() -> None:
    encoding = grid(HashGridEncoding)
    network = model(encoding, "relu")
    code, data = export_with_data(encoding, network, "glsl", name="bricks")
    assert data is not None
    table = np.frombuffer(data, "<f4").reshape(encoding.table.shape)
    np.testing.assert_array_equal(table, encoding.table.data)
    assert "layout(std430, set = 0, binding = 1) readonly buffer bricks_grid_block" in str(code)
    with pytest.raises(ExportError, match="goes into a buffer beside the code"):
        export(encoding, network, "wgsl")
    with pytest.raises(ExportError, match="shadertoy wrapper cannot bind"):
        export_with_data(encoding, network, "glsl", wrapper="shadertoy")
    assert (
        export_with_data(IdentityEncoding(2), model(IdentityEncoding(2), "relu"), "wgsl")[1] is None
    )


@pytest.mark.parametrize(
    ("language", "name", "reason"),
    [
        ("glsl", "float", "reserved"),
        ("glsl", "texture", "reserved"),
        ("glsl", "gl_Color", "reserved"),
        ("glsl", "my__net", "reserved"),
        ("hlsl", "cbuffer", "reserved"),
        ("hlsl", "float4", "reserved"),
        ("hlsl", "lerp", "reserved"),
        ("wgsl", "fn", "reserved"),
        ("wgsl", "let", "reserved"),
        ("wgsl", "_", "reserved"),
        ("wgsl", "mod", "reserved"),
        ("glsl", "main", "reserved"),
        ("wgsl", "3net", "invalid"),
        ("hlsl", "my-net", "invalid"),
        ("glsl", "", "invalid"),
        ("glsl", "z1_0", "collides"),
        ("wgsl", "uv", "collides"),
    ],
)
def test_invalid_function_names_are_errors(language: str, name: str, reason: str) -> None:
    encoding = IdentityEncoding(2)
    with pytest.raises(ExportError, match=f"invalid function name.*{reason}|{reason}.*"):
        export(encoding, model(encoding, "relu"), language, name=name)


def test_valid_names_are_kept() -> None:
    encoding = IdentityEncoding(2)
    for language in LANGUAGES:
        code = export(encoding, model(encoding, "relu"), language, name="Texture_2")
        assert isinstance(code, str) and "Texture_2(" in code


def test_shader_functions_take_and_return_one_to_four_floats() -> None:
    encoding = IdentityEncoding(2)
    with pytest.raises(ExportError, match="1..4 floats; this model has 5 outputs"):
        export(encoding, MLP(2, 5, 4, 1, rng=0), "glsl")
    with pytest.raises(ExportError, match="must take 2 inputs"):
        export(IdentityEncoding(3), MLP(3, 3, 4, 1, rng=0), "glsl", wrapper="compute")
    scalar = export(IdentityEncoding(1), MLP(1, 1, 4, 1, rng=0), "wgsl")
    assert "fn gfxnn_network(uv: f32) -> f32" in str(scalar)


# ----- checkpoints and the command line ------------------------------------------------------
def test_export_checkpoint_equals_exporting_its_model(tmp_path: Path) -> None:
    from gfxnn.imagefit import model_from_checkpoint

    path, _, _ = make_checkpoint(tmp_path / "fit.safetensors", "frequency", "relu", steps=2)
    encoding, network, _ = model_from_checkpoint(path)
    for format in ("glsl", "onnx"):
        assert export_checkpoint(path, format) == export(encoding, network, format)


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    return err


def test_cli_writes_code_to_stdout_or_a_file(tmp_path: Path, capsys) -> None:
    path, _, _ = make_checkpoint(tmp_path / "fit.safetensors", "identity", "sigmoid", steps=2)
    assert main(["export", str(path), "--format", "hlsl", "--name", "brick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("// brick: a neural network exported by gfxnn")
    assert "float3 brick(float2 uv) {" in out
    target = tmp_path / "brick.wgsl"
    assert main(["export", str(path), "--format", "wgsl", "-o", str(target), "--wrapper",
                 "compute"]) == 0  # fmt: skip
    assert "@compute @workgroup_size(8, 8)" in target.read_text()
    assert f"wrote {target}" in capsys.readouterr().out


def test_cli_writes_onnx_next_to_the_checkpoint(tmp_path: Path, capsys) -> None:
    onnx = pytest.importorskip("onnx")
    path, _, _ = make_checkpoint(tmp_path / "fit.safetensors", "frequency", "relu", steps=2)
    assert main(["export", str(path), "--format", "onnx"]) == 0
    written = tmp_path / "fit.onnx"
    onnx.checker.check_model(onnx.load(str(written)))
    assert f"wrote {written}" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--format", "spirv"], "invalid choice: 'spirv'"),
        (["--format", "glsl", "--wrapper", "vertex"], "invalid choice: 'vertex'"),
        (["--format", "glsl", "--name", "void"], "invalid function name 'void'"),
        (["--format", "wgsl", "--wrapper", "shadertoy"], "shadertoy wrapper is GLSL only"),
        ([], "the following arguments are required: --format"),
    ],
)
def test_cli_bad_arguments(tmp_path: Path, capsys, arguments: list[str], message: str) -> None:
    path, _, _ = make_checkpoint(tmp_path / "fit.safetensors", "identity", "relu", steps=1)
    assert main(["export", str(path), *arguments]) == 2
    error = _one_line_error(capsys)
    assert error.startswith("gfxnn export: error:") and message in error


def test_cli_bad_checkpoints(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path / "missing.safetensors"), "--format", "glsl"]) == 2
    assert "checkpoint not found" in _one_line_error(capsys)
    path, _, _ = make_grid_checkpoint(tmp_path)
    assert main(["export", str(path), "--format", "onnx"]) == 2
    assert "no ONNX emitter for the encoding HashGrid" in _one_line_error(capsys)
    assert main(["export", str(path), "--format", "wgsl"]) == 2
    assert "grid table goes into a buffer file beside the code; give -o FILE" in _one_line_error(
        capsys
    )


def make_grid_checkpoint(tmp_path: Path, steps: int = 1):
    return make_checkpoint(
        tmp_path / "grid.safetensors",
        "hashgrid",
        "relu",
        steps=steps,
        encoding_params={"n_levels": 4, "log2_hashmap_size": 8, "base_resolution": 4},
    )


def test_cli_writes_a_grid_table_beside_the_code(tmp_path: Path, capsys) -> None:
    path, _, state = make_grid_checkpoint(tmp_path)
    target = tmp_path / "grid.hlsl"
    assert main(["export", str(path), "--format", "hlsl", "-o", str(target)]) == 0
    table = tmp_path / "grid.grid.bin"
    assert capsys.readouterr().out.split() == ["wrote", str(target), "wrote", str(table)]
    np.testing.assert_array_equal(
        np.frombuffer(table.read_bytes(), "<f4"), state["encoding.table"].ravel()
    )


def test_cli_unwritable_output(tmp_path: Path, capsys) -> None:
    path, _, _ = make_checkpoint(tmp_path / "fit.safetensors", "identity", "relu", steps=1)
    target = tmp_path / "no" / "such" / "dir" / "net.glsl"
    assert main(["export", str(path), "--format", "glsl", "-o", str(target)]) == 2
    assert "cannot write" in _one_line_error(capsys)


def test_encodings_lower_themselves_and_the_error_lists_those_that_do() -> None:
    from gfxnn.export.lower import lower_encoding

    # Derived, so a new encoding with lower() needs no edit here; one without lower() fails
    # this test until it is named below (deliberately: export then cannot take it).
    not_lowered = {"SphericalHarmonics", "Composite"}
    assert lowerable_encodings() == [o for o in registry.ENCODINGS if o not in not_lowered]
    assert lowerable_encodings()[:8] == [
        "Identity", "Frequency", "OneBlob", "OneHot", "TriangleWave", "GaussianFourier",
        "HashGrid", "DenseGrid",
    ]  # fmt: skip
    encoding = FrequencyEncoding(2, 3)
    assert lower_encoding(encoding) == encoding.lower()
    harmonics = SphericalHarmonicsEncoding(3, degree=2)
    with pytest.raises(ExportError, match=r"no lower\(\) method; export supports the Identity, "):
        lower_encoding(harmonics)


def test_a_long_invalid_name_is_quoted_cut_short() -> None:
    encoding = IdentityEncoding(2)
    with pytest.raises(ExportError) as error:
        export(encoding, model(encoding, "relu"), "glsl", name="a" * 5000)
    message = str(error.value)
    assert "(5002 characters)" in message and "at most 200 characters" in message
    assert len(message) < 300
