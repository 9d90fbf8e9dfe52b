"""A bounded cache of runners, one per backend configuration (backend name + options such as model).

Every run may name its own ``model``, so without a bound each new model would keep a runner, its
backend and its HTTP client forever. The cache keeps the ``size`` most recently used; an evicted
runner is closed (its tool pool and its backend's HTTP client) once no run is using it.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Hashable, Iterator

from ..assistant.runner import Runner

log = logging.getLogger("qlwork.server")

DEFAULT_RUNNERS = 32


def close_runner(runner: Runner) -> None:
    """Close a runner's tool pool and its backend's client (if it has one)."""
    runner.close()
    client = getattr(getattr(runner, "_backend", None), "client", None)
    close = getattr(client, "close", None)
    if callable(close):
        try:
            close()
        except Exception:  # closing is best effort
            log.debug("closing a backend client failed", exc_info=True)


class RunnerCache:
    """LRU of runners with use counts: an entry in use is never closed under a running run."""

    def __init__(self, size: int = DEFAULT_RUNNERS) -> None:
        self.size = max(1, int(size))
        self._entries: OrderedDict[Hashable, Runner] = OrderedDict()
        self._uses: dict[Hashable, int] = {}
        self._retired: dict[int, Runner] = {}  # evicted while in use: closed on the last release
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    @contextmanager
    def use(self, key: Hashable, build: Callable[[], Runner]) -> Iterator[Runner]:
        """The runner for ``key`` (built on first use), held for the ``with`` block."""
        with self._lock:
            runner = self._entries.get(key)
            if runner is not None:
                self._entries.move_to_end(key)
        if runner is None:
            fresh = build()  # outside the lock: building may load a backend
            with self._lock:
                runner = self._entries.setdefault(key, fresh)
                self._entries.move_to_end(key)
            if runner is not fresh:
                close_runner(fresh)
        with self._lock:
            self._uses[id(runner)] = self._uses.get(id(runner), 0) + 1
            doomed = self._evict()
        for old in doomed:
            close_runner(old)
        try:
            yield runner
        finally:
            with self._lock:
                self._uses[id(runner)] -= 1
                last = self._uses[id(runner)] == 0
                if last:
                    del self._uses[id(runner)]
                retired = self._retired.pop(id(runner), None) if last else None
            if retired is not None:
                close_runner(retired)

    def _evict(self) -> list[Runner]:
        """Drop least recently used entries over the size; returns the idle ones to close now."""
        idle = []
        while len(self._entries) > self.size:
            _, runner = self._entries.popitem(last=False)
            if self._uses.get(id(runner)):
                self._retired[id(runner)] = runner
            else:
                idle.append(runner)
        return idle

    def close(self) -> None:
        with self._lock:
            runners = list(self._entries.values())
            self._entries.clear()
        for runner in runners:
            close_runner(runner)
