"""Uploaded files shared by every host through the database (``QLWORK_DATABASE_URL``).

With PostgreSQL configured, a file's metadata and bytes are written to the table ``shared_files`` when
it is uploaded, and that table is the authority on which files exist: a server on another host finds
the file there and keeps a local copy in its ``$QLWORK_HOME/files`` (a cache, with the file_search
index built from it); a deleted file disappears for every host. Without a database URL nothing here
is used and files live only in ``$QLWORK_HOME/files``.
"""

from __future__ import annotations

from typing import Any

from ..db import Database
from ..db import shared_database as _shared_database

TABLE = """CREATE TABLE IF NOT EXISTS shared_files (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,
    filename TEXT NOT NULL, bytes INTEGER NOT NULL, purpose TEXT NOT NULL, sha256 TEXT NOT NULL,
    kind TEXT NOT NULL, mime_type TEXT NOT NULL, content BLOB NOT NULL)"""
COLUMNS = ("id", "created_at", "filename", "bytes", "purpose", "sha256", "kind", "mime_type")

def shared_database() -> Database | None:
    """The shared database (one pool per process and URL), or None when files are per host."""
    return _shared_database(TABLE)


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
