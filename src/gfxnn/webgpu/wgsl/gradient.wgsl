// Weight gradients without float atomics, and the optimizer steps.
//
//   weight_gradient: thread (p, chunk) sums dL/dW[o, i] = sum_rows dL/dz[row, o] x[row, i]
//       (x = 1 for a bias) of parameter p over one chunk of CHUNK_ROWS rows, in row order,
//       into partials[chunk, p]: a plain store, no atomics, no workgroup barriers.
//   optimize: one thread per network parameter sums its N_CHUNKS partials in chunk order (so a
//       run is deterministic), adds l2_reg p, and takes the Adam or SGD step.
//   optimize_table: the same for the grid table from its fixed-point sums (then zeroed).
//   read_gradients / read_table_gradients: the summed gradients into `output` (tests).
//   gradient_norm, clip_scale: the "norm" clip's scale min(1, clip_value / (||g|| + 1e-6))
//       over the parts that learn (step.norm_parts), in a fixed
//       order (NORM_GROUPS workgroups of strided sums and a tree each, then one workgroup's
//       tree over their sums; no float atomics), read by both optimizers.
//   clear_table_gradient: zeroes the table's fixed-point sums when optimize_table (which
//       zeroes them as it reads them) is not dispatched (a frozen grid).
// The optimizers do nothing once a step has diverged: the weights stay the last good ones.
// Clipping applies to the loss gradient, before l2_reg (step.clip_mode, step.clip_value).

//!include bindings.wgsl
//!include maths.wgsl
//!include encode.wgsl

// Parameter p's layer, output o and input i (i = n_in: the bias), in FusedMLP's layout.
struct Parameter {
    layer: u32,
    o: u32,
    i: u32,
}

fn parameter_at(p: u32) -> Parameter {
    var layer = 0u;
    while (layer < N_HIDDEN && p >= weight_offset(layer + 1u)) {
        layer++;
    }
    let n_in = layer_inputs(layer);
    let local = p - weight_offset(layer);
    let n_weights = layer_outputs(layer) * n_in;
    if (local >= n_weights) {
        return Parameter(layer, local - n_weights, n_in);
    }
    return Parameter(layer, local / n_in, local % n_in);
}

@compute @workgroup_size(64)
fn weight_gradient(@builtin(global_invocation_id) id: vec3<u32>,
                   @builtin(num_workgroups) groups: vec3<u32>) {
    // Thread (p, chunk) sums one parameter's gradient over one chunk's rows, in row order.
    let p = id.x + id.y * groups.x * 64u;
    let chunk = id.z;
    if (p >= N_PARAMS) {
        return;
    }
    let q = parameter_at(p);
    let first_row = chunk * CHUNK_ROWS;
    let grad_at = (deltas_column(q.layer) + q.o) * SLICE_ROWS + first_row;
    var sum = 0.0;
    if (q.i == layer_inputs(q.layer)) {
        for (var r = 0u; r < CHUNK_ROWS; r++) {
            sum += deltas[grad_at + r];
        }
    } else {
        let input_at = (acts_column(q.layer) + q.i) * SLICE_ROWS + first_row;
        for (var r = 0u; r < CHUNK_ROWS; r++) {
            sum += deltas[grad_at + r] * acts[input_at + r];
        }
    }
    partials[(slice.chunk0 + chunk) * N_PARAMS + p] = sum;
}

fn summed_gradient(p: u32) -> f32 {
    var g = 0.0;
    for (var c = 0u; c < N_CHUNKS; c++) {
        g += partials[c * N_PARAMS + p];
    }
    return g;
}

fn table_gradient(j: u32) -> f32 {
    return fixed_value(j) * INV_N;
}

// The loss gradient as the optimizer takes it: clamped ("value") or scaled ("norm").
fn clipped(gradient: f32) -> f32 {
    switch (step.clip_mode) {
        case 1u: {  // CLIP_VALUE
            return clamp(gradient, -step.clip_value, step.clip_value);
        }
        case 2u: {  // CLIP_NORM
            return gradient * partials[norm_at() + NORM_GROUPS];
        }
        default: {
            return gradient;
        }
    }
}

// One parameter's step, in the CPU trainer's order of operations (gfxnn.fused.optim).
fn step_parameter(index: u32, moment: u32, n_values: u32, gradient: f32, kind: u32,
                  o: OptimizerStep) {
    let p = weights[index];
    var g = clipped(gradient);
    if (o.l2_reg != 0.0) {
        g += p * o.l2_reg;
    }
    if (kind == 1u) {  // SGD
        weights[index] = p - g * o.rate;
        return;
    }
    let m = moments[moment] * o.beta1 + g * o.one_minus_beta1;
    let v = moments[moment + n_values] * o.beta2 + (g * g) * o.one_minus_beta2;
    moments[moment] = m;
    moments[moment + n_values] = v;
    let denominator = sqrt(v) / o.sqrt_correction2 + o.epsilon;
    weights[index] = p - (m / denominator) * o.rate;
}

@compute @workgroup_size(64)
fn optimize(@builtin(global_invocation_id) id: vec3<u32>,
            @builtin(num_workgroups) groups: vec3<u32>) {
    let p = id.x + id.y * groups.x * 64u;
    if (p >= N_PARAMS || losses[DIVERGED] != 0u) {
        return;
    }
    step_parameter(p, p, N_PARAMS, summed_gradient(p), step.optimizer, step.network);
}

@compute @workgroup_size(64)
fn optimize_table(@builtin(global_invocation_id) id: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>) {
    let j = id.x + id.y * groups.x * 64u;
    if (j >= N_TABLE || losses[DIVERGED] != 0u) {
        return;
    }
    let g = table_gradient(j);
    atomicStore(&accum[3u * j], 0u);
    atomicStore(&accum[3u * j + 1u], 0u);
    atomicStore(&accum[3u * j + 2u], 0u);
    // Table moments follow the network's: m at 2 N_PARAMS + j, v N_TABLE further.
    step_parameter(N_PARAMS + j, 2u * N_PARAMS + j, N_TABLE, g, step.table_optimizer, step.table);
}

@compute @workgroup_size(64)
fn read_gradients(@builtin(global_invocation_id) id: vec3<u32>,
                  @builtin(num_workgroups) groups: vec3<u32>) {
    let p = id.x + id.y * groups.x * 64u;
    if (p < N_PARAMS) {
        output[p] = summed_gradient(p);
    } else if (p < N_PARAMS + N_TABLE) {
        output[p] = table_gradient(p - N_PARAMS);
    }
}

@compute @workgroup_size(64)
fn clear_table_gradient(@builtin(global_invocation_id) id: vec3<u32>,
                        @builtin(num_workgroups) groups: vec3<u32>) {
    let j = id.x + id.y * groups.x * 64u;
    if (j >= N_TABLE) {
        return;
    }
    atomicStore(&accum[3u * j], 0u);
    atomicStore(&accum[3u * j + 1u], 0u);
    atomicStore(&accum[3u * j + 2u], 0u);
}

var<workgroup> norm_sums: array<f32, 256>;

// Tree sum of norm_sums (256 values) in a fixed order; the total in norm_sums[0].
fn reduce_norm_sums(lane: u32) {
    for (var width = 128u; width > 0u; width >>= 1u) {
        workgroupBarrier();
        if (lane < width) {
            norm_sums[lane] += norm_sums[lane + width];
        }
    }
}

// Workgroup w of G (G <= NORM_GROUPS, fixed by the model's size), lane t: the squares of
// gradient values k = w 256 + t, then every G 256 further (network parameters first, then
// table values), in that order. Sums of workgroups not dispatched stay 0.
@compute @workgroup_size(256)
fn gradient_norm(@builtin(local_invocation_id) lid: vec3<u32>,
                 @builtin(workgroup_id) wid: vec3<u32>,
                 @builtin(num_workgroups) groups: vec3<u32>) {
    var sum = 0.0;
    let network = (step.norm_parts & 1u) != 0u;
    let table = (step.norm_parts & 2u) != 0u;
    for (var k = wid.x * 256u + lid.x; k < N_PARAMS + N_TABLE; k += groups.x * 256u) {
        if (k < N_PARAMS) {
            if (network) {
                let g = summed_gradient(k);
                sum += g * g;
            }
        } else if (table) {
            let g = table_gradient(k - N_PARAMS);
            sum += g * g;
        }
    }
    norm_sums[lid.x] = sum;
    reduce_norm_sums(lid.x);
    if (lid.x == 0u) {
        partials[norm_at() + wid.x] = norm_sums[0];
    }
}

// One workgroup: ||g||^2 = the tree sum of gradient_norm's NORM_GROUPS sums, then the scale.
@compute @workgroup_size(256)
fn clip_scale(@builtin(local_invocation_id) lid: vec3<u32>) {
    norm_sums[lid.x] = partials[norm_at() + lid.x];
    reduce_norm_sums(lid.x);
    if (lid.x == 0u) {
        // torch.nn.utils.clip_grad_norm_'s scale, its 1e-6 included (gfxnn.fused.controls)
        let scale = step.clip_value / (sqrt(norm_sums[0]) + 1e-6);
        partials[norm_at() + NORM_GROUPS] = min(scale, 1.0);
    }
}
