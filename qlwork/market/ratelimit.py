"""Thread-safe sliding-window rate limiter for Kite Connect's per-endpoint limits.

Kite's documented limits (requests per second, per API key): historical candles 3, quote / ltp / ohlc 1,
everything else 10 (order placement is 10 too, but qlwork never places orders). Exceeding them gets
HTTP 429.

The limiter counts a request from the moment its slot is taken until the moment the response has
arrived, and a new slot opens only ``per`` seconds after the *end* of the ``rate``-th latest request.
Because the server receives a request somewhere between those two instants, any ``rate + 1``
consecutive requests reach the server at least ``per`` seconds apart: the limit holds as the server
measures it, not only as the client sees it, whatever the network latency and across any number of
threads sharing one limiter.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager

KITE_LIMITS: dict[str, float] = {"historical": 3, "quote": 1, "other": 10}
"""Kite Connect requests per second by category (see module docstring)."""


class RateLimiter:
    """At most ``limits[category]`` requests per ``per`` seconds for each category.

    Use as ``with limiter.slot("historical"): call()``. Unknown categories fall back to ``"other"``.
    ``stats()`` reports how many slots were taken and the total time spent waiting (seconds).
    """

    def __init__(self, limits: dict[str, float] | None = None, per: float = 1.0, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(KITE_LIMITS if limits is None else limits)
        if "other" not in self.limits:
            self.limits["other"] = KITE_LIMITS["other"]
        if any(int(v) < 1 for v in self.limits.values()) or per <= 0:
            raise ValueError("rate limits must be >= 1 request per positive period")
        self.per = float(per)
        self._clock = clock
        self._cond = threading.Condition()
        # per category: end times of finished requests (inf while in flight), oldest first
        self._windows: dict[str, deque[float]] = {k: deque() for k in self.limits}
        self._taken: dict[str, int] = {k: 0 for k in self.limits}
        self._waited = 0.0

    def _category(self, category: str) -> str:
        return category if category in self.limits else "other"

    def acquire(self, category: str = "other") -> str:
        """Block until a slot is free; returns a handle for :meth:`release`."""
        cat = self._category(category)
        rate = int(self.limits[cat])
        window = self._windows[cat]
        started = self._clock()
        with self._cond:
            while True:
                now = self._clock()
                while window and window[0] != float("inf") and window[0] <= now - self.per:
                    window.popleft()
                if len(window) < rate:
                    window.append(float("inf"))
                    self._taken[cat] += 1
                    self._waited += now - started
                    return cat
                finished = [t for t in window if t != float("inf")]
                # wait until the oldest finished request leaves the window, or a release wakes us
                timeout = (min(finished) + self.per - now) if finished else None
                self._cond.wait(timeout=None if timeout is None else max(timeout, 0.0005))

    def release(self, handle: str) -> None:
        """Mark one in-flight request of the category ``handle`` (from :meth:`acquire`) finished now."""
        cat = handle
        with self._cond:
            window = self._windows[cat]
            now = self._clock()
            for i, t in enumerate(window):
                if t == float("inf"):
                    del window[i]
                    break
            # keep the deque ordered: finished times are appended after the still-in-flight ones
            window.append(now)
            ordered = sorted(window)
            window.clear()
            window.extend(ordered)
            self._cond.notify_all()

    @contextmanager
    def slot(self, category: str = "other") -> Iterator[None]:
        """Context manager holding one slot of ``category`` for the duration of a request."""
        handle = self.acquire(category)
        try:
            yield
        finally:
            self.release(handle)

    def stats(self) -> dict:
        """``{"taken": {category: n}, "waited_s": total seconds callers spent waiting}``."""
        with self._cond:
            return {"taken": dict(self._taken), "waited_s": round(self._waited, 4)}


_SHARED: RateLimiter | None = None
_SHARED_LOCK = threading.Lock()


def shared_limiter() -> RateLimiter:
    """The process-wide Kite limiter (limits are per API key, so all Kite providers share it)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None:
            _SHARED = RateLimiter()
        return _SHARED
