"""Copy a store from one database to another (``qlwork db migrate-from-sqlite``), verified.

Tables are copied in an order that satisfies their foreign keys, rows in their original order (so
orderings by ``(created_at, rowid)`` hold on the new database), all in one write transaction on the
destination. The copy is verified per table by the row count and a SHA-256 over every row's values in
order, computed the same way on both sides; a mismatch rolls the copy back.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ...errors import InputError
from .store import Store

FIRST = ("assistants", "threads", "messages", "runs", "run_steps")
"""Tables copied first, parents before children; any other table of the source follows."""
SKIP = {"schema_version"}
BATCH = 1000


def tables(store: Store) -> list[str]:
    """The store's data tables (not the migration bookkeeping)."""
    if store.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
    names = {r[0] for r in store.connection().execute(sql).fetchall()} - SKIP
    return [t for t in FIRST if t in names] + sorted(names - set(FIRST))


def columns(store: Store, table: str) -> list[str]:
    if store.dialect == "sqlite":
        rows = store.connection().execute(f"PRAGMA table_info({table})").fetchall()
        return [r[1] for r in rows]
    rows = store.connection().execute(
        "SELECT column_name FROM information_schema.columns WHERE table_schema = current_schema() "
        "AND table_name = ? AND column_name <> 'rowid' ORDER BY ordinal_position", (table,)).fetchall()
    return [r[0] for r in rows]


def _value(v: Any) -> Any:
    return {"bytes": bytes(v).hex()} if isinstance(v, (bytes, bytearray, memoryview)) else v


def checksum(conn: Any, table: str, cols: list[str]) -> tuple[int, str]:
    """(rows, SHA-256 of the rows' values in rowid order) of one table."""
    digest, count = hashlib.sha256(), 0
    for row in conn.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid"):
        digest.update(json.dumps([_value(v) for v in row], separators=(",", ":")).encode())
        digest.update(b"\n")
        count += 1
    return count, digest.hexdigest()


def copy_store(source: Store, dest: Store) -> dict[str, dict]:
    """Copy every data table of ``source`` into the empty same-named tables of ``dest`` and verify;
    returns ``{table: {"rows": n, "sha256": ...}}``. Refuses a destination that already holds rows."""
    missing = [t for t in tables(source) if t not in set(tables(dest))]
    if missing:
        raise InputError(f"The destination has no table {', '.join(missing)}.",
                         fix="Run `qlwork db upgrade` on the destination first.", code="schema_mismatch")
    if source.schema_version > dest.schema_version:
        raise InputError(f"The source schema (version {source.schema_version}) is newer than the "
                         f"destination's ({dest.schema_version}).", fix="Upgrade qlwork where the copy runs.",
                         code="schema_mismatch")
    report: dict[str, dict] = {}
    src = source.connection()
    with dest.transaction() as conn:
        for table in tables(source):
            if conn.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone():
                raise InputError(f"The destination table {table} is not empty.",
                                 fix="Copy into a new, empty database.", code="destination_not_empty")
            cols = [c for c in columns(source, table) if c in set(columns(dest, table))]
            insert = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})"
            rows = src.execute(f"SELECT {', '.join(cols)} FROM {table} ORDER BY rowid").fetchall()
            for start in range(0, len(rows), BATCH):
                conn.executemany(insert, [tuple(r) for r in rows[start:start + BATCH]])
            before, after = checksum(src, table, cols), checksum(conn, table, cols)
            if before != after:
                raise InputError(f"Copy of {table} does not verify: source {before[0]} rows {before[1][:12]}, "
                                 f"destination {after[0]} rows {after[1][:12]}; nothing was written.",
                                 code="copy_mismatch")
            report[table] = {"rows": before[0], "sha256": before[1]}
    return report
