"""`LoopThread`: the studio's background threads (the trainer and the frame renderer) started
and stopped one way."""

from __future__ import annotations

import threading
from collections.abc import Callable


class LoopThread:
    """One daemon thread running `loop` (which returns once `closed` is set).

    `start()` is idempotent; `close()` sets `closed`, sets `wake` so a loop waiting on it
    notices at once, and joins the thread (a closed one is not restarted by `start()`: the
    loop returns at once)."""

    def __init__(
        self, loop: Callable[[], None], name: str, closed: threading.Event, wake: threading.Event
    ) -> None:
        self._loop, self._name = loop, name
        self._closed, self._wake = closed, wake
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._closed.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
