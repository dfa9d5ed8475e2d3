"""The three shading languages as tables: types, constructors, matrix layout, reserved names.

Everything that differs between GLSL, HLSL and WGSL in the emitted code is in a `Language`;
`gfxnn.export.shader` writes the same program through any of them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from gfxnn.checks import shown

__all__ = ["GLSL", "HLSL", "LANGUAGES", "WGSL", "Language", "check_function_name"]


@dataclass(frozen=True)
class Language:
    """The syntax of one shading language.

    types[n]: the float vector of n components (n = 1 is the scalar).
    declare: "{type}"-free template of an immutable local, with {name} and {value}.
    matrix_row_major: whether the 4x4 matrix constructor takes rows (HLSL) or columns.
    matvec: the product of a matrix expression {m} and a vector {v}.
    reserved: keywords, reserved words and built-in names a function must not be called.
    """

    name: str
    types: dict[int, str]
    declare: str
    matrix: str
    matrix_row_major: bool
    matvec: str
    signature: Callable[[str, str, str], str]  # (name, parameter type, return type)
    reserved: frozenset[str]
    uint_types: dict[int, str]  # the unsigned integer vectors
    declare_typed: str  # template of an immutable local of any {type}
    storage_buffer: str  # a read-only float buffer {name} at set/group 0, binding {binding}

    def vector(self, values: list[str]) -> str:
        return f"{self.types[len(values)]}({', '.join(values)})"

    def matrix_constructor(self, block: np.ndarray, literal: Callable[[float], str]) -> str:
        """A 4x4 matrix M with M v = block @ v."""
        order = block if self.matrix_row_major else block.T
        return f"{self.matrix}({', '.join(literal(v) for v in order.ravel())})"


def _words(text: str) -> list[str]:
    return text.split()


# Names every language shares: the built-in functions the emitted code or a user's code calls.
_BUILTINS = _words(
    """abs acos acosh all any asin asinh atan atan2 atanh ceil clamp cos cosh cross
degrees determinant distance dot exp exp2 faceforward floor fma fract frexp inversesqrt isinf
isnan ldexp length log log2 max min mix modf normalize pow radians reflect refract round sign
sin sinh smoothstep sqrt step tan tanh transpose trunc"""
)

_GLSL_WORDS = _words(
    """attribute const uniform varying buffer shared coherent volatile restrict readonly
writeonly atomic_uint layout centroid flat smooth noperspective patch sample invariant precise
break continue do for while switch case default if else subroutine in out inout int void bool
true false float double discard return vec2 vec3 vec4 ivec2 ivec3 ivec4 bvec2 bvec3 bvec4 uint
uvec2 uvec3 uvec4 dvec2 dvec3 dvec4 mat2 mat3 mat4 mat2x2 mat2x3 mat2x4 mat3x2 mat3x3 mat3x4
mat4x2 mat4x3 mat4x4 dmat2 dmat3 dmat4 lowp mediump highp precision sampler1D sampler2D
sampler3D samplerCube image1D image2D image3D struct common partition active asm class union
enum typedef template this resource goto inline noinline public static extern external
interface long short half fixed unsigned superp input output hvec2 hvec3 hvec4 fvec2 fvec3
fvec4 sampler3DRect filter sizeof cast namespace using main texture texelFetch imageLoad
imageStore imageSize mainImage iResolution iTime"""
)

_HLSL_WORDS = _words(
    """AppendStructuredBuffer asm asm_fragment BlendState bool break Buffer
ByteAddressBuffer case cbuffer centroid class column_major compile compile_fragment
CompileShader const continue ComputeShader ConsumeStructuredBuffer default DepthStencilState
DepthStencilView discard do double DomainShader dword else export extern false float float2
float3 float4 float4x4 for fxgroup GeometryShader groupshared half Hullshader if in inline
inout InputPatch int int2 int3 int4 interface line lineadj linear LineStream matrix min16float
min10float min16int min12int min16uint namespace nointerpolation noperspective NULL out
OutputPatch packoffset pass pixelfragment PixelShader point PointStream precise
RasterizerState RenderTargetView return register row_major RWBuffer RWByteAddressBuffer
RWStructuredBuffer RWTexture1D RWTexture2D RWTexture3D sample sampler SamplerState
SamplerComparisonState shared snorm stateblock stateblock_state static string struct switch
StructuredBuffer tbuffer technique technique10 technique11 texture Texture1D Texture2D
Texture3D TextureCube triangle triangleadj TriangleStream uint uint2 uint3 uint4 uniform unorm
unsigned vector vertexfragment VertexShader void volatile while lerp saturate frac rsqrt mul
mad rcp main"""
)

_WGSL_WORDS = _words(
    """alias break case const const_assert continue continuing default diagnostic
discard else enable false fn for if let loop override requires return struct switch true var
while f32 f16 i32 u32 bool vec2 vec3 vec4 mat2x2 mat2x3 mat2x4 mat3x2 mat3x3 mat3x4 mat4x2
mat4x3 mat4x4 array atomic ptr sampler texture_2d texture_storage_2d NULL Self abstract
active alignas alignof as asm asm_fragment async attribute auto await become binding_array
cast catch class co_await co_return co_yield coherent column_major common compile
compile_fragment concept const_cast consteval constexpr constinit crate debugger decltype
delete demote demote_to_helper do dynamic_cast enum explicit export extends extern external
fallthrough filter final finally friend from fxgroup get goto groupshared highp impl implements
import inline instanceof interface layout lowp macro macro_rules match mediump meta mod module
move mut mutable namespace new nil noexcept noinline nointerpolation non_coherent noncoherent
noperspective null nullptr of operator package packoffset partition pass patch pixelfragment
precise precision premerge priv protected pub public readonly ref regardless register
reinterpret_cast require resource restrict self set shared sizeof smooth snorm static
static_assert static_cast std subroutine super target template this thread_local throw trait
try type typedef typeid typename typeof union unless unorm unsafe unsized use using varying
virtual volatile wgsl where with writeonly yield select textureStore textureDimensions
main"""
)

GLSL = Language(
    name="glsl",
    types={1: "float", 2: "vec2", 3: "vec3", 4: "vec4"},
    declare="vec4 {name} = {value};",
    matrix="mat4",
    matrix_row_major=False,  # GLSL's mat4(...) takes columns
    matvec="{m} * {v}",
    signature=lambda name, param, result: f"{result} {name}({param} uv)",
    reserved=frozenset(_BUILTINS + _GLSL_WORDS),
    uint_types={1: "uint", 2: "uvec2", 3: "uvec3", 4: "uvec4"},
    declare_typed="{type} {name} = {value};",
    storage_buffer="layout(std430, set = 0, binding = {binding}) readonly buffer {name}_block "
    "{{\n    float {name}[];\n}};",
)

HLSL = Language(
    name="hlsl",
    types={1: "float", 2: "float2", 3: "float3", 4: "float4"},
    declare="float4 {name} = {value};",
    matrix="float4x4",
    matrix_row_major=True,  # HLSL's float4x4(...) takes rows; mul(M, v) is M v
    matvec="mul({m}, {v})",
    signature=lambda name, param, result: f"{result} {name}({param} uv)",
    reserved=frozenset(_BUILTINS + _HLSL_WORDS),
    uint_types={1: "uint", 2: "uint2", 3: "uint3", 4: "uint4"},
    declare_typed="{type} {name} = {value};",
    storage_buffer="[[vk::binding({binding}, 0)]] StructuredBuffer<float> {name} : "
    "register(t{binding});",
)

WGSL = Language(
    name="wgsl",
    types={1: "f32", 2: "vec2<f32>", 3: "vec3<f32>", 4: "vec4<f32>"},
    declare="let {name} = {value};",
    matrix="mat4x4<f32>",
    matrix_row_major=False,  # WGSL's mat4x4 constructor takes columns
    matvec="{m} * {v}",
    signature=lambda name, param, result: f"fn {name}(uv: {param}) -> {result}",
    reserved=frozenset(_BUILTINS + _WGSL_WORDS),
    uint_types={1: "u32", 2: "vec2<u32>", 3: "vec3<u32>", 4: "vec4<u32>"},
    declare_typed="let {name}: {type} = {value};",
    storage_buffer="@group(0) @binding({binding}) var<storage, read> {name}: array<f32>;",
)

LANGUAGES = {language.name: language for language in (GLSL, HLSL, WGSL)}

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
# The emitted function's own names: its parameter and its locals (e0, z1_0, a1_0, t0_0, ...).
_LOCAL = re.compile(r"(uv|[ezatcpgfvi][0-9]+(_[0-9]+)?)\Z")
_MAX_NAME = 200


def check_function_name(name: object, language: Language) -> str:
    """`name` if it can name the emitted function in `language`, else a ValueError saying why."""
    if not isinstance(name, str) or not _IDENTIFIER.match(name) or len(name) > _MAX_NAME:
        raise ValueError(
            f"invalid function name {shown(name)}: use a letter or '_' followed by letters, digits "
            f"or '_' (at most {_MAX_NAME} characters)"
        )
    if name in language.reserved:
        raise ValueError(
            f"invalid function name {name!r}: it is a reserved word or built-in in {language.name}"
        )
    if "__" in name or name.startswith(("gl_", "_")):
        raise ValueError(
            f"invalid function name {shown(name)}: names starting with '_' or 'gl_' or containing "
            f"'__' are reserved in {language.name} (or in one of the other shading languages)"
        )
    if _LOCAL.match(name):
        raise ValueError(
            f"invalid function name {shown(name)}: it collides with the names of the function's "
            "parameter (uv) or local variables (one of the letters e z a t c p g f v i followed "
            "by digits)"
        )
    return name
