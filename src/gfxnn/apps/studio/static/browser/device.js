// The page's WebGPU adapter and device, as gfxnn/webgpu/device.py gets them in Python: the
// kernels bind ten storage buffers (WebGPU's default limit is 8), so the device is asked for
// the adapter's own limits. Also the batch arithmetic of gfxnn/webgpu/layout.py.
"use strict";

export const STORAGE_BUFFERS = 10; // wgsl/bindings.wgsl: bindings 2..11
export const RECORD = 256; // bytes per uniform record (the default offset alignment)
export const ROWS_PER_WORKGROUP = 64;
export const MAX_CHUNKS = 256;

const WANTED_LIMITS = [
  "maxStorageBufferBindingSize",
  "maxBufferSize",
  "maxStorageBuffersPerShaderStage",
  "maxComputeWorkgroupsPerDimension",
];

/** Why this page cannot train on the GPU, or null: a message for the page. */
export function unavailableReason() {
  if (!window.isSecureContext) return "WebGPU needs a secure page (https or 127.0.0.1)";
  if (!navigator.gpu) return "this browser has no WebGPU (navigator.gpu is missing)";
  return null;
}

/** "<device> / <architecture>" of an adapter, e.g. "swiftshader (google)". */
export function adapterName(adapter) {
  const info = adapter.info || {};
  const what = info.description || info.device || info.architecture || "unknown adapter";
  const vendor = info.vendor ? ` (${info.vendor})` : "";
  const fallback = info.isFallbackAdapter ? ", software" : "";
  return `${what}${vendor}${fallback}`;
}

/**
 * {adapter, device, name} or throws an Error saying why (no WebGPU, no adapter, too few
 * storage bindings). `onLost(info)` is called once when the device is lost (a GPU reset, a
 * driver update, the tab unloaded); a new one comes from calling requestGpu again.
 */
export async function requestGpu(onLost = () => {}) {
  const reason = unavailableReason();
  if (reason) throw new Error(reason);
  let adapter = await navigator.gpu.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) adapter = await navigator.gpu.requestAdapter({ forceFallbackAdapter: true });
  if (!adapter) {
    throw new Error(
      "navigator.gpu gives no adapter (Chromium on Linux needs --enable-unsafe-webgpu, " +
        "or chrome://flags/#enable-unsafe-webgpu)",
    );
  }
  const limits = adapter.limits;
  if (limits.maxStorageBuffersPerShaderStage < STORAGE_BUFFERS) {
    throw new Error(
      `the adapter ${adapterName(adapter)} binds ${limits.maxStorageBuffersPerShaderStage} ` +
        `storage buffers per kernel; gfxnn's kernels need ${STORAGE_BUFFERS}`,
    );
  }
  const requiredLimits = Object.fromEntries(WANTED_LIMITS.map((key) => [key, limits[key]]));
  // timestamp queries for the per-pass times; shader-f16 for precision "fp16" (infer_f16.wgsl)
  const features = ["timestamp-query", "shader-f16"].filter((name) => adapter.features.has(name));
  const device = await adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  const gpu = { adapter, device, name: adapterName(adapter), lost: null, f16: device.features.has("shader-f16") };
  device.lost.then((info) => {
    gpu.lost = info.message || info.reason || "the device was lost";
    onLost(gpu.lost, info.reason);
  });
  return gpu;
}

/** layout.batch_plan: chunks of a multiple of 64 rows, at most MAX_CHUNKS of them; slices
 * as large as one binding of the scratch (`actsColumns` floats per row) allows. */
export function batchPlan(batch, actsColumns, maxBinding) {
  if (!Number.isInteger(batch) || batch < 1) throw new Error(`batch_size must be >= 1, got ${batch}`);
  const ceil = (a, b) => Math.ceil(a / b);
  const rows = ceil(batch, ROWS_PER_WORKGROUP) * ROWS_PER_WORKGROUP;
  const chunk = Math.max(ROWS_PER_WORKGROUP, ceil(rows, MAX_CHUNKS * 64) * 64);
  const chunksNeeded = ceil(rows, chunk);
  const fit = Math.max(1, Math.floor(maxBinding / (4 * actsColumns * chunk)));
  const perSlice = Math.min(chunksNeeded, fit);
  const nSlices = ceil(chunksNeeded, perSlice);
  const sliceRows = perSlice * chunk;
  return {
    batch,
    chunkRows: chunk,
    sliceRows,
    nSlices,
    nChunks: nSlices * perSlice,
    padded: nSlices * sliceRows,
  };
}

/** (x, y) workgroup counts for n threads in the 1-D kernels that fold y into x. */
export function groups(nThreads, perGroup = 64) {
  const count = Math.max(1, Math.ceil(nThreads / perGroup));
  const x = Math.min(count, 32768);
  return [x, Math.ceil(count / x)];
}

/** wgsl/bindings.wgsl's OptimizerStep for step t, in float64 (rounded by the caller), at
 * `learningRate` (null: the spec's). */
export function optimizerWords(spec, t, learningRate = null) {
  const [b1, b2] = spec.betas;
  const lr = learningRate === null ? spec.learning_rate : learningRate;
  let rate = lr;
  let sqrtC2 = 1.0;
  if (spec.name === "adam") {
    rate = lr / (1.0 - b1 ** t);
    sqrtC2 = Math.sqrt(1.0 - b2 ** t);
  }
  return [rate, sqrtC2, b1, 1.0 - b1, b2, 1.0 - b2, spec.epsilon, spec.l2_reg];
}
