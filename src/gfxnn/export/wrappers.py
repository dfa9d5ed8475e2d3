"""Ready-to-run wrappers around an exported function: a compute shader that writes an image,
and a Shadertoy-style `mainImage` (GLSL).

Compute wrapper (all three languages): entry point `main`, workgroup 8 x 8, one binding,
set/group 0 binding 0: a write-only rgba32float storage image. Pixel (x, y) of the image gets
(NAME(uv), 1) at uv = (x / (W - 1), y / (H - 1)) (0 along an axis of size 1), row 0 first, the
convention of `gfxnn render`. Dispatch ceil(W / 8) x ceil(H / 8) workgroups. The outputs are
written unclipped; a model with 1 output writes it to r, g and b.
"""

from __future__ import annotations

from gfxnn.export.ir import ExportError

__all__ = ["IMAGE_BINDING", "WORKGROUP_SIZE", "WRAPPERS", "wrap"]

WRAPPERS = ("none", "compute", "shadertoy")
WORKGROUP_SIZE = (8, 8)
IMAGE_BINDING = "gfxnn_image"

_GLSL_COMPUTE = """#version 450
// Compute shader: writes NAME(uv) into the rgba32f image at set 0, binding 0.
layout(local_size_x = 8, local_size_y = 8) in;
layout(set = 0, binding = 0, rgba32f) uniform writeonly image2D gfxnn_image;

{function}
void main() {{
    ivec2 size = imageSize(gfxnn_image);
    ivec2 pixel = ivec2(gl_GlobalInvocationID.xy);
    if (pixel.x >= size.x || pixel.y >= size.y) {{
        return;
    }}
    vec2 uv = vec2(pixel) / vec2(max(size - 1, ivec2(1)));
    imageStore(gfxnn_image, pixel, {color});
}}
"""

_HLSL_COMPUTE = """// Compute shader (entry point main): writes NAME(uv) into the
// RWTexture2D<float4> at register u0, Vulkan set 0, binding 0 (rgba32f).
[[vk::binding(0, 0)]] [[vk::image_format("rgba32f")]]
RWTexture2D<float4> gfxnn_image : register(u0);

{function}
[numthreads(8, 8, 1)]
void main(uint3 id : SV_DispatchThreadID) {{
    uint width, height;
    gfxnn_image.GetDimensions(width, height);
    if (id.x >= width || id.y >= height) {{
        return;
    }}
    float2 uv = float2(id.xy) / float2(max(width, 2u) - 1u, max(height, 2u) - 1u);
    gfxnn_image[id.xy] = {color};
}}
"""

_WGSL_COMPUTE = """// Compute shader (entry point main): writes NAME(uv) into the
// rgba32float storage texture at group 0, binding 0.
@group(0) @binding(0) var gfxnn_image: texture_storage_2d<rgba32float, write>;

{function}
@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {{
    let size = textureDimensions(gfxnn_image);
    if (id.x >= size.x || id.y >= size.y) {{
        return;
    }}
    let uv = vec2<f32>(id.xy) / vec2<f32>(max(size, vec2<u32>(2u)) - vec2<u32>(1u));
    textureStore(gfxnn_image, id.xy, {color});
}}
"""

_SHADERTOY = """{function}
// Shadertoy: the image fills the view, row 0 of gfxnn render at the top.
void mainImage(out vec4 fragColor, in vec2 fragCoord) {{
    vec2 pixel = vec2(fragCoord.x - 0.5, iResolution.y - 0.5 - fragCoord.y);
    vec2 uv = pixel / max(iResolution.xy - 1.0, vec2(1.0));
    fragColor = {color};
}}
"""

_COMPUTE = {"glsl": _GLSL_COMPUTE, "hlsl": _HLSL_COMPUTE, "wgsl": _WGSL_COMPUTE}
_VEC4 = {"glsl": "vec4", "hlsl": "float4", "wgsl": "vec4<f32>"}
_VEC3 = {"glsl": "vec3", "hlsl": "float3", "wgsl": "vec3<f32>"}


def _color(language: str, call: str, n_outputs: int, clamp: bool) -> str:
    """An rgba expression from the function's 1..4 outputs."""
    vec4, vec3 = _VEC4[language], _VEC3[language]
    rgb = {1: f"{vec3}({call})", 2: f"{vec3}({call}, 0.0)", 3: call}.get(n_outputs)
    if clamp and rgb is not None:
        rgb = f"clamp({rgb}, {vec3}(0.0), {vec3}(1.0))"
    return f"{vec4}({rgb}, 1.0)" if rgb is not None else call


def wrap(
    function: str, language: str, name: str, wrapper: str, n_inputs: int, n_outputs: int
) -> str:
    """`function` (the code of `name`) inside `wrapper` ("none", "compute" or "shadertoy")."""
    if wrapper not in WRAPPERS:
        raise ExportError(f"unknown wrapper {wrapper!r}; choose one of {', '.join(WRAPPERS)}")
    if wrapper == "none":
        return function
    if n_inputs != 2:
        raise ExportError(
            f"the {wrapper} wrapper evaluates images, so the model must take 2 inputs (uv); "
            f"this one takes {n_inputs}"
        )
    call = f"{name}(uv)"
    if wrapper == "shadertoy":
        if language != "glsl":
            raise ExportError(f"the shadertoy wrapper is GLSL only, not {language}")
        return _SHADERTOY.format(function=function, color=_color(language, call, n_outputs, True))
    template = _COMPUTE[language].replace("NAME", name)
    return template.format(function=function, color=_color(language, call, n_outputs, False))
