// What a training run in the page (run.js) and a group of runs (multi_run.js) share: one
// piece of work at a time (a frame, a step, a change: results of a frame in flight belong
// to what a change replaces, so a change waits for it), and the animation loop that runs
// frame() once per display frame while the device is not lost. A subclass gives _train(n)
// (steps, resolving to how many ran), _stepsThisFrame(), _showAll(force) (what is due to
// be shown, or everything when forced), _stopped(message), `running` and `limitReached`.
"use strict";

/** Steps for a frame: steps_per_frame, or as many as frame_budget_ms holds at `msPerStep`
 * (the budget itself before the first measurement; at least one, at most 1024); never past
 * max_steps after `done` steps. */
export function stepsThisFrame(settings, msPerStep, done) {
  let n = settings.steps_per_frame || 1;
  if (settings.frame_budget_ms) {
    const perStep = msPerStep || settings.frame_budget_ms;
    n = Math.max(1, Math.min(1024, Math.floor(settings.frame_budget_ms / perStep)));
  }
  if (settings.max_steps) n = Math.min(n, settings.max_steps - done);
  return n;
}

/** What a lost device's report says (the host copy of the weights is a few seconds old). */
export function lostMessage(message, steps) {
  return (
    `the browser's GPU device was lost (${message}); resuming starts a new device from ` +
    `the weights of step ${steps} or a few seconds before`
  );
}

export class FrameLoop {
  constructor() {
    this.lost = null; // why the device was lost, until a resume
    this._work = Promise.resolve(); // the frame, step or change in flight
    this._held = 0; // changes waiting for it: no new frame starts meanwhile
    this._closed = false;
    this._loop = null;
  }

  /** Run `work` after the work in flight; resolves to its result. */
  _do(work) {
    const result = this._work.catch(() => {}).then(work);
    this._work = result;
    return result;
  }

  /** Run `change` after the frame in flight and before the next one. */
  async _hold(change) {
    this._held += 1;
    try {
      await this._work.catch(() => {});
      await change();
    } finally {
      this._held -= 1;
    }
  }

  /** The page's single step: `n` steps now (of every network), then shown. */
  async step(n) {
    if (this._held || this.lost) return 0;
    return this._do(async () => {
      const done = await this._train(Math.max(1, n));
      await this._showAll(true);
      return done;
    });
  }

  /** One display frame's work: its steps (when learning), then what is due to be shown. */
  async frame() {
    if (this.running && !this.limitReached) await this._train(this._stepsThisFrame());
    await this._showAll(false);
  }

  _startLoop() {
    if (!this._loop) this._loop = requestAnimationFrame(() => this._tick());
  }

  async _tick() {
    if (this._closed) return;
    try {
      if (!this._held && !this.lost) await this._do(() => this.frame());
    } catch (error) {
      if (!this.lost) this._stopped(`training in the browser stopped: ${error.message}`);
    }
    this._loop = requestAnimationFrame(() => this._tick());
  }
}
