// The page's one store: the server's schema and newest state, what a browser trainer reports
// over it, the settings edited but not applied yet, and a tiny event bus. Every other module
// reads from here and listens for: "hello" (schema), "state" (a new merged state), "reply"
// (ok / error / cancelled), "frame" (a prediction frame was drawn), "trainer" (the trainer
// changed between the server and one in this page).

const listeners = new Map();

export const store = {
  schema: null, // the server's hello message
  server: null, // the newest state message from the server
  overlay: null, // fields a trainer in this page reports over the server's (see setTrainer)
  trainer: null, // { name, handle(type, fields) -> true when handled here }
  staged: {}, // settings that rebuild the network, edited but not applied yet
  frames: 0, // prediction frames drawn since the page opened
  connected: false,
};

export function on(event, callback) {
  if (!listeners.has(event)) listeners.set(event, new Set());
  listeners.get(event).add(callback);
  return () => listeners.get(event).delete(callback);
}

export function emit(event, data) {
  for (const callback of listeners.get(event) || []) {
    try {
      callback(data);
    } catch (error) {
      console.error(`studio: a "${event}" listener failed:`, error);
    }
  }
}

// The state the page shows: the server's, with the trainer's report on top.
export function current() {
  if (!store.server && !store.overlay) return null;
  return { ...(store.server || {}), ...(store.overlay || {}) };
}

// Settings as they will be once staged edits are applied.
export function effectiveSettings() {
  const s = current();
  return { ...((s && s.settings) || {}), ...store.staged };
}

// Every control of the schema: its settings, each followed by the controls of its own parts
// (the grid parameters, "encoding_params.n_levels" ..., listed in their entry's `fields`).
export function allFields() {
  if (!store.schema) return [];
  return store.schema.settings.flatMap((f) => [f, ...(f.fields || []), ...(extraFields[f.name] || [])]);
}

// Controls the page adds to a setting's own parts (form.js: encoding parameters the server's
// schema does not list), by the setting's name.
export const extraFields = {};

export function field(name) {
  return allFields().find((f) => f.name === name);
}
