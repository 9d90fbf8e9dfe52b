"""Uploaded files shared by every host through the database (``QLWORK_DATABASE_URL``).

With PostgreSQL configured, a file's metadata and bytes are written to the table ``shared_files`` when
it is uploaded, and that table is the authority on which files exist: a server on another host finds
the file there and keeps a local copy in its ``$QLWORK_HOME/files`` (a cache, with the file_search
index built from it); a deleted file disappears for every host. Without a database URL nothing here
is used and files live only in ``$QLWORK_HOME/files``.

The file_search vector stores (which files each holds, with per-file status) follow the same rule:
with a URL they live in the tables ``vector_stores`` and ``vector_store_files`` of the shared database
(migration 4 of :mod:`qlwork.assistant.store.schema`; :data:`VECTOR_TABLES` is the same DDL, applied here
too so a process that never opened the assistant store works), without one in ``files.db``. The FTS5
index stays a per-host cache in ``files.db``, rebuilt on demand from the shared bytes.
"""

from __future__ import annotations

from typing import Any

from ..db import Database
from ..db import shared_database as _shared_database

TABLE = """CREATE TABLE IF NOT EXISTS shared_files (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,
    filename TEXT NOT NULL, bytes INTEGER NOT NULL, purpose TEXT NOT NULL, sha256 TEXT NOT NULL,
    kind TEXT NOT NULL, mime_type TEXT NOT NULL, content BLOB NOT NULL)"""
VECTOR_TABLES = (
    """CREATE TABLE IF NOT EXISTS vector_stores (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, name TEXT,
        owner_kind TEXT, owner_id TEXT)""",
    "CREATE INDEX IF NOT EXISTS vector_stores_by_owner ON vector_stores(owner_kind, owner_id)",
    """CREATE TABLE IF NOT EXISTS vector_store_files (vector_store_id TEXT NOT NULL, file_id TEXT NOT NULL,
        status TEXT NOT NULL, chunks INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at INTEGER NOT NULL,
        PRIMARY KEY (vector_store_id, file_id))""",
    "CREATE INDEX IF NOT EXISTS vector_store_files_by_file ON vector_store_files(file_id)",
)
"""The vector-store tables (SQLite dialect; no foreign keys, so ``qlwork db migrate-from-sqlite`` may copy
them in any order: deletes remove a store's file rows explicitly). Identical to migration 4."""
COLUMNS = ("id", "created_at", "filename", "bytes", "purpose", "sha256", "kind", "mime_type")


def shared_database() -> Database | None:
    """The shared database (one pool per process and URL), or None when files are per host."""
    return _shared_database(TABLE, *VECTOR_TABLES)


def put(db: Database, meta: dict[str, Any], data: bytes) -> None:
    cols = [*COLUMNS, "content"]
    with db.transaction() as conn:
        conn.execute(f"INSERT INTO shared_files ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})",
                     [*(meta[c] for c in COLUMNS), data])


def get(db: Database, file_id: str) -> dict[str, Any] | None:
    row = db.connection().execute(f"SELECT {', '.join(COLUMNS)} FROM shared_files WHERE id = ?",
                                  (file_id,)).fetchone()
    return dict(zip(COLUMNS, row)) if row is not None else None


def content(db: Database, file_id: str) -> bytes | None:
    row = db.connection().execute("SELECT content FROM shared_files WHERE id = ?", (file_id,)).fetchone()
    return bytes(row[0]) if row is not None else None


def ids(db: Database, purpose: str | None, limit: int) -> list[str]:
    sql = ("SELECT id FROM shared_files" + (" WHERE purpose = ?" if purpose else "")
           + " ORDER BY created_at DESC, rowid DESC LIMIT ?")
    return [r[0] for r in db.connection().execute(sql, (*([purpose] if purpose else []), limit)).fetchall()]


def delete(db: Database, file_id: str) -> None:
    with db.transaction() as conn:
        conn.execute("DELETE FROM shared_files WHERE id = ?", (file_id,))
