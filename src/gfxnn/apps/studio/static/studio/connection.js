// The WebSocket to the studio server: the schema, states and prediction frames come in; the
// controls go out (protocol in docs/studio.md). A trainer in the page (setTrainer) sees every
// control first and may handle it itself.
import { $, showError } from "./dom.js";
import { emit, store } from "./store.js";

const FRAME_TAG = 1;
let socket = null;
let retryMs = 500;
let nextId = 1;

export function connect() {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  socket = new WebSocket(`${scheme}//${location.host}/ws`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    retryMs = 500;
    setConnection(true);
  };
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
  store.connected = online;
  const el = $("connection");
  el.textContent = online ? "connected" : "disconnected, retrying…";
  el.className = "status " + (online ? "online" : "offline");
}

// Send a message to the server; returns its request id (null when not connected).
export function sendToServer(type, fields = {}) {
  if (!socket || socket.readyState !== WebSocket.OPEN) {
    showError("not connected to the studio server");
    return null;
  }
  const id = nextId++;
  socket.send(JSON.stringify({ type, id, ...fields }));
  return id;
}

// A control from the page: the trainer in the page first, then the server.
export function control(type, fields = {}) {
  if (store.trainer && store.trainer.handle(type, fields) === true) return "local";
  return sendToServer(type, fields);
}

function onMessage(message) {
  switch (message.type) {
    case "hello":
      store.schema = message;
      emit("hello", message);
      if (store.server) emit("state", store.server);
      break;
    case "state":
      store.server = message;
      emit("state", message);
      break;
    case "ok":
    case "error":
    case "cancelled":
      if (message.type === "error") showError(message.message);
      emit("reply", message);
      break;
    default:
      break;
  }
}

async function onFrame(bytes) {
  if (bytes[0] !== FRAME_TAG) return;
  const blob = new Blob([bytes.subarray(1)], { type: "image/png" });
  try {
    emit("server-frame", await createImageBitmap(blob));
  } catch (error) {
    console.warn("studio: a frame could not be decoded:", error);
  }
}
