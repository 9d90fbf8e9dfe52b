"""Database connections for the store: SQLite (embedded, default) or PostgreSQL (shared by hosts).

The store and its extensions write one SQL dialect (SQLite's: ``?`` placeholders, ``rowid`` for a
stable order, ``INSERT OR IGNORE``) and get connections from a :class:`Database`:

* :class:`SQLiteDatabase`: one file, one connection per thread, ``BEGIN IMMEDIATE`` write
  transactions taken in turn (:mod:`qlwork.write_turn`: threads on a lock, processes on a polled
  ``flock`` of ``<database>-wlock``; SQLite's busy handler stays the fallback).
* :class:`PostgresDatabase` (``QLWORK_DATABASE_URL=postgresql://...``): a psycopg 3 connection pool.
  Statements are translated once (:func:`to_postgres`): ``%s`` placeholders, ``ON CONFLICT DO
  NOTHING``, 64-bit integers, and every table gets a ``rowid`` identity column so orderings by
  ``(created_at, rowid)`` mean the same thing. A write transaction first takes one transaction-level
  advisory lock, so writes are serialised across every process and host exactly as SQLite's
  database-wide write lock serialises them (check-then-insert code such as "one active run per
  thread" stays correct); reads never wait for it.

Rows support access by position and by column name on both.
"""

from __future__ import annotations

import os
import re
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from .errors import InputError
from .write_turn import write_turn

URL_ENV = "QLWORK_DATABASE_URL"
WRITE_LOCK_KEY = 0x716C776F726B  # "qlwork": the advisory lock every PostgreSQL write transaction takes

try:  # psycopg is a dependency, but an SQLite-only install keeps working without it
    import psycopg
    IntegrityError: tuple[type[BaseException], ...] = (sqlite3.IntegrityError, psycopg.IntegrityError)
except ImportError:  # pragma: no cover
    psycopg = None  # type: ignore[assignment]
    IntegrityError = (sqlite3.IntegrityError,)


def database_url() -> str | None:
    """``QLWORK_DATABASE_URL`` if set (and not empty)."""
    return os.environ.get(URL_ENV) or None


def redact(url: str) -> str:
    """A database URL without its user and password (safe to log or ship with a job)."""
    return re.sub(r"//[^@/]*@", "//***@", url)


def open_database(path: str | os.PathLike | None = None, url: str | None = None,
                  busy_timeout: float = 30.0) -> Database:
    """PostgreSQL when ``url`` (or ``path`` is a postgresql:// URL, or neither is given and
    ``QLWORK_DATABASE_URL`` is set), else the SQLite file ``path`` (default ``$QLWORK_HOME/qlwork.db``)."""
    if path is not None and str(path).startswith(("postgresql://", "postgres://")):
        path, url = None, str(path)
    url = url or (database_url() if path is None else None)
    if url:
        if not url.startswith(("postgresql://", "postgres://")):
            raise InputError(f"{URL_ENV} must be a postgresql:// URL, got {url.split(':', 1)[0]!r}.",
                             fix="Use postgresql://user@host:port/dbname, or unset it for SQLite.",
                             code="invalid_database_url")
        return PostgresDatabase.shared(url, busy_timeout)
    from .config import home
    return SQLiteDatabase(Path(path) if path is not None else home() / "qlwork.db", busy_timeout)


_SHARED: dict[str, Database] = {}
_SHARED_TABLES: set[tuple[str, str]] = set()
_SHARED_GUARD = threading.Lock()


def shared_database(*tables: str) -> Database | None:
    """The PostgreSQL database of ``QLWORK_DATABASE_URL`` for data every host must see (uploaded
    files, AI preferences), with ``tables`` (CREATE TABLE IF NOT EXISTS statements) made once per
    process; None when the URL is unset (such data then stays in ``$QLWORK_HOME``)."""
    url = database_url()
    if not url:
        return None
    with _SHARED_GUARD:
        db = _SHARED.get(url)
        if db is None:
            db = _SHARED[url] = open_database(url=url)
        missing = [t for t in tables if (url, t) not in _SHARED_TABLES]
        if missing:
            with db.transaction() as conn:
                for statement in missing:
                    conn.execute(statement)
            _SHARED_TABLES.update((url, t) for t in missing)
        return db


class Database:
    """What the store needs from a database."""

    dialect = "base"
    path: Path | None = None
    url: str | None = None

    def connection(self) -> Any:
        """For reads: this thread's open transaction if any, else an autocommit connection."""
        raise NotImplementedError

    def transaction(self) -> Any:
        """A write transaction context (nested use joins the outer one)."""
        raise NotImplementedError

    def close(self) -> None:
        raise NotImplementedError

    def describe(self) -> str:
        """Where the data lives, without secrets."""
        raise NotImplementedError


# -- SQLite --------------------------------------------------------------------------------------
class SQLiteDatabase(Database):
    dialect = "sqlite"

    def __init__(self, path: Path, busy_timeout: float = 30.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        # (thread, connection) of every connection opened, so close() reaches all of them; a thread that
        # ended no longer needs its own, which is closed when the next thread opens one (a server runs
        # each model-backed run's calls in threads that come and go: without this, every run kept two
        # file descriptors, the database and its -wal, and a page cache)
        self._connections: list[tuple[threading.Thread, sqlite3.Connection]] = []
        self._write_lock, self._write_lock_pid = write_turn(self.path), os.getpid()
        self.connection().execute("PRAGMA journal_mode = WAL")

    def connection(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self.busy_timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                ended = [c for t, c in self._connections if not t.is_alive()]
                self._connections = [(t, c) for t, c in self._connections if t.is_alive()]
                self._connections.append((threading.current_thread(), conn))
            for old in ended:
                old.close()
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.connection()
        if conn.in_transaction:
            yield conn
            return
        # threads queue on a lock of this process (woken at once), processes on a polled flock, rather
        # than in SQLite's busy handler, which sleeps up to 100 ms between tries (see qlwork.write_turn)
        if self._write_lock_pid != os.getpid():  # a forked child gets a fresh lock
            self._write_lock, self._write_lock_pid = write_turn(self.path), os.getpid()
        lock = self._write_lock
        if not lock.acquire(self.busy_timeout):
            raise sqlite3.OperationalError(f"database is locked (no write turn in {self.busy_timeout:.0f} s)")
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
        finally:
            lock.release()

    def close(self) -> None:
        with self._lock:
            for _, conn in self._connections:
                conn.close()
            self._connections.clear()
        self._local = threading.local()

    def describe(self) -> str:
        return f"sqlite:{self.path}"


# -- PostgreSQL ----------------------------------------------------------------------------------
_PLACEHOLDER = re.compile(r"'[^']*'|\?")
_CREATE_TABLE = re.compile(r"^\s*CREATE TABLE (IF NOT EXISTS )?(\w+) \(", re.IGNORECASE)
_TYPES = ((re.compile(r"\bINTEGER\b", re.IGNORECASE), "BIGINT"), (re.compile(r"\bBLOB\b", re.IGNORECASE), "BYTEA"),
          (re.compile(r"\bREAL\b", re.IGNORECASE), "DOUBLE PRECISION"))


@lru_cache(maxsize=2048)
def to_postgres(sql: str) -> str:
    """The PostgreSQL form of a statement written for SQLite (see the module docstring)."""
    sql = sql.replace("%", "%%")
    sql = _PLACEHOLDER.sub(lambda m: "%s" if m.group(0) == "?" else m.group(0), sql)
    if re.match(r"^\s*INSERT OR IGNORE INTO", sql, re.IGNORECASE):
        sql = re.sub(r"^\s*INSERT OR IGNORE INTO", "INSERT INTO", sql, flags=re.IGNORECASE) + " ON CONFLICT DO NOTHING"
    head = sql.lstrip()[:40].upper()
    if head.startswith(("CREATE TABLE", "ALTER TABLE")):
        for pattern, name in _TYPES:
            sql = pattern.sub(name, sql)
        sql = _CREATE_TABLE.sub(lambda m: f"{m.group(0)}rowid BIGINT GENERATED BY DEFAULT AS IDENTITY UNIQUE, ",
                                sql)
    return sql


class Row(tuple):
    """A result row: by position like a tuple, by column name like ``sqlite3.Row``."""

    _names: tuple[str, ...] = ()

    def __getitem__(self, key: Any) -> Any:  # type: ignore[override]
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return [n for n in self._names if n != "rowid"]


class Result:
    """A fully fetched result (the connection went back to the pool before the caller reads it)."""

    def __init__(self, rows: list[Row], rowcount: int) -> None:
        self.rows, self.rowcount = rows, rowcount

    def fetchone(self) -> Row | None:
        return self.rows[0] if self.rows else None

    def fetchall(self) -> list[Row]:
        return list(self.rows)

    def __iter__(self) -> Iterator[Row]:
        return iter(self.rows)


@lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[Row]:
    return type("Row", (Row,), {"_names": names})


def _execute(conn: Any, sql: str, params: Sequence[Any] | None = None) -> Result:
    if sql.lstrip().upper().startswith("PRAGMA"):
        return Result([], -1)  # SQLite settings mean nothing here
    cur = conn.execute(to_postgres(sql), tuple(params) if params is not None else ())
    rows: list[Row] = []
    if cur.description is not None:
        kind = _row_class(tuple(c.name for c in cur.description))
        rows = [kind(r) for r in cur.fetchall()]
    return Result(rows, cur.rowcount)


class PgConnection:
    """One pooled connection in a transaction, with the SQLite connection's ``execute``."""

    in_transaction = True

    def __init__(self, conn: Any) -> None:
        self.raw = conn

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        return _execute(self.raw, sql, params)

    def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        with self.raw.cursor() as cur:
            cur.executemany(to_postgres(sql), rows)


class PgAutocommit:
    """Reads outside a transaction: each statement borrows a pooled connection for its duration."""

    in_transaction = False

    def __init__(self, db: PostgresDatabase) -> None:
        self.db = db

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> Result:
        with self.db.pool.connection() as conn:
            return _execute(conn, sql, params)


_POOLS: dict[str, PostgresDatabase] = {}
_POOLS_GUARD = threading.Lock()


class PostgresDatabase(Database):
    """A psycopg connection pool. Every store of a process on one URL shares one pool
    (:meth:`shared`); it closes when the last of them closes."""

    dialect = "postgresql"
    users = 0

    @classmethod
    def shared(cls, url: str, timeout: float = 30.0) -> PostgresDatabase:
        with _POOLS_GUARD:
            db = _POOLS.get(url)
            if db is None or db.pool.closed:
                db = _POOLS[url] = cls(url, timeout=timeout)
            db.users += 1
            return db

    def __init__(self, url: str, timeout: float = 30.0, min_size: int = 1,
                 max_size: int | None = None) -> None:
        if psycopg is None:  # pragma: no cover
            raise InputError(f"{URL_ENV} is set but psycopg is not installed.",
                             fix="pip install 'psycopg[binary]' psycopg-pool", code="missing_dependency")
        from psycopg_pool import ConnectionPool
        self.url = url
        self.timeout = timeout
        size = max_size or int(os.environ.get("QLWORK_DATABASE_POOL", "10"))
        self._pid = os.getpid()
        self._local = threading.local()
        self.pool = ConnectionPool(url, min_size=min(min_size, size), max_size=size, timeout=timeout,
                                   kwargs={"autocommit": True}, open=True, name="qlwork")
        try:
            self.pool.wait(timeout=timeout)
        except Exception as exc:
            self.pool.close()
            raise InputError(f"Cannot connect to PostgreSQL at {self.describe()}: {exc}",
                             fix=f"Check {URL_ENV} and that the server accepts connections.",
                             code="database_unavailable") from exc

    def _check_fork(self) -> None:
        if self._pid != os.getpid():  # a forked child must not share the parent's sockets
            from psycopg_pool import ConnectionPool
            self._pid, self._local = os.getpid(), threading.local()
            self.pool = ConnectionPool(self.url, min_size=1, max_size=self.pool.max_size, timeout=self.timeout,
                                       kwargs={"autocommit": True}, open=True, name="qlwork")

    def connection(self) -> PgConnection | PgAutocommit:
        self._check_fork()
        current = getattr(self._local, "tx", None)
        return current if current is not None else PgAutocommit(self)

    @contextmanager
    def transaction(self) -> Iterator[PgConnection]:
        self._check_fork()
        current = getattr(self._local, "tx", None)
        if current is not None:
            yield current
            return
        with self.pool.connection() as raw, raw.transaction():
            raw.execute("SELECT pg_advisory_xact_lock(%s)", (WRITE_LOCK_KEY,))
            self._local.tx = PgConnection(raw)
            try:
                yield self._local.tx
            finally:
                self._local.tx = None

    def close(self) -> None:
        with _POOLS_GUARD:
            self.users -= 1
            if self.users > 0:
                return
            if _POOLS.get(self.url or "") is self:
                del _POOLS[self.url or ""]
        self.pool.close()

    def describe(self) -> str:
        return redact(self.url or "")
