// The panel's fixed parts: header readouts, example settings (example, image, volume, z plane,
// presets), the training controls and readouts, output, statistics and per-pass timings.
import { $, element, fillSelect, fmt, fmtExp, showError } from "./dom.js";
import { control } from "./connection.js";
import { applyStaged } from "./form.js";
import { current, on, store } from "./store.js";

let learningClickedAt = 0; // the checkbox follows the state, except right after a click
let zMovedAt = 0;

// The server's examples ({name, label, networks, z_plane, ...}); one image before it had any.
function examples(schema) {
  return schema.examples || [{ name: "image", label: "Learn Image", z_plane: false }];
}

function onHello(schema) {
  $("device").textContent = schema.device;
  fillSelect($("example"), examples(schema).map((e) => [e.name, e.label || e.name]));
  $("example").disabled = examples(schema).length < 2;
  fillSelect($("bundled"), schema.bundled_images);
  const limits = schema.limits;
  $("upload-limits").textContent =
    `PNG, JPEG, GIF, BMP or WebP; up to ${(limits.max_upload_bytes / 1048576).toFixed(0)} MiB ` +
    `and ${limits.max_upload_pixels.toLocaleString("en-US")} pixels`;
  const presets = schema.presets || [];
  $("presets").replaceChildren(
    element("span", { className: "hint", textContent: "Load the defaults of" }),
    ...presets.map((p) =>
      element("button", {
        type: "button",
        id: `preset-${p.name}`,
        textContent: (p.label || p.name).replace(/ defaults$/, ""),
        title: `load ${p.label || p.name} for this example (rebuilds the network)`,
        onclick: () => control("preset", { name: p.name }),
      }),
    ),
  );
  $("presets").hidden = presets.length === 0;
  const formats = schema.export_formats || [];
  $("export-box").hidden = formats.length === 0;
  fillSelect($("export-format"), formats);
}


function onState() {
  const s = current();
  if (!s) return;
  const schema = store.schema || {};
  const example = s.example || "image";
  $("steps").textContent = s.steps.toLocaleString("en-US");
  $("rate").textContent = s.running ? fmt(s.steps_per_second, 0) : "paused";
  // Training frames (steps_per_frame steps each) where the server counts them.
  const fps = s.training_frames_per_second ?? s.frames_per_second;
  $("fps").textContent = s.running ? fmt(fps, 1) : "–";
  $("frame-time").textContent = s.running ? fmt(s.frame_time_ms, 2, " ms") : "–";
  $("display-fps").textContent = fmt(s.frames_per_second, 1);
  $("limit-reached").hidden = !s.limit_reached;
  $("loss").textContent = fmtExp(s.loss);
  $("psnr").textContent = fmt(s.psnr, 2, " dB");
  $("current-lr").textContent = fmt(s.learning_rate, 6);
  if (performance.now() - learningClickedAt > 1000) $("learning").checked = s.running;
  $("step").hidden = s.running;
  if (s.clients !== undefined) {
    $("clients").textContent = `${s.clients} page${s.clients === 1 ? "" : "s"} open`;
  }
  const adapter = s.adapter || s.device;
  if (adapter) $("device").textContent = s.backend ? `${adapter} · ${s.backend}` : adapter;
  if ($("example").value !== example && document.activeElement !== $("example")) {
    $("example").value = example;
  }
  $("image-box").hidden = example !== "image"; // as MLPZen's Texture to Learn
  $("volume-box").hidden = example !== "volume";
  const info = schema.examples && schema.examples.find((e) => e.name === example);
  $("z-plane-box").hidden = !(info && info.z_plane);
  if (s.z_plane !== undefined && s.z_plane !== null && performance.now() - zMovedAt > 1000) {
    $("z-plane").value = String(s.z_plane);
  }
  $("z-plane-value").textContent = Number($("z-plane").value).toFixed(2);
  const sizes = s.sizes_kb || {};
  const each = s.n_networks > 1 ? ` each (×${s.n_networks})` : "";
  $("mlp-size").textContent = fmt(sizes.network, 1, " kB") + (sizes.network ? each : "");
  $("grid-size").textContent = fmt(sizes.encoding, 1, " kB") + (sizes.encoding ? each : "");
  $("grid-size-line").hidden = !sizes.encoding;
  renderTimings(s.timings_ms || {});
  renderFiles(s.files || []);
  if (s.error !== shownError) {
    shownError = s.error;
    if (s.error) showError(s.error, 0);
  }
}
let shownError = null;

function renderTimings(timings) {
  const rows = Object.entries(timings).map(([phase, ms]) =>
    element(
      "tr",
      {},
      element("td", { textContent: phase }),
      element("td", { textContent: typeof ms === "number" ? ms.toFixed(3) : String(ms) }),
    ),
  );
  $("timings").tBodies[0].replaceChildren(...rows);
}

function renderFiles(files) {
  const list = $("files");
  if (list.childElementCount === files.length) return;
  list.replaceChildren(
    ...files
      .slice()
      .reverse()
      .map((file) =>
        element(
          "li",
          {},
          element("a", { href: file.url, download: file.name, textContent: file.name }),
        ),
      ),
  );
}

async function upload(file, url) {
  const body = new FormData();
  body.append("file", file, file.name);
  try {
    const response = await fetch(url, { method: "POST", body });
    if (!response.ok) {
      const reply = await response.json().catch(() => ({ error: response.statusText }));
      showError(`upload refused: ${reply.error}`);
    }
  } catch (error) {
    showError(`upload failed: ${error.message}`);
  }
}

function uploadInput(input, url) {
  input.addEventListener("change", async () => {
    const file = input.files[0];
    if (file) await upload(file, url);
    input.value = "";
  });
}

export function wirePanel() {
  $("learning").addEventListener("change", (event) => {
    learningClickedAt = performance.now();
    control(event.target.checked ? "start" : "stop");
  });
  // MLPZen's Do Training Step: one frame's worth of steps (steps_per_frame, or the budget).
  $("step").addEventListener("click", () => control("frame_step"));
  document.addEventListener("keydown", (event) => { // MLPZen's F6, while learning is off
    if (event.key === "F6" && !$("step").hidden) {
      event.preventDefault();
      control("frame_step");
    }
  });
  $("reset").addEventListener("click", () => control("reset"));
  $("example").addEventListener("change", () => control("example", { name: $("example").value }));
  $("load-bundled").addEventListener("click", () =>
    control("load_image", { name: $("bundled").value }),
  );
  uploadInput($("upload"), "/api/upload");
  uploadInput($("volume-upload"), "/api/volume");
  $("z-plane").addEventListener("input", () => {
    zMovedAt = performance.now();
    $("z-plane-value").textContent = Number($("z-plane").value).toFixed(2);
  });
  $("z-plane").addEventListener("change", () => {
    zMovedAt = performance.now();
    control("z_plane", { z: Number($("z-plane").value) });
  });
  $("apply").addEventListener("click", applyStaged);
  $("save").addEventListener("click", () => control("save_checkpoint"));
  $("export").addEventListener("click", () =>
    control("export", { format: $("export-format").value }),
  );
  $("error-close").addEventListener("click", () => {
    $("error").hidden = true;
  });
}

on("hello", onHello);
on("state", onState);
on("reply", (message) => {
  if (message.type === "ok" && message.request === "export" && message.text) {
    $("export-code").textContent = message.text;
    $("export-code").hidden = false;
  }
});
