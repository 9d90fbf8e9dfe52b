"""Database schema (ordered migrations) and row <-> object conversion for the store."""

from __future__ import annotations

import json
from typing import Any

from pydantic import BaseModel, ValidationError

from ...errors import InputError
from ..objects import Assistant, Message, Run, RunStep, Thread, now

Statement = str | dict[str, str]
"""One migration statement: SQL in SQLite's dialect (translated for PostgreSQL by
:func:`qlwork.db.to_postgres`), or ``{"sqlite": ..., "postgresql": ...}`` where they differ."""

MIGRATIONS: list[tuple[int, str, list[Statement]]] = [
    (1, "objects", [
        """CREATE TABLE assistants (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, name TEXT,
            description TEXT, model TEXT NOT NULL, backend TEXT NOT NULL, instructions TEXT,
            tools TEXT NOT NULL, response_format TEXT, metadata TEXT NOT NULL)""",
        """CREATE TABLE threads (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, user_id TEXT,
            assistant_id TEXT, metadata TEXT NOT NULL)""",
        """CREATE TABLE messages (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,
            thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE, role TEXT NOT NULL,
            content TEXT NOT NULL, attachments TEXT NOT NULL, run_id TEXT, assistant_id TEXT,
            metadata TEXT NOT NULL)""",
        """CREATE TABLE runs (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,
            thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE,
            assistant_id TEXT NOT NULL, status TEXT NOT NULL, model TEXT, backend TEXT,
            instructions TEXT, tools TEXT NOT NULL, usage TEXT, started_at INTEGER,
            completed_at INTEGER, failed_at INTEGER, cancelled_at INTEGER, last_error TEXT,
            incomplete_details TEXT, max_turns INTEGER NOT NULL, turns INTEGER NOT NULL DEFAULT 0,
            required_action TEXT, metadata TEXT NOT NULL, owner_host TEXT, owner_pid INTEGER,
            owner_started TEXT)""",
        """CREATE TABLE run_steps (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,
            run_id TEXT NOT NULL REFERENCES runs(id) ON DELETE CASCADE,
            thread_id TEXT NOT NULL REFERENCES threads(id) ON DELETE CASCADE, assistant_id TEXT,
            type TEXT NOT NULL, status TEXT NOT NULL, step_details TEXT NOT NULL, last_error TEXT,
            completed_at INTEGER, failed_at INTEGER, cancelled_at INTEGER, usage TEXT)""",
    ]),
    (2, "indexes", [
        "CREATE INDEX threads_by_user ON threads(user_id, created_at)",
        "CREATE INDEX messages_by_thread ON messages(thread_id, created_at)",
        "CREATE INDEX runs_by_thread ON runs(thread_id, status)",
        "CREATE INDEX steps_by_run ON run_steps(run_id, created_at)",
        "CREATE INDEX steps_by_thread ON run_steps(thread_id)",
    ]),
    (3, "run leases", [  # see assistant/leases.py: which server executes a run, until when
        "ALTER TABLE runs ADD COLUMN lease_owner TEXT",
        "ALTER TABLE runs ADD COLUMN lease_expires INTEGER",
        "CREATE INDEX runs_by_status ON runs(status, lease_expires)",
        "CREATE INDEX runs_by_lease_owner ON runs(lease_owner)",
    ]),
    (4, "vector stores", [  # tools/file_search.py: shared by every host with QLWORK_DATABASE_URL (the
        # file store keeps them in files.db without one); same DDL as tools/shared_files.VECTOR_TABLES
        """CREATE TABLE IF NOT EXISTS vector_stores (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, name TEXT,
        owner_kind TEXT, owner_id TEXT)""",
        "CREATE INDEX IF NOT EXISTS vector_stores_by_owner ON vector_stores(owner_kind, owner_id)",
        """CREATE TABLE IF NOT EXISTS vector_store_files (vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL,
        status TEXT NOT NULL, chunks INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at INTEGER NOT NULL,
        PRIMARY KEY (vector_store_id, file_id))""",
        "CREATE INDEX IF NOT EXISTS vector_store_files_by_file ON vector_store_files(file_id)",
    ]),
    (5, "run step metadata", [  # assistant/model_turns.py: latency, usage and capabilities per model turn
        "ALTER TABLE run_steps ADD COLUMN metadata TEXT",
    ]),
]
"""Ordered schema migrations: (version, description, statements). Append; never edit a shipped one."""

MODELS: dict[str, type[BaseModel]] = {"assistants": Assistant, "threads": Thread, "messages": Message,
                                       "runs": Run, "run_steps": RunStep}
JSON_COLUMNS = {"tools", "response_format", "metadata", "content", "attachments", "usage", "last_error",
                 "incomplete_details", "required_action", "step_details"}
NAMES = {"assistants": "assistant", "threads": "thread", "messages": "message", "runs": "run",
          "run_steps": "run step"}
STAMPS = {"completed": "completed_at", "failed": "failed_at", "cancelled": "cancelled_at"}


def to_row(obj: BaseModel) -> dict[str, Any]:
    data = obj.model_dump(mode="json", exclude={"object"})
    return {k: json.dumps(v, ensure_ascii=False) if k in JSON_COLUMNS and v is not None else v
            for k, v in data.items()}


def from_row(model: type[BaseModel], row: Any) -> Any:
    data = {k: json.loads(row[k]) if k in JSON_COLUMNS and row[k] is not None else row[k]
            for k in row.keys()}
    return model.model_validate(data)


def apply_migrations(store: Any, migrations: list[tuple[int, str, list[Statement]]],
                     table: str = "schema_version") -> int:
    """Apply the pending ``migrations`` in one write transaction and record each in ``table``;
    returns the version reached. Idempotent and safe when several processes start at once (the
    write transaction is exclusive on both databases)."""
    with store.transaction() as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (version INTEGER PRIMARY KEY, "
                     "description TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        current = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {table}").fetchone()[0]
        for version, description, statements in migrations:
            if version > current:
                for statement in statements:
                    conn.execute(statement[store.dialect] if isinstance(statement, dict) else statement)
                conn.execute(f"INSERT INTO {table} (version, description, applied_at) VALUES (?, ?, ?)",
                             (version, description, now()))
                current = version
    return current


def build(kind: type[BaseModel], /, **data: Any) -> Any:
    try:
        return kind.model_validate({k: v for k, v in data.items() if v is not None})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InputError(f"Invalid {kind.__name__}: {problems}.", code="invalid_object") from exc


def not_found(table: str, id_: str) -> InputError:
    return InputError(f"No {NAMES[table]} with id {id_!r}.", fix="Check the id (list the objects first).",
                      code="not_found", id=id_)
