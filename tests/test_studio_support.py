"""Shared helpers for the studio tests (this module holds no tests of its own)."""

from __future__ import annotations

import contextlib
import io
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from gfxnn.data.images import LoadedImage, bundled_image_source, load_bundled
from gfxnn.imagefit import FitSettings

# Small and quick: the tests check behaviour, not speed.
SMALL = FitSettings(batch_size=256, n_neurons=16, n_frequencies=4)


def small_image(name: str = "astronaut", size: int = 48) -> LoadedImage:
    return LoadedImage(load_bundled(name, size), bundled_image_source(name))


def png_bytes(width: int, height: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def make_session(out_dir: Path, **kwargs: Any) -> Any:
    from gfxnn.apps.studio.session import TrainingSession

    kwargs.setdefault("frame_interval", 0.05)
    kwargs.setdefault("paused", True)  # the tests start training themselves (the studio does not)
    return TrainingSession(small_image(), SMALL, out_dir=out_dir, **kwargs)


class Socket:
    """A TestClient WebSocket that remembers the newest state it has read, so a wait for a
    state is met by one that arrived before the reply being waited for."""

    def __init__(self, websocket: Any) -> None:
        self.websocket = websocket
        self.state: dict[str, Any] | None = None
        self.pings = 0  # sent and not yet answered

    def ping(self) -> None:
        if self.pings == 0:
            self.pings += 1
            self.send({"type": "ping"})

    def send(self, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.websocket.send_text(text)

    def wait_state(
        self, predicate: Callable[[dict[str, Any]], bool] = lambda s: True, timeout: float = 10.0
    ) -> dict[str, Any]:
        if self.state is not None and predicate(self.state):
            return self.state
        return self.wait(lambda m: m["type"] == "state" and predicate(m), timeout)

    def wait(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = 10.0
    ) -> dict[str, Any]:
        """Read until a JSON message satisfies `predicate`; one ping at a time keeps replies
        flowing, so the read never blocks for ever on an idle server."""
        deadline = time.monotonic() + timeout
        self.ping()
        while time.monotonic() < deadline:
            message = self.websocket.receive()
            if message.get("text") is None:
                continue  # a binary frame
            data = json.loads(message["text"])
            if data["type"] == "state":
                self.state = data
            if predicate(data):
                return data
            if data["type"] == "pong":
                self.pings -= 1
                time.sleep(0.01)
                self.ping()
        raise AssertionError(f"no matching message within {timeout} s (last state {self.state})")


def free_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


@contextlib.contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve `app` with uvicorn on a free loopback port in a thread; yields the base URL."""
    import uvicorn

    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
