"""The studio's live connections: each page's WebSocket gets the newest state and frame, and a
reply to every request it sent.

Every open page is a `Client`. Out: an outbox of replies and a sender task that, when woken,
sends the outbox, then the newest state (if it changed) and the newest frame (if it changed).
States and frames are coalesced (a page that reads slowly skips to the newest); replies never
are: each request gets exactly one. In: `receive_loop` reads the page's messages, validates them
(`protocol.parse_message`) and queues the controls; one worker task per page runs them in
order (`handle`, in worker threads). Memory per page is bounded by back-pressure, not by
dropping: while the page has `OUTBOX_LIMIT` replies unsent or `QUEUE_LIMIT` controls waiting,
its messages are not read (TCP then slows the page down).

Cancelling: a page that disconnects has its waiting controls dropped and its running `step`
stopped at the next chunk (nobody is left to see them). `stop` cancels the sending page's
waiting controls and every page's waiting and running `step`s (each is answered with a
"cancelled" reply), then disables learning.
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

__all__ = [
    "FRAME_TAG",
    "OUTBOX_LIMIT",
    "QUEUE_LIMIT",
    "Cancel",
    "Client",
    "Hub",
    "export_formats",
    "handle",
    "receive_loop",
]

OUTBOX_LIMIT = 64  # replies waiting to be sent to one page before its messages are not read
QUEUE_LIMIT = 64  # controls waiting to run for one page before its messages are not read
FRAME_TAG = b"\x01"  # first byte of a binary WebSocket message holding a prediction PNG
STEPS = ("step", "frame_step")  # the controls that train, which stop cancels

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


class Cancel:
    """A cancel flag for one running control, read by the session's thread between chunks."""

    def __init__(self) -> None:
        self.reason: str | None = None

    def __call__(self) -> bool:
        return self.reason is not None

    def cancel(self, reason: str) -> None:
        if self.reason is None:
            self.reason = reason


class Client:
    """One WebSocket: replies to send, controls to run, and "send the newest state and frame"."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.wake = asyncio.Event()  # the sender has something to send
        self.outbox: deque[dict[str, Any]] = deque()
        self.outbox_space = asyncio.Event()
        self.queue: deque[Message] = deque()  # controls waiting to run, in order
        self.queued = asyncio.Event()  # the worker has something to run
        self.queue_space = asyncio.Event()
        self.running: tuple[Message, Cancel] | None = None
        self.closed = False
        self.sent_state = -1
        self.sent_frame = -1

    def push(self, message: dict[str, Any]) -> None:
        """Queue a reply without waiting (for the few replies `stop` adds at once)."""
        self.outbox.append(message)
        self.wake.set()

    async def reply(self, message: dict[str, Any]) -> None:
        """Queue a reply, first waiting while OUTBOX_LIMIT replies are unsent."""
        while len(self.outbox) >= OUTBOX_LIMIT and not self.closed:
            self.outbox_space.clear()
            await self.outbox_space.wait()
        self.push(message)

    async def enqueue(self, message: Message) -> None:
        """Queue a control for the worker, first waiting while QUEUE_LIMIT are waiting."""
        while len(self.queue) >= QUEUE_LIMIT and not self.closed:
            self.queue_space.clear()
            await self.queue_space.wait()
        self.queue.append(message)
        self.queued.set()

    def cancel_queued(self, reason: str, only: tuple[str, ...] | None = None) -> None:
        """Drop waiting controls (all, or those of the types `only`), each answered
        "cancelled"."""
        kept: deque[Message] = deque()
        for message in self.queue:
            if only is None or message.type in only:
                self.push(_cancelled(message, reason, steps=0))
            else:
                kept.append(message)
        self.queue = kept
        self.queue_space.set()

    def close(self) -> None:
        """The page is gone: drop its waiting work, stop its running step, release waiters."""
        self.closed = True
        self.queue.clear()
        if self.running is not None:
            self.running[1].cancel("the page disconnected")
        for event in (self.outbox_space, self.queue_space, self.queued, self.wake):
            event.set()


def _cancelled(message: Message, reason: str, steps: int) -> dict[str, Any]:
    reply: dict[str, Any] = {"type": "cancelled", "request": message.type, "reason": reason}
    if message.type in STEPS:
        reply["steps"] = steps  # how many of the n steps ran before the cancel
    if message.id is not None:
        reply["id"] = message.id
    return reply


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

    def cancel_steps(self, reason: str) -> None:
        """Cancel every page's waiting and running `step` (what `stop` means for them)."""
        for client in self.clients:
            client.cancel_queued(reason, only=STEPS)
            if client.running is not None and client.running[0].type in STEPS:
                client.running[1].cancel(reason)

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
        except (WebSocketDisconnect, OSError) as error:
            # The page went away between two sends: ordinary, not worth a traceback.
            log.debug("studio: a page disconnected while sending (%s)", type(error).__name__)
        except Exception:
            if client.websocket.client_state.name == "CONNECTED" and not client.closed:
                log.exception("studio: sending to a page failed")
        finally:
            client.close()

    async def _send_updates(self, client: Client) -> None:
        websocket = client.websocket
        while not client.closed:
            await client.wake.wait()
            client.wake.clear()
            while client.outbox:
                await websocket.send_text(_dumps(client.outbox.popleft()))
                client.outbox_space.set()
            version, text = self.state_text()
            if version != client.sent_state:
                client.sent_state = version
                await websocket.send_text(text)
            frame_version, frame = self.session.frame()
            if frame and frame_version != client.sent_frame:
                client.sent_frame = frame_version
                await websocket.send_bytes(FRAME_TAG + frame)


async def receive_loop(websocket: WebSocket, client: Client, hub: Hub) -> None:
    """Read the page's messages until it disconnects: answer pings and refusals at once,
    queue controls for the worker; on the way out, drop what the page left queued."""
    worker = asyncio.create_task(_run_controls(client, hub.session))
    try:
        while not client.closed:
            try:
                message = await websocket.receive()
            except (WebSocketDisconnect, RuntimeError):
                return
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                await client.reply({"type": "error", "request": None, "message": _BINARY})
                continue
            try:
                request = parse_message(text)
            except ProtocolError as error:
                await client.reply({"type": "error", "request": None, "message": _cut(error)})
                continue
            if request.type == "ping":  # answered at once: it measures the server, not the queue
                await client.reply(_with_id({"type": "pong"}, request))
                continue
            if request.type == "stop":
                client.cancel_queued("cancelled by stop")
                hub.cancel_steps("cancelled by stop")
            await client.enqueue(request)
    finally:
        client.close()
        worker.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await worker


async def _run_controls(client: Client, session: TrainingSession) -> None:
    """The page's worker: run its queued controls one at a time, in the order sent."""
    while not client.closed:
        if not client.queue:
            client.queued.clear()
            await client.queued.wait()
            continue
        request = client.queue.popleft()
        client.queue_space.set()
        cancel = Cancel()
        client.running = (request, cancel)
        try:
            reply = await handle(request, session, cancel)
        finally:
            client.running = None
        if not client.closed:
            await client.reply(_with_id(reply, request))


def _with_id(reply: dict[str, Any], request: Message) -> dict[str, Any]:
    if request.id is not None:
        reply.setdefault("id", request.id)
    return reply


_BINARY = "binary messages are not accepted; send JSON text"
MAX_ERROR_CHARS = 500  # validators quote the bad value; a 60 KiB value is not sent back whole


def _cut(error: object) -> str:
    text = str(error)
    if len(text) <= MAX_ERROR_CHARS:
        return text
    return f"{text[: MAX_ERROR_CHARS - 40]}... ({len(text) - MAX_ERROR_CHARS + 40} characters cut)"


async def handle(
    message: Message, session: TrainingSession, cancel: Cancel | None = None
) -> dict[str, Any]:
    """Run one control in a worker thread (the trainer may hold the fitter for a chunk).

    A `step` checks `cancel` between chunks; cut short, it is answered "cancelled" with the
    number of steps that ran."""
    fields = message.fields
    try:
        result: dict[str, Any] = {}
        if message.type == "ping":
            return {"type": "pong"}
        if message.type in ("start", "stop"):
            await run_in_threadpool(session.set_training, message.type == "start")
        elif message.type == "step":
            n = fields.get("n", 1)
            done = await run_in_threadpool(session.step, n, cancel)
            if cancel is not None and cancel.reason is not None and done < n:
                return _cancelled(message, cancel.reason, steps=done)
        elif message.type == "frame_step":
            result["steps"] = await run_in_threadpool(session.frame_step, cancel)
            if cancel is not None and cancel.reason is not None:
                return _cancelled(message, cancel.reason, steps=result["steps"])
        elif message.type == "example":
            preset = fields.get("preset")
            await run_in_threadpool(session.set_example, fields["name"], preset)
            result["rebuilt"] = True
        elif message.type == "preset":
            rebuilt, settings = await run_in_threadpool(session.load_preset, fields["name"])
            result.update(rebuilt=rebuilt, settings=settings)
        elif message.type == "z_plane":
            await run_in_threadpool(session.set_z_plane, fields["z"])
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
        return {"type": "error", "request": message.type, "message": _cut(error)}
    except OSError as error:
        reason = error.strerror or str(error)
        return {"type": "error", "request": message.type, "message": f"cannot write: {reason}"}
    except Exception as error:  # never let one control take the connection down
        log.exception("studio: %s failed", message.type)
        message_text = f"internal error in {message.type}: {type(error).__name__}: {error}"
        return {"type": "error", "request": message.type, "message": _cut(message_text)}
