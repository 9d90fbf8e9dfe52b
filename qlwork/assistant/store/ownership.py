"""Who owns what: the process that owns a run (host, pid, start time; whether it is still alive),
and the user who owns a file, vector store, assistant or thread (:func:`owns`, the one ownership rule
the REST API, MCP, the tools and the reports all ask)."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from ..objects import now


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


# -- which user owns an object: the one rule (docs/server.md "Who owns what") ----------------------

OWNER_TABLES = (
    """CREATE TABLE IF NOT EXISTS server_owners (kind TEXT NOT NULL, object_id TEXT NOT NULL,
        user_id TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (kind, object_id))""",
    "CREATE INDEX IF NOT EXISTS server_owners_by_user ON server_owners(user_id, kind)",
)
OWNED_KINDS = ("assistant", "file", "vector_store")
"""Kinds recorded in ``server_owners``; a thread's owner is its ``user_id`` column."""


def ensure_owner_table(store: Any) -> None:
    """Create the ownership records if missing (idempotent)."""
    with store.transaction() as conn:
        for statement in OWNER_TABLES:
            conn.execute(statement)


def claim(store: Any, kind: str, object_id: str, user_id: str) -> None:
    """Record ``user_id`` as the owner of a new object (the first claim stands)."""
    _kind(kind)
    with store.transaction() as conn:
        for statement in OWNER_TABLES:
            conn.execute(statement)
        conn.execute("INSERT OR IGNORE INTO server_owners (kind, object_id, user_id, created_at) "
                     "VALUES (?, ?, ?, ?)", (kind, object_id, user_id, now()))


def owner_of(store: Any, kind: str, object_id: str) -> str | None:
    """The user who owns an object, or None (nobody: no record)."""
    if not isinstance(object_id, str):
        return None
    if kind == "thread":
        row = store.connection().execute("SELECT user_id FROM threads WHERE id = ?", (object_id,)).fetchone()
    else:
        _kind(kind)
        row = store.connection().execute("SELECT user_id FROM server_owners WHERE kind = ? AND object_id = ?",
                                         (kind, object_id)).fetchone()
    return row[0] if row else None


def owns(store: Any, user_id: str | None, kind: str, object_id: Any) -> bool:
    """Whether ``user_id`` owns the file, vector store, assistant or thread ``object_id``.

    The only rule: the ownership record made when the object was created (an upload, a figure a
    tool wrote, a vector store, an assistant) or the thread's ``user_id``. Nothing a client can set
    (thread metadata, message attachments, a path) grants access."""
    return bool(user_id) and owner_of(store, kind, object_id) == user_id


def owned_ids(store: Any, user_id: str, kind: str) -> list[str]:
    """Ids of the user's objects of ``kind``, oldest first."""
    _kind(kind)
    rows = store.connection().execute("SELECT object_id FROM server_owners WHERE kind = ? AND user_id = ? "
                                      "ORDER BY created_at, rowid", (kind, user_id)).fetchall()
    return [r[0] for r in rows]


def release(store: Any, kind: str, object_id: str) -> None:
    """Forget the owner of a deleted object."""
    _kind(kind)
    with store.transaction() as conn:
        conn.execute("DELETE FROM server_owners WHERE kind = ? AND object_id = ?", (kind, object_id))


def _kind(kind: str) -> None:
    if kind not in OWNED_KINDS:
        raise ValueError(f"unknown owned kind {kind!r} (one of {', '.join(OWNED_KINDS)})")
