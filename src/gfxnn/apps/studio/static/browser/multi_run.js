// Learn Four Images in the page: four BrowserRuns, one network each (as the server's
// gfxnn.fields.multi.MultiFitController), on one device and stepped together frame by frame.
// Their previews are drawn as one 2x2 frame (TL = 0, TR = 1, BL = 2, BR = 3, as the
// server's Workload.show_frame) and their PSNRs combined as the server's combined_psnr.
// It answers what panel.js asks of a BrowserRun, with a list (one entry per network) where
// a BrowserRun takes one model, target or set of weights.
"use strict";

import { requestGpu } from "./device.js";
import { FrameLoop, lostMessage, stepsThisFrame } from "./frame_loop.js";
import { BrowserRun } from "./run.js";

/** workload.combined_psnr: 10 log10(1 / mean MSE) of equal-sized parts; null until every
 * network has one. */
export function combinedPsnr(psnrs) {
  if (psnrs.some((p) => p === null || p === undefined)) return null;
  const mse = psnrs.reduce((sum, p) => sum + 10 ** (-p / 10), 0) / psnrs.length;
  return mse === 0 ? Infinity : 10 * Math.log10(1 / mse);
}

/** Four ImageData as one 2x2 ImageData (TL = 0, TR = 1, BL = 2, BR = 3), each in a quadrant
 * the size of the largest. */
export function twoByTwo(frames) {
  const w = Math.max(...frames.map((f) => f.width));
  const h = Math.max(...frames.map((f) => f.height));
  const canvas = document.createElement("canvas");
  canvas.width = 2 * w;
  canvas.height = 2 * h;
  const context = canvas.getContext("2d");
  frames.forEach((frame, i) => context.putImageData(frame, (i % 2) * w, Math.floor(i / 2) * h));
  return context.getImageData(0, 0, 2 * w, 2 * h);
}

export class MultiRun extends FrameLoop {
  /**
   * @param models, targets, weights one per network (as BrowserRun takes one)
   * @param labels the networks' names (the server's state.networks[i].label)
   * @param hooks as BrowserRun's: report(fields), draw(imageData), lost(message)
   */
  constructor({ kernels, models, targets, weights, labels, hooks }) {
    super();
    this.hooks = hooks;
    this.labels = labels;
    this.n_networks = models.length;
    this.gpu = null;
    this._reports = models.map(() => ({}));
    this._frames = models.map(() => null);
    this._due = null; // a report (and a composed frame) waiting to go out
    this._error = undefined;
    this.runs = models.map(
      (model, i) =>
        new BrowserRun({
          kernels,
          model,
          target: targets[i],
          weights: weights[i],
          driven: true,
          hooks: {
            report: (fields) => this._heard(i, fields),
            draw: (image) => {
              this._frames[i] = image;
              this._schedule(true);
            },
            lost: () => {},
          },
        }),
    );
    // the four previews together take at most the share one run's takes
    for (const run of this.runs) run.showShare *= this.runs.length;
  }

  // What panel.js reads of a run: network 0's (the four share settings and step count).
  get steps() {
    return this.runs[0].steps;
  }
  set steps(count) {
    for (const run of this.runs) run.steps = count;
  }
  get running() {
    return this.runs[0].running;
  }
  get model() {
    return this.runs[0].model;
  }
  get settings() {
    return this.runs[0].settings;
  }
  get target() {
    return this.runs[0].target;
  }
  get trainer() {
    return this.runs[0].trainer;
  }
  get psnr() {
    return combinedPsnr(this.runs.map((run) => run.psnr));
  }
  get limitReached() {
    return this.runs[0].limitReached;
  }

  /** Network `index`'s full-resolution prediction (Float32Array, H W 3). */
  prediction(index = 0) {
    return this.runs[index].prediction();
  }

  async open() {
    this.gpu = await requestGpu((message) => this._onLost(message));
    for (const run of this.runs) await run.open(this.gpu);
    this.lost = null;
    this._startLoop();
    return this;
  }

  /** After a lost device: one new device for the four, each from its last snapshot. */
  async resume() {
    this.gpu = await requestGpu((message) => this._onLost(message));
    for (const run of this.runs) await run.resume(this.gpu);
    this.lost = null;
    this._heard(0, { error: null });
  }

  close() {
    this._closed = true;
    for (const run of this.runs) run.close();
    if (this.gpu && !this.gpu.lost) this.gpu.device.destroy();
  }

  setRunning(running) {
    for (const run of this.runs) run.setRunning(running);
  }

  applySettings(settings) {
    for (const run of this.runs) run.applySettings(settings);
  }

  /** Live settings for every network (`models`, one each); false when they need a rebuild. */
  update(models) {
    return this.runs.map((run, i) => run.update(models[i])).every(Boolean);
  }

  /** New networks (settings that rebuild them): `models` and `weights`, one each. */
  rebuild(models, weights, steps = 0) {
    return this._hold(async () => {
      for (const [i, run] of this.runs.entries()) await run.rebuild(models[i], weights[i], steps);
    });
  }

  setWeights(weights, steps = 0) {
    return this._hold(async () => {
      for (const [i, run] of this.runs.entries()) await run.setWeights(weights[i], steps);
    });
  }

  /** Steps per frame for all four: with a frame budget, what it holds at the group's time
   * per step (each network's clock runs from the first submission to its own end). */
  _stepsThisFrame() {
    const times = this.runs.map((run) => run._times.step);
    const perStep = times.every((ms) => ms !== null) ? Math.max(...times) : null;
    return stepsThisFrame(this.settings, perStep, this.steps);
  }

  async _showAll(force) {
    for (const run of this.runs) await run._show(force);
  }

  /** `n` steps of each network, all submitted before any is waited for (so the device works
   * through the four while the host waits, and a read of the weights after a frame started
   * comes after every network's steps); a network that diverges stops all four (as the
   * server's MultiFitController does). */
  async _train(n) {
    const submitted = this.runs.map((run) => run._submit(n));
    const done = await Promise.all(this.runs.map((run, i) => run._finish(submitted[i])));
    if (this.runs.some((run) => run.trainer.diverged)) {
      for (const run of this.runs) run.running = false;
    }
    return done[0];
  }

  _stopped(message) {
    for (const run of this.runs) run.running = false;
    this._heard(0, { error: message });
  }

  /** A network's report: kept, and the group's sent once the frame's work is done. */
  _heard(index, fields) {
    const { error, ...rest } = fields;
    if (error !== undefined) this._error = error;
    this._reports[index] = { ...this._reports[index], ...rest };
    this._schedule(false);
  }

  _schedule(drawn) {
    if (this._due) {
      this._due.drawn ||= drawn;
      return;
    }
    this._due = { drawn };
    setTimeout(() => {
      const { drawn: draw } = this._due;
      this._due = null;
      if (this._closed) return;
      if (draw) this._compose();
      this._report();
    }, 0);
  }

  /** The four previews as one frame, each in its quadrant. */
  _compose() {
    if (this._frames.some((frame) => !frame)) return;
    this.hooks.draw(twoByTwo(this._frames));
  }

  /** The group's report: network 0's fields (steps, rates, settings: the four step together),
   * the mean loss, the combined PSNR, the sum of the timings, and each network's own. */
  _report() {
    const reports = this._reports;
    const losses = reports.map((r) => r.loss).filter((loss) => Number.isFinite(loss));
    // inference runs network by network (a sum); training runs the four together, so each
    // network's wall-clock time per step is already the group's (the longest)
    const timings = {};
    for (const r of reports) {
      for (const [name, ms] of Object.entries(r.timings_ms || {})) {
        const together = name === "Training (per step)";
        timings[name] = together ? Math.max(timings[name] || 0, ms) : (timings[name] || 0) + ms;
      }
    }
    const frames = reports.map((r) => r.frame_time_ms).filter((ms) => ms !== null && ms !== undefined);
    const extra = this._error !== undefined ? { error: this._error } : {};
    this._error = undefined;
    this.hooks.report({
      ...reports[0],
      training: reports.every((r) => r.training),
      loss: losses.length ? losses.reduce((a, b) => a + b, 0) / losses.length : null,
      psnr: combinedPsnr(reports.map((r) => r.psnr ?? null)),
      frame_time_ms: frames.length ? Math.max(...frames) : null,
      timings_ms: timings,
      networks: reports.map((r, i) => ({
        index: i,
        label: this.labels[i] ?? null,
        loss: r.loss ?? null,
        psnr: r.psnr ?? null,
        history: r.history || { loss: [], psnr: [] },
      })),
      ...extra,
    });
  }

  _onLost(message) {
    this.lost = message;
    for (const run of this.runs) run.lost = message;
    if (!this._closed) this.hooks.lost(lostMessage(message, this.steps));
  }
}
