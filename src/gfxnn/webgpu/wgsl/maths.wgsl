// Numbers every backend computes alike: sin/cos by one polynomial, the counter-based RNG, the
// activations with their derivatives.

const TWO_PI: f32 = 6.283185307179586;
const TWO_OVER_PI: f32 = 0.6366197723675814;
// pi/2 in three parts (Cody and Waite): k * PIO2_1 is exact for |k| < 2^12.
const PIO2_1: f32 = 1.5703125;
const PIO2_2: f32 = 4.837512969970703125e-4;
const PIO2_3: f32 = 7.54978995489188216e-8;

// sin and cos of x in [-pi/4, pi/4]: Taylor series to x^9 and x^10 (truncation < 1.1e-10,
// below float32's rounding); the same coefficients as gfxnn.encodings.sincos.
fn sincos_poly(x: f32) -> vec2<f32> {
    let x2 = x * x;
    let s = x + x * x2 * (-0.16666666666666666 + x2 * (0.008333333333333333
        + x2 * (-0.0001984126984126984 + x2 * 2.7557319223985893e-06)));
    let c = 1.0 + x2 * (-0.5 + x2 * (0.041666666666666664 + x2 * (-0.001388888888888889
        + x2 * (2.48015873015873e-05 + x2 * -2.755731922398589e-07))));
    return vec2<f32>(s, c);
}

// (sin, cos) of (x + q pi/2) from (sin x, cos x).
fn rotate_quadrant(sc: vec2<f32>, q: i32) -> vec2<f32> {
    switch (q & 3) {
        case 0: { return sc; }
        case 1: { return vec2<f32>(sc.y, -sc.x); }
        case 2: { return -sc; }
        default: { return vec2<f32>(-sc.y, sc.x); }
    }
}

// (sin, cos) of 2 pi f for any f (in turns). The reductions are exact in float32:
// u = f - round(f) in [-1/2, 1/2], q = round(4u), r = u - q/4 in [-1/8, 1/8].
fn sincos_turns(f: f32) -> vec2<f32> {
    let u = f - round(f);
    let q = round(4.0 * u);
    let r = u - 0.25 * q;
    return rotate_quadrant(sincos_poly(r * TWO_PI), i32(q));
}

// (sin, cos) of x radians (the Sine activation): Cody-Waite reduction by pi/2.
fn sincos_radians(x: f32) -> vec2<f32> {
    let q = round(x * TWO_OVER_PI);
    let r = ((x - q * PIO2_1) - q * PIO2_2) - q * PIO2_3;
    return rotate_quadrant(sincos_poly(r), i32(q));
}

// sin(pi 2^k x), cos(pi 2^k x) = sin, cos of 2 pi fract(2^(k-1) x): exact phase reduction.
fn sincos_octave(x: f32, k: u32) -> vec2<f32> {
    return sincos_turns(fract(ldexp(x, i32(k) - 1)));
}

// PCG's output hash (O'Neill; "Hash Functions for GPU Rendering", Jarzynski and Olano 2020).
fn pcg_hash(value: u32) -> u32 {
    let state = value * 747796405u + 2891336453u;
    let word = ((state >> ((state >> 28u) + 4u)) ^ state) * 277803737u;
    return (word >> 22u) ^ word;
}

// A uniform number in [0, 1) for (seed, step, counter): 24 random bits, so float32 holds it.
fn uniform01(seed: u32, step_number: u32, counter: u32) -> f32 {
    let h = pcg_hash(pcg_hash(pcg_hash(seed) + step_number) + counter);
    return f32(h >> 8u) * 5.9604644775390625e-08;
}

fn is_finite(x: f32) -> bool {
    return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}

// log(1 + e) accurate for small e (Goldberg's trick; WGSL has no log1p).
fn log1p(e: f32) -> f32 {
    let u = 1.0 + e;
    if (u == 1.0) {
        return e;
    }
    return log(u) * (e / (u - 1.0));
}

// Activation `id` at z: (value, derivative), as gfxnn.fused.activations.
fn activate(id: u32, z: f32) -> vec2<f32> {
    switch (id) {
        case 1u: {  // relu
            return vec2<f32>(max(z, 0.0), select(0.0, 1.0, z > 0.0));
        }
        case 2u: {  // leaky_relu (slope 0.01)
            return vec2<f32>(max(z, z * 0.01), select(0.01, 1.0, z > 0.0));
        }
        case 3u: {  // sigmoid as (1 + tanh(z / 2)) / 2: no overflow
            let a = tanh(clamp(z * 0.5, -15.0, 15.0)) * 0.5 + 0.5;
            return vec2<f32>(a, (1.0 - a) * a);
        }
        case 4u: {  // tanh (|z| > 15 is +-1 in float32; clamping avoids exp overflow)
            let a = tanh(clamp(z, -15.0, 15.0));
            return vec2<f32>(a, 1.0 - a * a);
        }
        case 5u: {  // sine
            let sc = sincos_radians(z);
            return vec2<f32>(sc.x, sc.y);
        }
        case 6u: {  // softplus: max(z, 0) + log1p(exp(-|z|)), derivative sigmoid(z)
            let a = max(z, 0.0) + log1p(exp(-abs(z)));
            return vec2<f32>(a, tanh(clamp(z * 0.5, -15.0, 15.0)) * 0.5 + 0.5);
        }
        default: {  // none
            return vec2<f32>(z, 1.0);
        }
    }
}
