// Inference, one thread per point: a regular grid (a full frame in one dispatch) or the
// points in `data`; output[point * N_OUTPUT + c].

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
    let x = inference_input(point);
    var h: array<f32, MAX_WIDTH>;
    var z: array<f32, MAX_WIDTH>;
    encode(x, &h);
    for (var layer = 0u; layer < n_layers(); layer++) {
        let n_in = layer_inputs(layer);
        let n_out = layer_outputs(layer);
        let w = weight_offset(layer);
        let b = bias_offset(layer);
        let act = select(step.activation, step.output_activation, layer == N_HIDDEN);
        for (var o = 0u; o < n_out; o++) {
            var sum = 0.0;
            for (var i = 0u; i < n_in; i++) {
                sum += h[i] * weights[w + o * n_in + i];
            }
            z[o] = activate(act, sum + weights[b + o]).x;
        }
        for (var o = 0u; o < n_out; o++) {
            h[o] = z[o];
        }
    }
    for (var c = 0u; c < N_OUTPUT; c++) {
        output[point * N_OUTPUT + c] = h[c];
    }
}
