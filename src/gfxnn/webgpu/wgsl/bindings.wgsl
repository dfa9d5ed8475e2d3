// Shared declarations of every gfxnn WebGPU kernel: the model's shape as override constants,
// the per-step and per-slice records, and the one bind group all pipelines use.
//
// Files are joined by the loader's only directive, a line `//!include NAME.wgsl` (replaced by
// that file, each file at most once); see gfxnn/webgpu/shaders.py. The same files and the same
// override names serve the browser.

// ----- the model (set per pipeline; defaults are Dx12NN's network) ---------------------------
override N_INPUT_DIMS: u32 = 2u;     // 1..3
override N_FEATURES: u32 = 32u;      // encoded width, <= MAX_WIDTH
override N_NEURONS: u32 = 64u;       // hidden width, <= MAX_WIDTH
override N_HIDDEN: u32 = 2u;         // hidden layers (0 allowed: one linear layer)
override N_OUTPUT: u32 = 3u;         // <= MAX_WIDTH
override ENCODING: u32 = 1u;         // ENC_* ids below
override N_FREQUENCIES: u32 = 8u;    // Frequency / TriangleWave octaves, OneBlob bins
override N_LEVELS: u32 = 0u;         // grid levels
override N_LEVEL_FEATURES: u32 = 2u; // grid features per level
override INTERPOLATION: u32 = 1u;    // 0 Nearest, 1 Linear, 2 Smoothstep
override SAMPLE: bool = false;       // draw the batch on the device (else read the host's)
override BATCH: u32 = 1u;            // real rows of a batch
override SLICE_ROWS: u32 = 64u;      // rows the scratch holds (a multiple of CHUNK_ROWS)
override CHUNK_ROWS: u32 = 64u;      // rows per partial gradient sum (a multiple of 64)
override N_CHUNKS: u32 = 1u;         // partial sums per step
override N_PARAMS: u32 = 1u;         // network parameters
override N_TABLE: u32 = 0u;          // grid table values (after the network in `weights`)
override INV_N: f32 = 1.0;           // 1/N: mean of the losses, and the table's fixed point
override LOSS_SLOTS: u32 = 2u;       // length of the loss ring

const MAX_WIDTH: u32 = 128u;  // private arrays hold one layer: features, neurons or outputs
const MAX_DIMS: u32 = 3u;

const ACT_NONE: u32 = 0u;
const ACT_RELU: u32 = 1u;
const ACT_LEAKY_RELU: u32 = 2u;
const ACT_SIGMOID: u32 = 3u;
const ACT_TANH: u32 = 4u;
const ACT_SINE: u32 = 5u;
const ACT_SOFTPLUS: u32 = 6u;

const ENC_IDENTITY: u32 = 0u;
const ENC_FREQUENCY: u32 = 1u;
const ENC_ONE_BLOB: u32 = 2u;
const ENC_TRIANGLE_WAVE: u32 = 3u;
const ENC_GRID: u32 = 4u;

// `info` (u32 words): a header, then the grid levels.
const META_GRID_SIZE: u32 = 0u;   // 3 words: the target grid's size along x_0, x_1, x_2
const META_UV: u32 = 3u;          // offset in `data` of the host-fed inputs (B_pad, d)
const META_TARGET: u32 = 4u;      // offset in `data` of the host-fed targets (B_pad, C)
const META_LEVELS: u32 = 8u;      // 8 words per level: offset, size, resolution, hashed, scale

// Optimizer numbers of one step, computed by the host in float64 and rounded (as the CPU
// trainer casts them), so every step's update is the CPU's to the last bit of its inputs.
struct OptimizerStep {
    rate: f32,             // Adam: lr / (1 - beta1^t); SGD: lr
    sqrt_correction2: f32, // Adam: sqrt(1 - beta2^t)
    beta1: f32,
    one_minus_beta1: f32,
    beta2: f32,
    one_minus_beta2: f32,
    epsilon: f32,
    l2_reg: f32,
}

// The step's record. The activations, the loss and the optimizers are read from it, not
// compiled in, so one pipeline serves every choice of them (lavapipe compiles slowly).
struct Step {
    step: u32,    // 1-based over the trainer's life: seeds the RNG, names a divergence
    slot: u32,    // where this step's loss goes in the ring
    seed: u32,
    activation: u32,         // ACT_* ids below, after every hidden layer
    output_activation: u32,
    loss: u32,               // 0 L2, 1 RelativeL2, 2 L1
    optimizer: u32,          // 0 Adam, 1 SGD
    table_optimizer: u32,    // the grid table's own
    loss_scale: f32,         // dL/dy factor: 2/N (L2, RelativeL2) or 1/N (L1), N = B C
    pad0: f32,
    pad1: f32,
    pad2: f32,
    network: OptimizerStep,
    table: OptimizerStep,
    // Appended for MLPZen's controls (byte 112; the record binding is 128 bytes since).
    // Gradient clipping of the loss gradient before l2_reg and the optimizer (network and
    // table alike): 0 none, 1 "value" (each element clamped to +-clip_value), 2 "norm"
    // (scaled by min(1, clip_value / (||g|| + 1e-6)), ||g|| over the parts that learn, from
    // gradient.wgsl's gradient_norm and clip_scale).
    clip_mode: u32,
    clip_value: f32,
    norm_parts: u32,  // what ||g|| sums over: bit 0 the network, bit 1 the grid table (unfrozen)
    // Host-drawn batches (SAMPLE false): this step's rows start host_offset floats after
    // info[META_UV] / info[META_TARGET] (0 for a single host-fed batch).
    host_offset: u32,
}

struct Slice {
    base: u32,    // first batch row (or pixel) of this slice
    rows: u32,    // rows (pixels) in it
    chunk0: u32,  // index of its first partial gradient sum
    n_points: u32, // inference: points in all
    size: vec4<u32>, // inference on a grid: its size along x_0, x_1, x_2 (0: input points)
}

@group(0) @binding(0) var<uniform> step: Step;
@group(0) @binding(1) var<uniform> slice: Slice;
@group(0) @binding(2) var<storage, read_write> weights: array<f32>;  // network, then table
@group(0) @binding(3) var<storage, read_write> moments: array<f32>;  // Adam m, then v
@group(0) @binding(4) var<storage, read_write> acts: array<f32>;     // layer inputs, column-major
@group(0) @binding(5) var<storage, read_write> deltas: array<f32>;   // act', then dL/dz
// (N_CHUNKS, N_PARAMS) partial sums, then NORM_GROUPS partial squared norms and the clip
// scale (gradient.wgsl: gradient_norm, clip_scale), at NORM_AT.
@group(0) @binding(6) var<storage, read_write> partials: array<f32>;
// [0]: first diverged step (0: none); [1, 1 + LOSS_SLOTS): the loss ring (f32 bits);
// then one loss per batch row (f32 bits).
@group(0) @binding(7) var<storage, read_write> losses: array<u32>;
// The table gradient as 96-bit fixed point (lo, mid, hi words), 2^-64 units of dL/dtable * N.
@group(0) @binding(8) var<storage, read_write> accum: array<atomic<u32>>;
// Training: the target's samples (grid order, C per sample), host-fed inputs and targets.
// Inference: the coordinates of each grid axis one after the other, or the input points.
@group(0) @binding(9) var<storage, read> data: array<f32>;
@group(0) @binding(10) var<storage, read> info: array<u32>;
@group(0) @binding(11) var<storage, read_write> output: array<f32>;

const CLIP_NONE: u32 = 0u;
const CLIP_VALUE: u32 = 1u;
const CLIP_NORM: u32 = 2u;
const NORM_GROUPS: u32 = 256u;  // workgroups of gradient_norm, each one partial sum

fn norm_at() -> u32 {
    return N_CHUNKS * N_PARAMS;
}

const DIVERGED: u32 = 0u;
const RING: u32 = 1u;

fn row_loss_index(row: u32) -> u32 {
    return RING + LOSS_SLOTS + row;
}

// ----- network layout (FusedMLP's flat parameters: W (out, in) row-major, then b) -----------
fn n_layers() -> u32 {
    return N_HIDDEN + 1u;
}

fn layer_inputs(layer: u32) -> u32 {
    return select(N_NEURONS, N_FEATURES, layer == 0u);
}

fn layer_outputs(layer: u32) -> u32 {
    return select(N_NEURONS, N_OUTPUT, layer == N_HIDDEN);
}

fn weight_offset(layer: u32) -> u32 {
    if (layer == 0u) {
        return 0u;
    }
    return N_NEURONS * N_FEATURES + N_NEURONS + (layer - 1u) * (N_NEURONS * N_NEURONS + N_NEURONS);
}

fn bias_offset(layer: u32) -> u32 {
    return weight_offset(layer) + layer_outputs(layer) * layer_inputs(layer);
}

// Scratch columns: acts holds each layer's input (features first), deltas each layer's output.
fn acts_column(layer: u32) -> u32 {
    return select(N_FEATURES + (layer - 1u) * N_NEURONS, 0u, layer == 0u);
}

fn deltas_column(layer: u32) -> u32 {
    return layer * N_NEURONS;
}
