"""The studio's live connections: each page's WebSocket gets the newest state and frame.

Every open page is a `Client` with a bounded outbox of replies and a sender task that, when
woken, sends the outbox, then the newest state (if it changed) and the newest frame (if it
changed). So a page that reads slowly skips states and frames instead of queueing them, and
memory per page is bounded. `Hub.notify_from_thread` is the session's listener: it wakes all
senders from the trainer or renderer thread.

`receive_loop` reads a page's messages, validates them (`protocol.parse_message`) and runs
them as controls (`handle`) in worker threads, replying to that page only.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import deque
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocket, WebSocketDisconnect

from gfxnn.apps.studio.protocol import Message, ProtocolError, parse_message
from gfxnn.apps.studio.session import TrainingSession

__all__ = ["FRAME_TAG", "OUTBOX_LIMIT", "Client", "Hub", "export_formats", "handle", "receive_loop"]

OUTBOX_LIMIT = 64  # replies queued for one client; a client that never reads loses the oldest
FRAME_TAG = b"\x01"  # first byte of a binary WebSocket message holding a prediction PNG

log = logging.getLogger("gfxnn.studio")


def export_formats() -> list[str]:
    """The formats `gfxnn.export` offers, or [] where it is not installed or not importable."""
    try:
        from gfxnn import export
    except ImportError:
        return []
    formats = getattr(export, "FORMATS", ())
    return list(formats) if hasattr(export, "export_checkpoint") else []


def _dumps(message: dict[str, Any]) -> str:
    """Strict JSON (browsers reject NaN); a stray non-finite float becomes null."""
    try:
        return json.dumps(message, allow_nan=False, separators=(",", ":"))
    except ValueError:
        return json.dumps(_finite_only(message), allow_nan=False, separators=(",", ":"))


def _finite_only(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: _finite_only(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_finite_only(item) for item in value]
    return value


class Client:
    """One WebSocket: a bounded outbox of replies plus "send the newest state and frame"."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.wake = asyncio.Event()
        self.outbox: deque[dict[str, Any]] = deque(maxlen=OUTBOX_LIMIT)
        self.sent_state = -1
        self.sent_frame = -1

    def push(self, message: dict[str, Any]) -> None:
        self.outbox.append(message)
        self.wake.set()


class Hub:
    """The connected clients; wakes their senders when the session publishes."""

    def __init__(self, session: TrainingSession) -> None:
        self.session = session
        self.clients: set[Client] = set()
        self.loop: asyncio.AbstractEventLoop | None = None
        self._state_cache: tuple[tuple[int, int], str] | None = None

    def wake_all(self) -> None:
        for client in self.clients:
            client.wake.set()

    def notify_from_thread(self) -> None:
        loop = self.loop
        if loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closing
                loop.call_soon_threadsafe(self.wake_all)

    def state_text(self) -> tuple[int, str]:
        """The newest state as JSON, serialised once per (version, number of clients)."""
        key = (self.session.version, len(self.clients))
        if self._state_cache is None or self._state_cache[0] != key:
            snapshot = self.session.snapshot()
            text = _dumps({"type": "state", **snapshot, "clients": len(self.clients)})
            self._state_cache = ((snapshot["version"], len(self.clients)), text)
        return self._state_cache[0][0], self._state_cache[1]

    async def send_loop(self, client: Client) -> None:
        try:
            await self._send_updates(client)
        except asyncio.CancelledError:
            raise
        except Exception:  # a closed socket ends the loop; anything else is logged
            if client.websocket.client_state.name == "CONNECTED":
                log.exception("studio: sending to a page failed")

    async def _send_updates(self, client: Client) -> None:
        websocket = client.websocket
        while True:
            await client.wake.wait()
            client.wake.clear()
            while client.outbox:
                await websocket.send_text(_dumps(client.outbox.popleft()))
            version, text = self.state_text()
            if version != client.sent_state:
                client.sent_state = version
                await websocket.send_text(text)
            frame_version, frame = self.session.frame()
            if frame and frame_version != client.sent_frame:
                client.sent_frame = frame_version
                await websocket.send_bytes(FRAME_TAG + frame)


async def receive_loop(websocket: WebSocket, client: Client, session: TrainingSession) -> None:
    while True:
        try:
            message = await websocket.receive()
        except (WebSocketDisconnect, RuntimeError):
            return
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            client.push({"type": "error", "request": None, "message": _BINARY})
            continue
        try:
            request = parse_message(text)
        except ProtocolError as error:
            client.push({"type": "error", "request": None, "message": str(error)})
            continue
        reply = await handle(request, session)
        if request.id is not None:
            reply["id"] = request.id
        client.push(reply)


_BINARY = "binary messages are not accepted; send JSON text"


async def handle(message: Message, session: TrainingSession) -> dict[str, Any]:
    """Run one control in a worker thread (the trainer may hold the fitter for a chunk)."""
    fields = message.fields
    try:
        result: dict[str, Any] = {}
        if message.type == "ping":
            return {"type": "pong"}
        if message.type in ("start", "stop"):
            await run_in_threadpool(session.set_training, message.type == "start")
        elif message.type == "step":
            await run_in_threadpool(session.step, fields.get("n", 1))
        elif message.type == "reset":
            await run_in_threadpool(session.reset_weights)
        elif message.type == "apply":
            result["rebuilt"] = await run_in_threadpool(session.apply, fields["settings"])
        elif message.type == "load_image":
            await run_in_threadpool(session.load_bundled, fields["name"])
        elif message.type == "save_checkpoint":
            saved = await run_in_threadpool(session.save_checkpoint)
            result.update(name=saved.name, url=f"/api/files/{saved.name}")
        elif message.type == "export":
            if not export_formats():
                raise ValueError("shader export is not available (gfxnn.export is missing)")
            saved, text = await run_in_threadpool(session.export, fields["format"])
            result.update(name=saved.name, url=f"/api/files/{saved.name}", text=text)
        return {"type": "ok", "request": message.type, **result}
    except (ValueError, TypeError) as error:
        return {"type": "error", "request": message.type, "message": str(error)}
    except OSError as error:
        reason = error.strerror or str(error)
        return {"type": "error", "request": message.type, "message": f"cannot write: {reason}"}
    except Exception as error:  # never let one control take the connection down
        log.exception("studio: %s failed", message.type)
        message_text = f"internal error in {message.type}: {type(error).__name__}: {error}"
        return {"type": "error", "request": message.type, "message": message_text}
