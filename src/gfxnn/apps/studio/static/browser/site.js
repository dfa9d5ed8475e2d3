// The static studio (`gfxnn studio --static DIR`): the same in-page trainer as the studio's
// "this browser's GPU" mode, with no server. Everything it loads is a file of its own folder
// (site.json lists them, written by gfxnn.apps.studio.static_site): the WGSL kernels with
// their includes resolved, each network's model and starting weights, the bundled images.
// An image the user drops in is decoded by the browser's image decoder and only its pixels
// are used; nothing leaves the page.
"use strict";

import { unavailableReason } from "./device.js";
import { checkpointBytes, flatWeights, readCheckpoint } from "./files.js";
import { BrowserRun } from "./run.js";

const $ = (id) => document.getElementById(id);
const LIVE = ["learning_rate", "lr_schedule", "batch_size", "steps_per_frame", "frame_budget_ms", "max_steps"];

let site = null;
let kernels = null;
let run = null;
let start = null; // {model, weights} of the chosen network, as first drawn
const image = { values: null, width: 0, height: 0, source: "" };

function showError(text) {
  $("error").textContent = text;
  $("error").hidden = !text;
}

async function fetchFile(name, kind) {
  const response = await fetch(name);
  if (!response.ok) throw new Error(`${name}: HTTP ${response.status}`);
  return response[kind]();
}

async function loadNetwork(entry) {
  const model = await fetchFile(entry.model, "json");
  const checkpoint = readCheckpoint(await fetchFile(entry.weights, "arrayBuffer"));
  return { model, weights: flatWeights(checkpoint.tensors, model.names) };
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
  const canvas = $("reference");
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
    if (run) await run.setTarget(image);
    $("image-info").textContent = `${source}, ${image.width}×${image.height}`;
    showError("");
  } catch (error) {
    showError(`image refused: ${error.message}`);
  }
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
  if (!(values.learning_rate > 0)) problems.push("the learning rate must be > 0");
  for (const [name, low, high] of [["batch_size", 1, site.limits.max_batch_size], ["steps_per_frame", 1, 1024]]) {
    if (!Number.isInteger(values[name]) || values[name] < low || values[name] > high) {
      problems.push(`${name} must be an integer in ${low}..${high}`);
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

function writeSettings(settings) {
  for (const name of LIVE) $(name).value = settings[name] ?? "";
  for (const name of ["freeze_mlp", "freeze_encoding"]) $(name).checked = Boolean(settings[name]);
}

function onReport(fields) {
  const fmt = (value, digits) => (value === null || value === undefined ? "–" : value.toFixed(digits));
  $("steps").textContent = fields.steps.toLocaleString("en-US");
  $("rate").textContent = fields.training ? fmt(fields.steps_per_second, 1) : "paused";
  $("loss").textContent = fields.loss === null ? "–" : fields.loss.toExponential(3);
  $("psnr").textContent = fields.psnr === null ? "–" : `${fmt(fields.psnr, 2)} dB`;
  $("fps").textContent = fmt(fields.frames_per_second, 1);
  $("step-ms").textContent = fmt(fields.timings_ms["Training (per step)"], 2);
  if (fields.error !== undefined) showError(fields.error || "");
  $("learning").checked = fields.running;
}

function draw(imageData) {
  const canvas = $("prediction");
  canvas.width = imageData.width;
  canvas.height = imageData.height;
  canvas.getContext("2d").putImageData(imageData, 0, 0);
}

async function chooseNetwork(index) {
  start = await loadNetwork(site.models[index]);
  const settings = { ...start.model.settings, ...readSettings() };
  if (run) {
    await run.rebuild({ ...start.model, settings }, start.weights);
    return;
  }
  run = new BrowserRun({
    kernels,
    model: { ...start.model, settings },
    target: image,
    weights: start.weights,
    hooks: {
      report: onReport,
      draw,
      lost: (message) => {
        showError(message);
        $("resume").hidden = false;
      },
    },
  });
  await run.open();
  $("adapter").textContent = `training on this browser's GPU: ${run.gpu.name}`;
}

function download() {
  run.weights().then((weights) => {
    const bytes = checkpointBytes(run.model, run.settings, weights, image, run);
    const link = document.createElement("a");
    link.href = URL.createObjectURL(new Blob([bytes], { type: "application/octet-stream" }));
    link.download = `gfxnn-browser-step${run.steps}.safetensors`;
    link.click();
    setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  });
}

function wire() {
  $("learning").addEventListener("change", (event) => run.setRunning(event.target.checked));
  $("step").addEventListener("click", () => run.step(1));
  $("reset").addEventListener("click", () => run.setWeights(start.weights));
  $("save").addEventListener("click", download);
  $("resume").addEventListener("click", async () => {
    $("resume").hidden = true;
    await run.resume().catch((error) => showError(`no new device: ${error.message}`));
  });
  $("model").addEventListener("change", (event) => chooseNetwork(Number(event.target.value)));
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

async function main() {
  site = await fetchFile("site.json", "json");
  const reason = unavailableReason();
  if (reason) throw new Error(`${reason}; this page trains only on the browser's GPU`);
  kernels = Object.fromEntries(
    await Promise.all(site.kernels.map(async (name) => [name, await fetchFile(name, "text")])),
  );
  $("model").replaceChildren(...site.models.map((m, i) => new Option(m.label, String(i))));
  $("bundled").replaceChildren(...site.images.map((m, i) => new Option(m.name, String(i))));
  const first = site.images[0];
  await setImage(await fetchFile(first.file, "blob"), `bundled:${first.name}`);
  writeSettings((await fetchFile(site.models[0].model, "json")).settings);
  wire();
  await chooseNetwork(0);
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
    checkpoint: async () => {
      const weights = await run.weights();
      return Array.from(checkpointBytes(run.model, run.settings, weights, image, run));
    },
    prediction: async () => Array.from(await run.prediction()),
    loseDevice: () => run.gpu.device.destroy(),
  }),
});
