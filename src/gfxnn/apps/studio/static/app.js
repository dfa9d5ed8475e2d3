// gfxnn studio: the page. One WebSocket carries the server's state and prediction frames in,
// and the controls out (protocol in docs/studio.md). No framework, no build step.
"use strict";

const $ = (id) => document.getElementById(id);
const FRAME_TAG = 1;

let socket = null;
let retryMs = 500;
let schema = null;
let state = null;
let nextId = 1;
let staged = {}; // rebuild settings edited on the page but not applied yet
const sentApplies = new Map(); // request id -> the staged names it sent
let shownImageVersion = -1;
let shownSettingsVersion = -1;
let shownError = null;
let frameUrl = null;
let errorTimer = null;
let learningClickedAt = 0; // the checkbox follows the server, except right after a click

// ----- connection ---------------------------------------------------------------------------
function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { retryMs = 500; setConnection(true); };
  socket.onclose = () => {
    setConnection(false);
    setTimeout(connect, retryMs);
    retryMs = Math.min(retryMs * 2, 5000);
  };
  socket.onmessage = (event) => {
    if (typeof event.data === "string") onMessage(JSON.parse(event.data));
    else onFrame(new Uint8Array(event.data));
  };
}

function setConnection(online) {
  const el = $("connection");
  el.textContent = online ? "connected" : "disconnected, retrying…";
  el.className = "status " + (online ? "online" : "offline");
}

function send(type, fields = {}) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    showError("not connected to the studio server");
    return null;
  }
  const id = nextId++;
  socket.send(JSON.stringify({ type, id, ...fields }));
  return id;
}

function onMessage(message) {
  switch (message.type) {
    case "hello": schema = message; buildPage(); break;
    case "state": state = message; renderState(); break;
    case "ok": onReply(message); break;
    case "error":
      sentApplies.delete(message.id);
      showError(message.message);
      break;
    default: break;
  }
}

function onReply(message) {
  if (message.request === "apply" && sentApplies.has(message.id)) {
    for (const name of sentApplies.get(message.id)) delete staged[name];
    sentApplies.delete(message.id);
    shownSettingsVersion = -1; // take the applied values from the next state
    markPending();
  } else if (message.request === "export" && message.text) {
    const code = $("export-code");
    code.textContent = message.text;
    code.hidden = false;
  }
}

function onFrame(bytes) {
  if (bytes[0] !== FRAME_TAG) return;
  const url = URL.createObjectURL(new Blob([bytes.subarray(1)], { type: "image/png" }));
  const img = $("prediction");
  const old = frameUrl;
  img.onload = () => { if (old) URL.revokeObjectURL(old); };
  img.src = url;
  frameUrl = url;
}

// ----- building the page from the server's schema ---------------------------------------------
function buildPage() {
  $("device").textContent = schema.device;
  fillSelect($("bundled"), schema.bundled_images);
  const limits = schema.limits;
  $("upload-limits").textContent =
    `PNG, JPEG, GIF, BMP or WebP; up to ${(limits.max_upload_bytes / 1048576).toFixed(0)} MiB ` +
    `and ${limits.max_upload_pixels.toLocaleString()} pixels`;
  const formats = schema.export_formats || [];
  $("export-box").hidden = formats.length === 0;
  fillSelect($("export-format"), formats);
  buildSettingsForm(schema.settings);
  shownSettingsVersion = -1;
  if (state) renderState();
  for (const [name, value] of Object.entries(staged)) { // edits kept across a reconnect
    const field = schema.settings.find((f) => f.name === name);
    if (field) writeInput(field, $(`setting-${name}`), value);
    else delete staged[name];
  }
  markPending();
}

function fillSelect(select, values) {
  select.replaceChildren(...values.map((value) => new Option(value, value)));
}

function buildSettingsForm(fields) {
  const form = $("settings");
  form.replaceChildren();
  const more = document.createElement("details");
  const summary = document.createElement("summary");
  summary.textContent = "More settings";
  more.append(summary);
  for (const field of fields) {
    const label = document.createElement("label");
    label.dataset.name = field.name;
    const text = document.createElement("span");
    text.textContent = field.label + (field.live ? "" : " *");
    text.title = field.live ? "changes live" : "rebuilds the network on Apply";
    let input;
    if (field.choices) {
      input = document.createElement("select");
      fillSelect(input, field.choices);
      if (field.nullable) input.prepend(new Option("(default)", ""));
    } else {
      input = document.createElement("input");
      if (field.kind === "bool") input.type = "checkbox";
      else if (field.kind === "int" || field.kind === "float") {
        input.type = "number";
        input.step = field.kind === "int" ? "1" : "any";
        if (field.range) { input.min = field.range[0]; input.max = field.range[1]; }
      } else input.type = "text";
    }
    input.id = `setting-${field.name}`;
    input.name = field.name;
    input.addEventListener("change", () => onSettingChanged(field, input, label));
    label.append(text, input);
    (field.advanced ? more : form).append(label);
  }
  if (more.childElementCount > 1) form.append(more);
  form.addEventListener("submit", (event) => event.preventDefault());
}

function readInput(field, input) {
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
    try { return JSON.parse(raw); } catch { throw new Error(`${field.label}: not valid JSON`); }
  }
  return raw;
}

function writeInput(field, input, value) {
  if (field.kind === "bool") input.checked = Boolean(value);
  else if (field.kind === "json") input.value = JSON.stringify(value);
  else input.value = value === null || value === undefined ? "" : String(value);
}

function onSettingChanged(field, input, label) {
  let value;
  try {
    value = readInput(field, input);
    label.classList.remove("invalid");
  } catch (error) {
    label.classList.add("invalid");
    showError(error.message);
    return;
  }
  if (field.live) {
    send("apply", { settings: { [field.name]: value } });
  } else {
    staged[field.name] = value;
    markPending();
  }
}

function markPending() {
  const names = Object.keys(staged);
  for (const label of $("settings").querySelectorAll("label")) {
    label.classList.toggle("pending", label.dataset.name in staged);
  }
  $("apply").disabled = names.length === 0;
  $("pending").textContent = names.length ? `${names.length} change(s) to apply` : "";
}

// ----- showing the state ----------------------------------------------------------------------
function fmt(value, digits, suffix = "") {
  return value === null || value === undefined ? "–" : value.toFixed(digits) + suffix;
}

function renderState() {
  const s = state;
  $("steps").textContent = s.steps.toLocaleString("en-US");
  $("rate").textContent = s.running ? fmt(s.steps_per_second, 0) : "paused";
  $("loss").textContent = s.loss === null ? "–" : s.loss.toExponential(3);
  $("psnr").textContent = fmt(s.psnr, 2, " dB");
  $("fps").textContent = s.running ? fmt(s.frames_per_second, 1) : "–";
  if (performance.now() - learningClickedAt > 1000) $("learning").checked = s.running;
  $("clients").textContent = `${s.clients} page${s.clients === 1 ? "" : "s"} open`;
  if (!schema) return;
  $("device").textContent = s.device;
  const rows = Object.entries(s.timings_ms).map(([phase, ms]) => {
    const row = document.createElement("tr");
    row.innerHTML = "<td></td><td></td>";
    row.cells[0].textContent = phase;
    row.cells[1].textContent = ms.toFixed(3);
    return row;
  });
  $("timings").tBodies[0].replaceChildren(...rows);
  if (s.image.version !== shownImageVersion) {
    shownImageVersion = s.image.version;
    $("reference").src = `/api/reference.png?v=${s.image.version}`;
    $("image-info").textContent = `${s.image.source}, ${s.image.width}×${s.image.height}`;
    $("image-info").title = s.image.notes.join("\n");
  }
  const p = s.preview;
  const scaled = p.width !== s.image.width || p.height !== s.image.height;
  $("frame-info").textContent = scaled ? `preview ${p.width}×${p.height}` : "";
  if (s.settings_version !== shownSettingsVersion) {
    shownSettingsVersion = s.settings_version;
    syncForm(s.settings);
  }
  if (s.error !== shownError) {
    shownError = s.error;
    if (s.error) showError(s.error, 0);
  }
  renderFiles(s.files);
  drawChart(s.history);
}

function syncForm(settings) {
  for (const field of schema.settings) {
    const input = $(`setting-${field.name}`);
    if (!input || field.name in staged || document.activeElement === input) continue;
    writeInput(field, input, settings[field.name]);
    input.parentElement.classList.remove("invalid");
  }
}

function renderFiles(files) {
  const list = $("files");
  if (list.childElementCount === files.length) return;
  list.replaceChildren(...files.slice().reverse().map((file) => {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = file.url;
    link.download = file.name;
    link.textContent = file.name;
    item.append(link);
    return item;
  }));
}

function showError(text, hideAfterMs = 8000) {
  $("error-text").textContent = text;
  $("error").hidden = false;
  clearTimeout(errorTimer);
  if (hideAfterMs) errorTimer = setTimeout(() => { $("error").hidden = true; }, hideAfterMs);
}

// ----- the chart: loss (log scale) and PSNR against the step, drawn on a canvas ------------------
function drawChart(history) {
  const canvas = $("chart");
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.clientWidth || canvas.width;
  const height = canvas.clientHeight || canvas.height;
  if (canvas.width !== Math.round(width * ratio)) {
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  ctx.clearRect(0, 0, width, height);
  const half = width / 2;
  const loss = history.loss.filter((p) => p[1] > 0).map(([x, y]) => [x, Math.log10(y)]);
  drawPanel(ctx, 0, half, height, loss, "loss (log10)", "#5aa9ff", (v) => `1e${v.toFixed(1)}`);
  drawPanel(ctx, half, half, height, history.psnr, "PSNR (dB)", "#62d39a", (v) => v.toFixed(1));
}

function drawPanel(ctx, left, width, height, points, title, color, label) {
  const pad = { left: 48, right: 10, top: 18, bottom: 20 };
  const x0 = left + pad.left, x1 = left + width - pad.right;
  const y0 = height - pad.bottom, y1 = pad.top;
  ctx.strokeStyle = "#353a45";
  ctx.strokeRect(x0, y1, x1 - x0, y0 - y1);
  ctx.fillStyle = "#8a91a0";
  ctx.font = "11px system-ui, sans-serif";
  ctx.fillText(title, x0, 12);
  if (points.length === 0) return;
  const xs = points.map((p) => p[0]), ys = points.map((p) => p[1]);
  const xMin = Math.min(...xs), xMax = Math.max(...xs);
  let yMin = Math.min(...ys), yMax = Math.max(...ys);
  if (yMax - yMin < 1e-9) { yMin -= 0.5; yMax += 0.5; }
  const sx = (x) => x0 + (xMax > xMin ? (x - xMin) / (xMax - xMin) : 0.5) * (x1 - x0);
  const sy = (y) => y0 - ((y - yMin) / (yMax - yMin)) * (y0 - y1);
  ctx.fillText(label(yMax), left + 2, y1 + 8);
  ctx.fillText(label(yMin), left + 2, y0);
  ctx.fillText(`step ${xMax.toLocaleString("en-US")}`, x1 - 80, height - 5);
  ctx.strokeStyle = color;
  ctx.lineWidth = 1.5;
  ctx.beginPath();
  points.forEach(([x, y], i) => (i ? ctx.lineTo(sx(x), sy(y)) : ctx.moveTo(sx(x), sy(y))));
  ctx.stroke();
}

// ----- controls -------------------------------------------------------------------------------
async function upload(file) {
  const body = new FormData();
  body.append("file", file, file.name);
  try {
    const response = await fetch("/api/upload", { method: "POST", body });
    if (!response.ok) {
      const reply = await response.json().catch(() => ({ error: response.statusText }));
      showError(`upload refused: ${reply.error}`);
    }
  } catch (error) {
    showError(`upload failed: ${error.message}`);
  }
}

function wireControls() {
  $("learning").addEventListener("change", (event) => {
    learningClickedAt = performance.now();
    send(event.target.checked ? "start" : "stop");
  });
  $("step").addEventListener("click", () => send("step", { n: 1 }));
  $("reset").addEventListener("click", () => send("reset"));
  $("load-bundled").addEventListener("click", () => send("load_image", { name: $("bundled").value }));
  $("upload").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (file) await upload(file);
    event.target.value = "";
  });
  $("apply").addEventListener("click", () => {
    const names = Object.keys(staged);
    if (names.length === 0) return;
    const settings = Object.fromEntries(names.map((name) => [name, staged[name]]));
    const id = send("apply", { settings });
    if (id !== null) sentApplies.set(id, names);
  });
  $("save").addEventListener("click", () => send("save_checkpoint"));
  $("export").addEventListener("click", () => send("export", { format: $("export-format").value }));
  $("error-close").addEventListener("click", () => { $("error").hidden = true; });
}

wireControls();
connect();
