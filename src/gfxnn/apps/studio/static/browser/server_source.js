// What the page's trainer takes from the studio server (docs/studio.md, "Training in the
// browser"): the kernels with their includes resolved, the model of the current settings,
// the target's samples and the weights, and where it sends the weights back.
"use strict";

import { flatWeights, readCheckpoint, readNpy } from "./files.js";

export { checkpointBytes } from "./files.js";

async function fetchOk(url, options) {
  const response = await fetch(url, options);
  if (!response.ok) {
    const reply = await response.json().catch(() => ({ error: response.statusText }));
    throw new Error(reply.error || `${url}: HTTP ${response.status}`);
  }
  return response;
}

/** {file: WGSL} of the kernels. */
export async function fetchKernels() {
  return (await (await fetchOk("/api/wgsl")).json()).files;
}

/** The browser model of the server's current settings (an Error saying why when the WGSL
 * kernels cannot run them). */
export async function fetchModel() {
  return (await fetchOk("/api/model")).json();
}

/** {values, shape} of the samples the server's network learns (float32, (*grid, C): an
 * image (H, W, 3), a volume (D, H, W, C), the cosine's or bubbles' reference grid). */
export async function fetchTarget() {
  const { shape, values } = readNpy(await (await fetchOk("/api/target.npy")).arrayBuffer());
  if (shape.length < 2 || shape.length > 4) {
    throw new Error(`training in the browser fits 1- to 3-D targets; the target has shape [${shape}]`);
  }
  return { values, shape };
}

/** The server network's flat weights, in `model.names`' order. */
export async function fetchWeights(model) {
  const bytes = await (await fetchOk("/api/weights.safetensors")).arrayBuffer();
  return flatWeights(readCheckpoint(bytes).tensors, model.names);
}

/** Send the page's weights to the server's network (validated there like an upload). */
export async function postWeights(bytes, steps) {
  const options = { method: "POST", body: bytes, headers: { "Content-Type": "application/octet-stream" } };
  return (await fetchOk(`/api/weights?steps=${steps}`, options)).json();
}
