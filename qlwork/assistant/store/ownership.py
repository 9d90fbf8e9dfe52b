"""Which process owns a run: host, pid and process start time, and whether it is still alive."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any


def proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, start time in clock ticks) from /proc, or None where /proc is unavailable."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], fields[19]


def owner() -> dict[str, Any]:
    stat = proc_stat(os.getpid())
    return {"owner_host": socket.gethostname(), "owner_pid": os.getpid(),
            "owner_started": stat[1] if stat else None}


def process_alive(pid: int | None, started: str | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    stat = proc_stat(pid)
    if stat is not None and (stat[0] in ("Z", "X") or (started is not None and stat[1] != started)):
        return False  # a zombie, or the pid was reused by another process
    return True
