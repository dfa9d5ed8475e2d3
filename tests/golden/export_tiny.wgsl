// tiny_texture: a neural network exported by gfxnn, weights inlined as float32 constants.
// frequency encoding (n_frequencies=2) 2 -> 8, dense 8 -> 4, leaky_relu(0.01), dense 4 -> 3, sigmoid.
// Input: uv in [0, 1]^2; gfxnn render evaluates pixel (x, y) of a W x H image at uv = (x / (W - 1), y / (H - 1)).
fn tiny_texture(uv: vec2<f32>) -> vec3<f32> {
    let e0 = vec4<f32>(
        sin(6.2831855 * (uv.x * 0.5 - floor(uv.x * 0.5))),
        cos(6.2831855 * (uv.x * 0.5 - floor(uv.x * 0.5))),
        sin(6.2831855 * (uv.x * 1.0 - floor(uv.x * 1.0))),
        cos(6.2831855 * (uv.x * 1.0 - floor(uv.x * 1.0))));
    let e1 = vec4<f32>(
        sin(6.2831855 * (uv.y * 0.5 - floor(uv.y * 0.5))),
        cos(6.2831855 * (uv.y * 0.5 - floor(uv.y * 0.5))),
        sin(6.2831855 * (uv.y * 1.0 - floor(uv.y * 1.0))),
        cos(6.2831855 * (uv.y * 1.0 - floor(uv.y * 1.0))));
    let z1_0 = vec4<f32>(-0.125, -0.0625, 0.0, 0.0625)
        + mat4x4<f32>(-0.625, 0.25, -0.25, 0.625, -0.25, 0.625, 0.125, -0.375, 0.125, -0.375, 0.5, 0.0, 0.5, 0.0, -0.5, 0.375) * e0
        + mat4x4<f32>(-0.5, 0.375, -0.125, -0.625, -0.125, -0.625, 0.25, -0.25, 0.25, -0.25, 0.625, 0.125, 0.625, 0.125, -0.375, 0.5) * e1;
    let a1_0 = max(z1_0, 0.01 * z1_0);
    let z2_0 = vec4<f32>(-0.125, -0.0625, 0.0, 0.0)
        + mat4x4<f32>(-0.5, 0.375, -0.125, 0.0, -0.125, -0.625, 0.25, 0.0, 0.25, -0.25, 0.625, 0.0, 0.625, 0.125, -0.375, 0.0) * a1_0;
    let a2_0 = 1.0 / (1.0 + exp(-z2_0));
    return a2_0.xyz;
}
