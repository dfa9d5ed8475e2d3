// Small DOM and formatting helpers shared by the page's modules.

export const $ = (id) => document.getElementById(id);

export function element(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (key === "dataset") Object.assign(node.dataset, value);
    else if (key in node) node[key] = value;
    else node.setAttribute(key, value);
  }
  node.append(...children);
  return node;
}

export function fillSelect(select, options) {
  // options: plain values, or [value, label] pairs
  select.replaceChildren(
    ...options.map((o) => (Array.isArray(o) ? new Option(o[1], o[0]) : new Option(o, o))),
  );
}

export function fmt(value, digits, suffix = "") {
  return value === null || value === undefined || !Number.isFinite(value)
    ? "–"
    : value.toFixed(digits) + suffix;
}

export function fmtExp(value, digits = 3) {
  return value === null || value === undefined || !Number.isFinite(value)
    ? "–"
    : value.toExponential(digits);
}

let errorTimer = null;

export function showError(text, hideAfterMs = 8000) {
  $("error-text").textContent = text;
  $("error").hidden = false;
  clearTimeout(errorTimer);
  if (hideAfterMs) errorTimer = setTimeout(() => { $("error").hidden = true; }, hideAfterMs);
}
