"""Run leases: which server executes a run, and until when.

A run created by a server carries a lease in two columns of ``runs``: ``lease_owner`` (the server's
id: ``host/pid/start-ticks/random``) and ``lease_expires`` (Unix milliseconds). The holder renews all
its leases with one UPDATE per heartbeat. A lease is dead when it is past its expiry, or at once when
its holder is a process on this host that is gone. Any server may take over a run with a dead lease;
the take is a conditional UPDATE naming the old holder (compare and swap), so exactly one server
wins, and the ``queued -> in_progress`` transition is itself conditional, so a run executes once.

What a takeover does, by status:

* ``queued``: the new holder executes the run.
* ``in_progress``: the run ends ``failed`` with ``last_error`` ``server_error`` "the server stopped
  during this run"; its open steps are closed. Runs are not resumed: a tool may have had effects
  and a half-recorded turn is not replayed (the client may start a new run on the same thread).
* ``cancelling``: the run ends ``cancelled``.

``requires_action`` runs hold no live lease (they wait for the client, not a server); every server
expires them at their expiry (:func:`.recovery.action_expiry`: ``metadata["expires_at"]`` or the action
timeout after the step holding the pending calls). Runs without a lease (made by a :class:`Session`
in a notebook, or by a server of an older version) are left to their creator unless it is a process
on this host that is gone (``owner_host``/``owner_pid``).

Only plain SQL (``UPDATE ... WHERE lease_owner = ? AND lease_expires < ?``), so the same statements
serve a PostgreSQL store.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Iterable

from ...errors import InputError
from ..objects import Run, now
from .ownership import proc_stat, process_alive
from .recovery import DEFAULT_ACTION_TIMEOUT, action_expiry
from .store import Store

log = logging.getLogger("qlwork.leases")

LEASE_SECONDS = 30.0
"""How long a lease lives without a heartbeat (the holder renews it several times per period)."""
HELD = ("queued", "in_progress", "cancelling")
"""Statuses whose run is held by a server (renewed by its heartbeat, taken over when it dies)."""
STOPPED_MESSAGE = "the server stopped during this run"


def server_id() -> str:
    """A new lease owner id: host, pid and start time of this process, plus a random part."""
    stat = proc_stat(os.getpid())
    return f"{socket.gethostname()}/{os.getpid()}/{stat[1] if stat else 0}/{secrets.token_hex(4)}"


def _ms() -> int:
    return int(time.time() * 1000)


def holder_gone(owner: str | None, expires: int | None, at_ms: int | None = None) -> bool:
    """Whether a lease is dead: expired, or held by a process on this host that no longer runs."""
    if owner is None:
        return False
    if expires is None or expires < (at_ms if at_ms is not None else _ms()):
        return True
    host, _, rest = owner.partition("/")
    pid, _, rest = rest.partition("/")
    started = rest.partition("/")[0]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    return not process_alive(int(pid), started if started not in ("", "0") else None)


class Leases:
    """The leases of one server (``owner``) on a store."""

    def __init__(self, store: Store, owner: str | None = None, seconds: float = LEASE_SECONDS) -> None:
        self.store = store
        self.owner = owner or server_id()
        self.seconds = float(seconds)

    def _until(self) -> int:
        return _ms() + int(self.seconds * 1000)

    def columns(self) -> dict:
        """The lease columns of a run this server creates (written with its row)."""
        return {"lease_owner": self.owner, "lease_expires": self._until()}

    def assign(self, run_id: str) -> None:
        """Make this server the run's holder (inside the caller's transaction, if any)."""
        with self.store.transaction() as conn:
            conn.execute("UPDATE runs SET lease_owner = ?, lease_expires = ? WHERE id = ?",
                         (self.owner, self._until(), run_id))

    def holds(self, run_id: str) -> bool:
        """Renew and confirm this server's lease on a run about to execute (False: taken over)."""
        with self.store.transaction() as conn:
            return conn.execute("UPDATE runs SET lease_expires = ? WHERE id = ? AND lease_owner = ?",
                                (self._until(), run_id, self.owner)).rowcount == 1

    def renew(self) -> int:
        """The heartbeat: extend every lease this server holds; returns how many."""
        marks = ", ".join("?" * len(HELD))
        with self.store.transaction() as conn:
            return conn.execute(f"UPDATE runs SET lease_expires = ? WHERE lease_owner = ? AND status IN ({marks})",
                                (self._until(), self.owner, *HELD)).rowcount

    def release_queued(self, run_ids: Iterable[str] | None = None) -> int:
        """Give up queued runs (all of them, or ``run_ids``) for any server to take at once."""
        with self.store.transaction() as conn:
            if run_ids is None:
                return conn.execute("UPDATE runs SET lease_expires = 0 WHERE lease_owner = ? AND status = 'queued'",
                                    (self.owner,)).rowcount
            return sum(conn.execute("UPDATE runs SET lease_expires = 0 WHERE id = ? AND lease_owner = ? AND "
                                    "status = 'queued'", (run_id, self.owner)).rowcount for run_id in run_ids)

    def _take(self, run_id: str, status: str, old_owner: str | None) -> bool:
        """Compare and swap: become the holder if the run still has ``status`` and ``old_owner``."""
        held = "lease_owner = ?" if old_owner is not None else "lease_owner IS NULL"
        with self.store.transaction() as conn:
            return conn.execute(f"UPDATE runs SET lease_owner = ?, lease_expires = ? WHERE id = ? AND status = ? "
                                f"AND {held}", (self.owner, self._until(), run_id, status,
                                                *([old_owner] if old_owner is not None else []))).rowcount == 1

    def sweep(self) -> tuple[list[str], list[Run]]:
        """Take over runs whose holder is gone: returns (queued run ids now ours to execute, runs
        ended here: in_progress -> failed, cancelling -> cancelled)."""
        marks = ", ".join("?" * len(HELD))
        rows = self.store.connection().execute(
            f"SELECT id, status, lease_owner, lease_expires, owner_host, owner_pid, owner_started FROM runs "
            f"WHERE status IN ({marks})", HELD).fetchall()
        host, at = socket.gethostname(), _ms()
        to_run: list[str] = []
        ended: list[Run] = []
        for run_id, status, lease_owner, expires, owner_host, pid, started in rows:
            if lease_owner == self.owner:
                continue
            if lease_owner is not None:
                gone = holder_gone(lease_owner, expires, at)
            else:  # no lease: a Session's run or an older server's; only a dead creator on this host
                gone = owner_host == host and not process_alive(pid, started)
            if not gone or not self._take(run_id, status, lease_owner):
                continue
            if status == "queued":
                to_run.append(run_id)
                continue
            try:
                if status == "cancelling":
                    ended.append(self.store.finish_run(run_id, "cancelled"))
                else:
                    message = f"{STOPPED_MESSAGE} (it was {status}; another server took it over)."
                    ended.append(self.store.finish_run(run_id, "failed",
                                                       last_error={"code": "server_error", "message": message}))
            except InputError:  # it moved on meanwhile
                continue
        return to_run, ended

    def fail_stopped(self, run_ids: Iterable[str]) -> list[Run]:
        """End runs this server was executing and cannot finish (a stop past its grace period)."""
        ended = []
        for run_id in run_ids:
            try:
                status = self.store.run_status(run_id)
                if status == "cancelling":
                    ended.append(self.store.finish_run(run_id, "cancelled"))
                elif status == "in_progress":
                    ended.append(self.store.finish_run(run_id, "failed", last_error={
                        "code": "server_error", "message": f"{STOPPED_MESSAGE} (its grace period ran out)."}))
            except InputError:
                continue
        return ended

    def expire_waiting(self, action_timeout: float = DEFAULT_ACTION_TIMEOUT) -> list[Run]:
        """Expire ``requires_action`` runs past their expiry, whoever created them."""
        conn = self.store.connection()
        rows = conn.execute("SELECT id, metadata, created_at, started_at FROM runs "
                            "WHERE status = 'requires_action'").fetchall()
        expired = []
        for run_id, metadata, created_at, started_at in rows:
            expires_at = expiry(self.store, run_id, metadata, started_at or created_at, action_timeout)
            if now() < expires_at:
                continue
            message = f"Run expired: no tool outputs were submitted before {expires_at} (Unix time)."
            try:
                expired.append(self.store.finish_run(run_id, "expired",
                                                     last_error={"code": "expired", "message": message}))
            except InputError:  # outputs arrived meanwhile
                continue
        return expired


def expiry(store: Store, run_id: str, metadata: str | dict | None, since: int,
           action_timeout: float = DEFAULT_ACTION_TIMEOUT) -> int:
    """When a ``requires_action`` run expires (Unix seconds)."""
    raw = json.dumps(metadata) if isinstance(metadata, dict) else metadata
    return action_expiry(store.connection(), run_id, raw, since, int(action_timeout))
