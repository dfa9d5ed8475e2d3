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
    POST /api/volume            a .npy volume for the volume example (same form, same caps)
    GET  /api/wgsl              the WebGPU kernels for the page's own trainer (issue 19)
    GET  /api/model             ?network=i: its ModelSpec, kernel plan, target and steps
    GET  /api/target.npy        ?network=i: the samples it learns (float32 .npy)
    GET  /api/weights.safetensors  ?network=i: its weights as a fit checkpoint
    POST /api/weights           ?network=i&steps=N: weights trained in the page (a checkpoint)
    WS   /ws                    live updates out, controls in (`hub.py`, `protocol.py`,
                                docs/studio.md)

Safety: requests must name a loopback host (against DNS rebinding) unless the server was
started for remote use, and a request or WebSocket from a page of another origin is refused
(a web site the user visits cannot drive the studio). Uploads are capped in bytes before they
are parsed and checked by `uploads.decode_upload`.
"""

from __future__ import annotations

import asyncio
import contextlib
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
from starlette.websockets import WebSocket

from gfxnn.apps.studio.hub import Client, Hub, export_formats, receive_loop
from gfxnn.apps.studio.outputs import MAX_WEIGHTS_BYTES, WeightsError
from gfxnn.apps.studio.schema import settings_schema
from gfxnn.apps.studio.session import MAX_STEPS_PER_REQUEST, TrainingSession
from gfxnn.apps.studio.uploads import (
    DEFAULT_MAX_UPLOAD_BYTES,
    DEFAULT_MAX_UPLOAD_PIXELS,
    UploadError,
    decode_upload,
    decode_volume_upload,
)
from gfxnn.apps.studio.workload import examples_schema
from gfxnn.data.images import BUNDLED_IMAGES
from gfxnn.fields.presets import PRESETS

__all__ = ["LOOPBACK_HOSTS", "create_app", "export_formats"]

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "[::1]")
PRESET_LABELS = {"dx12nn": "Dx12NN defaults", "mlpzen": "MLPZen defaults"}
STATIC_DIR = Path(__file__).parent / "static"


def _schema(session: TrainingSession, max_upload_bytes: int, max_upload_pixels: int) -> dict:
    return {
        "settings": settings_schema(),
        "bundled_images": list(BUNDLED_IMAGES),
        "export_formats": export_formats(),
        "device": session.device_name,
        "examples": examples_schema(),
        "presets": [{"name": name, "label": PRESET_LABELS.get(name, name)} for name in PRESETS],
        "limits": {
            "max_upload_bytes": max_upload_bytes,
            "max_upload_pixels": max_upload_pixels,
            "max_volume_bytes": max_upload_bytes,
            "max_volume_voxels": max_upload_pixels,
            "max_weights_bytes": MAX_WEIGHTS_BYTES,
            "max_steps_per_request": MAX_STEPS_PER_REQUEST,
            "max_session_files": session.max_files,
            "max_session_bytes": session.max_bytes,
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
    hub = Hub(session)
    schema = _schema(session, max_upload_bytes, max_upload_pixels)

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
            await run_in_threadpool(session.set_image, loaded)
        except _TooLargeError as error:
            return _error(413, str(error))
        except UploadError as error:
            return _error(415 if "not a PNG" in str(error) else 400, str(error))
        except ValueError as error:  # the settings cannot fit it (from another example)
            return _error(400, str(error))
        height, width = loaded.pixels.shape[:2]
        info = {"source": loaded.source, "width": width, "height": height, "notes": loaded.notes}
        return JSONResponse({"ok": True, "image": info})

    async def upload_volume(request: Request) -> Response:
        if not _same_origin(request.headers):
            return _error(403, "cross-origin upload refused")
        try:
            data, filename = await _read_upload(request, max_upload_bytes)
            values, source = await run_in_threadpool(
                decode_volume_upload,
                data,
                filename,
                max_bytes=max_upload_bytes,
                max_voxels=max_upload_pixels,
            )
            await run_in_threadpool(session.set_volume, values, source)
        except _TooLargeError as error:
            return _error(413, str(error))
        except UploadError as error:
            return _error(415 if "not a .npy" in str(error) else 400, str(error))
        except ValueError as error:
            return _error(400, str(error))
        return JSONResponse({"ok": True, "volume": {"source": source, "shape": list(values.shape)}})

    # ----- the page's own WebGPU trainer (issue 19; static_site.py) ------------------------
    async def wgsl(request: Request) -> Response:
        from gfxnn.apps.studio.static_site import kernel_sources

        return JSONResponse({"files": kernel_sources()})

    async def model(request: Request) -> Response:
        try:
            info = await run_in_threadpool(session.browser_model, _network(request))
        except ValueError as error:
            return _error(400, str(error))
        return JSONResponse(info)

    async def target_npy(request: Request) -> Response:
        try:
            data = await run_in_threadpool(session.target_npy, _network(request))
        except ValueError as error:
            return _error(400, str(error))
        return Response(data, media_type="application/octet-stream", headers=_NO_STORE)

    async def get_weights(request: Request) -> Response:
        try:
            data = await run_in_threadpool(session.weights_checkpoint, _network(request))
        except ValueError as error:
            return _error(400, str(error))
        disposition = 'attachment; filename="weights.safetensors"'
        headers = {**_NO_STORE, "Content-Disposition": disposition}
        return Response(data, media_type="application/octet-stream", headers=headers)

    async def post_weights(request: Request) -> Response:
        if not _same_origin(request.headers):
            return _error(403, "cross-origin weights refused")
        try:
            network = _network(request)
            steps = _query_int(request, "steps", 0)
            data, _ = await _read_upload(request, MAX_WEIGHTS_BYTES)
            total = await run_in_threadpool(session.load_weights, network, data, steps)
        except _TooLargeError as error:
            return _error(413, str(error))
        except WeightsError as error:
            return _error(error.status, str(error))
        except ValueError as error:
            return _error(400, str(error))
        return JSONResponse({"ok": True, "steps": total})

    async def websocket_endpoint(websocket: WebSocket) -> None:
        if not _same_origin(websocket.headers):
            await websocket.close(code=1008, reason="cross-origin WebSocket refused")
            return
        await websocket.accept()
        client = Client(websocket)
        hub.clients.add(client)
        client.push({"type": "hello", **schema})
        sender = asyncio.create_task(hub.send_loop(client))
        try:
            await receive_loop(websocket, client, hub)
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
        Route("/api/volume", upload_volume, methods=["POST"]),
        Route("/api/wgsl", wgsl),
        Route("/api/model", model),
        Route("/api/target.npy", target_npy),
        Route("/api/weights.safetensors", get_weights),
        Route("/api/weights", post_weights, methods=["POST"]),
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


def _query_int(request: Request, name: str, default: int) -> int:
    """A non-negative integer query parameter; ValueError naming it otherwise."""
    text = request.query_params.get(name)
    if text is None:
        return default
    if not text.isdigit() or len(text) > 9:
        raise ValueError(f"{name} must be a non-negative integer, got {text[:40]!r}")
    return int(text)


def _network(request: Request) -> int:
    return _query_int(request, "network", 0)


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
