"""Freeing threads from runs nothing will finish: runs of dead processes, and runs waiting too long
for tool outputs (``requires_action`` past its expiry). Used by :meth:`Store.recover` (sessions,
``qlwork threads recover``) and by the server's leases."""

from __future__ import annotations

import json
import socket
from typing import Any

from ..objects import ACTIVE_STATUSES, Run, now
from .ownership import process_alive

DEFAULT_ACTION_TIMEOUT = 600
"""Seconds a ``requires_action`` run waits for tool outputs before it expires (as in the Assistants API)."""


def recover_runs(store: Any, reason: str = "The process running it stopped.", all: bool = False,
                 thread_id: str | None = None, action_timeout: int = DEFAULT_ACTION_TIMEOUT) -> list[Run]:
    """Free threads blocked by runs nothing will ever finish; returns the runs it changed.

    * A queued, in_progress or cancelling run whose owner process on this host is gone gets
      ``failed`` with ``last_error = {"code": "crashed", "message": ...}`` naming ``reason`` and the
      status it was left in; open steps are closed with that error. Runs owned by a live process on
      this host, or by another host, are left alone unless ``all`` is true.
    * A ``requires_action`` run is parked waiting for tool outputs (any process may submit them),
      so its owner does not matter: it becomes ``expired`` once past its expiry -- ``metadata
      ["expires_at"]`` (Unix seconds) if set, else ``action_timeout`` seconds (default 10 minutes,
      as in the Assistants API) after it started waiting. ``all`` fails it at once.

    ``thread_id`` limits the sweep to one thread (what :class:`Session` does when it opens one).
    """
    host = socket.gethostname()
    marks = ", ".join("?" * len(ACTIVE_STATUSES))
    scope, params = ("AND thread_id = ?", [thread_id]) if thread_id is not None else ("", [])
    sql = (f"SELECT id, status, owner_host, owner_pid, owner_started, metadata, created_at, started_at "
           f"FROM runs WHERE status IN ({marks}) {scope}")
    params = [*sorted(ACTIVE_STATUSES), *params]
    if not store.connection().execute(sql + " LIMIT 1", params).fetchone():
        return []  # the usual case: no write lock taken
    recovered = []
    with store.transaction() as conn:
        rows = conn.execute(sql, params).fetchall()
        for run_id, status, owner_host, pid, started, metadata, created_at, started_at in rows:
            if status == "requires_action" and not all:
                expires_at = action_expiry(conn, run_id, metadata, started_at or created_at, action_timeout)
                if now() >= expires_at:
                    message = (f"Run expired: no tool outputs were submitted before {expires_at} "
                               f"(Unix time).")
                    recovered.append(store.finish_run(run_id, "expired",
                                                  last_error={"code": "expired", "message": message}))
                continue
            if not all and (owner_host != host or process_alive(pid, started)):
                continue
            message = f"Run interrupted while {status}: {reason} (owner {owner_host}:{pid})."
            recovered.append(store.finish_run(run_id, "failed",
                                              last_error={"code": "crashed", "message": message}))
    return recovered


def action_expiry(conn: Any, run_id: str, metadata: str | None, since: int, timeout: int) -> int:
    """When a requires_action run expires: its ``metadata["expires_at"]``, else ``timeout`` seconds
    after its latest step (the one holding the pending calls) was created."""
    try:
        explicit = (json.loads(metadata) if metadata else {}).get("expires_at")
    except (TypeError, ValueError, AttributeError):
        explicit = None
    if isinstance(explicit, (int, float)) and not isinstance(explicit, bool):
        return int(explicit)
    latest = conn.execute("SELECT MAX(created_at) FROM run_steps WHERE run_id = ?", (run_id,)).fetchone()[0]
    return int(latest or since) + int(timeout)
