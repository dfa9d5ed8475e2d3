// Inference in float16 (precision "fp16", MLPZen's "Use FP16 for MLP"), one thread per
// point as infer.wgsl: the features, every weight and bias, and each layer's activations
// (the outputs too) are rounded to f16 and held as f16 (half the private memory); each
// product of two f16 values is exact in f32, and the sums accumulate in f32, as
// gfxnn.fused's half inference computes them. Needs the "shader-f16" device feature.
enable f16;

//!include bindings.wgsl
//!include maths.wgsl
//!include encode.wgsl
//!include points.wgsl

@compute @workgroup_size(64)
fn infer(@builtin(global_invocation_id) id: vec3<u32>,
         @builtin(num_workgroups) groups: vec3<u32>) {
    let point = slice.base + id.x + id.y * groups.x * 64u;
    if (point >= slice.n_points) {
        return;
    }
    var features: array<f32, MAX_WIDTH>;
    encode(inference_input(point), &features);
    var h: array<f16, MAX_WIDTH>;
    var z: array<f16, MAX_WIDTH>;
    for (var i = 0u; i < N_FEATURES; i++) {
        h[i] = f16(features[i]);
    }
    for (var layer = 0u; layer < n_layers(); layer++) {
        let n_in = layer_inputs(layer);
        let n_out = layer_outputs(layer);
        let w = weight_offset(layer);
        let b = bias_offset(layer);
        let act = select(step.activation, step.output_activation, layer == N_HIDDEN);
        for (var o = 0u; o < n_out; o++) {
            var sum = 0.0;
            for (var i = 0u; i < n_in; i++) {
                sum += f32(h[i]) * f32(f16(weights[w + o * n_in + i]));
            }
            z[o] = f16(activate(act, sum + f32(f16(weights[b + o]))).x);
        }
        for (var o = 0u; o < n_out; o++) {
            h[o] = z[o];
        }
    }
    for (var c = 0u; c < N_OUTPUT; c++) {
        output[point * N_OUTPUT + c] = f32(h[c]);
    }
}
