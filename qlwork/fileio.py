"""Atomic file writes: a temp file beside the target, fsync, then rename over it, so readers see the
old file or the new one, never half of one. ``mode`` (e.g. 0o600) is set before any byte is written."""

from __future__ import annotations

import os
import threading
from pathlib import Path


def atomic_write(path: str | os.PathLike, data: str | bytes, mode: int | None = None) -> None:
    """Write ``data`` (text is UTF-8) to ``path`` atomically; ``mode`` for private files."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else mode)
    try:
        if mode is not None:
            os.fchmod(fd, mode)  # the umask may have narrowed or the file may have existed
        with os.fdopen(fd, "wb") as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
