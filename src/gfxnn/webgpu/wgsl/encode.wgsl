// Input encodings, feature orders as gfxnn.encodings (tcnn's): for each input dimension, its
// features; a grid's features are level-major.

// One-blob's quartic kernel CDF (gfxnn.encodings.one_blob.quartic_cdf).
fn quartic_cdf(u: f32) -> f32 {
    let u2 = u * u;
    return clamp(0.9375 * u * (1.0 - 0.6666666666666666 * u2 + 0.2 * u2 * u2) + 0.5, 0.0, 1.0);
}

struct GridLevel {
    offset: u32,      // first table entry of the level
    size: u32,        // its entries
    resolution: u32,  // vertices per axis
    hashed: bool,
    scale: f32,       // s_l: x sits at x s_l + 1/2
}

fn grid_level(level: u32) -> GridLevel {
    let base = META_LEVELS + 8u * level;
    return GridLevel(info[base], info[base + 1u], info[base + 2u], info[base + 3u] != 0u,
                     bitcast<f32>(info[base + 4u]));
}

const PRIMES = array<u32, 3>(1u, 2654435761u, 805459861u);

fn grid_corners() -> u32 {
    return select(1u << N_INPUT_DIMS, 1u, INTERPOLATION == 0u);
}

// Table entry and weight of `corner` (bit k: upper vertex along dimension k) of x's cell.
struct Corner {
    entry: u32,
    weight: f32,
}

fn grid_corner(g: GridLevel, x: array<f32, MAX_DIMS>, corner: u32) -> Corner {
    var vertex: array<u32, MAX_DIMS>;
    var weight = 1.0;
    var hash = 0u;
    // Dimension N_INPUT_DIMS - 1 first: the weight is multiplied in the CPU kernels' order.
    for (var j = 0u; j < N_INPUT_DIMS; j++) {
        let k = N_INPUT_DIMS - 1u - j;
        let position = x[k] * g.scale + 0.5;
        let cell = floor(position);
        let upper = (corner >> k) & 1u;
        vertex[k] = u32(i32(cell)) + upper;
        var t = position - cell;
        if (INTERPOLATION == 2u) {
            t = t * t * (3.0 - 2.0 * t);
        }
        let w = select(1.0 - t, t, upper == 1u);
        weight = select(weight * w, w, j == 0u);
        hash ^= vertex[k] * PRIMES[k];
    }
    if (INTERPOLATION == 0u) {
        weight = 1.0;
    }
    var index = 0u;
    var stride = 1u;
    for (var k = 0u; k < N_INPUT_DIMS; k++) {
        index += vertex[k] * stride;
        stride *= g.resolution;
    }
    let row = select(index % g.size, hash & (g.size - 1u), g.hashed);
    return Corner(g.offset + row, weight);
}

// features[0 .. N_FEATURES) of input x.
fn encode(x: array<f32, MAX_DIMS>, features: ptr<function, array<f32, MAX_WIDTH>>) {
    switch (ENCODING) {
        case 1u: {  // Frequency: sin, cos of pi 2^k x_d
            for (var d = 0u; d < N_INPUT_DIMS; d++) {
                for (var k = 0u; k < N_FREQUENCIES; k++) {
                    let sc = sincos_octave(x[d], k);
                    let j = 2u * (d * N_FREQUENCIES + k);
                    (*features)[j] = sc.x;
                    (*features)[j + 1u] = sc.y;
                }
            }
        }
        case 2u: {  // OneBlob: a quartic blob one bin wide, wrapped around [0, 1)
            let n = N_FREQUENCIES;
            for (var j = 0u; j < N_FEATURES; j++) {
                (*features)[j] = 0.0;
            }
            for (var d = 0u; d < N_INPUT_DIMS; d++) {
                let scaled = f32(n) * x[d];
                let bin = floor(scaled);
                let f = scaled - bin;
                let left = quartic_cdf(-f);
                let right = quartic_cdf(1.0 - f);
                let masses = array<f32, 3>(left, right - left, 1.0 - right);
                for (var s = 0; s < 3; s++) {
                    let target_bin = u32(((i32(bin) + s - 1) % i32(n) + i32(n)) % i32(n));
                    (*features)[d * n + target_bin] += masses[s];
                }
            }
        }
        case 3u: {  // TriangleWave: 4 |fract(2^(k-1) x + k/4) - 1/2| - 1
            for (var d = 0u; d < N_INPUT_DIMS; d++) {
                for (var k = 0u; k < N_FREQUENCIES; k++) {
                    let v = x[d] * ldexp(1.0, i32(k) - 1) + 0.25 * f32(k);
                    let centred = v - (floor(v) + 0.5);
                    (*features)[d * N_FREQUENCIES + k] = abs(centred) * 4.0 - 1.0;
                }
            }
        }
        case 4u: {  // multiresolution grid (Instant-NGP, tcnn's conventions)
            for (var level = 0u; level < N_LEVELS; level++) {
                let g = grid_level(level);
                for (var f = 0u; f < N_LEVEL_FEATURES; f++) {
                    var total = 0.0;
                    for (var c = 0u; c < grid_corners(); c++) {
                        let corner = grid_corner(g, x, c);
                        let value = weights[N_PARAMS + corner.entry * N_LEVEL_FEATURES + f];
                        total = select(total + value * corner.weight, value * corner.weight, c == 0u);
                    }
                    (*features)[level * N_LEVEL_FEATURES + f] = total;
                }
            }
        }
        default: {  // Identity
            for (var d = 0u; d < N_INPUT_DIMS; d++) {
                (*features)[d] = x[d];
            }
        }
    }
}

// One summand of the table gradient in 96-bit fixed point: round(c 2^64) as three words
// (lo, mid, hi; two's complement), c = dL/dfeature * weight * N. The magnitude is split
// exactly in float32 (an integer of 24 significant bits, power-of-two scalings, exact
// subtractions of non-negative numbers), then negated in integers; integer adds are
// associative, so the sum does not depend on the order of the threads. 64 fraction bits keep
// float32's 24 bits of every summand down to c ~ 1e-12 (Adam with tcnn's epsilon 1e-15 turns
// even tiny gradients into full steps, so they must be right too).
fn add_fixed(index: u32, c: f32) {
    let magnitude = round(min(abs(ldexp(c, 64)), 1.0e28));
    let high = floor(ldexp(magnitude, -64));
    let rest = magnitude - ldexp(high, 64);  // in [0, 2^64)
    let middle = floor(ldexp(rest, -32));
    var lo = u32(rest - ldexp(middle, 32));
    var mid = u32(middle);
    var hi = u32(high);
    if (c < 0.0) {
        lo = ~lo + 1u;
        let carry = select(0u, 1u, lo == 0u);
        mid = ~mid + carry;
        hi = ~hi + select(0u, 1u, carry == 1u && mid == 0u);
    }
    let base = 3u * index;
    let old_lo = atomicAdd(&accum[base], lo);
    let carry_lo = select(0u, 1u, old_lo + lo < old_lo);
    let old_mid = atomicAdd(&accum[base + 1u], mid);
    var carry = select(0u, 1u, old_mid + mid < old_mid);
    if (carry_lo == 1u) {
        let before = atomicAdd(&accum[base + 1u], 1u);
        carry += select(0u, 1u, before == 0xffffffffu);
    }
    atomicAdd(&accum[base + 2u], hi + carry);
}

// The table gradient dL/dtable += dL/dfeatures of input x (a scatter: integer atomics, so the
// sum is the same whatever the order of the threads).
fn grid_backward(x: array<f32, MAX_DIMS>, grad: ptr<function, array<f32, MAX_WIDTH>>) {
    let n = f32(BATCH * N_OUTPUT);
    for (var level = 0u; level < N_LEVELS; level++) {
        let g = grid_level(level);
        for (var c = 0u; c < grid_corners(); c++) {
            let corner = grid_corner(g, x, c);
            for (var f = 0u; f < N_LEVEL_FEATURES; f++) {
                let value = (*grad)[level * N_LEVEL_FEATURES + f] * corner.weight * n;
                add_fixed(corner.entry * N_LEVEL_FEATURES + f, value);
            }
        }
    }
}

// The summed fixed-point gradient of table value `index` as float32 (times N, see add_fixed).
fn fixed_value(index: u32) -> f32 {
    var lo = atomicLoad(&accum[3u * index]);
    var mid = atomicLoad(&accum[3u * index + 1u]);
    var hi = atomicLoad(&accum[3u * index + 2u]);
    let negative = (hi & 0x80000000u) != 0u;
    if (negative) {  // the magnitude first: the words of a negative number would cancel
        lo = ~lo + 1u;
        let carry_mid = select(0u, 1u, lo == 0u);
        mid = ~mid + carry_mid;
        hi = ~hi + select(0u, 1u, carry_mid == 1u && mid == 0u);
    }
    let magnitude = f32(hi) + ldexp(f32(mid), -32) + ldexp(f32(lo), -64);
    return select(magnitude, -magnitude, negative);
}
