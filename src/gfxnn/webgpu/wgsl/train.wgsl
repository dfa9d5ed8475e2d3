// One training step's forward and backward passes, one thread per batch row, and the loss.
//
//   forward: draw (or read) the row, encode, run the network storing each layer's input in
//       `acts` and its activation's derivative in `deltas`, the row's loss and dL/dz of the
//       output layer.
//   backward: turn `deltas` into dL/dz of every layer; a grid adds its table gradient
//       (fixed point). Weight gradients are summed in gradient.wgsl.
//   reduce_loss: one workgroup sums the row losses in a fixed order into the ring, and
//       records the step as diverged when the loss is not finite.

//!include bindings.wgsl
//!include maths.wgsl
//!include encode.wgsl

// The input and target of batch row `row`.
struct Sample {
    x: array<f32, MAX_DIMS>,
    target_at: u32,  // index in `data` of the target's first channel
}

fn sample_row(row: u32) -> Sample {
    var s: Sample;
    if (!SAMPLE) {  // the host's rows: one batch, or this step's block of a submission
        for (var d = 0u; d < N_INPUT_DIMS; d++) {
            s.x[d] = data[info[META_UV] + step.host_offset + row * N_INPUT_DIMS + d];
        }
        s.target_at = info[META_TARGET] + step.host_offset + row * N_OUTPUT;
        return s;
    }
    // Uniform in [0, 1)^d and the nearest sample: index min(int(x n), n - 1) per axis.
    var index = 0u;
    var stride = 1u;
    for (var d = 0u; d < N_INPUT_DIMS; d++) {
        s.x[d] = uniform01(step.seed, step.step, row * N_INPUT_DIMS + d);
        let n = info[META_GRID_SIZE + d];
        index += min(u32(s.x[d] * f32(n)), n - 1u) * stride;
        stride *= n;
    }
    s.target_at = index * N_OUTPUT;
    return s;
}

@compute @workgroup_size(64)
fn forward(@builtin(global_invocation_id) id: vec3<u32>) {
    let local = id.x;  // row within the slice
    if (local >= SLICE_ROWS || losses[DIVERGED] != 0u) {
        return;
    }
    let row = slice.base + local;
    if (row >= BATCH) {  // padding: contributes nothing to any sum
        for (var j = 0u; j < acts_column(n_layers()); j++) {
            acts[j * SLICE_ROWS + local] = 0.0;
        }
        for (var j = 0u; j < deltas_column(N_HIDDEN) + N_OUTPUT; j++) {
            deltas[j * SLICE_ROWS + local] = 0.0;
        }
        losses[row_loss_index(row)] = 0u;
        return;
    }
    let s = sample_row(row);
    var h: array<f32, MAX_WIDTH>;  // the current layer's input
    var z: array<f32, MAX_WIDTH>;  // its output
    encode(s.x, &h);
    for (var layer = 0u; layer < n_layers(); layer++) {
        let n_in = layer_inputs(layer);
        let n_out = layer_outputs(layer);
        let w = weight_offset(layer);
        let b = bias_offset(layer);
        for (var i = 0u; i < n_in; i++) {
            acts[(acts_column(layer) + i) * SLICE_ROWS + local] = h[i];
        }
        let act = select(step.activation, step.output_activation, layer == N_HIDDEN);
        for (var o = 0u; o < n_out; o++) {
            var sum = 0.0;
            for (var i = 0u; i < n_in; i++) {
                sum += h[i] * weights[w + o * n_in + i];
            }
            let ad = activate(act, sum + weights[b + o]);
            z[o] = ad.x;
            deltas[(deltas_column(layer) + o) * SLICE_ROWS + local] = ad.y;
        }
        for (var o = 0u; o < n_out; o++) {
            h[o] = z[o];
        }
    }
    // Loss of the row and dL/dz of the output layer (gfxnn.fused.trainer's losses).
    var row_loss = 0.0;
    let out_column = deltas_column(N_HIDDEN);
    for (var c = 0u; c < N_OUTPUT; c++) {
        let y = h[c];
        let r = y - data[s.target_at + c];
        var grad = 0.0;
        switch (step.loss) {
            case 1u: {  // RelativeL2: r^2 / (y^2 + 0.01), the denominator held constant
                let q = r / (y * y + 0.01);
                row_loss += r * q;
                grad = q * step.loss_scale;
            }
            case 2u: {  // L1
                row_loss += abs(r);
                grad = sign(r) * step.loss_scale;
            }
            default: {  // L2
                row_loss += r * r;
                grad = r * step.loss_scale;
            }
        }
        let at = (out_column + c) * SLICE_ROWS + local;
        deltas[at] = grad * deltas[at];
    }
    losses[row_loss_index(row)] = bitcast<u32>(row_loss);
}

// The backward pass of one row, a kernel of its own (the forward's storage is its input):
// dL/da_{l-1} = dL/dz_l W_l, dL/dz_{l-1} = dL/da_{l-1} act'(z_{l-1}); a grid then adds
// dL/dfeatures = dL/dz_0 W_0 to its table gradient.
@compute @workgroup_size(64)
fn backward(@builtin(global_invocation_id) id: vec3<u32>) {
    let local = id.x;
    if (local >= SLICE_ROWS || losses[DIVERGED] != 0u) {
        return;
    }
    let row = slice.base + local;
    if (row >= BATCH) {
        return;
    }
    var g: array<f32, MAX_WIDTH>;  // dL/dz of the layer above
    for (var layer = N_HIDDEN; layer >= 1u; layer--) {
        let n_in = layer_inputs(layer);
        let n_out = layer_outputs(layer);
        let w = weight_offset(layer);
        for (var o = 0u; o < n_out; o++) {
            g[o] = deltas[(deltas_column(layer) + o) * SLICE_ROWS + local];
        }
        for (var i = 0u; i < n_in; i++) {
            var sum = 0.0;
            for (var o = 0u; o < n_out; o++) {
                sum += g[o] * weights[w + o * n_in + i];
            }
            let at = (deltas_column(layer - 1u) + i) * SLICE_ROWS + local;
            deltas[at] = sum * deltas[at];
        }
    }
    if (ENCODING == ENC_GRID) {
        var grad: array<f32, MAX_WIDTH>;
        let n_out = layer_outputs(0u);
        for (var o = 0u; o < n_out; o++) {
            g[o] = deltas[o * SLICE_ROWS + local];
        }
        for (var i = 0u; i < N_FEATURES; i++) {
            var sum = 0.0;
            for (var o = 0u; o < n_out; o++) {
                sum += g[o] * weights[o * N_FEATURES + i];
            }
            grad[i] = sum;
        }
        grid_backward(sample_row(row).x, &grad);
    }
}

var<workgroup> loss_sums: array<f32, 256>;

@compute @workgroup_size(256)
fn reduce_loss(@builtin(local_invocation_id) lid: vec3<u32>) {
    // Thread t sums rows t, t + 256, ...; then a tree: the same order every time.
    var sum = 0.0;
    for (var row = lid.x; row < BATCH; row += 256u) {
        sum += bitcast<f32>(losses[row_loss_index(row)]);
    }
    loss_sums[lid.x] = sum;
    for (var width = 128u; width > 0u; width >>= 1u) {
        workgroupBarrier();
        if (lid.x < width) {
            loss_sums[lid.x] += loss_sums[lid.x + width];
        }
    }
    if (lid.x == 0u && losses[DIVERGED] == 0u) {
        let loss = loss_sums[0] * INV_N;
        losses[RING + step.slot] = bitcast<u32>(loss);
        if (!is_finite(loss)) {
            losses[DIVERGED] = step.step;
        }
    }
}
