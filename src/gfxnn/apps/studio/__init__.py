"""`gfxnn studio`: Dx12NN's and MLPZen's window in the browser (live training from the start,
MLPZen's examples, charts, every control).

- `session.TrainingSession`: the one training run and its controls (examples, presets, z plane,
  settings, files), over `training.TrainingLoop` (the trainer thread in MLPZen's frames,
  `pacing`; the published state, `snapshot`);
- `workload`: the current example's model (`gfxnn.fields` controllers) and its frames;
- `server.create_app(session)`: the Starlette app (page, JSON API, WebSocket, uploads);
- `hub`: the open pages (newest state and frame to each) and their control messages;
- `frames`: prediction frames rendered on their own thread from copies of the weights;
- `outputs`, `files`: checkpoints, exports and the in-page trainer's weights; names and caps;
- `run.serve(...)`: what `gfxnn studio` calls (checks, prints the address, runs uvicorn);
- `protocol`, `schema`, `uploads`: message validation, the settings form, upload checks;
- `static/`: the page (plain HTML, CSS and JavaScript; no build step, nothing from a CDN).

Needs the `studio` extra (starlette, uvicorn, websockets, python-multipart).
"""
