"""The exported shaders compile and really run: GLSL and HLSL through glslangValidator to SPIR-V,
WGSL directly, all executed by wgpu on a Vulkan device (Mesa's lavapipe, a CPU driver, via
the fallback adapter); the images they write match `gfxnn render` of the same checkpoint.

Needs glslangValidator (Debian: glslang-tools), Mesa's lavapipe (mesa-vulkan-drivers) and the
`wgpu` package; each test skips, saying which is missing, only when one is absent (and fails
instead when GFXNN_REQUIRE_SHADER_TOOLS=1, as in CI).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from test_export import make_checkpoint, model, uv_grid

from gfxnn.encodings import FrequencyEncoding, OneBlobEncoding
from gfxnn.export import export, export_checkpoint, export_checkpoint_with_data, lower
from gfxnn.export.lower import lowerable_encodings
from gfxnn.export.runner import ShaderToolError, compile_spirv, glslang_path, run_compute
from gfxnn.fields import choices
from gfxnn.imagefit import render_image
from gfxnn.nn import MLP

WIDTH, HEIGHT = 32, 24  # not square, so a transposed image cannot pass
TOLERANCE = 1e-4  # per channel, as issue 9 asks; measured: about 3e-7 (docs/export.md)


# CI sets GFXNN_REQUIRE_SHADER_TOOLS=1 so that a missing tool fails these tests, not skips them.
REQUIRED = os.environ.get("GFXNN_REQUIRE_SHADER_TOOLS") == "1"


def _missing(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"{reason} (GFXNN_REQUIRE_SHADER_TOOLS=1)")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def device():
    try:
        import wgpu  # noqa: F401
    except ImportError:
        _missing("the wgpu package is not installed")
    from gfxnn.export.runner import request_device

    try:
        return request_device()
    except ShaderToolError as error:
        _missing(str(error))


@pytest.fixture(scope="module")
def glslang() -> str | None:
    path = glslang_path()
    if path is None:
        _missing("glslangValidator is not installed (Debian: glslang-tools)")
    return path


def program_for(code: str, language: str) -> str | bytes:
    """What wgpu runs: WGSL source, or SPIR-V compiled from GLSL / HLSL."""
    return code if language == "wgsl" else compile_spirv(code, language)


# Every activation `gfxnn fit` offers, each in one language (the three rotate), the identity
# and one-blob encodings in all three languages, and the other encodings with an emitter.
FIT_CASES = [
    ("frequency", "leaky_relu", "wgsl"),
    ("frequency", "relu", "glsl"),
    ("frequency", "sigmoid", "hlsl"),
    ("frequency", "tanh", "wgsl"),
    ("frequency", "sine", "glsl"),
    ("frequency", "softplus", "hlsl"),
    ("frequency", "none", "wgsl"),
    ("identity", "leaky_relu", "wgsl"),
    ("identity", "sigmoid", "glsl"),
    ("identity", "tanh", "hlsl"),
    ("oneblob", "relu", "wgsl"),
    ("oneblob", "leaky_relu", "glsl"),
    ("oneblob", "sine", "hlsl"),
    ("trianglewave", "relu", "glsl"),
    ("gaussianfourier", "sigmoid", "wgsl"),
    ("onehot", "leaky_relu", "hlsl"),
]
# Every other encoding the flagship offers that has an emitter, in all three languages, so a
# new parameter-free encoding runs here without a row (the grids have their own tests).
FIT_CASES += [
    (name, "relu", language)
    for name in choices.ENCODINGS
    if name not in {case[0] for case in FIT_CASES}
    and name not in choices.TRAINABLE_ENCODINGS
    and choices.encoding_otype(name) in lowerable_encodings()
    for language in ("wgsl", "glsl", "hlsl")
]
# Smaller than the encodings' defaults, to keep the shaders quick to compile.
PARAMS = {
    "gaussianfourier": {"n_frequencies": 16, "sigma": 3.0},
    "trianglewave": {"n_frequencies": 6},
}


@pytest.mark.parametrize(("encoding", "activation", "language"), FIT_CASES)
def test_compute_shader_matches_gfxnn_render(
    tmp_path: Path, request, device, encoding: str, activation: str, language: str
) -> None:
    if language != "wgsl":
        request.getfixturevalue("glslang")
    path, settings, state = make_checkpoint(
        tmp_path / "fit.safetensors", encoding, activation, encoding_params=PARAMS.get(encoding, {})
    )
    expected = render_image(state, settings, WIDTH, HEIGHT)
    assert np.ptp(expected) > 0.05  # a picture, not a constant that any bug could reproduce
    code = export_checkpoint(path, language, name="fitted", wrapper="compute")
    assert isinstance(code, str)
    image = run_compute(program_for(code, language), WIDTH, HEIGHT, device)
    np.testing.assert_allclose(image[..., :3], expected, rtol=0, atol=TOLERANCE)
    np.testing.assert_array_equal(image[..., 3], 1.0)


@pytest.mark.parametrize("language", ["wgsl", "glsl", "hlsl"])
def test_silu_and_a_scalar_output_run_like_the_model(request, device, language: str) -> None:
    """SiLU is not offered by `gfxnn fit`, so this model is built directly; its one output is
    written to r, g and b."""
    if language != "wgsl":
        request.getfixturevalue("glslang")
    encoding = OneBlobEncoding(2, 6)
    network = model(encoding, "silu", "tanh", seed=3)
    network.layers[-1].weight.data = network.layers[-1].weight.data[:1].copy()
    network.layers[-1].bias.data = network.layers[-1].bias.data[:1].copy()
    expected = network(encoding(uv_grid(WIDTH, HEIGHT))).data.reshape(HEIGHT, WIDTH)
    code = export(encoding, network, language, name="density", wrapper="compute")
    image = run_compute(program_for(str(code), language), WIDTH, HEIGHT, device)
    for channel in range(3):
        np.testing.assert_allclose(image[..., channel], expected, rtol=0, atol=TOLERANCE)


def test_wide_network_matches_the_interpreter(device) -> None:
    """32 frequency features -> 32 -> 32 -> 3 with random biases: many 4x4 blocks per layer."""
    encoding = FrequencyEncoding(2, 8)
    network = MLP(32, 3, 32, 2, "leaky_relu", "sigmoid", rng=4)
    for layer in network.layers:
        layer.bias.data[...] = np.random.default_rng(5).uniform(-0.5, 0.5, layer.bias.data.shape)
    expected = lower(encoding, network).evaluate(uv_grid(WIDTH, HEIGHT))
    code = str(export(encoding, network, "wgsl", wrapper="compute"))
    image = run_compute(code, WIDTH, HEIGHT, device)
    np.testing.assert_allclose(image[..., :3].reshape(-1, 3), expected, rtol=0, atol=TOLERANCE)


GRID_CASES = [
    ("hashgrid", "Linear", "wgsl"),
    ("hashgrid", "Smoothstep", "glsl"),
    ("hashgrid", "Linear", "hlsl"),
    ("densegrid", "Linear", "wgsl"),
    ("densegrid", "Nearest", "hlsl"),
]


@pytest.mark.parametrize(("encoding", "interpolation", "language"), GRID_CASES)
def test_grid_compute_shader_reads_its_table_and_matches_gfxnn_render(
    tmp_path: Path, request, device, encoding: str, interpolation: str, language: str
) -> None:
    """A trained grid (hashed fine levels, dense coarse ones) with its table bound at 1."""
    if language != "wgsl":
        request.getfixturevalue("glslang")
    params = {"n_levels": 6, "log2_hashmap_size": 8, "base_resolution": 4}
    path, settings, state = make_checkpoint(
        tmp_path / "grid.safetensors",
        encoding,
        "leaky_relu",
        steps=40,
        encoding_params={**params, "interpolation": interpolation},
    )
    expected = render_image(state, settings, WIDTH, HEIGHT)
    assert np.ptp(expected) > 0.05
    code, table = export_checkpoint_with_data(path, language, name="fitted", wrapper="compute")
    assert table is not None and isinstance(code, str)
    image = run_compute(program_for(code, language), WIDTH, HEIGHT, device, buffer=table)
    np.testing.assert_allclose(image[..., :3], expected, rtol=0, atol=TOLERANCE)


# Shadertoy's conventions, stated once: fragCoord is a pixel centre with the origin at the
# bottom-left, iResolution the viewport size. This compute shader calls mainImage that way.
SHADERTOY_AS_COMPUTE = """#version 450
layout(local_size_x = 8, local_size_y = 8) in;
layout(set = 0, binding = 0, rgba32f) uniform writeonly image2D gfxnn_image;
vec3 iResolution;

{code}
void main() {{
    ivec2 size = imageSize(gfxnn_image);
    iResolution = vec3(vec2(size), 1.0);
    ivec2 pixel = ivec2(gl_GlobalInvocationID.xy);
    if (pixel.x >= size.x || pixel.y >= size.y) {{
        return;
    }}
    vec4 color;
    mainImage(color, vec2(pixel.x, size.y - 1 - pixel.y) + 0.5);
    imageStore(gfxnn_image, pixel, color);
}}
"""

SHADERTOY_AS_WEBGL = """#version 300 es
precision highp float;
uniform vec3 iResolution;
out vec4 gfxnn_color;

{code}
void main() {{
    mainImage(gfxnn_color, gl_FragCoord.xy);
}}
"""


def test_shadertoy_wrapper_compiles_as_glsl_es_and_draws_the_render(
    tmp_path: Path, device, glslang
) -> None:
    path, settings, state = make_checkpoint(tmp_path / "fit.safetensors", "frequency", "relu")
    code = export_checkpoint(path, "glsl", name="fitted", wrapper="shadertoy")
    webgl = tmp_path / "shadertoy.frag"
    webgl.write_text(SHADERTOY_AS_WEBGL.format(code=code))
    result = subprocess.run([glslang, str(webgl)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout
    spirv = compile_spirv(SHADERTOY_AS_COMPUTE.format(code=code), "glsl")
    image = run_compute(spirv, WIDTH, HEIGHT, device)
    expected = np.clip(render_image(state, settings, WIDTH, HEIGHT), 0.0, 1.0)
    np.testing.assert_allclose(image[..., :3], expected, rtol=0, atol=TOLERANCE)


def test_invalid_code_is_rejected_by_the_tools(device, glslang) -> None:
    """The compilers used above do reject broken code (so passing means something)."""
    encoding = FrequencyEncoding(2, 2)
    code = str(export(encoding, model(encoding, "relu"), "glsl", wrapper="compute"))
    with pytest.raises(ShaderToolError, match="glslangValidator rejected"):
        compile_spirv(code.replace("mat4(", "mat5(", 1), "glsl")
    hlsl = str(export(encoding, model(encoding, "relu"), "hlsl", wrapper="compute"))
    with pytest.raises(ShaderToolError):
        compile_spirv(hlsl.replace("mul(", "mul(1.0, ", 1), "hlsl")
    wgsl = str(export(encoding, model(encoding, "relu"), "wgsl"))
    device.create_shader_module(code=wgsl)  # a module with the function alone is valid WGSL
    with pytest.raises(Exception, match="(?i)error"):
        device.create_shader_module(code=wgsl.replace("let e0", "let e0: i32", 1))
