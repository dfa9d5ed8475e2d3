// The two displays, reference left and prediction right (MLPZen's layout), on canvases. The
// server renders both for every example: the image; four images as one 2x2 frame (TL = 0,
// TR = 1, BL = 2, BR = 3); the 3-D examples as the slice at the z plane; cosine as a plot of
// the function (reference) and the function with the prediction (prediction). A trainer in
// the page draws its own frames through drawPrediction().
import { $ } from "./dom.js";
import { current, emit, on, store } from "./store.js";

let shownReference = null; // the reference URL asked for last

// Draw an image source (ImageBitmap, canvas, ImageData) on a display at its own size.
function draw(canvas, source) {
  if (canvas.width !== source.width || canvas.height !== source.height) {
    canvas.width = source.width;
    canvas.height = source.height;
  }
  const ctx = canvas.getContext("2d");
  if (source instanceof ImageData) ctx.putImageData(source, 0, 0);
  else ctx.drawImage(source, 0, 0);
}

export function drawPrediction(source) {
  draw($("prediction"), source);
  store.frames += 1;
  $("prediction").dataset.frames = String(store.frames);
  emit("frame", store.frames);
}

export function drawReference(source) {
  draw($("reference"), source);
  $("reference").dataset.version = shownReference || "";
}

async function loadReference(url) {
  try {
    const response = await fetch(url);
    if (!response.ok) throw new Error(`${url}: HTTP ${response.status}`);
    const bitmap = await createImageBitmap(await response.blob());
    if (url === shownReference) drawReference(bitmap); // not one overtaken by a newer one
  } catch (error) {
    console.warn("studio: the reference could not be loaded:", error);
  }
}

on("state", () => {
  const s = current();
  if (!s) return;
  document.body.dataset.example = s.example || "image";
  // The reference's own version (example, image, z plane) where the server gives one.
  const version = s.reference ? s.reference.version : s.image ? s.image.version : 0;
  const url = `/api/reference.png?v=${version}`;
  if (url !== shownReference) {
    shownReference = url;
    loadReference(url);
  }
  const imageShown = !s.example || s.example === "image"; // four images: their own table
  $("image-info").hidden = !imageShown;
  if (s.image) {
    $("image-info").textContent = `${s.image.source}, ${s.image.width}×${s.image.height}`;
    $("image-info").title = (s.image.notes || []).join("\n");
  }
  const p = s.preview;
  const scaled = imageShown && p && s.image &&
    (p.width !== s.image.width || p.height !== s.image.height);
  $("frame-info").textContent = scaled ? `preview ${p.width}×${p.height}` : "";
});

on("server-frame", (bitmap) => {
  if (!store.trainer) drawPrediction(bitmap); // a trainer in the page draws its own
});
