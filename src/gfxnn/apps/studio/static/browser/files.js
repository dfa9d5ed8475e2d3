// The files the page reads and writes without a server's help: the fit checkpoint
// (safetensors: an 8-byte little-endian header length, a JSON header, then the tensors; the
// layout gfxnn.io.save_checkpoint writes, with gfxnn's "format", "config" and "metadata"
// strings in __metadata__) and float32 .npy arrays. Only numbers are read from either:
// nothing in a file is ever run.
"use strict";

export const CHECKPOINT_FORMAT = "gfxnn-checkpoint/1"; // gfxnn.io.CHECKPOINT_FORMAT
const MAX_HEADER = 1 << 20;

/** A fit checkpoint (Uint8Array) of flat float32 weights cut into `names` ([name, shape]). */
export function writeCheckpoint(names, flat, config, metadata) {
  const header = {
    __metadata__: {
      format: CHECKPOINT_FORMAT,
      config: JSON.stringify(config),
      metadata: JSON.stringify(metadata),
    },
  };
  let offset = 0;
  for (const [name, shape] of names) {
    const size = shape.reduce((a, b) => a * b, 1);
    header[name] = { dtype: "F32", shape, data_offsets: [4 * offset, 4 * (offset + size)] };
    offset += size;
  }
  if (offset !== flat.length) throw new Error(`${flat.length} weights for tensors of ${offset}`);
  let text = JSON.stringify(header);
  text += " ".repeat((8 - ((text.length + 8) % 8)) % 8); // tensors start 8-byte aligned
  const json = new TextEncoder().encode(text);
  const bytes = new Uint8Array(8 + json.length + 4 * offset);
  const view = new DataView(bytes.buffer);
  view.setBigUint64(0, BigInt(json.length), true);
  bytes.set(json, 8);
  const data = new DataView(bytes.buffer, 8 + json.length);
  for (let i = 0; i < flat.length; i++) data.setFloat32(4 * i, flat[i], true);
  return bytes;
}

/** A fit checkpoint of the page's weights (what `gfxnn render` and `gfxnn export` read). */
export function checkpointBytes(model, settings, weights, image, { psnr, steps, zPlane = 0.5 }) {
  const config = { settings, app: "gfxnn studio (browser)" };
  if (!image.example || image.example === "image") {
    config.image = { source: image.source, width: image.width, height: image.height };
  } else {
    // another example than an image: gfxnn.apps.fit_examples.example_config's entry
    const example = image.example;
    config.example = {
      name: example,
      n_input_dims: model.spec.n_input_dims,
      n_output_dims: model.spec.n_output_dims,
      grid_shape: image.grid.slice(0, model.spec.n_input_dims).reverse(),
      ...(example === "bubbles" || example === "volume" ? { z_plane: zPlane } : {}),
      ...(example === "volume" ? { source: image.source } : {}),
    };
  }
  const finite = Number.isFinite(psnr) ? psnr : null;
  return writeCheckpoint(model.names, weights, config, { psnr: finite, steps, weights_step: steps });
}

/** {tensors: {name: {shape, values: Float32Array}}, config, metadata} of a checkpoint's
 * bytes; an Error naming what is wrong otherwise. Only F32 tensors are accepted. */
export function readCheckpoint(buffer) {
  const bytes = new Uint8Array(buffer);
  if (bytes.length < 8) throw new Error("not a safetensors file: shorter than 8 bytes");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const length = Number(view.getBigUint64(0, true));
  if (length > MAX_HEADER || 8 + length > bytes.length) throw new Error("not a safetensors file: bad header length");
  const header = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + length)));
  const strings = header.__metadata__ || {};
  if (strings.format !== CHECKPOINT_FORMAT) throw new Error("a safetensors file, but not a gfxnn checkpoint");
  const tensors = {};
  const start = 8 + length;
  for (const [name, entry] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const [begin, end] = entry.data_offsets;
    const size = entry.shape.reduce((a, b) => a * b, 1);
    if (entry.dtype !== "F32" || end - begin !== 4 * size || start + end > bytes.length) {
      throw new Error(`tensor ${name}: expected float32 data of shape [${entry.shape}]`);
    }
    const values = new Float32Array(size);
    const data = new DataView(bytes.buffer, bytes.byteOffset + start + begin, 4 * size);
    for (let i = 0; i < size; i++) values[i] = data.getFloat32(4 * i, true);
    tensors[name] = { shape: entry.shape, values };
  }
  const parse = (text) => (text ? JSON.parse(text) : {});
  return { tensors, config: parse(strings.config), metadata: parse(strings.metadata) };
}

/** The flat weights of `tensors` in the order of `names` ([name, shape]), shapes checked. */
export function flatWeights(tensors, names) {
  const parts = names.map(([name, shape]) => {
    const tensor = tensors[name];
    const size = shape.reduce((a, b) => a * b, 1);
    if (!tensor || tensor.values.length !== size) {
      throw new Error(`the weights have no tensor ${name} of shape [${shape}]`);
    }
    return tensor.values;
  });
  const flat = new Float32Array(parts.reduce((n, part) => n + part.length, 0));
  let at = 0;
  for (const part of parts) {
    flat.set(part, at);
    at += part.length;
  }
  return flat;
}

/** {shape, values} of a little-endian float32, C-ordered .npy file (format 1.0 to 3.0). */
export function readNpy(buffer) {
  const { descr, shape, data } = npyHeader(buffer);
  if (descr !== "<f4") throw new Error(`the .npy array must be float32 in C order, got dtype ${descr}`);
  return { shape, values: npyValues(data, descr, shape) };
}

/** The header of a C-order .npy file: {descr, shape, data (a DataView of the values)}; an
 * Error naming what is wrong. */
function npyHeader(buffer) {
  const bytes = new Uint8Array(buffer);
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== "\x93NUMPY") throw new Error("not a .npy file");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const major = bytes[6];
  const length = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + length));
  const descr = /'descr':\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order':\s*(True|False)/.exec(header);
  const shapeText = /'shape':\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || fortran[1] !== "False" || !shapeText) {
    throw new Error(`the .npy array must be in C order with a plain header, got ${header.trim()}`);
  }
  const shape = shapeText[1].split(",").filter((s) => s.trim()).map(Number);
  const size = shape.reduce((a, b) => a * b, 1);
  const itemsize = NPY_SIZES[descr[1]];
  if (!itemsize) {
    throw new Error(`the .npy dtype ${descr[1]} is not read here (float32/64, uint8, uint16 or bool)`);
  }
  if (start + length + itemsize * size > bytes.length) throw new Error("the .npy file is truncated");
  const data = new DataView(bytes.buffer, bytes.byteOffset + start + length, itemsize * size);
  return { descr: descr[1], shape, data };
}

const NPY_SIZES = { "<f4": 4, "<f8": 8, "|u1": 1, "<u2": 2, "|b1": 1 };

function npyValues(data, descr, shape) {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  const read = {
    "<f4": (i) => data.getFloat32(4 * i, true),
    "<f8": (i) => data.getFloat64(8 * i, true),
    "|u1": (i) => data.getUint8(i) / 255, // gfxnn.fields.examples: integers scaled to [0, 1]
    "<u2": (i) => data.getUint16(2 * i, true) / 65535,
    "|b1": (i) => (data.getUint8(i) ? 1 : 0),
  }[descr];
  for (let i = 0; i < size; i++) values[i] = read(i);
  return values;
}

/** A volume of a .npy file, checked as gfxnn.fields.examples.check_volume checks one:
 * {shape: [D, H, W, C], values} with (D, H, W) or (D, H, W, C <= 4), at most `maxValues`
 * values, float32/float64 in [0, 1] (the first bad value named by its index), uint8, uint16
 * (scaled to [0, 1]) or bool. */
export function readVolume(buffer, maxValues) {
  const { descr, shape, data } = npyHeader(buffer);
  const full = shape.length === 3 ? [...shape, 1] : shape;
  if (full.length !== 4 || full[3] < 1 || full[3] > 4 || Math.min(...full) < 1) {
    throw new Error(`a volume has shape (D, H, W) or (D, H, W, C) with C in 1..4 and every size >= 1, got (${shape})`);
  }
  const size = full.reduce((a, b) => a * b, 1);
  if (size > maxValues) throw new Error(`the volume (${shape}) holds ${size} values; at most ${maxValues} are fitted`);
  const values = npyValues(data, descr, full);
  if (descr[1] === "f") {
    const bad = values.findIndex((v) => !(v >= 0 && v <= 1)); // NaN fails both
    if (bad >= 0) {
      const index = [];
      let rest = bad;
      for (let k = full.length - 1; k >= 0; k--) {
        index.unshift(rest % full[k]);
        rest = Math.floor(rest / full[k]);
      }
      throw new Error(
        `a volume value is NaN, infinite or outside [0, 1] (the first ${values[bad]} at index (${index.slice(0, shape.length)})); scale the volume to [0, 1]`,
      );
    }
  }
  return { shape: full, values };
}
