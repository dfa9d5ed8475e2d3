// window.gfxnnStudio: the page's state for automation and tests, and the hooks a trainer in
// the page (static/browser/) uses to take over training (documented in docs/studio.md).
import { control } from "./connection.js";
import { networks } from "./charts.js";
import { drawPrediction, drawReference } from "./displays.js";
import { refresh } from "./form.js";
import { $ } from "./dom.js";
import { current, effectiveSettings, emit, on, store } from "./store.js";

// A plain JSON copy of what the page shows (null before the first state arrives); the keys
// are documented in docs/studio.md ("The page's state for scripts").
function state() {
  const s = current();
  if (!s) return null;
  const learning = Boolean(s.running);
  const copy = {
    trainer: store.trainer ? store.trainer.name : "server",
    connected: store.connected,
    example: s.example || "image",
    learning,
    training: s.training ?? learning,
    limit_reached: Boolean(s.limit_reached),
    steps: s.steps,
    steps_per_second: s.steps_per_second ?? null,
    frame_time_ms: s.frame_time_ms ?? null,
    training_frames_per_second: s.training_frames_per_second ?? null,
    frames_per_second: s.frames_per_second ?? null,
    loss: s.loss ?? null,
    psnr: s.psnr ?? null,
    learning_rate: s.learning_rate ?? null,
    networks: networks(s).map((n, i) => ({
      index: n.index ?? i,
      label: n.label ?? null,
      loss: n.loss ?? null,
      psnr: n.psnr ?? null,
    })),
    settings: s.settings || {},
    pending: { ...store.staged },
    z_plane: s.z_plane ?? null,
    adapter: s.adapter ?? s.device ?? null,
    backend: s.backend ?? null,
    device: s.device ?? null,
    image: s.image ? { source: s.image.source, width: s.image.width, height: s.image.height } : null,
    sizes_kb: s.sizes_kb ?? null,
    timings_ms: s.timings_ms || {},
    frames: store.frames,
    error: s.error ?? null,
    version: s.version ?? null,
  };
  return JSON.parse(JSON.stringify(copy));
}

// A trainer in the page: { name, handle(type, fields) } sees every control first and returns
// true for those it handled; null hands training back to the server.
function setTrainer(trainer) {
  if (trainer !== null && (typeof trainer !== "object" || typeof trainer.handle !== "function")) {
    throw new TypeError("setTrainer wants {name, handle(type, fields)} or null");
  }
  store.trainer = trainer;
  if (trainer === null) store.overlay = null;
  emit("trainer", trainer);
  if (current()) emit("state", current());
}

// Fields shown over the server's state while a trainer in the page runs (the state message's
// keys: running, steps, steps_per_second, loss, psnr, history, networks, timings_ms, device,
// current_learning_rate, frames_per_second, ...).
function report(fields) {
  store.overlay = { ...(store.overlay || {}), ...fields };
  emit("state", current());
}

window.gfxnnStudio = Object.freeze({
  state,
  schema: () => (store.schema ? JSON.parse(JSON.stringify(store.schema)) : null),
  settings: () => JSON.parse(JSON.stringify(effectiveSettings())),
  send: control,
  on,
  setTrainer,
  report,
  drawPrediction,
  drawReference,
  refresh,
  canvases: Object.freeze({ reference: $("reference"), prediction: $("prediction") }),
  trainOnSlot: $("train-on"),
});
