// One training run in the page: the BrowserTrainer driven frame by frame as the studio's
// server drives its fitter (gfxnn.fields.controller): steps_per_frame steps per display frame
// (or as many as frame_budget_ms allows), MLPZen's learning-rate schedule computed per step
// (gfxnn.fields.schedule), max_steps, freeze, then inference for the display and the PSNR.
// One frame's steps are in flight at a time, so the page stays responsive. The host's copy
// of the weights, refreshed every few seconds, is what training resumes from when the device
// is lost (a GPU reset, a driver update, the browser reclaiming a background tab's GPU).
"use strict";

import { requestGpu } from "./device.js";
import { frameImage, predictionAt, referenceAt } from "./examples.js";
import { FrameLoop, lostMessage, stepsThisFrame } from "./frame_loop.js";
import { BrowserTrainer } from "./trainer.js";

// Display frames at most 10 a second, the full-resolution PSNR at most once a second, and
// either at most a fifth of the time (a software adapter renders slowly).
const REPORT_MS = 100;
const PSNR_MS = 1000;
const SHOW_SHARE = 5;
const SNAPSHOT_MS = 3000; // the host copy of the weights (resume after a lost device)
const PREVIEW_PIXELS = 256 * 256; // larger images are previewed scaled down
const SOFTWARE_PREVIEW_PIXELS = 64 * 64; // on a software adapter (SwiftShader) smaller still
const HISTORY_POINTS = 600;
const PEAK_DECAY = 0.8; // gfxnn.fields.schedule.PEAK_DECAY

/** gfxnn.fields.schedule.learning_rates_at: (network, encoding) rates for the step after
 * `step` steps. */
export function learningRatesAt(settings, step) {
  const base = settings.learning_rate;
  let rate = base;
  if (settings.lr_schedule === "linear") {
    const progress = Math.min(Math.max(step / settings.decay_steps, 0), 1);
    rate = base + (settings.max_learning_rate - base) * (1 - progress);
  } else if (settings.lr_schedule === "cosine") {
    const period0 = settings.base_period;
    const low = settings.min_learning_rate;
    let restart = Math.floor((Math.sqrt(1 + (4 * step) / period0) - 1) / 2);
    while (period0 * (restart + 1) * (restart + 2) <= step) restart += 1;
    while (restart > 0 && period0 * restart * (restart + 1) > step) restart -= 1;
    const t = (step - period0 * restart * (restart + 1)) / (2 * period0 * (restart + 1));
    const peak = Math.max(low, settings.max_learning_rate * PEAK_DECAY ** restart);
    rate = low + 0.5 * (peak - low) * (1 + Math.cos(Math.PI * t));
  }
  const encoding = settings.encoding_learning_rate || base;
  const scaled = settings.lr_schedule === "fixed" ? encoding : (encoding * rate) / base;
  return [rate, scaled];
}

class Series {
  // [step, value] points, thinned to at most HISTORY_POINTS by dropping every other one.
  constructor() {
    this.points = [];
    this.every = 1;
    this.seen = 0;
  }
  add(step, value) {
    if (this.seen++ % this.every !== 0) return;
    this.points.push([step, value]);
    if (this.points.length > HISTORY_POINTS) {
      this.points = this.points.filter((_, i) => i % 2 === 0);
      this.every *= 2;
    }
  }
}

export class BrowserRun extends FrameLoop {
  /**
   * @param kernels {"train.wgsl": text, ...} (includes resolved)
   * @param model the browser model of the settings (static_site.browser_model)
   * @param target {values: Float32Array (H W 3, row-major), width, height, source}, or
   *   examples.js's pageTarget (volume, cosine, bubbles)
   * @param weights Float32Array, the flat weights to start from
   * @param hooks {report(fields), draw(imageData), lost(message), zPlane() (optional)}
   * @param driven true when an owner (multi_run.js) drives it and shares its device: then
   *   this run has no animation loop of its own
   */
  constructor({ kernels, model, target, weights, hooks, driven = false }) {
    super();
    this.kernels = kernels;
    this.model = model;
    this.settings = { ...model.settings };
    this.target = asTarget(target);
    this.snapshot = Float32Array.from(weights);
    this.hooks = hooks;
    this.driven = driven;
    // a preview waits SHOW_SHARE times its own cost; an owner of n runs multiplies it by n
    this.showShare = SHOW_SHARE;
    this.n_networks = 1;
    this.running = false;
    this.steps = 0; // steps since these weights were initialised (the schedule's count)
    this.loss = null;
    this.psnr = null;
    this.gpu = null;
    this.trainer = null;
    this._times = { frame: null, step: null, inference: null, psnr: 0 };
    this._recent = []; // [time, steps done] of the last frames, for steps/s
    this._shown = []; // times of the last displayed frames
    this._last = { report: 0, preview: 0, psnr: 0, snapshot: 0 };
    this.history = { loss: new Series(), psnr: new Series() };
  }

  /** Get a device (or use the owner's `gpu`) and build the trainer (again, after a lost
   * device) from the snapshot. */
  async open(gpu = null) {
    this._sharedGpu = gpu !== null;
    this.gpu = gpu || (await requestGpu((message) => this._onLost(message)));
    this.trainer = new BrowserTrainer(this.gpu, this.model, this.kernels);
    this.trainer.setTarget(this.target.values, this.target.grid);
    this.trainer.loadWeights(this.snapshot);
    this._applyControls();
    this.lost = null;
    await this._show(true);
    if (!this.driven) this._startLoop();
    return this;
  }

  /** Run `change` between frames: after the frame in flight (whose results would belong
   * to what `change` replaces) and before the next; resolves once shown again. */
  async _between(change) {
    await this._hold(change);
    await this._do(() => this._show(true));
  }

  /** Another network (settings that rebuild it, another example with its `target`): a new
   * trainer on the same device. */
  rebuild(model, weights, steps = 0, target = null) {
    return this._between(() => {
      if (target) this.target = asTarget(target);
      this.trainer.destroy();
      this.model = model;
      this.settings = { ...model.settings };
      this.trainer = new BrowserTrainer(this.gpu, model, this.kernels);
      this.trainer.setTarget(this.target.values, this.target.grid);
      this._applyControls();
      this._restart(weights, steps);
    });
  }

  /** The same network with other live settings (`model` from the server): the weights and
   * the optimizer state stay; false when the settings need a rebuild instead. */
  update(model) {
    if (!this.trainer.updateModel(model)) return false;
    this.model = model;
    this.applySettings(model.settings);
    return true;
  }

  /** After a lost device: a new device (the owner's `gpu`), the weights of the last
   * snapshot. */
  async resume(gpu = null) {
    if (this.trainer) this.trainer.destroy();
    await this.open(gpu);
    this._report({ error: null });
  }

  close() {
    this._closed = true;
    if (this.trainer) this.trainer.destroy();
    if (this.gpu && !this.gpu.lost && !this._sharedGpu) this.gpu.device.destroy();
  }

  setRunning(running) {
    this.running = Boolean(running);
    this._report({});
  }

  /** Live settings (learning rate and schedule, batch, steps per frame or budget, limit,
   * freeze): weights and optimizer state stay. */
  applySettings(settings) {
    this.settings = { ...this.settings, ...settings };
    this._applyControls();
    this._report({});
  }

  _applyControls() {
    if (!this.trainer) return;
    const s = this.settings;
    this.trainer.setControls({
      freeze_network: s.freeze_mlp,
      freeze_encoding: s.freeze_encoding,
      gradient_clip: s.gradient_clip || "none",
      clip_value: s.clip_value || 0.5,
      precision: s.precision || "fp32",
    });
  }

  /** New weights (Initialize weights, a switch from the server): the counters restart. */
  setWeights(weights, steps = 0) {
    return this._between(() => this._restart(weights, steps));
  }

  _restart(weights, steps) {
    this.snapshot = Float32Array.from(weights);
    this.trainer.loadWeights(this.snapshot);
    this.trainer.takeLosses(); // the old weights' losses
    this.steps = steps;
    this.history = { loss: new Series(), psnr: new Series() };
    this.loss = null;
    this.psnr = null;
  }

  /** Train on another image from now on (weights and optimizer state stay); resolves once
   * its first prediction and PSNR are shown. */
  setTarget(target) {
    return this._between(() => {
      this.target = asTarget(target);
      this.trainer.setTarget(this.target.values, this.target.grid);
      this.history.psnr = new Series();
    });
  }

  /** The weights after every submitted step (a Float32Array). */
  async weights() {
    const flat = await this.trainer.readWeights();
    this.snapshot = flat;
    return flat;
  }

  get limitReached() {
    const limit = this.settings.max_steps;
    return limit !== null && limit !== undefined && this.steps >= limit;
  }

  /** Steps for this frame (frame_loop.stepsThisFrame at the measured time per step). */
  _stepsThisFrame() {
    return stepsThisFrame(this.settings, this._times.step, this.steps);
  }

  _showAll(force) {
    return this._show(force);
  }

  async _train(n) {
    return this._finish(this._submit(n));
  }

  /** Submit up to `n` steps (the device runs them in order with any later work, a read of
   * the weights included); what _finish waits for. */
  _submit(n) {
    const count = Math.min(n, this.limitReached ? 0 : this._stepsLeft(n));
    if (count < 1 || this.trainer.diverged) return { count: 0 };
    const start = performance.now();
    const first = this.steps;
    const rates = (k) => learningRatesAt(this.settings, first + k);
    this.trainer.train(count, this.settings.batch_size, rates, this.target.draw || null);
    this.steps += count;
    return { count, start };
  }

  /** Wait for `submitted` steps; their times, losses, and a stop if the loss diverged. */
  async _finish({ count, start }) {
    if (count < 1) return 0;
    await this.trainer.flush();
    const elapsed = performance.now() - start;
    const ema = (old, value) => (old === null ? value : 0.95 * old + 0.05 * value);
    this._times.frame = ema(this._times.frame, elapsed);
    this._times.step = ema(this._times.step, elapsed / count);
    this._recent.push([performance.now(), count]);
    for (const [step, loss] of this.trainer.takeLosses()) {
      this.loss = loss;
      this.history.loss.add(step - (this.trainer.steps - this.steps), loss);
    }
    if (this.trainer.diverged) {
      this.running = false;
      this._report({ error: `training diverged at step ${this.steps}: the loss is not finite` });
    }
    return count;
  }

  _stepsLeft(n) {
    const limit = this.settings.max_steps;
    return limit ? Math.min(n, limit - this.steps) : n;
  }

  _stopped(message) {
    this.running = false;
    this._report({ error: message });
  }

  /** Report (at most 10 times a second); draw the prediction and the PSNR as often as that
   * and their share of the time allow; snapshot the weights every few seconds. */
  async _show(force) {
    const now = performance.now();
    if (!force && now - this._last.report < REPORT_MS) return;
    this._last.report = now;
    if (this.target.example !== "image") return this._showExample(force, now);
    const { width, height } = this.target;
    const software = this._software();
    const scale = this._previewScale();
    const due = (last, took) => force || now - last >= Math.max(REPORT_MS, this.showShare * took);
    let pixels = null;
    const size = [Math.max(1, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
    if (due(this._last.preview, this._times.inference || 0)) {
      const start = performance.now();
      pixels = await this.trainer.render(size);
      this._last.preview = performance.now();
      this._times.inference = this._last.preview - start;
      this.hooks.draw(toImageData(pixels, size[0], size[1]));
      this._shown.push(this._last.preview);
    }
    if (pixels && (software || scale === 1)) {
      // A software adapter's PSNR is the preview's (a full frame costs seconds there).
      this.psnr = psnr(pixels, scale === 1 ? this.target.values : this._sampled(size));
      this.history.psnr.add(this.steps, this.psnr);
    } else if (!software && (force || (due(this._last.psnr, this._times.psnr) && now - this._last.psnr >= PSNR_MS))) {
      const start = performance.now();
      const full = await this.trainer.render([width, height]);
      this.psnr = psnr(full, this.target.values);
      this._last.psnr = performance.now();
      this._times.psnr = this._last.psnr - start;
      this.history.psnr.add(this.steps, this.psnr);
    }
    await this._keepSnapshot(now);
    this._report({});
  }

  _software() {
    return Boolean(this.gpu.adapter.info && this.gpu.adapter.info.isFallbackAdapter);
  }

  /** The preview's scale: at most PREVIEW_PIXELS (SOFTWARE_PREVIEW_PIXELS on a software
   * adapter) for the target's display size. */
  _previewScale() {
    const most = this._software() ? SOFTWARE_PREVIEW_PIXELS : PREVIEW_PIXELS;
    return Math.min(1, Math.sqrt(most / (this.target.width * this.target.height)));
  }

  /** The host's copy of the weights, every SNAPSHOT_MS while training (a lost device
   * resumes from it). */
  async _keepSnapshot(now) {
    if (this.running && now - this._last.snapshot >= SNAPSHOT_MS) {
      this._last.snapshot = now;
      this.snapshot = await this.trainer.readWeights();
    }
  }

  /** _show for volume, cosine, bubbles: the slice z = z_plane (or the cosine plot), and
   * the PSNR of what is shown (gfxnn.fields.display.render_frames), scaled down as images
   * are on a software adapter. */
  async _showExample(force, now) {
    const { width, height, example } = this.target;
    const scale = example === "cosine" ? 1 : this._previewScale();
    const size = [Math.max(2, Math.round(width * scale)), Math.max(1, Math.round(height * scale))];
    const took = this._times.inference || 0;
    if (force || now - this._last.preview >= Math.max(REPORT_MS, this.showShare * took)) {
      const z = this.hooks.zPlane ? this.hooks.zPlane() : 0.5;
      const start = performance.now();
      const predicted = await predictionAt(this.trainer, this.target, size, z);
      this._last.preview = performance.now();
      this._times.inference = this._last.preview - start;
      const shown = example === "cosine" ? [size[0], 1] : size;
      this.psnr = psnr(predicted, referenceAt(this.target, shown, z));
      this.history.psnr.add(this.steps, this.psnr);
      this.hooks.draw(frameImage(this.target, predicted, size));
      this._shown.push(this._last.preview);
    }
    await this._keepSnapshot(now);
    this._report({});
  }

  /** The reference at the preview's sample points (i / (n - 1) along each axis, nearest). */
  _sampled([w, h]) {
    const { width, height, values } = this.target;
    const key = `${w}x${h}`;
    if (this._sample && this._sample.key === key && this._sample.values === values) return this._sample.out;
    const out = new Float32Array(3 * w * h);
    const at = (i, n, size) => Math.min(Math.floor((i / Math.max(n - 1, 1)) * size), size - 1);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const from = 3 * (at(y, h, height) * width + at(x, w, width));
        out.set(values.subarray(from, from + 3), 3 * (y * w + x));
      }
    }
    this._sample = { key, values, out };
    return out;
  }

  /** The full-resolution prediction (Float32Array, H W 3). */
  prediction() {
    const z = this.hooks.zPlane ? this.hooks.zPlane() : 0.5;
    return predictionAt(this.trainer, this.target, [this.target.width, this.target.height], z);
  }

  _rates(now) {
    const window = 2000;
    this._recent = this._recent.filter(([t]) => now - t <= window);
    // frames: those of the window, or the last two when they come slower (a slow preview)
    this._shown = this._shown.filter((t, i) => now - t <= window || i >= this._shown.length - 2);
    const steps = this._recent.reduce((n, [, count]) => n + count, 0);
    const span = (list, at) => (list.length > 1 ? (now - at(list[0])) / 1000 : null);
    const stepSpan = span(this._recent, (e) => e[0]);
    const frameSpan = span(this._shown, (t) => t);
    return {
      steps_per_second: stepSpan ? steps / stepSpan : null,
      training_frames_per_second: stepSpan ? (this._recent.length - 1) / stepSpan : null,
      frames_per_second: frameSpan ? (this._shown.length - 1) / frameSpan : null,
    };
  }

  _report(extra) {
    const now = performance.now();
    const training = this.running && !this.lost && !this.limitReached && !this.trainer?.diverged;
    const [rate] = learningRatesAt(this.settings, Math.max(0, this.steps - 1));
    const history = { loss: this.history.loss.points, psnr: this.history.psnr.points };
    this.hooks.report({
      running: this.running,
      training,
      steps: this.steps,
      loss: this.loss,
      psnr: this.psnr,
      learning_rate: this.steps ? rate : null,
      limit_reached: this.limitReached,
      frame_time_ms: this._times.frame,
      timings_ms: {
        "Training (per step)": this._times.step || 0,
        // from the training pass's timestamp queries, where the adapter has them
        ...(this.trainer && this.trainer.deviceMsPerStep !== null
          ? { "Device (per step)": this.trainer.deviceMsPerStep }
          : {}),
        Inference: this._times.inference || 0,
      },
      history,
      networks: [{ index: 0, loss: this.loss, psnr: this.psnr, history }],
      adapter: this.gpu ? this.gpu.name : null,
      backend: "webgpu (this browser)",
      ...(training ? this._rates(now) : { steps_per_second: null }),
      ...extra,
    });
  }

  _onLost(message) {
    this.lost = message;
    if (!this._closed) this.hooks.lost(lostMessage(message, this.steps));
  }
}

/** An image target ({values, width, height}) in examples.js's pageTarget form. */
function asTarget(target) {
  if (target.grid) return target;
  return { example: "image", grid: [target.width, target.height, 1], channels: 3, draw: null, ...target };
}

/** ImageData of RGB floats (x fastest, rows top to bottom), clipped to [0, 1]. */
export function toImageData(values, width, height) {
  const rgba = new Uint8ClampedArray(4 * width * height);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) rgba[4 * p + c] = Math.round(Math.min(Math.max(values[3 * p + c], 0), 1) * 255);
    rgba[4 * p + 3] = 255;
  }
  return new ImageData(rgba, width, height);
}

/** gfxnn.fields.controller.psnr of the clipped prediction against the reference. */
export function psnr(prediction, reference) {
  let sum = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = Math.min(Math.max(prediction[i], 0), 1) - reference[i];
    sum += d * d;
  }
  const mse = sum / reference.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}
