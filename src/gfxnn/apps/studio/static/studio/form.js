// The settings, grouped as MLPZen's panel (Training, MLP architecture, Input encoding) with the
// rest under More settings. Controls come from the server's schema, so a setting the library
// adds appears by itself (in its group when listed below, under More settings otherwise).
// Live settings are applied on change; the others are staged until Apply.
import { $, element, showError } from "./dom.js";
import { control } from "./connection.js";
import {
  allFields, current, effectiveSettings, emit, extraFields, field, on, store,
} from "./store.js";
import {
  checkboxChoiceWidget,
  pageParamFields,
  initializationWidget,
  limitWidget,
  plainWidget,
  rawParamsWidget,
  valueOf,
} from "./fields.js";

const GROUPS = {
  training: [
    "steps_per_frame", "frame_budget_ms", "max_steps", "freeze_mlp", "freeze_encoding",
    "batch_size", "learning_rate", "lr_schedule", "max_learning_rate", "decay_steps",
    "base_period", "min_learning_rate", "gradient_clip", "clip_value", "initialization",
    "optimizer",
  ],
  mlp: ["precision", "activation", "output_activation", "n_layers", "n_neurons"],
  encoding: [
    "encoding", "n_frequencies", "encoding_params.n_bins", "encoding_params.n_levels",
    "encoding_params.n_features_per_level", "encoding_params.base_resolution",
    "encoding_params.log2_hashmap_size", "encoding_params.per_level_scale", "encoding_params",
    "encoding_learning_rate",
  ],
};

// MLPZen's labels where they differ from the schema's.
const LABELS = {
  steps_per_frame: "Training steps per frame",
  freeze_mlp: "Freeze MLP",
  freeze_encoding: "Freeze hash grid",
  lr_schedule: "Learning rate schedule",
  max_learning_rate: "Max. learning rate",
  decay_steps: "Decay steps",
  base_period: "Base Ti (steps)",
  min_learning_rate: "Min. learning rate",
  gradient_clip: "Clip gradient",
  clip_value: "Clip value",
  initialization: "Initialization",
  activation: "Hidden activation",
  output_activation: "Output activation",
  n_layers: "Layer count",
  n_neurons: "Neurons per layer",
  encoding: "Input encoding",
};

// When a control is shown, given the settings as they will be after Apply: the schema's
// `shown_when` ({setting: [values]}) where the server gives one, else these rules.
const VISIBLE = {
  n_frequencies: (s) => s.encoding === "frequency",
  max_learning_rate: (s) => s.lr_schedule !== undefined && s.lr_schedule !== "fixed",
  decay_steps: (s) => s.lr_schedule === "linear",
  base_period: (s) => s.lr_schedule === "cosine",
  min_learning_rate: (s) => s.lr_schedule === "cosine",
  clip_value: (s) => s.gradient_clip !== undefined && s.gradient_clip !== "none",
  encoding_learning_rate: (s) => s.encoding === "hashgrid" || s.encoding === "densegrid",
  freeze_encoding: (s) => s.encoding === "hashgrid" || s.encoding === "densegrid",
};

export function shown(f, settings) {
  if (f.shown_when) {
    return Object.entries(f.shown_when).every(([name, values]) => values.includes(settings[name]));
  }
  const rule = VISIBLE[f.name];
  return rule ? rule(settings) : true;
}

const widgets = []; // { name, root, update }
const sentApplies = new Map(); // request id -> the staged names it sent

function widgetFor(f) {
  const labelled = { ...f, label: LABELS[f.name] || f.label };
  switch (f.name) {
    case "max_steps":
      return limitWidget(
        labelled, "Limit training steps", "Max. training steps", f.enable_value ?? 10000, edit,
      );
    case "frame_budget_ms":
      return limitWidget(
        labelled, "Per-frame time budget", "Budget (ms)", f.enable_value ?? 16, edit,
      );
    case "initialization":
      return initializationWidget(labelled, edit);
    case "precision":
      return checkboxChoiceWidget(labelled, "Use FP16 for MLP", "fp16", "fp32", edit);
    case "encoding_params": // its parts are controls of their own; the JSON is below
      return null;
    case "encoding_params.log2_hashmap_size": { // MLPZen counts the table in entries
      const widget = plainWidget({ ...labelled, label: "Table size (log2)" }, edit);
      const entries = element("span", { className: "hint entries" });
      widget.root.append(entries);
      return {
        root: widget.root,
        update: (s) => {
          widget.update(s);
          const log2 = Number(valueOf(f, s));
          entries.textContent = Number.isInteger(log2) && log2 < 40
            ? `${(2 ** log2).toLocaleString("en-US")} entries` : "";
        },
      };
    }
    default:
      return plainWidget(labelled, edit);
  }
}

export function buildForm() {
  widgets.length = 0;
  const params = store.schema.settings.find((f) => f.name === "encoding_params");
  extraFields.encoding_params = params ? pageParamFields(params) : [];
  const containers = {};
  for (const box of document.querySelectorAll(".settings[data-group]")) {
    box.replaceChildren();
    containers[box.dataset.group] = box;
  }
  const groupOf = (f) =>
    Object.keys(GROUPS).find((g) => GROUPS[g].includes(f.name)) ||
    (f.parent === "encoding_params" ? "encoding" : "more");
  const fields = allFields().sort((a, b) => order(a.name) - order(b.name));
  for (const f of fields) {
    const widget = widgetFor(f);
    if (widget === null) continue;
    widgets.push({ field: f, ...widget });
    containers[groupOf(f)].append(widget.root);
  }
  const raw = field("encoding_params");
  if (raw) { // the raw JSON too, for encodings without their own inputs
    widgets.push({ field: raw, raw: true, ...rawParamsWidget(raw, edit) });
    containers.more.append(widgets[widgets.length - 1].root);
  }
  for (const name of Object.keys(store.staged)) if (!field(name)) delete store.staged[name];
  refresh();
}

function order(name) {
  for (const list of Object.values(GROUPS)) {
    const i = list.indexOf(name);
    if (i >= 0) return i;
  }
  return 1000;
}

// A control changed: apply a live setting now, stage the others. `name` null = a bad value.
export function edit(name, value) {
  if (name === null) {
    showError(value.message);
    return;
  }
  const f = field(name);
  if (f && f.live) {
    control("apply", { settings: { [name]: value } });
    return;
  }
  store.staged[name] = value;
  refresh();
}

// Send the staged settings (the Apply button); edits of controls hidden by another edit
// (a grid parameter after switching to frequency) are dropped, not sent.
export function applyStaged() {
  const s = effectiveSettings();
  for (const name of Object.keys(store.staged)) {
    const f = field(name);
    if (f && !shown(f, s) && name !== "encoding_params") delete store.staged[name];
  }
  const names = Object.keys(store.staged);
  if (names.length === 0) {
    refresh();
    return;
  }
  const settings = Object.fromEntries(names.map((name) => [name, store.staged[name]]));
  const id = control("apply", { settings });
  if (id === "local") { // a trainer in the page took it
    for (const name of names) delete store.staged[name];
    refresh();
  } else if (id !== null) sentApplies.set(id, names);
}

// Redraw every control from the settings as they will be after Apply.
export function refresh() {
  if (!store.schema) return;
  const s = effectiveSettings();
  const server = (current() || {}).settings || {};
  for (const widget of widgets) {
    const name = widget.field.name;
    widget.update(s);
    if (!widget.raw) widget.root.hidden = !shown(widget.field, s);
    const staged = name in store.staged &&
      JSON.stringify(store.staged[name]) !== JSON.stringify(valueOf(widget.field, server));
    widget.root.classList.toggle("pending", staged);
  }
  const names = Object.keys(store.staged);
  $("apply").disabled = names.length === 0;
  $("apply-box").hidden = names.length === 0;
  $("pending").textContent = names.length
    ? `Press Apply for ${names.length} change(s) to take effect`
    : "";
  emit("settings", s);
}

on("reply", (message) => {
  // A refused live change: the controls go back to the server's values.
  if (message.type === "error" && message.request === "apply") refresh();
  if (!sentApplies.has(message.id)) return;
  if (message.type === "ok") for (const name of sentApplies.get(message.id)) delete store.staged[name];
  sentApplies.delete(message.id);
  refresh();
});

let shownSettingsVersion = -1;
on("state", (state) => {
  if (state.settings_version !== shownSettingsVersion) {
    shownSettingsVersion = state.settings_version;
    refresh();
  }
});
on("hello", () => {
  buildForm();
  shownSettingsVersion = -1;
});
