// The WebGPU trainer in the page: gfxnn/webgpu/trainer.py's buffers, uniform records and
// dispatches, call for call, on the same WGSL files (train.wgsl, gradient.wgsl, infer.wgsl
// with their `//!include`s resolved by the studio, gfxnn/webgpu/shaders.py). A step is, per
// slice of the batch, `forward`, `backward` and `weight_gradient`, then `reduce_loss`,
// `optimize` and, for a grid, `optimize_table`; many steps go into one submission, each
// step's numbers in a 256-byte record bound at a dynamic offset. Losses land in a ring that
// is copied to a staging buffer after each submission and mapped asynchronously.
//
// `model` is what the studio serves for the current settings (gfxnn.apps.studio.static_site
// .browser_model): the ModelSpec as JSON, and layout.model_plan's sizes, constants, runtime
// choices and grid level words, so the shapes are decided by the same Python as the backend's.
"use strict";

import { RECORD, batchPlan, groups, optimizerWords } from "./device.js";

// Read through globalThis: in a browser without WebGPU (or a page that is not a secure
// context) the interface does not exist, and this module must still load (the studio page
// imports it and trains on the server then).
const U = globalThis.GPUBufferUsage;
const META_LEVELS = 8;
const RECORD_BINDING = 128; // bytes of wgsl/bindings.wgsl's Step (gfxnn.webgpu.records)
const NORM_GROUPS = 256; // gradient_norm's most workgroups; partials hold their sums + 1
const CLIP_IDS = { none: 0, value: 1, norm: 2 };
const BLOCK_BUDGET = 16 << 20; // bytes of host batches per submission (gfxnn/webgpu/batches.py)
const KERNELS = {
  forward: "train.wgsl",
  backward: "train.wgsl",
  reduce_loss: "train.wgsl",
  weight_gradient: "gradient.wgsl",
  optimize: "gradient.wgsl",
  optimize_table: "gradient.wgsl",
  clear_table_gradient: "gradient.wgsl",
  gradient_norm: "gradient.wgsl",
  clip_scale: "gradient.wgsl",
  infer: "infer.wgsl",
};
// precision -> the inference shader (gfxnn.webgpu.inference.KERNELS)
const INFERENCE = { fp32: "infer.wgsl", fp16: "infer_f16.wgsl" };

export class BrowserTrainer {
  /**
   * @param gpu {adapter, device, name} from device.js's requestGpu
   * @param model the studio's browser model (see the file's comment)
   * @param sources {"train.wgsl": text, ...} with includes resolved
   * @param maxBinding the most bytes a scratch binding may hold (default: the adapter's
   *   largest storage binding); smaller cuts a batch into more slices
   */
  constructor(gpu, model, sources, { lossSlots = 1024, stepsPerSubmit = 64, maxBinding = null } = {}) {
    this.gpu = gpu;
    this.device = gpu.device;
    this.model = model;
    this.spec = structuredClone(model.spec);
    this.lossSlots = lossSlots;
    this.stepsPerSubmit = stepsPerSubmit;
    this.maxBinding = maxBinding;
    this.nWeights = model.n_params + model.n_table;
    this.steps = 0; // steps submitted over the trainer's life
    // Adam's t of each optimizer: steps it took since the optimizer state restarted (a
    // frozen part's optimizer takes none).
    this.t = { network: 0, table: 0 };
    this.diverged = 0;
    this._sources = sources;
    this._modules = {}; // compiled when first used: infer_f16.wgsl only where shader-f16 is
    this.setControls(this.spec);
    this._batch = null;
    this._pipelines = new Map();
    this._layout = this._bindGroupLayout();
    this._pipelineLayout = this.device.createPipelineLayout({ bindGroupLayouts: [this._layout] });
    this._weights = this._buffer(4 * this.nWeights);
    this._moments = this._buffer(8 * this.nWeights);
    this._accum = this._buffer(12 * Math.max(1, model.n_table));
    this._gradsOut = this._buffer(4 * this.nWeights);
    this._stepsUniform = this.device.createBuffer({
      size: RECORD * stepsPerSubmit,
      usage: U.UNIFORM | U.COPY_DST,
    });
    this._pending = Promise.resolve(); // the chain of loss readbacks, in submission order
    // Timestamp queries (where the device has them): the training pass's time on the device.
    this.deviceMsPerStep = null;
    this._querySet = null;
    if (this.device.features.has("timestamp-query")) {
      this._querySet = this.device.createQuerySet({ type: "timestamp", count: 2 });
      this._timestampsBuffer = this.device.createBuffer({ size: 16, usage: U.QUERY_RESOLVE | U.COPY_SRC });
    }
    this._losses_done = [];
    this.setTarget(null, [1, 1, 1]);
  }

  _buffer(size) {
    return this.device.createBuffer({
      size: Math.max(16, Math.ceil(size / 4) * 4),
      usage: U.STORAGE | U.COPY_DST | U.COPY_SRC,
    });
  }

  _bindGroupLayout() {
    // shaders.py's one layout: two uniform records at dynamic offsets, ten storage buffers.
    const visibility = GPUShaderStage.COMPUTE;
    const entries = [0, 1].map((binding) => ({
      binding,
      visibility,
      buffer: { type: "uniform", hasDynamicOffset: true },
    }));
    for (let binding = 2; binding < 12; binding++) {
      const type = binding === 9 || binding === 10 ? "read-only-storage" : "storage";
      entries.push({ binding, visibility, buffer: { type } });
    }
    return this.device.createBindGroupLayout({ entries });
  }

  // ----- parameters ------------------------------------------------------------------------
  /** Replace every parameter (flat: network in FusedMLP's layout, then the table); the
   * optimizer restarts, as WebGpuTrainer.load_state_dict. */
  loadWeights(flat) {
    if (flat.length !== this.nWeights) {
      throw new Error(`weights: ${flat.length} values, the network has ${this.nWeights}`);
    }
    for (let i = 0; i < flat.length; i++) {
      if (!Number.isFinite(flat[i])) throw new Error(`weight ${i} is not finite`);
    }
    const queue = this.device.queue;
    queue.writeBuffer(this._weights, 0, Float32Array.from(flat));
    queue.writeBuffer(this._moments, 0, new Float32Array(2 * this.nWeights));
    this._clearAccum();
    if (this._batch) queue.writeBuffer(this._losses, 0, new Uint32Array(1 + this.lossSlots));
    this.diverged = 0;
    this.t = { network: 0, table: 0 };
  }

  /** MLPZen's live controls of a spec (freeze_network, freeze_encoding, gradient_clip,
   * clip_value, precision), as WebGpuTrainer.set_controls: weights and Adam's moments stay.
   * An Error (nothing changed) for a bad value, or for "fp16" on a device without the
   * shader-f16 feature, as gfxnn.webgpu.device.check_precision. */
  setControls({ freeze_network, freeze_encoding, gradient_clip, clip_value, precision = "fp32" }) {
    if (!(gradient_clip in CLIP_IDS)) throw new Error(`gradient_clip ${gradient_clip} is not one of none, value, norm`);
    if (!(clip_value > 0 && Number.isFinite(clip_value))) throw new Error(`clip_value must be > 0, got ${clip_value}`);
    if (!(precision in INFERENCE)) throw new Error(`precision ${precision} is not one of fp32, fp16`);
    if (precision === "fp16" && !this.gpu.f16) {
      throw new Error(
        `precision fp16 needs the shader-f16 feature, which ${this.gpu.name} lacks (choose fp32)`,
      );
    }
    this.controls = {
      freezeNetwork: Boolean(freeze_network),
      freezeEncoding: Boolean(freeze_encoding),
      clip: gradient_clip,
      clipValue: clip_value,
      precision,
    };
    Object.assign(this.spec, { freeze_network, freeze_encoding, gradient_clip, clip_value, precision });
  }

  /** What the "norm" clip's ||g|| sums over: bit 0 the network, bit 1 the table. */
  _normParts() {
    const c = this.controls;
    return (c.freezeNetwork ? 0 : 1) | (this.model.n_table && !c.freezeEncoding ? 2 : 0);
  }

  /** A step taken: the counters of the optimizers that took it. */
  _advance() {
    this.steps += 1;
    if (!this.controls.freezeNetwork) this.t.network += 1;
    if (this.model.n_table && !this.controls.freezeEncoding) this.t.table += 1;
  }

  _clearAccum() {
    this.device.queue.writeBuffer(this._accum, 0, new Uint32Array(3 * Math.max(1, this.model.n_table)));
  }

  /** The flat weights (a Float32Array copy), after every submitted step. */
  async readWeights() {
    await this._pending;
    return this._read(this._weights, 4 * this.nWeights, Float32Array);
  }

  async _read(buffer, size, Kind, offset = 0) {
    const staging = this.device.createBuffer({ size, usage: U.MAP_READ | U.COPY_DST });
    const encoder = this.device.createCommandEncoder();
    encoder.copyBufferToBuffer(buffer, offset, staging, 0, size);
    this.device.queue.submit([encoder.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const values = new Kind(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    return values;
  }

  /** New learning rates from the next step on; Adam's moments stay. */
  setLearningRates(network, encoding = null) {
    this.spec.optimizer.learning_rate = network;
    if (encoding !== null && this.spec.encoding_optimizer) {
      this.spec.encoding_optimizer.learning_rate = encoding;
    }
  }

  /** Take `model`'s spec and runtime choices (live settings: loss, optimizer, rates) when
   * its shapes are this trainer's; false (nothing changed) when they are not. */
  updateModel(model) {
    const shapes = (m) => JSON.stringify([m.sizes, m.n_table, m.constants, m.meta_levels]);
    if (shapes(model) !== shapes(this.model)) return false;
    this.model = model;
    this.spec = structuredClone(model.spec);
    return true;
  }

  // ----- target and batch ------------------------------------------------------------------
  /** Train on `reference` (Float32Array, grid order with x_0 fastest, n_output_dims
   * channels per sample) of `size` [n_0, n_1, n_2]; weights and optimizer state stay. */
  setTarget(reference, size) {
    const c = this.spec.n_output_dims;
    const words = reference ? Float32Array.from(reference) : new Float32Array(c);
    const count = size[0] * size[1] * size[2];
    if (reference && words.length !== count * c) {
      throw new Error(`target: ${words.length} values for ${count} samples of ${c} channels`);
    }
    this._targetWords = words;
    this._gridSize = size.slice(0, 3);
    if (this._batch) this._allocate(this._batch.batch, true);
  }

  /** Buffers for batches of `batch` rows; `blocks`: host batches per submission (each
   * step's inputs then targets, `plan.hostStride` floats apart, after the target). */
  _allocate(batch, force = false, blocks = 1) {
    if (this._batch && this._batch.batch === batch && this._batch.blocks === blocks && !force) return;
    const sizes = this.model.sizes;
    const sum = (values) => values.reduce((a, b) => a + b, 0);
    const actsColumns = sum(sizes.slice(0, -1));
    const deltaColumns = sum(sizes.slice(1));
    const limit = this.device.limits.maxStorageBufferBindingSize;
    const scratch = Math.min(this.maxBinding ?? limit, limit);
    const plan = batchPlan(batch, Math.max(actsColumns, deltaColumns), scratch);
    if (4 * plan.nChunks * this.model.n_params > limit) {
      throw new Error(`batch ${batch}: the partial sums exceed the adapter's largest binding`);
    }
    this._batch = plan;
    plan.blocks = blocks;
    const rows = plan.sliceRows;
    for (const name of ["_acts", "_deltas", "_partials", "_losses", "_data", "_meta"]) {
      if (this[name]) this[name].destroy();
    }
    this._acts = this._buffer(4 * actsColumns * rows);
    this._deltas = this._buffer(4 * deltaColumns * rows);
    // The partial gradient sums, then the norm clip's sums and its scale.
    this._partials = this._buffer(4 * (plan.nChunks * this.model.n_params + NORM_GROUPS + 1));
    this._losses = this._buffer(4 * (1 + this.lossSlots + plan.padded));
    const words = new Uint32Array(1 + this.lossSlots);
    words[0] = this.diverged;
    const queue = this.device.queue;
    queue.writeBuffer(this._losses, 0, words);
    const d = this.spec.n_input_dims;
    const c = this.spec.n_output_dims;
    const uvAt = this._targetWords.length;
    this._hostAt = [uvAt, uvAt + plan.padded * d];
    plan.hostStride = plan.padded * (d + c);
    this._data = this._buffer(4 * (uvAt + blocks * plan.hostStride));
    queue.writeBuffer(this._data, 0, this._targetWords);
    const meta = new Uint32Array(META_LEVELS + this.model.meta_levels.length);
    meta.set(this._gridSize, 0);
    meta.set(this._hostAt, 3);
    meta.set(this.model.meta_levels, META_LEVELS);
    this._meta = this._buffer(meta.byteLength);
    queue.writeBuffer(this._meta, 0, meta);
    const slices = new Uint32Array((plan.nSlices * RECORD) / 4);
    const perSlice = plan.sliceRows / plan.chunkRows;
    for (let k = 0; k < plan.nSlices; k++) {
      slices.set([k * plan.sliceRows, plan.sliceRows, k * perSlice], (k * RECORD) / 4);
    }
    this._slices = this.device.createBuffer({ size: slices.byteLength, usage: U.UNIFORM | U.COPY_DST });
    queue.writeBuffer(this._slices, 0, slices);
    this._bindGroup = this._makeBindGroup(this._data, this._gradsOut, this._slices);
  }

  _makeBindGroup(data, output, slices) {
    const buffers = [this._weights, this._moments, this._acts, this._deltas, this._partials];
    buffers.push(this._losses, this._accum, data, this._meta, output);
    const entries = [
      { binding: 0, resource: { buffer: this._stepsUniform, offset: 0, size: RECORD_BINDING } },
      { binding: 1, resource: { buffer: slices, offset: 0, size: 32 } },
      ...buffers.map((buffer, i) => ({ binding: i + 2, resource: { buffer } })),
    ];
    return this.device.createBindGroup({ layout: this._layout, entries });
  }

  _constants(sample) {
    const plan = this._batch;
    const n = plan.batch * this.spec.n_output_dims;
    return {
      ...this.model.constants,
      SAMPLE: sample ? 1 : 0,
      BATCH: plan.batch,
      SLICE_ROWS: plan.sliceRows,
      CHUNK_ROWS: plan.chunkRows,
      N_CHUNKS: plan.nChunks,
      INV_N: Math.fround(1.0 / n),
      LOSS_SLOTS: this.lossSlots,
    };
  }

  /** The compute pipeline of `entryPoint` in `file` for these constants (compiled once). */
  _pipeline(entryPoint, constants, file = KERNELS[entryPoint]) {
    const key = file + entryPoint + JSON.stringify(Object.entries(constants).sort());
    let found = this._pipelines.get(key);
    if (!found) {
      if (!this._modules[file]) {
        this._modules[file] = this.device.createShaderModule({ code: this._sources[file], label: file });
      }
      found = this.device.createComputePipeline({
        layout: this._pipelineLayout,
        compute: { module: this._modules[file], entryPoint, constants },
      });
      this._pipelines.set(key, found);
    }
    return found;
  }

  // ----- the step's dispatches ---------------------------------------------------------------
  /** The records of `count` steps from `firstStep` (gfxnn.webgpu.records.step_record), each
   * for the optimizers' t after the steps before it under the current controls;
   * `ratesAt(k)`, when given, is the k-th step's [network, encoding] learning rates. */
  _writeRecords(firstStep, count, ratesAt = null, hostStride = 0) {
    const words = new Uint32Array((count * RECORD) / 4);
    const numbers = new Float32Array(words.buffer);
    const spec = this.spec;
    const table = spec.encoding_optimizer || spec.optimizer;
    const n = (this._batch ? this._batch.batch : 1) * spec.n_output_dims;
    const lossScale = (spec.loss === "l1" ? 1.0 : 2.0) / n;
    const c = this.controls;
    const t = { ...this.t };
    for (let k = 0; k < count; k++) {
      const at = (k * RECORD) / 4;
      const step = firstStep + k;
      words.set([step, (step - 1) % this.lossSlots, spec.seed % 2 ** 32], at);
      words.set(this.model.choices, at + 3);
      numbers.set([lossScale, 0, 0, 0], at + 8);
      const [network, encoding] = ratesAt ? ratesAt(k) : [null, null];
      numbers.set(optimizerWords(spec.optimizer, t.network + 1, network), at + 12);
      const tableRate = spec.encoding_optimizer ? encoding : network;
      numbers.set(optimizerWords(table, t.table + 1, tableRate), at + 20);
      words[at + 28] = CLIP_IDS[c.clip];
      numbers[at + 29] = c.clipValue;
      words[at + 30] = this._normParts();
      words[at + 31] = k * hostStride; // host_offset: this step's block of host batches
      if (!c.freezeNetwork) t.network += 1;
      if (this.model.n_table && !c.freezeEncoding) t.table += 1;
    }
    this.device.queue.writeBuffer(this._stepsUniform, 0, words);
  }

  _encodeGradients(pass, record, sample) {
    const plan = this._batch;
    const constants = this._constants(sample);
    const forward = this._pipeline("forward", constants);
    const backward = this._pipeline("backward", constants);
    const gradient = this._pipeline("weight_gradient", constants);
    for (let k = 0; k < plan.nSlices; k++) {
      pass.setBindGroup(0, this._bindGroup, [RECORD * record, RECORD * k]);
      for (const kernel of [forward, backward]) {
        pass.setPipeline(kernel);
        pass.dispatchWorkgroups(plan.sliceRows / 64);
      }
      pass.setPipeline(gradient);
      pass.dispatchWorkgroups(...groups(this.model.n_params), plan.sliceRows / plan.chunkRows);
    }
    pass.setBindGroup(0, this._bindGroup, [RECORD * record, 0]);
    pass.setPipeline(this._pipeline("reduce_loss", constants));
    pass.dispatchWorkgroups(1);
  }

  /** The optimizers' dispatches under the current controls (WebGpuTrainer._encode_update):
   * the norm clip's two reductions first; a frozen part's optimizer is not dispatched, a
   * frozen grid's fixed-point sums are cleared instead. */
  _encodeUpdate(pass, record) {
    const constants = this._constants(false);
    const c = this.controls;
    const dispatch = (entryPoint, ...counts) => {
      pass.setPipeline(this._pipeline(entryPoint, constants));
      pass.dispatchWorkgroups(...counts);
    };
    pass.setBindGroup(0, this._bindGroup, [RECORD * record, 0]);
    if (c.clip === "norm" && this._normParts()) {
      // a fixed workgroup count per model, so the unused partial sums stay 0
      dispatch("gradient_norm", Math.min(NORM_GROUPS, Math.ceil(this.nWeights / 256)));
      dispatch("clip_scale", 1);
    }
    if (!c.freezeNetwork) dispatch("optimize", ...groups(this.model.n_params));
    if (this.model.n_table) {
      dispatch(c.freezeEncoding ? "clear_table_gradient" : "optimize_table", ...groups(this.model.n_table));
    }
  }

  /** A command encoder holding one compute pass of `encode`; `timed`: with the pass's
   * begin and end timestamps resolved into this._timestampsBuffer (when the device has
   * timestamp queries). */
  _encoder(encode, timed = false) {
    const encoder = this.device.createCommandEncoder();
    const timestampWrites = timed && this._querySet
      ? { querySet: this._querySet, beginningOfPassWriteIndex: 0, endOfPassWriteIndex: 1 }
      : undefined;
    const pass = encoder.beginComputePass(timestampWrites ? { timestampWrites } : {});
    encode(pass);
    pass.end();
    if (timestampWrites) encoder.resolveQuerySet(this._querySet, 0, 2, this._timestampsBuffer, 0);
    return encoder;
  }

  // ----- host-fed batches (the agreement test's single steps) -----------------------------------
  /** Encode, forward, loss and backward of a host batch (Float32Arrays, B x d and B x C);
   * resolves to its loss. */
  async computeGradients(inputs, targets) {
    const d = this.spec.n_input_dims;
    const c = this.spec.n_output_dims;
    const rows = inputs.length / d;
    if (!Number.isInteger(rows) || targets.length !== rows * c) {
      throw new Error(`inputs must be B x ${d} and targets B x ${c}`);
    }
    await this._pending;
    this._allocate(rows);
    const queue = this.device.queue;
    queue.writeBuffer(this._data, 4 * this._hostAt[0], Float32Array.from(inputs));
    queue.writeBuffer(this._data, 4 * this._hostAt[1], Float32Array.from(targets));
    this._clearAccum();
    this._writeRecords(this.steps + 1, 1);
    queue.submit([this._encoder((pass) => this._encodeGradients(pass, 0, false)).finish()]);
    const words = await this._read(this._losses, 4 * (1 + this.lossSlots), Uint32Array);
    if (words[0]) this.diverged = words[0];
    return new Float32Array(words.buffer, 4)[this.steps % this.lossSlots];
  }

  /** The optimizer step on the last computeGradients' gradients. */
  async update() {
    this.device.queue.submit([this._encoder((pass) => this._encodeUpdate(pass, 0)).finish()]);
    await this.device.queue.onSubmittedWorkDone();
    this._advance();
  }

  // ----- the training loop (device sampling, nothing waits for the host) -----------------------
  /** `nSteps` steps on batches the device draws; returns once they are submitted. Their
   * losses arrive through takeLosses() when the device has run them. `ratesAt(k)` gives the
   * k-th step's [network, encoding] learning rates (a schedule; null: the spec's). */
  train(nSteps, batchSize, ratesAt = null, draw = null) {
    if (this.diverged || this.gpu.lost) return;
    const d = this.spec.n_input_dims;
    const c = this.spec.n_output_dims;
    // `draw(inputs, targets, rows)`: host batches (Learn Cosine, Bubbles), one block each
    let blocks = 1;
    if (draw) {
      if (!this._batch || this._batch.batch !== batchSize) this._allocate(batchSize);
      const blockBytes = 4 * (d + c) * this._batch.padded;
      blocks = Math.max(1, Math.min(this.stepsPerSubmit, Math.floor(BLOCK_BUDGET / blockBytes)));
    }
    this._allocate(batchSize, false, blocks);
    const queue = this.device.queue;
    const plan = this._batch;
    for (let done = 0; done < nSteps; ) {
      const count = Math.min(draw ? blocks : this.stepsPerSubmit, nSteps - done);
      const rates = ratesAt && ((k) => ratesAt(done + k));
      if (draw) this._writeHostBatches(draw, count);
      this._writeRecords(this.steps + 1, count, rates, draw ? plan.hostStride : 0);
      const encoder = this._encoder((pass) => {
        for (let k = 0; k < count; k++) {
          this._encodeGradients(pass, k, !draw);
          this._encodeUpdate(pass, k);
        }
      }, true);
      const size = 4 * (1 + this.lossSlots);
      // the ring, then (with timestamp queries) the pass's two timestamps, 8-byte aligned
      const at = Math.ceil(size / 8) * 8;
      const staging = this.device.createBuffer({ size: at + 16, usage: U.MAP_READ | U.COPY_DST });
      encoder.copyBufferToBuffer(this._losses, 0, staging, 0, size);
      if (this._querySet) encoder.copyBufferToBuffer(this._timestampsBuffer, 0, staging, at, 16);
      queue.submit([encoder.finish()]);
      const first = this.steps + 1;
      const last = this.steps + count;
      const mapped = staging.mapAsync(GPUMapMode.READ);
      this._pending = this._pending.then(() => mapped).then(
        () => this._takeRing(staging, first, last, at),
        () => staging.destroy(), // a lost device rejects the map: nothing to read
      );
      for (let k = 0; k < count; k++) this._advance();
      done += count;
    }
  }

  /** `count` host batches into the first blocks of `data` (block k: inputs, then targets
   * at padded rows x d). */
  _writeHostBatches(draw, count) {
    const plan = this._batch;
    const d = this.spec.n_input_dims;
    const c = this.spec.n_output_dims;
    const words = new Float32Array(count * plan.hostStride);
    for (let k = 0; k < count; k++) {
      const block = words.subarray(k * plan.hostStride, (k + 1) * plan.hostStride);
      draw(block.subarray(0, plan.batch * d), block.subarray(plan.padded * d, plan.padded * d + plan.batch * c), plan.batch);
    }
    this.device.queue.writeBuffer(this._data, 4 * this._hostAt[0], words);
  }

  _takeRing(staging, first, last, timestampsAt) {
    const words = new Uint32Array(staging.getMappedRange().slice(0));
    staging.unmap();
    staging.destroy();
    if (this._querySet) {
      const view = new DataView(words.buffer, timestampsAt, 16);
      const ns = Number(view.getBigUint64(8, true) - view.getBigUint64(0, true));
      // the device's time per step of this submission (adapters may round timestamps)
      if (ns > 0) this.deviceMsPerStep = ns / 1e6 / (last - first + 1);
    }
    if (this.diverged) return;
    const ring = new Float32Array(words.buffer, 4);
    let end = last;
    if (words[0] && words[0] <= last) {
      this.diverged = words[0];
      end = words[0] - 1;
    }
    for (let s = first; s <= end; s++) this._losses_done.push([s, ring[(s - 1) % this.lossSlots]]);
  }

  /** [[step, loss], ...] of the steps read back since the last call (never waits). */
  takeLosses() {
    const values = this._losses_done;
    this._losses_done = [];
    return values;
  }

  /** Resolves when every submitted step's loss has been read. */
  flush() {
    return this._pending;
  }

  // ----- inference: one dispatch ------------------------------------------------------------
  /** The network on the grid [n_0, n_1] (x_0 fastest; sample i of n at i / (n - 1)), as
   * render() in Python: resolves to a Float32Array of n_0 n_1 n_output_dims values. */
  async render(size) {
    const axes = size.slice(0, this.spec.n_input_dims);
    const coords = [];
    for (const n of axes) for (let i = 0; i < n; i++) coords.push(Math.fround(i / Math.max(n - 1, 1)));
    const nPoints = axes.reduce((a, b) => a * b, 1);
    return this._infer(Float32Array.from(coords), nPoints, [...axes, 0, 0].slice(0, 3));
  }

  /** The network on the slice z = `z` of the grid [n_0, n_1] (x fastest), as
   * gfxnn.fields.display.slice_inputs: n_0 n_1 n_output_dims values. */
  async renderSlice([w, h], z) {
    const coords = [];
    for (const n of [w, h]) for (let i = 0; i < n; i++) coords.push(Math.fround(i / Math.max(n - 1, 1)));
    coords.push(Math.fround(z));
    return this._infer(Float32Array.from(coords), w * h, [w, h, 1]);
  }

  async _infer(data, nPoints, size) {
    if (!this._batch) this._allocate(1);
    await this._pending;
    this._writeRecords(this.steps + 1, 1);
    const c = this.spec.n_output_dims;
    const points = this._buffer(4 * (data.length + 4));
    this.device.queue.writeBuffer(points, 0, data);
    const output = this._buffer(4 * nPoints * c);
    const record = new Uint32Array(RECORD / 4);
    record.set([0, nPoints, 0, nPoints, ...size]);
    const slices = this.device.createBuffer({ size: RECORD, usage: U.UNIFORM | U.COPY_DST });
    this.device.queue.writeBuffer(slices, 0, record);
    const bindGroup = this._makeBindGroup(points, output, slices);
    const kernel = this._pipeline("infer", this._constants(false), INFERENCE[this.controls.precision]);
    const encoder = this._encoder((pass) => {
      pass.setBindGroup(0, bindGroup, [0, 0]);
      pass.setPipeline(kernel);
      pass.dispatchWorkgroups(...groups(nPoints));
    });
    this.device.queue.submit([encoder.finish()]);
    const values = await this._read(output, 4 * nPoints * c, Float32Array);
    for (const buffer of [points, output, slices]) buffer.destroy();
    return values;
  }

  destroy() {
    for (const buffer of [this._weights, this._moments, this._accum, this._gradsOut]) buffer.destroy();
    for (const name of ["_acts", "_deltas", "_partials", "_losses", "_data", "_meta", "_slices"]) {
      if (this[name]) this[name].destroy();
    }
  }
}
