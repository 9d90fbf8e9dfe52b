"""The store for assistants, threads, messages, runs and run steps.

SQLite by default: one database file (``$QLWORK_HOME/qlwork.db``) in WAL mode, shared safely by threads
(one connection per thread) and processes (``BEGIN IMMEDIATE`` write transactions with a 30 s busy
timeout, so writers queue instead of failing with "database is locked"). PostgreSQL when
``QLWORK_DATABASE_URL`` is set, for several servers or Dask workers on different hosts (see
:mod:`qlwork.db`). Nested data lives in JSON columns;
deleting a thread cascades to its messages, runs and steps. Every run records the host, pid and
process start time of its owner so :meth:`Store.recover` can fail runs whose process died.
"""

from __future__ import annotations

import json
import os
from typing import Any

from pydantic import BaseModel

from ...db import IntegrityError, open_database
from ...errors import InputError
from ..objects import (
    ACTIVE_STATUSES,
    ALLOWED_TRANSITIONS,
    Assistant,
    Message,
    Run,
    RunStep,
    Thread,
    ToolCall,
    now,
    text_part,
)
from .ownership import owner
from .recovery import DEFAULT_ACTION_TIMEOUT, recover_runs
from .schema import (
    MIGRATIONS,
    MODELS,
    NAMES,
    STAMPS,
    apply_migrations,
    build,
    from_row,
    not_found,
    to_row,
)


class Store:
    """The object store on SQLite (default) or PostgreSQL (``QLWORK_DATABASE_URL``; see
    :mod:`qlwork.db`). Safe to share between threads; open one per process."""

    def __init__(self, path: str | os.PathLike | None = None, busy_timeout: float = 30.0,
                 url: str | None = None) -> None:
        self.db = open_database(path, url, busy_timeout)
        self.path = self.db.path
        self.target = str(self.db.path or self.db.url)  # what Store() takes to open this database again
        self.dialect = self.db.dialect
        self.busy_timeout = busy_timeout
        self.schema_version = self.migrate()

    # -- connections and transactions ----------------------------------------------------------
    def _conn(self) -> Any:
        return self.db.connection()

    def connection(self) -> Any:
        """This thread's connection (its open transaction, if any), for reads of tables that
        extensions add (the server's keys and owners); writes go through :meth:`transaction`."""
        return self.db.connection()

    def transaction(self) -> Any:
        """A write transaction (SQLite ``BEGIN IMMEDIATE``; PostgreSQL with the store's write lock);
        nested use joins the outer one."""
        return self.db.transaction()

    def close(self) -> None:
        """Close every connection this store opened (in any thread)."""
        self.db.close()

    def migrate(self) -> int:
        """Apply pending migrations (idempotent, safe when several processes start at once)."""
        return apply_migrations(self, MIGRATIONS)

    # -- generic helpers -----------------------------------------------------------------------
    def _insert(self, table: str, obj: BaseModel, **extra: Any) -> None:
        self._insert_rows([(table, obj, {**to_row(obj), **extra})])

    def insert(self, *objects: Message | RunStep) -> None:
        """Store prepared messages and steps (:meth:`new_message`, :meth:`new_step`) in one write,
        serialised before the write lock is taken."""
        self._insert_rows([(_TABLES[type(o)], o, to_row(o)) for o in objects])

    def _insert_rows(self, rows: list[tuple[str, BaseModel, dict]]) -> None:
        with self.transaction() as conn:
            for table, obj, row in rows:
                try:
                    conn.execute(f"INSERT INTO {table} ({', '.join(row)}) VALUES ({', '.join('?' * len(row))})",
                                 list(row.values()))
                except IntegrityError as exc:  # the transaction rolls back as this leaves it
                    raise _insert_error(table, obj, exc) from exc

    def _get(self, table: str, id_: str) -> Any:
        row = self._conn().execute(f"SELECT * FROM {table} WHERE id = ?", (id_,)).fetchone()
        if row is None:
            raise not_found(table, id_)
        return from_row(MODELS[table], row)

    def _update(self, table: str, id_: str, fields: dict[str, Any], current: Any = None, **extra: Any) -> Any:
        model = MODELS[table]
        unknown = (set(fields) - set(model.model_fields)) | ({"id", "object"} & set(fields))
        if unknown:
            raise InputError(f"Cannot update {', '.join(sorted(unknown))} of a {NAMES[table]}.",
                             code="invalid_field")
        given = current is not None
        if given:  # validate and serialise before the write lock: only ``fields`` are written
            updated = build(model, **{**current.model_dump(), **fields})
            row = to_row(updated)
        with self.transaction() as conn:
            if not given:
                updated = build(model, **{**self._get(table, id_).model_dump(), **fields})
                row = to_row(updated)
            values = {k: row[k] for k in fields} | extra
            if values:
                conn.execute(f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in values)} WHERE id = ?",
                             [*values.values(), id_])
            return updated

    def _list(self, table: str, where: dict[str, Any], limit: int, order: str,
              after: str | None, before: str | None) -> list[Any]:
        if order not in ("asc", "desc"):
            raise InputError(f"order must be 'asc' or 'desc', got {order!r}.", code="invalid_argument")
        if not isinstance(limit, int) or limit < 1:
            raise InputError(f"limit must be a positive integer, got {limit!r}.", code="invalid_argument")
        clauses = [f"{k} = ?" for k in where]
        params: list[Any] = list(where.values())
        conn = self._conn()
        for cursor, later in ((after, True), (before, False)):
            if cursor is None:
                continue
            key = conn.execute(f"SELECT created_at, rowid FROM {table} WHERE id = ?", (cursor,)).fetchone()
            if key is None:
                raise not_found(table, cursor)
            ascending_side = later == (order == "asc")
            clauses.append(f"(created_at, rowid) {'>' if ascending_side else '<'} (?, ?)")
            params += [key[0], key[1]]
        reverse = before is not None and after is None  # the page right before the cursor
        direction = "ASC" if (order == "asc") != reverse else "DESC"
        sql = (f"SELECT * FROM {table} WHERE {' AND '.join(clauses) or 'TRUE'} "
               f"ORDER BY created_at {direction}, rowid {direction} LIMIT ?")
        items = [from_row(MODELS[table], r) for r in conn.execute(sql, [*params, limit])]
        return items[::-1] if reverse else items

    # -- assistants ----------------------------------------------------------------------------
    def create_assistant(self, **fields: Any) -> Assistant:
        assistant = build(Assistant, **fields)
        self._insert("assistants", assistant)
        return assistant

    def get_assistant(self, assistant_id: str) -> Assistant:
        return self._get("assistants", assistant_id)

    def list_assistants(self, limit: int = 20, order: str = "desc", after: str | None = None,
                        before: str | None = None) -> list[Assistant]:
        return self._list("assistants", {}, limit, order, after, before)

    def update_assistant(self, assistant_id: str, **fields: Any) -> Assistant:
        return self._update("assistants", assistant_id, fields)

    def delete_assistant(self, assistant_id: str) -> bool:
        return self._delete("assistants", assistant_id)

    def _delete(self, table: str, id_: str) -> bool:
        with self.transaction() as conn:
            if conn.execute(f"DELETE FROM {table} WHERE id = ?", (id_,)).rowcount == 0:
                raise not_found(table, id_)
        return True

    # -- threads -------------------------------------------------------------------------------
    def create_thread(self, metadata: dict | None = None, user_id: str | None = None,
                      assistant_id: str | None = None, *, stamp_user: bool = True) -> Thread:
        """A new thread; its ``metadata["user_id"]`` is set to ``user_id`` unless ``stamp_user`` is
        false (the server keeps a client's metadata exactly as sent; the owner is the column)."""
        meta = dict(metadata or {})
        user_id = user_id or meta.get("user_id")
        if user_id is not None and stamp_user:
            meta["user_id"] = user_id
        thread = build(Thread, metadata=meta, user_id=user_id, assistant_id=assistant_id)
        self._insert("threads", thread)
        return thread

    def get_thread(self, thread_id: str) -> Thread:
        return self._get("threads", thread_id)

    def list_threads(self, user_id: str | None = None, limit: int = 20, order: str = "desc",
                     after: str | None = None, before: str | None = None) -> list[Thread]:
        """Threads (newest first by default), optionally of one user; ``after``/``before`` are ids."""
        return self._list("threads", {"user_id": user_id} if user_id else {}, limit, order, after, before)

    def update_thread_metadata(self, thread_id: str, metadata: dict) -> Thread:
        """Merge ``metadata`` into the thread's; a value of None removes the key."""
        with self.transaction():
            merged = {**self.get_thread(thread_id).metadata, **metadata}
            return self._update("threads", thread_id, {"metadata": {k: v for k, v in merged.items()
                                                                    if v is not None}})

    def delete_thread(self, thread_id: str) -> bool:
        """Delete a thread with its messages, runs and steps."""
        return self._delete("threads", thread_id)

    # -- messages ------------------------------------------------------------------------------
    def delete_message(self, message_id: str) -> bool:
        """Delete one message (run steps that created it keep its id, as in the Assistants API)."""
        return self._delete("messages", message_id)

    def add_message(self, thread_id: str, role: str, content: str | list, *, attachments: list | None = None,
                    run_id: str | None = None, assistant_id: str | None = None,
                    metadata: dict | None = None, id: str | None = None) -> Message:
        """Append a message; ``content`` is plain text or a list of content parts."""
        message = self.new_message(thread_id, role, content, attachments=attachments, run_id=run_id,
                                   assistant_id=assistant_id, metadata=metadata, id=id)
        self._insert("messages", message)
        return message

    @staticmethod
    def new_message(thread_id: str, role: str, content: str | list, *, attachments: list | None = None,
                    run_id: str | None = None, assistant_id: str | None = None,
                    metadata: dict | None = None, id: str | None = None) -> Message:
        """A validated message, not stored yet (see :meth:`insert`)."""
        parts = [text_part(content)] if isinstance(content, str) else content
        return build(Message, id=id, thread_id=thread_id, role=role, content=parts, attachments=attachments,
                     run_id=run_id, assistant_id=assistant_id, metadata=metadata)

    def get_message(self, message_id: str) -> Message:
        return self._get("messages", message_id)

    def list_messages(self, thread_id: str, order: str = "asc", limit: int = 100, after: str | None = None,
                      before: str | None = None, run_id: str | None = None) -> list[Message]:
        where = {"thread_id": thread_id, **({"run_id": run_id} if run_id else {})}
        return self._list("messages", where, limit, order, after, before)

    # -- runs ----------------------------------------------------------------------------------
    def create_run(self, thread_id: str, assistant_id: str, *, columns: dict | None = None, **fields: Any) -> Run:
        """A queued run; refuses (InputError code ``run_active``) if the thread has an active run.
        ``columns``: extra columns written with the row (a server's lease, see :mod:`.leases`)."""
        run = build(Run, thread_id=thread_id, assistant_id=assistant_id, status="queued", **fields)
        with self.transaction() as conn:
            if conn.execute("SELECT 1 FROM threads WHERE id = ?", (thread_id,)).fetchone() is None:
                raise not_found("threads", thread_id)
            active = self.active_run(thread_id)
            if active is not None:
                raise InputError(f"Thread {thread_id} already has an active run {active.id} ({active.status}).",
                                 fix="Wait for it to finish or cancel it.", code="run_active",
                                 run_id=active.id)
            self._insert("runs", run, **owner(), **(columns or {}))
        return run

    def get_run(self, run_id: str) -> Run:
        return self._get("runs", run_id)

    def run_status(self, run_id: str) -> str:
        row = self._conn().execute("SELECT status FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise not_found("runs", run_id)
        return row[0]

    def list_runs(self, thread_id: str, limit: int = 20, order: str = "desc", after: str | None = None,
                  before: str | None = None) -> list[Run]:
        return self._list("runs", {"thread_id": thread_id}, limit, order, after, before)

    def update_message(self, message_id: str, **fields: Any) -> Message:
        """Change a message's fields (e.g. ``metadata``); content and role are kept as written."""
        return self._update("messages", message_id, fields)

    def update_run(self, run_id: str, **fields: Any) -> Run:
        """Change fields other than ``status`` (use :meth:`transition` for that)."""
        if "status" in fields:
            raise InputError("Use transition() to change a run's status.", code="invalid_field")
        return self._update("runs", run_id, fields)

    def transition(self, run_id: str, new_status: str, *, current: Run | None = None, **fields: Any) -> Run:
        """Move a run to ``new_status`` atomically, refusing moves not in ALLOWED_TRANSITIONS.

        Sets started_at / completed_at / failed_at / cancelled_at, clears required_action unless
        entering requires_action, and claims ownership for this process on ``in_progress``.
        ``current``: the run as just read inside the caller's transaction (saves reading it again).
        """
        with self.transaction():
            run = current if current is not None else self.get_run(run_id)
            if new_status not in ALLOWED_TRANSITIONS.get(run.status, ()):
                raise InputError(f"Run {run_id} cannot go from {run.status} to {new_status}.",
                                 code="illegal_transition", run_id=run_id, status=run.status,
                                 requested=new_status)
            if new_status in STAMPS:
                fields.setdefault(STAMPS[new_status], now())
            if new_status == "in_progress" and run.started_at is None:
                fields.setdefault("started_at", now())
            if new_status != "requires_action":
                fields.setdefault("required_action", None)
            claim = owner() if new_status == "in_progress" else {}
            return self._update("runs", run_id, {**fields, "status": new_status}, current=run, **claim)

    def finish_run(self, run_id: str, status: str, **fields: Any) -> Run:
        """Transition to a final status and close the run's open steps in the same transaction:
        every tool call still without an output gets one carrying the run's error, so no orphaned
        call is ever left behind."""
        with self.transaction() as conn:
            run = self.transition(run_id, status, **fields)
            error = (run.last_error.model_dump() if run.last_error else
                     {"code": status, "message": f"The run ended {status} before this call finished."})
            step_status = status if status in ("cancelled", "expired", "completed") else "failed"
            for row in conn.execute("SELECT * FROM run_steps WHERE run_id = ? AND status = 'in_progress'",
                                    (run_id,)).fetchall():
                step = from_row(RunStep, row)
                for call in step.tool_calls:
                    if call.function.output is None:
                        call.function.output = json.dumps({"error": error})
                        call.error = error
                self.update_step(step.id, status=step_status, step_details=step.step_details,
                                 last_error=None if step_status == "completed" else error,
                                 **{STAMPS.get(step_status, "completed_at"): now()})
            return run

    def active_run(self, thread_id: str) -> Run | None:
        marks = ", ".join("?" * len(ACTIVE_STATUSES))
        row = self._conn().execute(
            f"SELECT * FROM runs WHERE thread_id = ? AND status IN ({marks}) "
            "ORDER BY created_at DESC, rowid DESC LIMIT 1", (thread_id, *sorted(ACTIVE_STATUSES))).fetchone()
        return from_row(Run, row) if row else None

    def recover(self, reason: str = "The process running it stopped.", all: bool = False,
                thread_id: str | None = None, action_timeout: int = DEFAULT_ACTION_TIMEOUT) -> list[Run]:
        """Free threads blocked by runs nothing will ever finish; returns the runs it changed
        (see :func:`.recovery.recover_runs`)."""
        return recover_runs(self, reason, all=all, thread_id=thread_id, action_timeout=action_timeout)

    # -- steps ---------------------------------------------------------------------------------
    def add_step(self, run_id: str, type: str, step_details: dict | BaseModel, *, status: str = "in_progress",
                 thread_id: str | None = None, assistant_id: str | None = None, **fields: Any) -> RunStep:
        if thread_id is None:
            run = self.get_run(run_id)
            thread_id, assistant_id = run.thread_id, assistant_id or run.assistant_id
        step = self.new_step(run_id, type, step_details, status=status, thread_id=thread_id,
                             assistant_id=assistant_id, **fields)
        self._insert("run_steps", step)
        return step

    @staticmethod
    def new_step(run_id: str, type: str, step_details: dict | BaseModel, *, status: str = "in_progress",
                 thread_id: str, assistant_id: str | None, **fields: Any) -> RunStep:
        """A validated run step, not stored yet (see :meth:`insert`)."""
        return build(RunStep, run_id=run_id, thread_id=thread_id, assistant_id=assistant_id, type=type,
                     status=status, step_details=step_details, **fields)

    def get_step(self, step_id: str) -> RunStep:
        return self._get("run_steps", step_id)

    def update_step(self, step_id: str, *, current: RunStep | None = None, **fields: Any) -> RunStep:
        """Change a step's fields; ``current``: the step as this process wrote it (not read again)."""
        return self._update("run_steps", step_id, fields, current=current)

    def list_steps(self, run_id: str, order: str = "asc", limit: int = 100, after: str | None = None,
                   before: str | None = None) -> list[RunStep]:
        return self._list("run_steps", {"run_id": run_id}, limit, order, after, before)

    def completed_tool_calls(self, thread_id: str, limit_steps: int = 20) -> list[tuple[str, ToolCall]]:
        """(run_id, call) from tool-call steps of the thread's completed runs, oldest first."""
        rows = self._conn().execute(
            "SELECT s.* FROM run_steps s JOIN runs r ON r.id = s.run_id WHERE s.thread_id = ? AND "
            "r.status = 'completed' AND s.type = 'tool_calls' ORDER BY s.created_at DESC, s.rowid DESC "
            "LIMIT ?", (thread_id, limit_steps)).fetchall()
        steps = [from_row(RunStep, r) for r in reversed(rows)]
        return [(s.run_id, call) for s in steps for call in s.tool_calls]

    # -- audit ---------------------------------------------------------------------------------
    def audit(self, thread_id: str) -> dict:
        """The whole trail of a thread as plain dicts: thread, messages, runs, steps (oldest first)."""
        conn = self._conn()
        out: dict[str, Any] = {"thread": self.get_thread(thread_id).model_dump(mode="json")}
        for key, table in (("messages", "messages"), ("runs", "runs"), ("steps", "run_steps")):
            rows = conn.execute(f"SELECT * FROM {table} WHERE thread_id = ? ORDER BY created_at, rowid",
                                (thread_id,)).fetchall()
            out[key] = [from_row(MODELS[table], r).model_dump(mode="json") for r in rows]
        return out


_TABLES = {Message: "messages", RunStep: "run_steps"}


def _insert_error(table: str, obj: BaseModel, exc: Exception) -> InputError:
    """The InputError for a refused insert: a duplicate id, or a parent that does not exist."""
    if "UNIQUE" in str(exc).upper():
        return InputError(f"A {NAMES[table]} with id {getattr(obj, 'id', '')!r} already exists.",
                          code="duplicate_id", id=getattr(obj, "id", None))
    parent = getattr(obj, "thread_id", None) or getattr(obj, "run_id", None)
    return InputError(f"Cannot store {NAMES[table]} {getattr(obj, 'id', '')}: {exc} "
                      f"(does {parent!r} exist?).", code="not_found", id=parent)
