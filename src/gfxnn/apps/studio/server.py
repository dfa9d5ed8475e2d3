"""The studio's web server: a Starlette app around one `TrainingSession`.

Routes (all state lives in the session, so a reloaded page or a second tab sees the same run):

    GET  /                      the page (static/index.html; static/ holds app.js, style.css)
    GET  /api/schema            settings form, bundled images, export formats, limits
    GET  /api/state             the last published state (JSON)
    GET  /api/reference.png     the reference image
    GET  /api/frame.png         the latest prediction frame
    GET  /api/prediction.png    the full-resolution prediction, as a download
    GET  /api/files/{name}      a checkpoint or export this session wrote (by exact name only)
    POST /api/upload            a new reference image (multipart field "file", or the raw bytes)
    WS   /ws                    live updates out, controls in (see `protocol.py`, docs/studio.md)

Safety: requests must name a loopback host (against DNS rebinding) unless the server was
started for remote use, and a request or WebSocket from a page of another origin is refused
(a web site the user visits cannot drive the studio). Uploads are capped in bytes before they
are parsed and checked by `uploads.decode_upload`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
from collections import deque
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.middleware import Middleware
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response
from starlette.routing import Mount, Route, WebSocketRoute
from starlette.staticfiles import StaticFiles
from starlette.types import Message as AsgiMessage
from starlette.websockets import WebSocket, WebSocketDisconnect

from gfxnn.apps.studio.protocol import Message, ProtocolError, parse_message
from gfxnn.apps.studio.schema import settings_schema
from gfxnn.apps.studio.session import MAX_STEPS_PER_REQUEST, TrainingSession, device_name
from gfxnn.apps.studio.uploads import (
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_MAX_UPLOAD_PIXELS,
    UploadError,
    decode_upload,
)
from gfxnn.data.images import BUNDLED_IMAGES

__all__ = ["LOOPBACK_HOSTS", "create_app", "export_formats"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
STATIC_DIR = Path(__file__).parent / "static"
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


class _Client:
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


class _Hub:
    """The connected clients; wakes their senders when the session publishes."""

    def __init__(self, session: TrainingSession) -> None:
        self.session = session
        self.clients: set[_Client] = set()
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

    async def send_loop(self, client: _Client) -> None:
        try:
            await self._send_updates(client)
        except asyncio.CancelledError:
            raise
        except Exception:  # a closed socket ends the loop; anything else is logged
            if client.websocket.client_state.name == "CONNECTED":
                log.exception("studio: sending to a page failed")

    async def _send_updates(self, client: _Client) -> None:
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


def _schema(max_upload_bytes: int, max_upload_pixels: int) -> dict[str, Any]:
    return {
        "settings": settings_schema(),
        "bundled_images": list(BUNDLED_IMAGES),
        "export_formats": export_formats(),
        "device": device_name(),
        "limits": {
            "max_upload_bytes": max_upload_bytes,
            "max_upload_pixels": max_upload_pixels,
            "max_steps_per_request": MAX_STEPS_PER_REQUEST,
        },
    }


def _same_origin(headers: Any) -> bool:
    """True when there is no Origin header (not a browser page) or it names this host."""
    origin = headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == headers.get("host", "").lower()


def create_app(
    session: TrainingSession,
    *,
    allowed_hosts: Sequence[str] | None = LOOPBACK_HOSTS,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES,
    max_upload_pixels: int = DEFAULT_MAX_UPLOAD_PIXELS,
    close_session: bool = True,
) -> Starlette:
    """The studio app for `session`.

    Args:
        session: the training run (started on startup; closed on shutdown if close_session).
        allowed_hosts: Host header values accepted (loopback names by default; None accepts
            any, for --allow-remote).
        max_upload_bytes, max_upload_pixels: upload limits.
    """
    hub = _Hub(session)
    schema = _schema(max_upload_bytes, max_upload_pixels)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        hub.loop = asyncio.get_running_loop()
        session.add_listener(hub.notify_from_thread)
        session.start()
        try:
            yield
        finally:
            session.remove_listener(hub.notify_from_thread)
            hub.loop = None
            if close_session:
                await run_in_threadpool(session.close)

    async def index(request: Request) -> Response:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    async def get_schema(request: Request) -> Response:
        return JSONResponse(schema)

    async def get_state(request: Request) -> Response:
        return Response(hub.state_text()[1], media_type="application/json")

    async def reference_png(request: Request) -> Response:
        return Response(session.reference_png(), media_type="image/png", headers=_NO_STORE)

    async def frame_png(request: Request) -> Response:
        return Response(session.frame()[1], media_type="image/png", headers=_NO_STORE)

    async def prediction_png(request: Request) -> Response:
        data = await run_in_threadpool(session.prediction_png)
        disposition = 'attachment; filename="prediction.png"'
        headers = {**_NO_STORE, "Content-Disposition": disposition}
        return Response(data, media_type="image/png", headers=headers)

    async def saved_file(request: Request) -> Response:
        saved = session.saved_file(request.path_params["name"])
        if saved is None or not saved.path.is_file():
            return JSONResponse({"error": "no such file in this session"}, status_code=404)
        return FileResponse(saved.path, filename=saved.name)

    async def upload(request: Request) -> Response:
        if not _same_origin(request.headers):
            return _error(403, "cross-origin upload refused")
        try:
            data, filename = await _read_upload(request, max_upload_bytes)
            loaded = await run_in_threadpool(
                decode_upload,
                data,
                filename,
                max_bytes=max_upload_bytes,
                max_pixels=max_upload_pixels,
            )
        except _TooLargeError as error:
            return _error(413, str(error))
        except UploadError as error:
            return _error(415 if "not a PNG" in str(error) else 400, str(error))
        await run_in_threadpool(session.set_image, loaded)
        height, width = loaded.pixels.shape[:2]
        info = {"source": loaded.source, "width": width, "height": height, "notes": loaded.notes}
        return JSONResponse({"ok": True, "image": info})

    async def websocket_endpoint(websocket: WebSocket) -> None:
        if not _same_origin(websocket.headers):
            await websocket.close(code=1008, reason="cross-origin WebSocket refused")
            return
        await websocket.accept()
        client = _Client(websocket)
        hub.clients.add(client)
        client.push({"type": "hello", **schema})
        sender = asyncio.create_task(hub.send_loop(client))
        try:
            await _receive_loop(websocket, client, session)
        finally:
            hub.clients.discard(client)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await sender
            hub.wake_all()  # the others' client count changed

    routes = [
        Route("/", index),
        Route("/api/schema", get_schema),
        Route("/api/state", get_state),
        Route("/api/reference.png", reference_png),
        Route("/api/frame.png", frame_png),
        Route("/api/prediction.png", prediction_png),
        Route("/api/files/{name}", saved_file),
        Route("/api/upload", upload, methods=["POST"]),
        WebSocketRoute("/ws", websocket_endpoint),
        Mount("/static", StaticFiles(directory=STATIC_DIR), name="static"),
    ]
    middleware = []
    if allowed_hosts is not None:
        middleware.append(Middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts)))
    return Starlette(routes=routes, middleware=middleware, lifespan=lifespan)


_NO_STORE = {"Cache-Control": "no-store"}


def _error(status: int, message: str) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class _TooLargeError(Exception):
    pass


async def _read_upload(request: Request, max_bytes: int) -> tuple[bytes, str | None]:
    """The uploaded bytes and the client's file name, reading at most max_bytes (+ the
    multipart envelope) from the network before refusing."""
    limit = max_bytes + 64 * 1024
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _TooLargeError(f"the upload is {declared} bytes; the limit is {max_bytes} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise _TooLargeError(f"the upload is over the limit of {max_bytes} bytes")
    content_type = request.headers.get("content-type", "")
    if not content_type.startswith("multipart/form-data"):
        return bytes(body), request.query_params.get("name")
    replayed = _replay(bytes(body))
    try:
        form = await Request(request.scope, replayed).form(max_files=1, max_fields=4)
    except Exception as error:  # python-multipart or Starlette reject malformed bodies
        raise UploadError(f"malformed multipart upload: {error}") from None
    file = form.get("file")
    if not isinstance(file, UploadFile):
        raise UploadError('the multipart upload has no file field named "file"')
    try:
        return await file.read(), file.filename
    finally:
        await form.close()


def _replay(body: bytes) -> Any:
    sent = False

    async def receive() -> AsgiMessage:
        nonlocal sent
        if sent:
            return {"type": "http.disconnect"}
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return receive


async def _receive_loop(websocket: WebSocket, client: _Client, session: TrainingSession) -> None:
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
        reply = await _handle(request, session)
        if request.id is not None:
            reply["id"] = request.id
        client.push(reply)


_BINARY = "binary messages are not accepted; send JSON text"


async def _handle(message: Message, session: TrainingSession) -> dict[str, Any]:
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
