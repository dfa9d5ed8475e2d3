// The static studio (`gfxnn studio --static DIR`): the same in-page trainer as the studio's
// "this browser's GPU" mode, with no server. Everything it loads is a file of its own folder
// (site.json lists them, written by gfxnn.apps.studio.static_site): the WGSL kernels with
// their includes resolved, an encoding plan per example shape, the bundled images. The
// network is built in the page (plans.js) from the panel's settings, so every setting
// changes here: a network setting or another example builds a new run (the running one is
// kept when the new one cannot start), live settings keep the weights. An image the user
// drops in is decoded by the browser's image decoder and only its pixels are used; nothing
// leaves the page.
"use strict";

import { unavailableReason } from "./device.js";
import { pageTarget, referenceImage } from "./examples.js";
import { checkpointBytes, readVolume } from "./files.js";
import { MultiRun, twoByTwo } from "./multi_run.js";
import { composeModel, initialWeights } from "./plans.js";
import { BrowserRun, toImageData } from "./run.js";

const $ = (id) => document.getElementById(id);
const LIVE = [
  "learning_rate", "lr_schedule", "max_learning_rate", "decay_steps", "base_period", "min_learning_rate",
  "batch_size", "steps_per_frame", "frame_budget_ms", "max_steps", "gradient_clip", "clip_value",
];
const NETWORK = ["n_neurons", "n_layers", "activation", "output_activation", "loss", "optimizer", "initialization", "precision"];
// The sample grids of the function examples (gfxnn.fields.examples: CosineTarget.grid_shape,
// BubblesTarget.grid_shape), with their channels: what a checkpoint records.
const FUNCTION_SHAPES = { cosine: [256, 1], bubbles: [48, 48, 48, 3] };
const FUNCTION_DISPLAY = 256; // gfxnn.fields.display: the functions' displays are 256 x 256

let site = null;
let kernels = null;
let plans = {}; // "2x3" -> {encoding: browser model of a default MLP}
let run = null;
let built = null; // {example, encoding} the running run was built for: what a refusal restores
let example = "image";
let fourImages = null; // the four bundled images of Learn Four Images, decoded
const image = { values: null, width: 0, height: 0, source: "" };
let volume = null; // {shape: [D, H, W, C], values, source} of the dropped .npy

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

async function fetchFile(name, kind) {
  const response = await fetch(name);
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response[kind]();
}

/** RGB floats of an image file, as gfxnn reads images (8-bit values / 255, row-major). */
async function decodeImage(blob, source) {
  const limits = site.limits;
  if (blob.size > limits.max_upload_bytes) {
    throw new Error(`the image is ${blob.size} bytes; the limit is ${limits.max_upload_bytes}`);
  }
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: "none", premultiplyAlpha: "none" });
  const { width, height } = bitmap;
  if (width * height > limits.max_upload_pixels) {
    throw new Error(`the image has ${width * height} pixels; the limit is ${limits.max_upload_pixels}`);
  }
  const canvas = document.createElement("canvas");
  canvas.width = width;
  canvas.height = height;
  const context = canvas.getContext("2d", { willReadFrequently: true });
  context.drawImage(bitmap, 0, 0);
  const rgba = context.getImageData(0, 0, width, height).data;
  const values = new Float32Array(3 * width * height);
  for (let p = 0; p < width * height; p++) {
    for (let c = 0; c < 3; c++) values[3 * p + c] = Math.fround(rgba[4 * p + c] / 255);
  }
  return { values, width, height, source };
}

async function setImage(blob, source) {
  try {
    Object.assign(image, await decodeImage(blob, source));
    if (run && example === "image") await run.setTarget(image);
    $("image-info").textContent = `${source}, ${image.width}×${image.height}`;
    drawReference();
    showError("");
  } catch (error) {
    showError(`image refused: ${error.message}`);
  }
}

/** A chosen .npy volume: checked (files.readVolume: the rules of gfxnn's check_volume), then
 * the volume example trains it (a new run: its channels shape the network). */
async function setVolume(file) {
  try {
    if (file.size > site.limits.max_upload_bytes) {
      throw new Error(`the file is ${file.size} bytes; the limit is ${site.limits.max_upload_bytes}`);
    }
    const read = readVolume(await file.arrayBuffer(), site.max_volume_values);
    volume = { ...read, source: `upload:${file.name}` };
    $("volume-info").textContent = `${file.name}: ${read.shape.join(" × ")}`;
    $("volume-info").hidden = false;
    showError("");
    example = "volume";
    $("example").value = example;
    showExample();
    await startRun();
  } catch (error) {
    showError(`volume refused: ${error.message}`);
  }
}

function zPlane() {
  return Number($("z_plane").value);
}

/** The targets of the example (one, or four for Learn Four Images) for `model`. */
function exampleTargets(model) {
  if (example === "image") return [image];
  if (example === "four_images") return fourImages;
  if (example === "volume") {
    if (!volume) throw new Error("choose a .npy volume first (the field under Example)");
    return [pageTarget({ ...model, example }, volume, volume.source)];
  }
  const target = pageTarget({ ...model, example }, { values: null, shape: FUNCTION_SHAPES[example] }, example);
  return [{ ...target, width: FUNCTION_DISPLAY, height: FUNCTION_DISPLAY }];
}

function drawReference() {
  let frame;
  if (example === "image") frame = image.values && toImageData(image.values, image.width, image.height);
  else if (example === "four_images") frame = twoByTwo(fourImages.map((t) => toImageData(t.values, t.width, t.height)));
  else if (run && run.target.example === example) {
    const { width, height } = run.target; // the volume's own size, the functions' 256 x 256
    frame = referenceImage(run.target, [width, height], zPlane());
  }
  if (!frame) return;
  const canvas = $("reference");
  canvas.width = frame.width;
  canvas.height = frame.height;
  canvas.getContext("2d").putImageData(frame, 0, 0);
}

function readSettings() {
  const values = {};
  for (const name of LIVE) {
    const input = $(name);
    if (input.tagName === "SELECT") values[name] = input.value;
    else if (input.value.trim() === "") values[name] = null;
    else values[name] = Number(input.value);
  }
  for (const name of ["freeze_mlp", "freeze_encoding"]) values[name] = $(name).checked;
  const problems = [];
  for (const name of ["learning_rate", "max_learning_rate", "min_learning_rate", "clip_value"]) {
    if (!(values[name] > 0)) problems.push(`${name} must be > 0`);
  }
  const integers = [
    ["batch_size", 1, site.limits.max_batch_size],
    ["steps_per_frame", 1, 1024],
    ["decay_steps", 1, Infinity],
    ["base_period", 1, Infinity],
  ];
  for (const [name, low, high] of integers) {
    if (!Number.isInteger(values[name]) || values[name] < low || values[name] > high) {
      problems.push(`${name} must be an integer ${high === Infinity ? `>= ${low}` : `in ${low}..${high}`}`);
    }
  }
  if (values.max_steps !== null && !(Number.isInteger(values.max_steps) && values.max_steps >= 1)) {
    problems.push("max steps must be an integer >= 1 (or empty: no limit)");
  }
  if (values.frame_budget_ms !== null && !(values.frame_budget_ms > 0)) {
    problems.push("the frame budget must be > 0 ms (or empty: off)");
  }
  if (problems.length) throw new Error(problems.join("; "));
  return values;
}

function readNetwork() {
  const values = {};
  for (const name of NETWORK) {
    const input = $(`net-${name}`);
    values[name] = input.type === "number" ? Number(input.value) : input.value;
  }
  values.output_activation = values.output_activation || null; // "": as the hidden layers
  return values;
}

function writeSettings(settings) {
  for (const name of LIVE) $(name).value = settings[name] ?? "";
  for (const name of ["freeze_mlp", "freeze_encoding"]) $(name).checked = Boolean(settings[name]);
}

function writeNetwork(settings, encoding) {
  for (const name of NETWORK) $(`net-${name}`).value = settings[name] ?? "";
  $("net-encoding").value = encoding;
}

/** The browser model the panel describes, for the example's input and output sizes. */
function panelModel() {
  const info = site.examples.find((e) => e.name === example);
  const channels = example === "volume" && volume ? volume.shape[3] : info.n_output_dims || 1;
  const plan = plans[`${info.n_input_dims}x${channels}`][$("net-encoding").value];
  return composeModel(plan, { ...site.settings, ...readSettings(), ...readNetwork() }, site.ids);
}

/** A new run of the panel's network on the example (buildRun), after any still starting: two
 * quick changes build in the order made, and each closes the one before it. */
let starting = Promise.resolve();
function startRun() {
  const next = starting.then(buildRun);
  starting = next.catch(() => {});
  return next;
}

/** A new run of the panel's network on the example, from first weights; the current one
 * stays when the new one cannot start (the panel then shows the current one's settings). */
async function buildRun() {
  const learning = run ? run.running : false;
  let next = null;
  try {
    const model = panelModel();
    const targets = exampleTargets(model);
    const weights = initialWeights(model);
    const hooks = { report: onReport, draw, lost: onLost, zPlane };
    next =
      targets.length === 1
        ? new BrowserRun({ kernels, model, target: targets[0], weights, hooks })
        : new MultiRun({
            kernels,
            models: targets.map(() => model),
            targets,
            weights: targets.map(() => weights),
            labels: site.four_images.map((entry) => entry.name),
            hooks,
          });
    await next.open();
    if (run) run.close();
    run = next;
    run.setRunning(learning);
    const table = model.n_table ? ` + a table of ${model.n_table.toLocaleString("en-US")}` : "";
    const each = targets.length > 1 ? ` each (${targets.length} networks)` : "";
    $("network-info").textContent = `${model.sizes.join(" → ")}: ${model.n_params.toLocaleString("en-US")} weights${table}${each}`;
    $("adapter").textContent = `training on this browser's GPU: ${run.gpu.name}`;
    $("net-precision").options[1].disabled = !run.gpu.f16;
    drawReference();
    showError("");
  } catch (error) {
    if (next) next.close();
    showError(`not changed: ${error.message}`);
    if (run) {
      example = built.example;
      $("example").value = example;
      writeSettings(run.settings);
      writeNetwork(run.settings, built.encoding);
      showExample();
      return false;
    }
    throw error;
  }
  built = { example, encoding: $("net-encoding").value };
  return true;
}

function onReport(fields) {
  const fmt = (value, digits) => (value === null || value === undefined ? "–" : value.toFixed(digits));
  $("steps").textContent = fields.steps.toLocaleString("en-US");
  $("rate").textContent = fields.training ? fmt(fields.steps_per_second, 1) : "paused";
  $("loss").textContent = fields.loss === null ? "–" : fields.loss.toExponential(3);
  $("psnr").textContent = fields.psnr === null ? "–" : `${fmt(fields.psnr, 2)} dB`;
  $("fps").textContent = fmt(fields.frames_per_second, 1);
  $("step-ms").textContent = fmt(fields.timings_ms["Training (per step)"], 2);
  const networks = fields.networks || [];
  $("networks").textContent = networks.length > 1
    ? networks.map((n) => `${n.label}: ${fmt(n.psnr, 2)} dB`).join(" · ")
    : "";
  if (fields.error !== undefined) showError(fields.error || "");
  $("learning").checked = fields.running;
}

function draw(imageData) {
  const canvas = $("prediction");
  canvas.width = imageData.width;
  canvas.height = imageData.height;
  canvas.getContext("2d").putImageData(imageData, 0, 0);
}

function onLost(message) {
  showError(message);
  $("resume").hidden = false;
}

/** A fit checkpoint per network (`gfxnn render` and `gfxnn export` read them). */
async function download() {
  const runs = run.runs || [run];
  for (const [i, each] of runs.entries()) {
    const bytes = checkpointBytes(each.model, each.settings, await each.weights(), each.target, {
      psnr: each.psnr,
      steps: each.steps,
      zPlane: zPlane(),
    });
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    const label = runs.length > 1 ? `-${site.four_images[i].name}` : example === "image" ? "" : `-${example}`;
    link.download = `gfxnn-browser${label}-step${each.steps}.safetensors`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  }
}

/** "Load the defaults of": the preset's settings for this example, live and network alike
 * (gfxnn.fields.presets, written into site.json), then a new run. */
function loadPreset(name) {
  const { settings, encoding } = site.presets[example][name];
  writeSettings(settings);
  writeNetwork(settings, encoding);
  return startRun();
}

function resetWeights() {
  const weights = initialWeights(run.model);
  return run.setWeights(run.runs ? run.runs.map(() => weights) : weights);
}

function showExample() {
  $("image-fieldset").hidden = example !== "image";
  $("z-field").hidden = example !== "bubbles" && example !== "volume";
}

function wire() {
  $("learning").addEventListener("change", (event) => run.setRunning(event.target.checked));
  $("step").addEventListener("click", () => run.step(1));
  $("reset").addEventListener("click", resetWeights);
  $("save").addEventListener("click", download);
  $("resume").addEventListener("click", async () => {
    $("resume").hidden = true;
    await run.resume().catch((error) => showError(`no new device: ${error.message}`));
  });
  for (const name of ["dx12nn", "mlpzen"]) $(`preset-${name}`).addEventListener("click", () => loadPreset(name));
  $("example").addEventListener("change", (event) => {
    example = event.target.value;
    showExample();
    startRun();
  });
  for (const name of ["encoding", ...NETWORK]) $(`net-${name}`).addEventListener("change", startRun);
  $("z_plane").addEventListener("input", drawReference);
  for (const name of [...LIVE, "freeze_mlp", "freeze_encoding"]) {
    $(name).addEventListener("change", () => {
      try {
        run.applySettings(readSettings());
        showError("");
      } catch (error) {
        showError(error.message);
      }
    });
  }
  $("bundled").addEventListener("change", async (event) => {
    const entry = site.images[Number(event.target.value)];
    await setImage(await fetchFile(entry.file, "blob"), `bundled:${entry.name}`);
  });
  $("volume-upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) setVolume(file);
  });
  $("upload").addEventListener("change", (event) => {
    const file = event.target.files[0];
    if (file) setImage(file, `upload:${file.name}`);
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (event) => event.preventDefault());
  drop.addEventListener("drop", (event) => {
    event.preventDefault();
    const file = event.dataTransfer.files[0];
    if (file) setImage(file, `upload:${file.name}`);
  });
}

function options(select, values, labels = values) {
  select.replaceChildren(...values.map((value, i) => new Option(labels[i], value)));
}

async function main() {
  site = await fetchFile("site.json", "json");
  const reason = unavailableReason();
  if (reason) throw new Error(`${reason}; this page trains only on the browser's GPU`);
  const text = (name) => fetchFile(name, "text");
  kernels = Object.fromEntries(await Promise.all(site.kernels.map(async (name) => [name, await text(name)])));
  for (const [shape, files] of Object.entries(site.plans)) {
    const entries = Object.entries(files).map(async ([name, file]) => [name, await fetchFile(file, "json")]);
    plans[shape] = Object.fromEntries(await Promise.all(entries));
  }
  options($("example"), site.examples.map((e) => e.name), site.examples.map((e) => e.label));
  options($("net-encoding"), site.encodings.map((e) => e.name), site.encodings.map((e) => e.label));
  const activations = Object.keys(site.ids.activations);
  options($("net-activation"), activations);
  options($("net-output_activation"), ["", ...activations], ["as the hidden layers", ...activations]);
  options($("net-loss"), site.ids.losses);
  options($("net-optimizer"), site.ids.optimizers);
  options($("bundled"), site.images.map((_, i) => String(i)), site.images.map((m) => m.name));
  const [lo, hi] = site.ids.n_layers;
  Object.assign($("net-n_layers"), { min: lo, max: hi });
  $("net-n_neurons").max = site.ids.max_width;
  fourImages = await Promise.all(
    site.four_images.map(async ({ name, file }) => decodeImage(await fetchFile(file, "blob"), `bundled:${name}`)),
  );
  const first = site.images[0];
  await setImage(await fetchFile(first.file, "blob"), `bundled:${first.name}`);
  writeSettings(site.settings);
  writeNetwork(site.settings, site.settings.encoding);
  wire();
  showExample();
  await startRun();
}

window.gfxnnBrowserTrainer = Object.freeze({
  run: () => run,
  ready: main().then(
    () => true,
    (error) => {
      showError(`cannot train here: ${error.message}`);
      $("adapter").textContent = "no WebGPU adapter";
      return false;
    },
  ),
  test: Object.freeze({
    checkpoint: async (index = 0) => {
      const each = (run.runs || [run])[index];
      const weights = await each.weights();
      return Array.from(checkpointBytes(each.model, each.settings, weights, each.target, each));
    },
    prediction: async (index = 0) => Array.from(await (run.runs || [run])[index].prediction()),
    loseDevice: () => run.gpu.device.destroy(),
  }),
});
