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

/** The browser model of the server's current settings for its network `network` (an Error
 * saying why when the WGSL kernels cannot run them). */
export async function fetchModel(network = 0) {
  return (await fetchOk(`/api/model?network=${network}`)).json();
}

/** {values, shape} of the samples the server's network learns (float32, (*grid, C): an
 * image (H, W, 3), a volume (D, H, W, C), the cosine's or bubbles' reference grid). */
export async function fetchTarget(network = 0) {
  const url = `/api/target.npy?network=${network}`;
  const { shape, values } = readNpy(await (await fetchOk(url)).arrayBuffer());
  if (shape.length < 2 || shape.length > 4) {
    throw new Error(`training in the browser fits 1- to 3-D targets; the target has shape [${shape}]`);
  }
  return { values, shape };
}

/** The flat weights of the server's network `network`, in `model.names`' order. */
export async function fetchWeights(model, network = 0) {
  const url = `/api/weights.safetensors?network=${network}`;
  const bytes = await (await fetchOk(url)).arrayBuffer();
  return flatWeights(readCheckpoint(bytes).tensors, model.names);
}

/** Send the page's weights to the server's network `network` (validated there like an
 * upload); `steps` (trained in the page) add to the session's browser_steps. */
export async function postWeights(bytes, steps, network = 0) {
  const options = { method: "POST", body: bytes, headers: { "Content-Type": "application/octet-stream" } };
  return (await fetchOk(`/api/weights?network=${network}&steps=${steps}`, options)).json();
}

/** The model of every network of the server's example (four for Learn Four Images);
 * `first`: network 0's, when fetched already. */
export async function fetchModels(first = null) {
  const model = first || (await fetchModel());
  const indices = Array.from({ length: model.n_networks || 1 }, (_, i) => i);
  return Promise.all(indices.map((i) => (i === 0 ? model : fetchModel(i))));
}

/** The models and targets' samples of every network of the server's example:
 * {models, targets: [{values, shape}]} (their weights: fetchWeights, once the server is
 * paused). */
export async function fetchNetworks(first = null) {
  const models = await fetchModels(first);
  const targets = await Promise.all(models.map((_, i) => fetchTarget(i)));
  return { models, targets };
}
