// One control per setting, built from the server's schema entry (kind, choices, range, live),
// plus the few composite controls MLPZen's panel has: a checkbox and value for limits
// ("Limit training steps" + maximum), the initialisation as scheme x distribution, FP16 as a
// checkbox, and the encoding's tcnn parameters as their own inputs.
import { element, fillSelect } from "./dom.js";

// Encoding parameters MLPZen's panel shows that the server's schema may not list as controls
// of their own ("encoding_params.<key>", merged into encoding_params by the server's apply):
// [key, label, kind, tcnn's default (gfxnn's constructors use the same), range, encodings].
const PAGE_PARAMS = [
  ["n_bins", "One-blob bins", "int", 16, [1, 256], ["oneblob"]],
  ["per_level_scale", "Per-level scale", "float", 2.0, null, ["hashgrid", "densegrid"]],
];

// Schema entries for those of PAGE_PARAMS the server's `encoding_params` entry lacks.
export function pageParamFields(parent) {
  const listed = new Set((parent.fields || []).map((f) => f.key));
  return PAGE_PARAMS.filter(([key]) => !listed.has(key)).map(
    ([key, label, kind, fallback, range, encodings]) => ({
      name: `encoding_params.${key}`, parent: "encoding_params", key, label, kind,
      default: fallback, range, nullable: false, choices: null, live: false,
      help: `the encoding's ${key} (tcnn's name), kept in encoding_params`,
      shown_when: { encoding: encodings },
    }),
  );
}

function readValue(field, input) {
  if (field.kind === "bool") return input.checked;
  const raw = input.value.trim();
  if (raw === "" && field.nullable) return null;
  if (field.kind === "int" || field.kind === "float") {
    const value = Number(raw);
    if (raw === "" || !Number.isFinite(value)) throw new Error(`${field.label}: not a number`);
    if (field.kind === "int" && !Number.isInteger(value)) {
      throw new Error(`${field.label}: must be a whole number`);
    }
    return value;
  }
  if (field.kind === "json") {
    try {
      return JSON.parse(raw);
    } catch {
      throw new Error(`${field.label}: not valid JSON`);
    }
  }
  return raw;
}

// A setting's value in `settings`; a dotted entry ("encoding_params.n_levels", with parent and
// key) reads its parent's key, else its default (the server's protocol).
export function valueOf(field, settings) {
  if (field.name in settings) return settings[field.name];
  if (field.parent) {
    const parent = settings[field.parent] || {};
    return field.key in parent ? parent[field.key] : field.default;
  }
  return undefined;
}

function writeValue(field, input, value) {
  if (document.activeElement === input) return; // never overwrite what is being typed
  if (field.kind === "bool") input.checked = Boolean(value);
  else if (field.kind === "json") input.value = JSON.stringify(value);
  else input.value = value === null || value === undefined ? "" : String(value);
}

function makeInput(field) {
  let input;
  if (field.choices) {
    input = element("select");
    fillSelect(input, field.choices);
    if (field.nullable) input.prepend(new Option("(same as hidden)", ""));
  } else {
    input = element("input");
    if (field.kind === "bool") input.type = "checkbox";
    else if (field.kind === "int" || field.kind === "float") {
      input.type = "number";
      input.step = field.kind === "int" ? "1" : "any";
      if (field.range) [input.min, input.max] = field.range;
    } else input.type = "text";
  }
  input.id = `setting-${field.name}`;
  input.name = field.name;
  return input;
}

function caption(field, text = field.label) {
  const span = element("span", { textContent: text + (field.live ? "" : " *") });
  span.title = (field.help || "") + (field.live ? "" : " (rebuilds the network on Apply)");
  return span;
}

// The plain control: label and one input.
export function plainWidget(field, edit) {
  const input = makeInput(field);
  const bool = field.kind === "bool"; // a checkbox reads best before its label
  const root = element("label", { className: bool ? "toggle" : "field", dataset: { name: field.name } });
  if (bool) root.append(input, " ", caption(field));
  else root.append(caption(field), input);
  input.addEventListener("change", () => {
    try {
      const value = readValue(field, input);
      root.classList.remove("invalid");
      edit(field.name, value);
    } catch (error) {
      root.classList.add("invalid");
      edit(null, error);
    }
  });
  return { root, update: (s) => writeValue(field, input, valueOf(field, s)) };
}

// A nullable number as a checkbox (off = null) and the value it sets when on.
export function limitWidget(field, checkLabel, valueLabel, fallback, edit) {
  const box = element("input", { type: "checkbox", id: `setting-${field.name}-on` });
  const input = makeInput({ ...field, nullable: false });
  const valueRow = element("label", { className: "field" }, caption(field, valueLabel), input);
  const root = element(
    "div",
    { className: "composite", dataset: { name: field.name } },
    element("label", { className: "toggle" }, box, ` ${checkLabel}`),
    valueRow,
  );
  let last = fallback;
  const send = () => {
    try {
      const value = box.checked ? readValue({ ...field, nullable: false }, input) : null;
      root.classList.remove("invalid");
      edit(field.name, value);
    } catch (error) {
      root.classList.add("invalid");
      edit(null, error);
    }
  };
  box.addEventListener("change", () => {
    if (box.checked && input.value === "") input.value = String(last);
    valueRow.hidden = !box.checked;
    send();
  });
  input.addEventListener("change", send);
  const update = (s) => {
    const value = s[field.name];
    box.checked = value !== null && value !== undefined;
    valueRow.hidden = !box.checked;
    if (box.checked) {
      last = value;
      writeValue(field, input, value);
    }
  };
  return { root, update };
}

// "he_gaussian" and friends as two menus, MLPZen's He / Xavier / LeCun x Gaussian / Uniform.
export function initializationWidget(field, edit) {
  const pairs = (field.choices || []).map((c) => c.split("_"));
  const schemes = [...new Set(pairs.map((p) => p[0]))];
  const kinds = [...new Set(pairs.map((p) => p[1]))];
  const title = (w) => ({ he: "He", xavier: "Xavier", lecun: "LeCun" })[w] || w[0].toUpperCase() + w.slice(1);
  const scheme = element("select", { id: "setting-initialization-scheme" });
  const kind = element("select", { id: "setting-initialization-kind" });
  fillSelect(scheme, schemes.map((w) => [w, title(w)]));
  fillSelect(kind, kinds.map((w) => [w, title(w)]));
  const root = element(
    "label",
    { className: "field", dataset: { name: field.name } },
    caption(field),
    element("span", { className: "pair" }, scheme, kind),
  );
  const send = () => edit(field.name, `${scheme.value}_${kind.value}`);
  scheme.addEventListener("change", send);
  kind.addEventListener("change", send);
  const update = (s) => {
    const [a, b] = String(s[field.name] || "").split("_");
    if (a && document.activeElement !== scheme) scheme.value = a;
    if (b && document.activeElement !== kind) kind.value = b;
  };
  return { root, update };
}

// A two-choice string setting as one checkbox (precision: fp16 on / fp32 off).
export function checkboxChoiceWidget(field, text, onValue, offValue, edit) {
  const box = element("input", { type: "checkbox", id: `setting-${field.name}` });
  const root = element(
    "label",
    { className: "toggle", dataset: { name: field.name } },
    box,
    ` ${text}${field.live ? "" : " *"}`,
  );
  root.title = field.help || "";
  box.addEventListener("change", () => edit(field.name, box.checked ? onValue : offValue));
  return { root, update: (s) => { box.checked = s[field.name] === onValue; } };
}

// The raw encoding_params JSON, for encodings without their own inputs (under More settings).
export function rawParamsWidget(field, edit) {
  return plainWidget({ ...field, label: "Encoding parameters (JSON)" }, edit);
}
