// tiny_texture: a neural network exported by gfxnn, weights inlined as float32 constants.
// HashGrid encoding (2 levels x 2 features, Linear, table in buffer binding 1) 2 -> 4, dense 4 -> 4, relu, dense 4 -> 3.
// Input: uv in [0, 1]^2; gfxnn render evaluates pixel (x, y) of a W x H image at uv = (x / (W - 1), y / (H - 1)).
layout(std430, set = 0, binding = 1) readonly buffer tiny_texture_grid_block {
    float tiny_texture_grid[];
};
vec3 tiny_texture(vec2 uv) {
    vec2 p0 = uv * 2.0 + 0.5;
    vec2 g0 = floor(p0);
    vec2 f0 = (p0 - g0);
    uvec2 v0 = uvec2(g0);
    uint i0_0 = (v0.x + v0.y * 3u) % 16u;
    uint i0_1 = ((v0.x + 1u) + v0.y * 3u) % 16u;
    uint i0_2 = (v0.x + (v0.y + 1u) * 3u) % 16u;
    uint i0_3 = ((v0.x + 1u) + (v0.y + 1u) * 3u) % 16u;
    vec2 p1 = uv * 5.0 + 0.5;
    vec2 g1 = floor(p1);
    vec2 f1 = (p1 - g1);
    uvec2 v1 = uvec2(g1);
    uint i1_0 = ((v1.x * 1u) ^ (v1.y * 2654435761u)) & 15u;
    uint i1_1 = (((v1.x + 1u) * 1u) ^ (v1.y * 2654435761u)) & 15u;
    uint i1_2 = ((v1.x * 1u) ^ ((v1.y + 1u) * 2654435761u)) & 15u;
    uint i1_3 = (((v1.x + 1u) * 1u) ^ ((v1.y + 1u) * 2654435761u)) & 15u;
    vec4 e0 = vec4(
        (1.0 - f0.y) * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_0) * 2u + 0u] + (1.0 - f0.y) * f0.x * tiny_texture_grid[(0u + i0_1) * 2u + 0u] + f0.y * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_2) * 2u + 0u] + f0.y * f0.x * tiny_texture_grid[(0u + i0_3) * 2u + 0u],
        (1.0 - f0.y) * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_0) * 2u + 1u] + (1.0 - f0.y) * f0.x * tiny_texture_grid[(0u + i0_1) * 2u + 1u] + f0.y * (1.0 - f0.x) * tiny_texture_grid[(0u + i0_2) * 2u + 1u] + f0.y * f0.x * tiny_texture_grid[(0u + i0_3) * 2u + 1u],
        (1.0 - f1.y) * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_0) * 2u + 0u] + (1.0 - f1.y) * f1.x * tiny_texture_grid[(16u + i1_1) * 2u + 0u] + f1.y * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_2) * 2u + 0u] + f1.y * f1.x * tiny_texture_grid[(16u + i1_3) * 2u + 0u],
        (1.0 - f1.y) * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_0) * 2u + 1u] + (1.0 - f1.y) * f1.x * tiny_texture_grid[(16u + i1_1) * 2u + 1u] + f1.y * (1.0 - f1.x) * tiny_texture_grid[(16u + i1_2) * 2u + 1u] + f1.y * f1.x * tiny_texture_grid[(16u + i1_3) * 2u + 1u]);
    vec4 z1_0 = vec4(-0.125, -0.0625, 0.0, 0.0625)
        + mat4(-0.625, 0.25, -0.25, 0.625, -0.25, 0.625, 0.125, -0.375, 0.125, -0.375, 0.5, 0.0, 0.5, 0.0, -0.5, 0.375) * e0;
    vec4 a1_0 = max(z1_0, vec4(0.0, 0.0, 0.0, 0.0));
    vec4 z2_0 = vec4(-0.125, -0.0625, 0.0, 0.0)
        + mat4(-0.5, 0.375, -0.125, 0.0, -0.125, -0.625, 0.25, 0.0, 0.25, -0.25, 0.625, 0.0, 0.625, 0.125, -0.375, 0.0) * a1_0;
    return z2_0.xyz;
}
