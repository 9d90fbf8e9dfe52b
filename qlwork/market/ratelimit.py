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

Kite counts per API key, not per process: the weekly batch runs one kernel per user and Dask runs
several worker processes. :class:`ProcessRateLimiter` (what :func:`shared_limiter` returns for an API key)
applies the same rule across every process on the machine that shares ``$QLWORK_HOME``, through one small
state file per (API key, category) in ``$QLWORK_HOME/ratelimit/`` guarded by ``fcntl.flock``.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..config import home

log = logging.getLogger("qlwork.market.ratelimit")

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


def key_id(api_key: str) -> str:
    """A short, non-reversible identity for an API key (the first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(str(api_key).encode("utf-8")).hexdigest()[:16]


def state_dir() -> Path:
    """``$QLWORK_HOME/ratelimit`` as an absolute path (the folder itself is made by the limiter)."""
    return home().absolute() / "ratelimit"


class ProcessRateLimiter(RateLimiter):
    """A :class:`RateLimiter` whose limits hold across all processes using the same state directory
    (default ``$QLWORK_HOME/ratelimit``) and API key.

    Threads of this process first take a slot of the in-process limiter (the fast path: they wait on a
    condition, not on the file), then a slot in the shared state file ``<key_id>-<category>.json``. That
    file lists, per category, the slots in the last ``per`` seconds: ``[end, granted, pid, host, token]``
    with ``end`` null while the request is in flight. Acquire locks the file (``flock``), drops slots that
    ended ``per`` seconds ago, and either records a new in-flight slot (granted) or computes how long to
    wait; the sleep happens outside the lock. Release records the end time. The rule is the in-process
    one, on the wall clock (``time.time()``) that all processes share.

    Waits are bounded: an in-flight slot whose process no longer exists (same host) or that is older than
    ``max_hold`` seconds counts as ended when noticed, and a stamp in the future (the wall clock stepped
    back) is clamped to now. If the state directory cannot be used, a warning is logged once and the
    limiter falls back to in-process limiting (it never fails a request for that reason). The API key
    itself is never stored: only :func:`key_id`.
    """

    def __init__(self, api_key: str, limits: dict[str, float] | None = None, per: float = 1.0, *,
                 directory: str | os.PathLike | None = None, max_hold: float = 120.0,
                 poll: float = 0.02) -> None:
        super().__init__(limits, per)
        self.key_id = key_id(api_key)
        self.directory = Path(directory) if directory is not None else state_dir()
        self.max_hold = float(max_hold)
        self.poll = max(0.001, min(float(poll), self.per / 4))
        self._pid = os.getpid()
        self._host = socket.gethostname()
        self._serial = 0
        self._serial_lock = threading.Lock()
        self._fallback: str | None = None
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            if not os.access(self.directory, os.W_OK | os.X_OK):
                raise PermissionError(errno.EACCES, "not writable", str(self.directory))
        except OSError as exc:
            self._fall_back(exc)

    # -- helpers ------------------------------------------------------------------------------
    def _fall_back(self, exc: BaseException) -> None:
        if self._fallback is None:
            self._fallback = f"{type(exc).__name__}: {exc}"
            log.warning("Kite rate limit: cannot use %s (%s); the limits now hold only within this process "
                        "(pid %d), so parallel report workers on the same API key may get HTTP 429. Make that "
                        "folder writable to share the limits across processes.",
                        self.directory, self._fallback, os.getpid())

    @property
    def shared(self) -> bool:
        """True while the limits are held across processes (False after a fallback)."""
        return self._fallback is None

    def path(self, category: str) -> Path:
        """The state file of ``category`` for this API key."""
        return self.directory / f"{self.key_id}-{re.sub(r'[^A-Za-z0-9_.-]', '_', category)}.json"

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:  # a forked child: the parent's threads and slots are not ours
            RateLimiter.__init__(self, self.limits, self.per)
            self._pid = os.getpid()
            self._serial_lock = threading.Lock()

    @staticmethod
    def _read(fd: int) -> list[list]:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        try:
            data = json.loads(b"".join(chunks) or b"[]")
            return [list(e) for e in data if isinstance(e, list) and len(e) == 5]
        except (ValueError, TypeError):
            return []  # torn or foreign content: start afresh

    @staticmethod
    def _write(fd: int, entries: list[list]) -> None:
        os.lseek(fd, 0, os.SEEK_SET)
        os.ftruncate(fd, 0)
        os.write(fd, json.dumps(entries, separators=(",", ":")).encode())

    def _alive(self, pid: object, host: object) -> bool:
        if host != self._host or not isinstance(pid, int):
            return True  # cannot tell: rely on max_hold
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except OSError:
            pass  # e.g. EPERM: exists, another user's
        return True

    def _prune(self, entries: list[list], now: float) -> list[list]:
        """Clamp future stamps, end abandoned in-flight slots now, drop slots that ended >= per ago."""
        kept = []
        for end, granted, pid, host, token in entries:
            granted = min(float(granted), now) if isinstance(granted, (int, float)) else now
            if end is None and (now - granted > self.max_hold or not self._alive(pid, host)):
                end = now
            if end is not None:
                end = min(float(end), now)
                if end <= now - self.per:
                    continue
            kept.append([end, granted, pid, host, token])
        return kept

    @contextmanager
    def _locked(self, category: str) -> Iterator[int]:
        fd = os.open(self.path(category), os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield fd
        finally:
            os.close(fd)  # also releases the lock

    def _file_acquire(self, cat: str, rate: int) -> tuple[str, str] | None:
        with self._serial_lock:
            self._serial += 1
            token = f"{self._pid}.{self._serial}"
        while True:
            with self._locked(cat) as fd:
                now = time.time()
                entries = self._prune(self._read(fd), now)
                if len(entries) < rate:
                    entries.append([None, now, self._pid, self._host, token])
                    self._write(fd, entries)
                    return cat, token
                self._write(fd, entries)
                ends = sorted(float("inf") if e[0] is None else e[0] for e in entries)
                nth = ends[len(entries) - rate]  # this many must leave the window first
            wait = self.poll if nth == float("inf") else min(nth + self.per - now, self.per) + 0.0002
            time.sleep(max(wait, 0.0002))

    def _file_release(self, cat: str, token: str) -> None:
        with self._locked(cat) as fd:
            now = time.time()
            entries = self._prune(self._read(fd), now)
            for entry in entries:
                if entry[4] == token and entry[2] == self._pid:
                    entry[0] = now
                    break
            else:  # already ended by another process (max_hold): record the end anyway
                entries.append([now, now, self._pid, self._host, token])
            self._write(fd, entries)

    # -- public -------------------------------------------------------------------------------
    def acquire(self, category: str = "other"):
        """Block until a slot is free in this process and across processes; returns a handle."""
        self._check_fork()
        cat = super().acquire(category)
        if self._fallback is not None:
            return cat, None
        started = time.monotonic()
        try:
            handle = self._file_acquire(cat, int(self.limits[cat]))
        except OSError as exc:
            self._fall_back(exc)
            handle = (cat, None)
        except BaseException:
            super().release(cat)
            raise
        with self._cond:
            self._waited += time.monotonic() - started
        return handle

    def release(self, handle) -> None:
        """Mark the request of ``handle`` (from :meth:`acquire`) finished now, everywhere."""
        cat, token = handle
        try:
            if token is not None and self._fallback is None:
                self._file_release(cat, token)
        except OSError as exc:
            self._fall_back(exc)
        finally:
            super().release(cat)

    def stats(self) -> dict:
        """:meth:`RateLimiter.stats` plus ``shared`` (limits held across processes) and ``key_id``."""
        return {**super().stats(), "shared": self.shared, "key_id": self.key_id}

    def __repr__(self) -> str:
        return f"ProcessRateLimiter(key_id={self.key_id!r}, directory={str(self.directory)!r}, shared={self.shared})"


_SHARED: RateLimiter | None = None
"""When set (tests, or an application wanting one private limiter), :func:`shared_limiter` returns it."""
_LOCAL: RateLimiter | None = None
_BY_KEY: dict[tuple[str, str], ProcessRateLimiter] = {}
_SHARED_LOCK = threading.Lock()


def shared_limiter(api_key: str | None = None) -> RateLimiter:
    """The Kite limiter to use by default (Kite's limits are per API key).

    With ``api_key``: the :class:`ProcessRateLimiter` of that key and ``$QLWORK_HOME`` (one per process),
    so every thread and every process using that key shares the budget. Without: a process-wide
    in-process limiter (for one-off calls such as the login). ``_SHARED``, when set, overrides both.
    """
    global _LOCAL
    with _SHARED_LOCK:
        if _SHARED is not None:
            return _SHARED
        if not api_key:
            if _LOCAL is None:
                _LOCAL = RateLimiter()
            return _LOCAL
        where = (str(state_dir()), key_id(api_key))
        limiter = _BY_KEY.get(where)
        if limiter is None:
            limiter = _BY_KEY[where] = ProcessRateLimiter(api_key, directory=where[0])
        return limiter


def _after_fork_in_child() -> None:
    global _LOCAL, _SHARED_LOCK
    _SHARED_LOCK = threading.Lock()
    _LOCAL = None
    _BY_KEY.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
