// The studio's examples in the page (gfxnn.fields.examples, gfxnn.fields.display): what
// the trainer learns and what the prediction display shows for each.
// - image, volume: the server's samples on their grid; the kernels draw the batches on the
//   device (SAMPLE), the nearest sample per axis, as the Python WebGPU backend does.
// - cosine, bubbles: functions evaluated exactly at the drawn points, so, as the Python
//   backend (gfxnn/webgpu/batches.py), the batches are drawn here on the host, one block of
//   the data buffer per step. The generator is a seeded xoshiro128** (the CPU trainer's
//   NumPy PCG64 stream is not reproduced: the page trains on other uniform draws).
// Frames follow gfxnn.fields.display: the cosine plot (one period, orange function, white
// prediction, grey guides at 0, 1/2, 1), and for 3-D examples the slice z = z_plane.
"use strict";

/** MLPZen's Bubbles 3-D (gfxnn.fields.examples.BUBBLES): centre, RGB, radius. */
export const BUBBLES = [
  [[0.5, 0.5, 0.5], [1.0, 1.0, 0.3], 0.3],
  [[0.2, 0.1, 0.5], [0.3, 0.3, 0.9], 0.2],
  [[0.9, 0.7, 0.4], [0.3, 1.0, 0.3], 0.3],
  [[0.6, 0.3, 0.2], [0.3, 0.8, 0.3], 0.3],
  [[0.0, 0.2, 0.7], [0.3, 1.0, 1.0], 0.5],
  [[0.1, 0.4, 0.2], [1.0, 0.3, 0.3], 0.3],
  [[0.4, 0.9, 0.8], [1.0, 0.3, 1.0], 0.15],
  [[0.9, 0.4, 0.2], [1.0, 0.3, 1.0], 0.25],
  [[0.8, 0.1, 0.9], [1.0, 0.3, 0.3], 0.3],
];
const f32 = Math.fround;
const SPHERES = BUBBLES.map(([centre, rgb, radius]) => [centre.map(f32), rgb.map(f32), f32(radius * radius)]);

/** (cos 2 pi x + 1) / 2 in double precision (stored as float32, as CosineTarget.sample). */
export function cosineAt(x) {
  return 0.5 * Math.cos(2.0 * Math.PI * x) + 0.5;
}

/** The RGB of the first sphere containing (x, y, z), black outside all of them; in
 * float32 arithmetic, as BubblesTarget.colour_at. Writes out[at..at+2]. */
export function bubbleColourAt(x, y, z, out, at = 0) {
  const p = [f32(x), f32(y), f32(z)];
  for (const [centre, rgb, squaredRadius] of SPHERES) {
    let squared = 0;
    for (let k = 0; k < 3; k++) {
      const term = f32(p[k] - centre[k]);
      squared = f32(squared + f32(term * term));
    }
    if (squared < squaredRadius) {
      out[at] = rgb[0];
      out[at + 1] = rgb[1];
      out[at + 2] = rgb[2];
      return;
    }
  }
  out[at] = out[at + 1] = out[at + 2] = 0;
}

/** A seeded xoshiro128** generator of float32 draws in [0, 1). */
export function generator(seed) {
  let s = [0x9e3779b9 ^ seed, 0x243f6a88, 0xb7e15162 ^ (seed >>> 7), 0x85a308d3];
  const rotl = (v, k) => (v << k) | (v >>> (32 - k));
  const next = () => {
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9) >>> 0;
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result;
  };
  for (let i = 0; i < 8; i++) next(); // away from the seed's low-entropy start
  return () => (next() >>> 8) / 16777216; // 24 bits: exact in float32, below 1
}

/** The host batch drawer of `example` (null: the device samples): fills inputs (B x d)
 * and targets (B x C) of `rows` rows. */
function hostDrawer(example, seed) {
  const random = generator(seed);
  if (example === "cosine") {
    return (inputs, targets, rows) => {
      for (let i = 0; i < rows; i++) {
        inputs[i] = random();
        targets[i] = cosineAt(inputs[i]);
      }
    };
  }
  if (example === "bubbles") {
    return (inputs, targets, rows) => {
      for (let i = 0; i < 3 * rows; i++) inputs[i] = random();
      for (let i = 0; i < rows; i++) bubbleColourAt(inputs[3 * i], inputs[3 * i + 1], inputs[3 * i + 2], targets, 3 * i);
    };
  }
  return null;
}

const EXAMPLES = new Set(["image", "volume", "cosine", "bubbles"]);

/** What the page trains for the server's `model` and its target samples (`shape`, the .npy
 * shape (*grid_shape, C), grid with the last input first): {example, values, grid
 * [n_0, n_1, n_2] (x_0 fastest), channels, width, height (of the display), draw}. */
export function pageTarget(model, { values, shape }, source = "image") {
  // each of Learn Four Images' networks learns an image (multi_run.js trains the four)
  const example = model.example === "four_images" ? "image" : model.example || "image";
  if (!EXAMPLES.has(example)) {
    throw new Error(`training in the browser covers image, four_images, volume, cosine and bubbles; ${example} trains on the server`);
  }
  const grid = shape.slice(0, -1).reverse();
  const channels = shape[shape.length - 1];
  if (grid.length !== model.spec.n_input_dims || channels !== model.spec.n_output_dims) {
    throw new Error(`the target's shape [${shape}] does not fit a ${model.spec.n_input_dims}-D network`);
  }
  // the display's size (gfxnn.fields.display.frame_shape): 256 x 256 for the functions
  const [width, height] = example === "cosine" || example === "bubbles" ? [256, 256] : grid;
  return {
    example,
    values,
    grid: [...grid, 1, 1].slice(0, 3),
    channels,
    width,
    height,
    source,
    draw: hostDrawer(example, model.spec.seed >>> 0),
  };
}

/** The target's values at the preview's points (H W C, row-major): the image's or slice's
 * nearest samples, the function itself for cosine and bubbles. */
export function referenceAt(target, [w, h], z) {
  const c = target.channels;
  if (target.example === "cosine") {
    return Float32Array.from({ length: w }, (_, i) => cosineAt(Math.fround(i / Math.max(w - 1, 1))));
  }
  const out = new Float32Array(c * w * h);
  const at = (x, n) => Math.min(Math.floor(x * n), n - 1);
  const [n0, n1, n2] = target.grid;
  const depth = target.example === "image" ? 0 : at(Math.fround(z), n2);
  for (let y = 0; y < h; y++) {
    const fy = Math.fround(y / Math.max(h - 1, 1));
    for (let x = 0; x < w; x++) {
      const fx = Math.fround(x / Math.max(w - 1, 1));
      const to = c * (y * w + x);
      if (target.example === "bubbles") bubbleColourAt(fx, fy, z, out, to);
      else {
        const from = c * ((depth * n1 + at(fy, n1)) * n0 + at(fx, n0));
        out.set(target.values.subarray(from, from + c), to);
      }
    }
  }
  return out;
}

/** The network's values at the preview's points (the trainer's grid inference). */
export function predictionAt(trainer, target, [w, h], z) {
  if (target.example === "cosine") return trainer.render([w]);
  if (target.example === "image") return trainer.render([w, h]);
  return trainer.renderSlice([w, h], z);
}

const GUIDE = [48, 48, 48];
const FUNCTION = [255, 170, 0];
const PREDICTION = [255, 255, 255];

/** The display's ImageData of predicted values (gfxnn.fields.display): channels as RGB
 * (1 grey, 2 red-green, 4 the first three), or the cosine plot. */
export function frameImage(target, predicted, [w, h]) {
  const rgba = new Uint8ClampedArray(4 * w * h);
  const unit = (v) => Math.round(Math.min(Math.max(Number.isNaN(v) ? 0 : v, 0), 1) * 255);
  if (target.example === "cosine") {
    plot(rgba, w, h, referenceAt(target, [w, 1], 0), predicted);
  } else {
    const c = target.channels;
    for (let p = 0; p < w * h; p++) {
      for (let k = 0; k < 3; k++) {
        const from = c === 1 ? 0 : k;
        rgba[4 * p + k] = from < c ? unit(predicted[c * p + from]) : 0;
      }
      rgba[4 * p + 3] = 255;
    }
  }
  return new ImageData(rgba, w, h);
}

/** The reference display's ImageData (gfxnn.fields.display.reference_frame): the target at
 * the preview's points, or the cosine plot of the function alone. */
export function referenceImage(target, [w, h], z) {
  if (target.example !== "cosine") return frameImage(target, referenceAt(target, [w, h], z), [w, h]);
  const rgba = new Uint8ClampedArray(4 * w * h);
  plot(rgba, w, h, referenceAt(target, [w, 1], 0), null);
  return new ImageData(rgba, w, h);
}

function plot(rgba, w, h, function_, predicted) {
  for (let p = 0; p < w * h; p++) rgba[4 * p + 3] = 255;
  const margin = Math.floor(h / 16);
  const span = Math.max(h - 1 - 2 * margin, 1);
  const row = (v) => Math.round(margin + (1 - Math.min(Math.max(v, 0), 1)) * span);
  const paint = (x, y, rgb) => rgba.set(rgb, 4 * (y * w + x));
  for (const level of [0, 0.5, 1]) for (let x = 0; x < w; x++) paint(x, row(level), GUIDE);
  const curves = predicted ? [[function_, FUNCTION], [predicted, PREDICTION]] : [[function_, FUNCTION]];
  for (const [values, rgb] of curves) {
    // column x covers the rows from its value's to its right neighbour's, 2 pixels thick
    for (let x = 0; x < w; x++) {
      const a = row(values[x]);
      const b = row(values[Math.min(x + 1, w - 1)]);
      for (let y = Math.max(Math.min(a, b) - 1, 0); y <= Math.min(Math.max(a, b), h - 1); y++) paint(x, y, rgb);
    }
  }
}
