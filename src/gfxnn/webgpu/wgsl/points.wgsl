// The input of inference point `point` (infer.wgsl, infer_f16.wgsl): a point of `data`
// (slice.size.x == 0), or of a regular grid whose axes' coordinates follow one another in
// `data`, x_0 varying fastest.

fn inference_input(point: u32) -> array<f32, MAX_DIMS> {
    var x: array<f32, MAX_DIMS>;
    if (slice.size.x == 0u) {
        for (var d = 0u; d < N_INPUT_DIMS; d++) {
            x[d] = data[point * N_INPUT_DIMS + d];
        }
        return x;
    }
    var rest = point;
    var axis_start = 0u;
    for (var d = 0u; d < N_INPUT_DIMS; d++) {
        let n = slice.size[d];
        x[d] = data[axis_start + rest % n];
        rest /= n;
        axis_start += n;
    }
    return x;
}
