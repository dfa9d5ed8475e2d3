// The static studio's networks, built in the page (there is no server to ask): an encoding
// planned by Python when the folder was written (gfxnn.webgpu.layout.model_plan of a default
// MLP: the encoding's constants, its feature count and a grid's level words), with the MLP
// the page's settings ask for around it: its sizes, constants, runtime choices and tensor
// names as model_plan and static_site.state_names compute them (tested against them), and
// first weights drawn as gfxnn's CPU trainer draws them (the scheme of
// gfxnn.nn.init.SCHEMES, zero biases, a grid table uniform in +-1e-4), from the page's own
// generator (not NumPy's: other draws than `gfxnn fit` makes from the same seed).
"use strict";

import { generator } from "./examples.js";

// What an encoding plan fixes; every other setting is the page's.
const ENCODING_FIELDS = ["encoding", "encoding_params", "n_frequencies"];
const TABLE_LIMIT = 1e-4; // gfxnn.fused.grid: the table starts uniform(-1e-4, 1e-4)

/** The browser model (static_site.browser_model's form) of `settings` on the encoding of
 * `plan` (a browser model Python wrote); `ids` is site.json's {activations: {name: id},
 * losses, optimizers, max_width, n_layers: [fewest, most]}. An Error names a value the kernels cannot
 * run. */
export function composeModel(plan, settings, ids) {
  const s = { ...settings };
  for (const key of ENCODING_FIELDS) s[key] = structuredClone(plan.settings[key]);
  const output = s.output_activation || s.activation;
  check("n_neurons", s.n_neurons, Number.isInteger(s.n_neurons) && s.n_neurons >= 1 && s.n_neurons <= ids.max_width, `an integer in 1..${ids.max_width}`);
  const [fewest, most] = ids.n_layers;
  check("n_layers", s.n_layers, Number.isInteger(s.n_layers) && s.n_layers >= fewest && s.n_layers <= most, `an integer in ${fewest}..${most}`);
  for (const [name, value] of [["activation", s.activation], ["output_activation", output]]) {
    check(name, value, value in ids.activations, Object.keys(ids.activations).join(", "));
  }
  check("loss", s.loss, ids.losses.includes(s.loss), ids.losses.join(", "));
  check("optimizer", s.optimizer, ids.optimizers.includes(s.optimizer), ids.optimizers.join(", "));
  check("initialization", s.initialization, s.initialization in SCHEMES, Object.keys(SCHEMES).join(", "));
  const hidden = s.n_layers - 2;
  const sizes = [plan.constants.N_FEATURES, ...Array(hidden).fill(s.n_neurons), plan.constants.N_OUTPUT];
  let nParams = 0;
  for (let i = 0; i + 1 < sizes.length; i++) nParams += sizes[i + 1] * sizes[i] + sizes[i + 1];
  const betas = [s.beta1, s.beta2];
  const optimizer = (base, rate) => ({ ...base, name: s.optimizer, learning_rate: rate, betas });
  const spec = {
    ...structuredClone(plan.spec),
    n_neurons: s.n_neurons,
    n_hidden_layers: hidden,
    activation: s.activation,
    output_activation: output,
    loss: s.loss,
    optimizer: { ...optimizer(plan.spec.optimizer, s.learning_rate), epsilon: s.epsilon, l2_reg: s.l2_reg },
    encoding_optimizer: plan.spec.encoding_optimizer
      ? optimizer(plan.spec.encoding_optimizer, s.encoding_learning_rate || s.learning_rate)
      : null,
    seed: s.seed,
    initialization: s.initialization,
    freeze_network: s.freeze_mlp,
    freeze_encoding: s.freeze_encoding,
    gradient_clip: s.gradient_clip,
    clip_value: s.clip_value,
    precision: s.precision,
  };
  const optimizerId = ids.optimizers.indexOf(s.optimizer);
  return {
    spec,
    settings: s,
    sizes,
    n_params: nParams,
    n_table: plan.n_table,
    constants: { ...plan.constants, N_NEURONS: s.n_neurons, N_HIDDEN: hidden, N_PARAMS: nParams },
    choices: [ids.activations[s.activation], ids.activations[output], ids.losses.indexOf(s.loss), optimizerId, optimizerId],
    meta_levels: [...plan.meta_levels],
    names: stateNames(sizes, plan.n_table),
  };
}

function check(name, value, ok, allowed) {
  if (!ok) throw new Error(`${name} must be ${allowed}; got ${JSON.stringify(value)}`);
}

/** static_site.state_names: [name, shape] of each tensor in flat order. */
export function stateNames(sizes, nTable) {
  const names = [];
  for (let i = 0; i + 1 < sizes.length; i++) {
    names.push([`layers.${i}.weight`, [sizes[i + 1], sizes[i]]], [`layers.${i}.bias`, [sizes[i + 1]]]);
  }
  if (nTable) names.push(["encoding.table", [nTable]]);
  return names;
}

// gfxnn.nn.init.SCHEMES: [uniform limit or Gaussian sigma](fan_in, fan_out); the Gaussians
// are clipped at +-3 sigma
const SCHEMES = {
  xavier_uniform: { uniform: (i, o) => Math.sqrt(6 / (i + o)) },
  xavier_gaussian: { sigma: (i, o) => Math.sqrt(2 / (i + o)) },
  he_uniform: { uniform: (i) => Math.sqrt(6 / i) },
  he_gaussian: { sigma: (i) => Math.sqrt(2 / i) },
  lecun_uniform: { uniform: (i) => Math.sqrt(3 / i) },
  lecun_gaussian: { sigma: (i) => Math.sqrt(1 / i) },
};

/** First weights of `model` (a Float32Array in `model.names`' order): each layer's weights
 * by the settings' initialization scheme, zero biases, a grid table uniform in +-1e-4. */
export function initialWeights(model, seed = model.spec.seed) {
  const random = generator(seed >>> 0);
  const scheme = SCHEMES[model.spec.initialization || "xavier_uniform"];
  const normal = () => {
    // Box-Muller on two draws in (0, 1]
    const u = 1 - random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
  const flat = new Float32Array(model.n_params + model.n_table);
  let at = 0;
  for (const [name, shape] of model.names) {
    const size = shape.reduce((a, b) => a * b, 1);
    if (name.endsWith(".weight")) {
      const [fanOut, fanIn] = shape;
      if (scheme.uniform) {
        const limit = scheme.uniform(fanIn, fanOut);
        for (let k = 0; k < size; k++) flat[at + k] = (2 * random() - 1) * limit;
      } else {
        const sigma = scheme.sigma(fanIn, fanOut);
        for (let k = 0; k < size; k++) flat[at + k] = Math.min(Math.max(normal(), -3), 3) * sigma;
      }
    } else if (name === "encoding.table") {
      for (let k = 0; k < size; k++) flat[at + k] = (2 * random() - 1) * TABLE_LIMIT;
    } // biases stay zero
    at += size;
  }
  return flat;
}
