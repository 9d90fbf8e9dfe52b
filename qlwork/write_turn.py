"""The right to write one SQLite file, shared by the threads and processes that write it.

SQLite's own busy handler sleeps up to 100 ms between tries, so writers of one file in several
processes queue here instead: a lock among this process's threads, then an exclusive ``flock`` on
``<file>-wlock`` polled every 0.2-2 ms. The kernel drops the flock when a process dies.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time


class WriteTurn:
    """The right to write one SQLite file: a lock among this process's threads, then an exclusive
    ``flock`` on ``<file>-wlock`` among processes (polled, so a wait still ends at the timeout). The
    lock file is opened for each turn and closed after it, so no descriptor outlives a transaction."""

    def __init__(self, path: str) -> None:
        self.lock = threading.Lock()
        self._path = f"{path}-wlock"
        self._fd: int | None = None

    def acquire(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        if not self.lock.acquire(timeout=timeout):
            return False
        try:
            fd = os.open(self._path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:  # no lock file possible (read-only directory): SQLite's busy handler alone
            return True
        try:
            pause = 0.0002
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    self._fd = fd
                    return True
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        break
                    time.sleep(pause)
                    pause = min(pause * 2, 0.002)
        except BaseException:
            os.close(fd)
            self.lock.release()
            raise
        os.close(fd)
        self.lock.release()
        return False

    def release(self) -> None:
        fd, self._fd = self._fd, None
        try:
            if fd is not None:
                os.close(fd)  # drops the flock
        finally:
            self.lock.release()


_WRITE_LOCKS: dict[str, WriteTurn] = {}
_WRITE_LOCKS_GUARD = threading.Lock()
os.register_at_fork(after_in_child=_WRITE_LOCKS.clear)  # a forked child starts with no lock held


def write_turn(path: str | os.PathLike) -> WriteTurn:
    """One write turn per database file in this process, shared by every Store opened on it."""
    key = os.path.realpath(path)
    with _WRITE_LOCKS_GUARD:
        return _WRITE_LOCKS.setdefault(key, WriteTurn(key))
