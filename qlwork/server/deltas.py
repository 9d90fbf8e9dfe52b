"""Answer text streamed by a model backend while a run executes, handed from the worker thread to the
SSE watcher (:mod:`qlwork.server.streaming`)."""

from __future__ import annotations

import threading
import time


class TextDeltas:
    """Text fragments a streaming backend emits while executing a run (worker thread -> SSE watcher).
    The answer's message id is chosen at the first fragment, so the streamed deltas and the stored
    message agree (the runner asks :meth:`message_id`)."""

    KEEP_SECONDS = 60.0  # a stream reading late still finds the fragments of a run that just ended

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._runs: dict[str, tuple[str, list[str]]] = {}
        self._ended: dict[str, float] = {}

    def begin(self, run_id: str) -> None:
        cutoff = time.monotonic() - self.KEEP_SECONDS
        with self._lock:
            self._ended.pop(run_id, None)
            for old in [r for r, t in self._ended.items() if t < cutoff]:
                self._runs.pop(old, None)
                del self._ended[old]

    def end(self, run_id: str) -> None:
        with self._lock:
            if run_id in self._runs:
                self._ended[run_id] = time.monotonic()

    def add(self, run_id: str, text: str) -> None:
        if not text:
            return
        from ..assistant.objects import new_id

        with self._lock:
            self._runs.setdefault(run_id, (new_id("msg"), []))[1].append(text)

    def message_id(self, run_id: str) -> str | None:
        with self._lock:
            entry = self._runs.get(run_id)
            return entry[0] if entry else None

    def read(self, run_id: str, start: int = 0) -> tuple[str | None, list[str]]:
        with self._lock:
            entry = self._runs.get(run_id)
            return (entry[0], entry[1][start:]) if entry else (None, [])
