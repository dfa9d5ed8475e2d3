"""Steps/s and frames/s of the studio for each example, through the server's app.

    python benchmarks/studio_examples.py [--seconds 10] [--preset dx12nn|mlpzen]
        [--examples ...] [--device cpu|webgpu]

For each example the studio is driven as the page drives it (Starlette's test client and one
WebSocket): the example (and preset) is chosen, learning runs on its own from the start, and
over `--seconds` the script counts the training steps (from the states) and the prediction
frames pushed to the page (binary messages). The volume example learns a synthetic 64^3 RGB
volume uploaded through POST /api/volume. Prints one row per example with the load average
before and after (the machine is shared: figures are noisy).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
from starlette.testclient import TestClient

from gfxnn.apps.studio.server import create_app
from gfxnn.apps.studio.session import TrainingSession
from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled
from gfxnn.fields.examples import EXAMPLES
from gfxnn.fields.presets import PRESETS


def volume_npy(size: int = 64) -> bytes:
    """A size^3 RGB volume: three overlapping coloured balls on a dark background."""
    axis = np.linspace(0.0, 1.0, size, dtype=np.float32)
    z, y, x = np.meshgrid(axis, axis, axis, indexing="ij")
    values = np.full((size, size, size, 3), 0.05, np.float32)
    for (cx, cy, cz), colour in (
        ((0.35, 0.4, 0.5), (0.9, 0.2, 0.2)),
        ((0.65, 0.5, 0.4), (0.2, 0.9, 0.3)),
        ((0.5, 0.7, 0.6), (0.2, 0.3, 0.9)),
    ):
        inside = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 < 0.06
        values[inside] = colour
    buffer = io.BytesIO()
    np.save(buffer, values)
    return buffer.getvalue()


def measure(
    example: str, preset: str, seconds: float, out: Path, device: str = "cpu"
) -> dict[str, float]:
    image = LoadedImage(load_bundled("astronaut"), bundled_image_source("astronaut"))
    session = TrainingSession(image, out_dir=out, paused=True, device=device)
    try:
        with (
            TestClient(create_app(session), base_url="http://127.0.0.1:8000") as client,
            client.websocket_connect("ws://127.0.0.1:8000/ws") as websocket,
        ):
            if example == "volume":
                reply = client.post("/api/volume", files={"file": ("v.npy", volume_npy())})
                assert reply.status_code == 200, reply.text
                websocket.send_text(json.dumps({"type": "preset", "name": preset}))
            else:
                request = {"type": "example", "name": example, "preset": preset}
                websocket.send_text(json.dumps(request))
            websocket.send_text(json.dumps({"type": "start"}))
            load_before = os.getloadavg()[0]
            first: tuple[float, int] | None = None
            last: tuple[float, int] = (0.0, 0)
            frames = 0
            state: dict = {}
            while True:
                message = websocket.receive()
                now = time.perf_counter()
                if message.get("bytes") is not None:
                    frames += first is not None
                    continue
                data = json.loads(message["text"])
                if data["type"] != "state" or data["example"] != example:
                    continue
                state = data
                if first is None and data["training"] and data["steps"] > 0:
                    first = (now, data["steps"])
                elif first is not None:
                    last = (now, data["steps"])
                    if now - first[0] >= seconds:
                        break
            load_after = os.getloadavg()[0]
            assert first is not None
            elapsed = last[0] - first[0]
            return {
                "steps_per_second": (last[1] - first[1]) / elapsed,
                "frames_per_second": frames / elapsed,
                "frame_time_ms": state.get("frame_time_ms") or 0.0,
                "psnr": state.get("psnr") or 0.0,
                "load_before": load_before,
                "load_after": load_after,
            }
    finally:
        session.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--preset", choices=PRESETS, default="dx12nn")
    parser.add_argument("--examples", nargs="+", choices=EXAMPLES, default=list(EXAMPLES))
    parser.add_argument("--device", choices=("cpu", "webgpu"), default="cpu")
    args = parser.parse_args()
    print(f"{args.device}, preset {args.preset}, {args.seconds:g} s each, {os.cpu_count()} CPUs")
    print("example       steps/s  frames/s  frame ms  PSNR dB  load before/after")
    with tempfile.TemporaryDirectory() as folder:
        for example in args.examples:
            row = measure(example, args.preset, args.seconds, Path(folder) / example, args.device)
            print(
                f"{example:12s} {row['steps_per_second']:8.1f} {row['frames_per_second']:9.2f} "
                f"{row['frame_time_ms']:9.2f} {row['psnr']:8.2f}  "
                f"{row['load_before']:.2f}/{row['load_after']:.2f}"
            )


if __name__ == "__main__":
    main()
