"""`gfxnn studio`: Dx12NN's window in the browser (live training, charts, every control).

- `session.TrainingSession`: the one training run, trained on a background thread;
- `server.create_app(session)`: the Starlette app (page, JSON API, WebSocket, upload);
- `hub`: the open pages (newest state and frame to each) and their control messages;
- `frames`: prediction frames rendered on their own thread from copies of the weights;
- `run.serve(...)`: what `gfxnn studio` calls (checks, prints the address, runs uvicorn);
- `protocol`, `schema`, `uploads`: message validation, the settings form, upload checks;
- `static/`: the page (plain HTML, CSS and JavaScript; no build step, nothing from a CDN).

Needs the `studio` extra (starlette, uvicorn, websockets, python-multipart).
"""
