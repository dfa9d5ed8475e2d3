"""The studio's WebSocket messages from the page: parsing and validation.

Every message is one JSON object with a "type" and the fields that type allows (plus an
optional "id", echoed in the reply so a client can match replies to requests). Anything else
(not JSON, not an object, an unknown type, a missing or unknown field, a value of the wrong
type) is a `ProtocolError` whose message is sent back to the page as {"type": "error"}.
Ranges (step counts, settings) are checked by the session, which knows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gfxnn.io import parse_json

__all__ = ["MAX_MESSAGE_CHARS", "MESSAGES", "Message", "ProtocolError", "parse_message"]

MAX_MESSAGE_CHARS = 64 * 1024
MAX_MESSAGE_DEPTH = 16  # an apply's settings nest 3 levels; anything deeper is not ours

# type -> {field: (python types, required)}
MESSAGES: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "ping": {},
    "start": {},  # enable learning
    "stop": {},  # disable learning
    "step": {"n": ((int,), False)},  # single step (n = 1) or n steps
    "reset": {},  # initialise weights
    "apply": {"settings": ((dict,), True)},  # partial FitSettings
    "load_image": {"name": ((str,), True)},  # a bundled image
    "save_checkpoint": {},
    "export": {"format": ((str,), True)},
    # MLPZen's controls (issue 18)
    "example": {"name": ((str,), True), "preset": ((str,), False)},  # switch the example
    "preset": {"name": ((str,), True)},  # a preset's settings for the current example
    "z_plane": {"z": ((int, float), True)},  # the displayed slice of a 3-D example
    "frame_step": {},  # "Do Training Step": one frame's worth of steps
}


class ProtocolError(ValueError):
    """A malformed message; the text says what was wrong and what is allowed."""


@dataclass
class Message:
    """A validated message: its type, its fields and the client's request id (if any)."""

    type: str
    fields: dict[str, Any]
    id: str | int | None = None


def parse_message(text: str) -> Message:
    """Parse and check one message (a JSON text); raises ProtocolError."""
    if len(text) > MAX_MESSAGE_CHARS:
        raise ProtocolError(f"message too long: {len(text)} characters (limit {MAX_MESSAGE_CHARS})")
    try:
        data = parse_json(text, "message", max_depth=MAX_MESSAGE_DEPTH)
    except ValueError as error:  # bad JSON, huge integers, deep nesting, NaN: one reply
        raise ProtocolError(str(error)) from None
    if not isinstance(data, dict):
        raise ProtocolError(f"message must be a JSON object, got {type(data).__name__}")
    request_id = data.pop("id", None)
    if request_id is not None and (
        isinstance(request_id, bool) or not isinstance(request_id, str | int)
    ):
        raise ProtocolError("id must be a string or an integer")
    kind = data.pop("type", None)
    if not isinstance(kind, str) or kind not in MESSAGES:  # a list or object is unhashable
        raise ProtocolError(
            f"unknown message type {kind!r}; known types: {', '.join(sorted(MESSAGES))}"
        )
    spec = MESSAGES[kind]
    unknown = sorted(set(data) - set(spec))
    if unknown:
        allowed = ", ".join(sorted(spec)) or "none"
        raise ProtocolError(f"{kind}: unknown field(s) {unknown}; allowed fields: {allowed}")
    for name, (types, required) in spec.items():
        if name not in data:
            if required:
                raise ProtocolError(f"{kind}: missing field {name!r}")
            continue
        value = data[name]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            wanted = "a number" if float in types else " or ".join(_JSON_NAMES[t] for t in types)
            raise ProtocolError(f"{kind}: {name} must be {wanted}, got {value!r}")
    return Message(kind, data, request_id)


_JSON_NAMES = {int: "an integer", str: "a string", dict: "an object", bool: "true or false"}
