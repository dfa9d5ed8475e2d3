// "Train on: server / this browser's GPU" in the studio page (window.gfxnnStudio, see
// static/studio/api.js). In browser mode the server's trainer is paused and the page trains
// with the same WGSL kernels (run.js, trainer.js); the server stays the keeper of the
// settings and the image: settings, examples, presets and images still go to it, and the
// page follows (a rebuilt network takes the server's fresh weights). Switching either way
// carries the weights across; Save checkpoint and Export send the page's weights first.
// Learn Four Images trains its four networks together in the page (multi_run.js).
"use strict";

import { adapterName, unavailableReason } from "./device.js";
import { pageTarget } from "./examples.js";
import { MultiRun } from "./multi_run.js";
import { BrowserRun } from "./run.js";
import {
  checkpointBytes,
  fetchKernels,
  fetchModel,
  fetchModels,
  fetchNetworks,
  fetchWeights,
  postWeights,
} from "./server_source.js";

const studio = window.gfxnnStudio;
const FOLLOW = new Set(["reset", "apply", "example", "preset", "load_image"]);
const REBUILDS = new Set(["reset", "example", "preset"]);

let run = null;
let kernels = null; // the WGSL files, fetched once per switch to the browser
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

/** What the page trains for the server's example (`first`: its network 0's model, when
 * fetched already): each network's model, target (the server's samples) and label. */
async function fetchPageNetworks(first = null) {
  const { models, targets } = await fetchNetworks(first);
  const image = (studio.state() && studio.state().image) || {};
  const sourceOf = (model) => {
    if (model.n_networks > 1) return model.label || `image ${model.network}`;
    return model.example === "image" || !model.example ? image.source || "image" : model.example;
  };
  return {
    models,
    labels: models.map((model) => model.label ?? null),
    targets: models.map((model, i) => pageTarget(model, targets[i], sourceOf(model))),
  };
}

const fetchAllWeights = (models) => Promise.all(models.map((model, i) => fetchWeights(model, i)));

/** A run in the page of `networks` (fetchPageNetworks'), from the server's weights: one
 * BrowserRun, or a MultiRun for several networks. The server is paused first. */
async function openRun({ models, targets, labels }) {
  await serverPaused();
  const weights = await fetchAllWeights(models);
  const hooks = { report: studio.report, draw: studio.drawPrediction, lost: onLost, zPlane };
  const next =
    models.length === 1
      ? new BrowserRun({ kernels, model: models[0], target: targets[0], weights: weights[0], hooks })
      : new MultiRun({ kernels, models, targets, weights, labels, hooks });
  try {
    await next.open();
  } catch (error) {
    next.close();
    throw error;
  }
  next.steps = models[0].steps || 0;
  return next;
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
    let networks;
    [kernels, networks] = await Promise.all([fetchKernels(), fetchPageNetworks()]);
    const image = (studio.state() && studio.state().image) || {};
    imageVersion = image.version ?? null;
    run = await openRun(networks);
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

/** Send the page's weights to the server (each network takes its own, optimizer restarted). */
async function pushWeights(current) {
  const runs = current.runs || [current];
  for (const [i, each] of runs.entries()) {
    const weights = each.lost ? each.snapshot : await each.weights();
    const bytes = checkpointBytes(each.model, each.settings, weights, each.target, each);
    // the networks train in step: the session counts their steps once
    await postWeights(bytes, i === 0 ? each.steps : 0, i);
  }
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
  const learning = run.running; // kept across a new run, or back on the server
  try {
    const first = await fetchModel();
    const count = first.n_networks || 1;
    if (reply.request === "example" || first.example !== run.model.example || count !== run.n_networks) {
      // another example: a new run (one network or several) on its own targets
      const current = run;
      current.setRunning(false);
      const next = await openRun(await fetchPageNetworks(first));
      current.close();
      run = next;
      run.setRunning(learning);
      return;
    }
    const models = await fetchModels(first);
    const one = (list) => (count === 1 ? list[0] : list); // a BrowserRun takes one of each
    const rebuilt = REBUILDS.has(reply.request) || reply.rebuilt === true;
    if (rebuilt || !run.update(one(models))) {
      await run.rebuild(one(models), one(await fetchAllWeights(models)), first.steps || 0);
    }
  } catch (error) {
    say(`training goes back to the server: ${error.message}`);
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
  const current = run;
  try {
    if (current.n_networks !== 1 || current.target.example !== "image") return;
    const { targets } = await fetchPageNetworks();
    if (run === current) await current.setTarget(targets[0]);
  } catch (error) {
    // a run replaced or closed meanwhile (another example, back to the server) is not news
    if (run === current) say(`the new image cannot be trained in the browser: ${error.message}`);
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
// One reply followed at a time: two quick example switches would otherwise open two runs, the
// first never closed.
let following = Promise.resolve();
studio.on("reply", (reply) => {
  following = following.then(() => follow(reply)).catch(() => {});
});
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
    // every network's weights (four for Learn Four Images), in the server's order
    readAllWeights: async () =>
      Promise.all((run.runs || [run]).map(async (each) => Array.from(await each.trainer.readWeights()))),
  }),
});
