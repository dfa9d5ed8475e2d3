// Compute shader (entry point main): writes tiny_texture(uv) into the
// RWTexture2D<float4> at register u0, Vulkan set 0, binding 0 (rgba32f).
[[vk::binding(0, 0)]] [[vk::image_format("rgba32f")]]
RWTexture2D<float4> gfxnn_image : register(u0);

// tiny_texture: a neural network exported by gfxnn, weights inlined as float32 constants.
// HashGrid encoding (2 levels x 2 features, Linear, table in buffer binding 1) 2 -> 4, dense 4 -> 4, relu, dense 4 -> 3.
// Input: uv in [0, 1]^2; gfxnn render evaluates pixel (x, y) of a W x H image at uv = (x / (W - 1), y / (H - 1)).
[[vk::binding(1, 0)]] StructuredBuffer<float> tiny_texture_grid : register(t1);
float3 tiny_texture(float2 uv) {
    float2 p0 = uv * 2.0 + 0.5;
    float2 g0 = floor(p0);
    float2 f0 = (p0 - g0);
    uint2 v0 = uint2(g0);
    uint i0_0 = (v0.x + v0.y * 3u) % 16u;
    uint i0_1 = ((v0.x + 1u) + v0.y * 3u) % 16u;
    uint i0_2 = (v0.x + (v0.y + 1u) * 3u) % 16u;
    uint i0_3 = ((v0.x + 1u) + (v0.y + 1u) * 3u) % 16u;
    float2 p1 = uv * 5.0 + 0.5;
    float2 g1 = floor(p1);
    float2 f1 = (p1 - g1);
    uint2 v1 = uint2(g1);
    uint i1_0 = ((v1.x * 1u) ^ (v1.y * 2654435761u)) & 15u;
    uint i1_1 = (((v1.x + 1u) * 1u) ^ (v1.y * 2654435761u)) & 15u;
    uint i1_2 = ((v1.x * 1u) ^ ((v1.y + 1u) * 2654435761u)) & 15u;
    uint i1_3 = (((v1.x + 1u) * 1u) ^ ((v1.y + 1u) * 2654435761u)) & 15u;
    float4 e0 = float4(
        (1.0 - f0.y) * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_0) * 2u + 0u] + (1.0 - f0.y) * f0.x * tiny_texture_grid[(0u + i0_1) * 2u + 0u] + f0.y * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_2) * 2u + 0u] + f0.y * f0.x * tiny_texture_grid[(0u + i0_3) * 2u + 0u],
        (1.0 - f0.y) * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_0) * 2u + 1u] + (1.0 - f0.y) * f0.x * tiny_texture_grid[(0u + i0_1) * 2u + 1u] + f0.y * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_2) * 2u + 1u] + f0.y * f0.x * tiny_texture_grid[(0u + i0_3) * 2u + 1u],
        (1.0 - f1.y) * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_0) * 2u + 0u] + (1.0 - f1.y) * f1.x * tiny_texture_grid[(16u + i1_1) * 2u + 0u] + f1.y * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_2) * 2u + 0u] + f1.y * f1.x * tiny_texture_grid[(16u + i1_3) * 2u + 0u],
        (1.0 - f1.y) * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_0) * 2u + 1u] + (1.0 - f1.y) * f1.x * tiny_texture_grid[(16u + i1_1) * 2u + 1u] + f1.y * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_2) * 2u + 1u] + f1.y * f1.x * tiny_texture_grid[(16u + i1_3) * 2u + 1u]);
    float4 z1_0 = float4(-0.125, -0.0625, 0.0, 0.0625)
        + mul(float4x4(-0.625, -0.25, 0.125, 0.5, 0.25, 0.625, -0.375, 0.0, -0.25, 0.125, 0.5, -0.5, 0.625, -0.375, 0.0, 0.375), e0);
    float4 a1_0 = max(z1_0, float4(0.0, 0.0, 0.0, 0.0));
    float4 z2_0 = float4(-0.125, -0.0625, 0.0, 0.0)
        + mul(float4x4(-0.5, -0.125, 0.25, 0.625, 0.375, -0.625, -0.25, 0.125, -0.125, 0.25, 0.625, -0.375, 0.0, 0.0, 0.0, 0.0), a1_0);
    return z2_0.xyz;
}

[numthreads(8, 8, 1)]
void main(uint3 id : SV_DispatchThreadID) {
    uint width, height;
    gfxnn_image.GetDimensions(width, height);
    if (id.x >= width || id.y >= height) {
        return;
    }
    float2 uv = float2(id.xy) / float2(max(width, 2u) - 1u, max(height, 2u) - 1u);
    gfxnn_image[id.xy] = float4(tiny_texture(uv), 1.0);
}
