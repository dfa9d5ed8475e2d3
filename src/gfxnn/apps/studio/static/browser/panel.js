// "Train on: server / this browser's GPU" in the studio page (window.gfxnnStudio, see
// static/studio/api.js). In browser mode the server's trainer is paused and the page trains
// with the same WGSL kernels (run.js, trainer.js); the server stays the keeper of the
// settings and the image: settings, examples, presets and images still go to it, and the
// page follows (a rebuilt network takes the server's fresh weights). Switching either way
// carries the weights across; Save checkpoint and Export send the page's weights first.
"use strict";

import { adapterName, unavailableReason } from "./device.js";
import { pageTarget } from "./examples.js";
import { BrowserRun } from "./run.js";
import {
  checkpointBytes,
  fetchKernels,
  fetchModel,
  fetchTarget,
  fetchWeights,
  postWeights,
} from "./server_source.js";

const studio = window.gfxnnStudio;
const FOLLOW = new Set(["reset", "apply", "example", "preset", "load_image"]);
const REBUILDS = new Set(["reset", "example", "preset"]);

let run = null;
let passThrough = false; // the next control goes to the server as it is
let imageVersion = null;

const select = document.createElement("select");
select.id = "train-on-select";
select.append(new Option("server", "server"), new Option("this browser's GPU", "browser"));
select.options[1].disabled = true;
const note = document.createElement("p");
note.id = "train-on-note";
note.className = "hint";
const resume = document.createElement("button");
resume.type = "button";
resume.id = "train-on-resume";
resume.textContent = "Resume on a new device";
resume.hidden = true;
const label = document.createElement("label");
label.className = "field";
const caption = document.createElement("span");
caption.textContent = "Train on";
label.append(caption, select);
studio.trainOnSlot.append(label, note, resume);

/** The model, when the page can train it: one network (four_images trains on the server). */
function pageModel(model) {
  pageTarget(model, { values: null, shape: [...model.target.grid_shape, model.target.n_output_dims] });
  return model;
}

/** What the page trains on for `model`: the server's samples, and the source's name. */
async function fetchPageTarget(model) {
  const image = (studio.state() && studio.state().image) || {};
  const source = model.example === "image" || !model.example ? image.source || "image" : model.example;
  return pageTarget(model, await fetchTarget(), source);
}

const zPlane = () => {
  const z = studio.state() && studio.state().z_plane;
  return typeof z === "number" ? z : 0.5;
};

function say(text) {
  note.textContent = text;
}

async function probe() {
  const reason = unavailableReason();
  if (reason) return say(`${reason}: training stays on the server`);
  let adapter = await navigator.gpu.requestAdapter();
  if (!adapter) adapter = await navigator.gpu.requestAdapter({ forceFallbackAdapter: true });
  if (!adapter) {
    return say(
      "navigator.gpu gives no adapter (on Linux, Chromium needs --enable-unsafe-webgpu): " +
        "training stays on the server",
    );
  }
  select.options[1].disabled = false;
  select.options[1].textContent = `this browser's GPU: ${adapterName(adapter)}`;
  say("");
}

async function serverPaused() {
  studio.send("stop");
  for (let i = 0; i < 100 && studio.state() && studio.state().learning; i++) {
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function toBrowser() {
  const learning = Boolean(studio.state() && studio.state().learning);
  select.disabled = true;
  say("starting training in this browser…");
  try {
    const model = pageModel(await fetchModel());
    const [kernels, target] = await Promise.all([fetchKernels(), fetchPageTarget(model)]);
    await serverPaused();
    const weights = await fetchWeights(model);
    const image = (studio.state() && studio.state().image) || {};
    imageVersion = image.version ?? null;
    run = new BrowserRun({
      kernels,
      model,
      target,
      weights,
      hooks: { report: studio.report, draw: studio.drawPrediction, lost: onLost, zPlane },
    });
    await run.open();
    run.steps = model.steps || 0;
    studio.setTrainer({ name: "browser", handle });
    run.setRunning(learning);
    say(`training on ${run.gpu.name}; the server's trainer is paused`);
  } catch (error) {
    if (run) run.close();
    run = null;
    select.value = "server";
    say(`cannot train in this browser: ${error.message}; training stays on the server`);
    if (learning) studio.send("start");
  } finally {
    select.disabled = false;
  }
}

/** Send the page's weights to the server (its network takes them, optimizer restarted). */
async function pushWeights(current) {
  const weights = current.lost ? current.snapshot : await current.weights();
  const bytes = checkpointBytes(current.model, current.settings, weights, current.target, current);
  return postWeights(bytes, current.steps);
}

async function toServer() {
  const current = run;
  if (!current) return;
  const learning = current.running;
  current.setRunning(false);
  select.disabled = true;
  try {
    await pushWeights(current);
    say("");
  } catch (error) {
    say(`the weights did not reach the server (${error.message}); it keeps its own`);
  } finally {
    run = null;
    current.close();
    studio.setTrainer(null);
    resume.hidden = true;
    select.disabled = false;
    if (learning) studio.send("start");
  }
}

function forward(type, fields) {
  passThrough = true;
  studio.send(type, fields);
}

/** Every control of the page comes here first while the browser trains (true: handled). */
function handle(type, fields) {
  if (passThrough) {
    passThrough = false;
    return false;
  }
  switch (type) {
    case "start":
    case "stop":
      run.setRunning(type === "start");
      return true;
    case "step":
      run.step(fields.n || 1);
      return true;
    case "frame_step":
      run.step(run._stepsThisFrame());
      return true;
    case "save_checkpoint":
    case "export":
      pushWeights(run).then(
        () => forward(type, fields),
        (error) => say(`the weights did not reach the server: ${error.message}`),
      );
      return true;
    default:
      return false; // settings, examples, images: the server's, the page follows (below)
  }
}

/** After the server applied a control the page forwarded: take its model (and its fresh
 * weights when it rebuilt the network). */
async function follow(reply) {
  if (!run || reply.type !== "ok" || !FOLLOW.has(reply.request)) return;
  try {
    const model = pageModel(await fetchModel());
    const rebuilt = REBUILDS.has(reply.request) || reply.rebuilt === true;
    // another example: a new network on its own target
    const other = reply.request === "example" || model.example !== run.target.example;
    const target = other ? await fetchPageTarget(model) : null;
    if (other || rebuilt || !run.update(model)) {
      await run.rebuild(model, await fetchWeights(model), model.steps || 0, target);
    }
  } catch (error) {
    say(`training goes back to the server: ${error.message}`);
    const learning = run.running;
    run.close();
    run = null;
    studio.setTrainer(null);
    select.value = "server";
    if (learning) studio.send("start");
  }
}

async function followImage(state) {
  const version = state && state.image ? state.image.version : null;
  if (!run || version === null || version === imageVersion) return;
  imageVersion = version;
  try {
    if (run.target.example !== "image") return;
    await run.setTarget(await fetchPageTarget(await fetchModel()));
  } catch (error) {
    say(`the new image cannot be trained in the browser: ${error.message}`);
  }
}

function onLost(message) {
  say(message);
  resume.hidden = false;
}

resume.addEventListener("click", async () => {
  resume.hidden = true;
  try {
    await run.resume();
    say(`training on ${run.gpu.name} again`);
  } catch (error) {
    resume.hidden = false;
    say(`no new device: ${error.message}`);
  }
});
select.addEventListener("change", () => (select.value === "browser" ? toBrowser() : toServer()));
studio.on("reply", follow);
studio.on("state", followImage);

// For scripts and tests: the current run, and host-fed steps for the agreement test.
window.gfxnnBrowserTrainer = Object.freeze({
  run: () => run,
  probed: probe(),
  test: Object.freeze({
    loadWeights: (flat) => run.trainer.loadWeights(flat),
    readWeights: async () => Array.from(await run.trainer.readWeights()),
    stepWithBatch: async (inputs, targets) => {
      const loss = await run.trainer.computeGradients(inputs, targets);
      await run.trainer.update();
      return loss;
    },
    loseDevice: () => run.gpu.device.destroy(),
    checkpoint: async () => {
      const bytes = checkpointBytes(run.model, run.settings, await run.weights(), run.target, run);
      return Array.from(bytes);
    },
    prediction: async () => Array.from(await run.prediction()),
  }),
});
