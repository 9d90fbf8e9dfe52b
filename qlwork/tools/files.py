"""File objects: uploads the assistant can read (Assistants-API ``file_`` objects).

Bytes live in ``$QLWORK_HOME/files/<file_id>/<filename>``; metadata (id, filename, bytes, purpose,
sha256, kind, created_at) lives in ``$QLWORK_HOME/files/files.db``, a small SQLite database (WAL)
that also holds the file_search FTS5 index and, without a database URL, the vector stores. It is
separate from the assistant store on purpose: tools sit below the assistant layer and must not import
it, and messages only carry ``attachments`` (``{file_id, tools}``) that point here. With
``QLWORK_DATABASE_URL`` set, files and vector stores live in the shared database and this folder is a
per-host copy and index (:mod:`qlwork.tools.shared_files`); :attr:`FileStore.objects` is where the
vector stores are, either way.

The type is sniffed from the content; the size limit is ``QLWORK_MAX_FILE_BYTES`` (default 20 MB).
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import secrets
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from ..config import home
from ..errors import InputError
from . import file_parsing, shared_files

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
PURPOSES = ("assistants", "assistants_output", "vision", "batch", "batch_output", "fine-tune", "fine-tune-results",
            "user_data", "evals")
"""The purposes OpenAI's Files API knows (any file can be searched or attached whatever its purpose)."""

SCHEMA = [
    """CREATE TABLE IF NOT EXISTS files (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, filename TEXT NOT NULL,
        bytes INTEGER NOT NULL, purpose TEXT NOT NULL, sha256 TEXT NOT NULL, kind TEXT NOT NULL,
        mime_type TEXT NOT NULL, metadata TEXT NOT NULL DEFAULT '{}')""",
    "CREATE TABLE IF NOT EXISTS indexed_files (file_id TEXT PRIMARY KEY REFERENCES files(id) ON DELETE CASCADE)",
    """CREATE VIRTUAL TABLE IF NOT EXISTS chunks USING fts5(text, file_id UNINDEXED, page UNINDEXED,
        chunk UNINDEXED, tokenize = 'porter unicode61')""",
]


def new_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(12)}"


@dataclass
class FileObject:
    """An uploaded file (the Assistants ``file`` object plus ``sha256``, ``kind`` and ``mime_type``)."""

    id: str
    filename: str
    bytes: int
    purpose: str
    sha256: str
    kind: str
    mime_type: str
    created_at: int
    object: str = "file"

    def to_dict(self) -> dict:
        return asdict(self)


def max_file_bytes() -> int:
    """The configured upload limit (``QLWORK_MAX_FILE_BYTES``, default 20 MB)."""
    raw = os.environ.get("QLWORK_MAX_FILE_BYTES")
    try:
        return int(raw) if raw else DEFAULT_MAX_BYTES
    except ValueError:
        raise InputError(f"QLWORK_MAX_FILE_BYTES={raw!r} is not an integer.", fix="Set a byte count.") from None


def safe_name(name: str) -> str:
    base = Path(str(name or "")).name.strip()
    base = re.sub(r"[^A-Za-z0-9._ -]+", "_", base).strip(" .")
    return base[:120] or "upload"


class FileStore:
    """Uploaded files and vector stores under ``root`` (default ``$QLWORK_HOME/files``). Thread-safe."""

    def __init__(self, root: str | os.PathLike | None = None, max_bytes: int | None = None) -> None:
        self.root = Path(root) if root is not None else home() / "files"
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o700)
        self.max_bytes = max_bytes if max_bytes is not None else max_file_bytes()
        self._local = threading.local()
        self.lock = threading.RLock()
        self.shared = shared_files.shared_database()  # files shared by every host (QLWORK_DATABASE_URL)
        self.objects: Any = self.shared if self.shared is not None else LocalObjects(self)
        """Where the vector stores live: the shared database, else files.db (see :class:`LocalObjects`)."""
        with self.conn() as c:
            c.execute("PRAGMA journal_mode = WAL")
            for statement in SCHEMA + ([] if self.shared is not None else list(shared_files.VECTOR_TABLES)):
                c.execute(statement)

    def conn(self) -> sqlite3.Connection:
        """This thread's connection (autocommit off: use ``with store.conn() as c`` for a transaction)."""
        c = getattr(self._local, "conn", None)
        if c is None or self._local.pid != os.getpid():
            c = sqlite3.connect(self.root / "files.db", timeout=30, check_same_thread=False)
            c.row_factory = sqlite3.Row
            c.execute("PRAGMA foreign_keys = ON")
            self._local.conn, self._local.pid = c, os.getpid()
        return c

    # -- files ---------------------------------------------------------------------------------
    def create(self, data: bytes | bytearray | memoryview, filename: str, purpose: str = "assistants") -> FileObject:
        """Store ``data`` as a new file object after checking size and type (content sniffing)."""
        data = bytes(data)
        name = safe_name(filename)
        if purpose not in PURPOSES:
            raise InputError(f"purpose {purpose!r} is not one of {', '.join(PURPOSES)}.", code="invalid_argument")
        if not data:
            raise InputError(f"The file {name!r} is empty.", fix="Upload a file with content.", code="empty_file")
        if len(data) > self.max_bytes:
            raise InputError(f"The file {name!r} is {len(data):,} bytes; the limit is {self.max_bytes:,}.",
                             fix="Upload a smaller file (or raise QLWORK_MAX_FILE_BYTES).", code="file_too_large")
        kind = file_parsing.sniff(data, name)
        if kind in ("png", "jpeg"):  # refuse a pixel bomb from its header, before anything decodes it
            file_parsing.check_image_header(data, name, file_parsing.Limits.from_env().max_pixels)
        obj = FileObject(id=new_id("file"), filename=name, bytes=len(data), purpose=purpose,
                         sha256=hashlib.sha256(data).hexdigest(), kind=kind, mime_type=file_parsing.MIME[kind],
                         created_at=int(time.time()))
        folder = self.root / obj.id
        folder.mkdir()
        (folder / name).write_bytes(data)
        with self.lock, self.conn() as c:
            c.execute("INSERT INTO files (id, created_at, filename, bytes, purpose, sha256, kind, mime_type) "
                      "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (obj.id, obj.created_at, obj.filename, obj.bytes,
                                                           obj.purpose, obj.sha256, obj.kind, obj.mime_type))
        if self.shared is not None:
            shared_files.put(self.shared, asdict(obj), data)
        return obj

    def upload(self, path: str | os.PathLike, purpose: str = "assistants", filename: str | None = None) -> FileObject:
        """Store the file at ``path`` (checked against the size limit before reading)."""
        p = Path(path).expanduser()
        if not p.is_file():
            raise InputError(f"{p} is not a file.", fix="Pass the path of an existing file.", file=str(p))
        if p.stat().st_size > self.max_bytes:
            raise InputError(f"{p.name} is {p.stat().st_size:,} bytes; the limit is {self.max_bytes:,}.",
                             fix="Upload a smaller file.", code="file_too_large", file=str(p))
        return self.create(p.read_bytes(), filename or p.name, purpose)

    def get(self, file_id: str) -> FileObject:
        if self.shared is not None:
            self._sync(str(file_id))
        row = self.conn().execute("SELECT * FROM files WHERE id = ?", (str(file_id),)).fetchone()
        if row is None:
            raise InputError(f"No file with id {file_id!r}.", fix="Upload the file first, or check the id.",
                             code="not_found", id=file_id)
        return FileObject(**{k: row[k] for k in row.keys() if k != "metadata"})

    def _sync(self, file_id: str) -> None:
        """Make the local copy agree with the shared table: fetch a file uploaded on another host,
        drop one deleted elsewhere."""
        meta = shared_files.get(self.shared, file_id)
        local = self.conn().execute("SELECT 1 FROM files WHERE id = ?", (file_id,)).fetchone()
        if meta is None and local is not None:
            self._remove_local(file_id)
        elif meta is not None and local is None:
            data = shared_files.content(self.shared, file_id) or b""
            folder = self.root / meta["id"]
            folder.mkdir(exist_ok=True)
            (folder / safe_name(meta["filename"])).write_bytes(data)
            with self.lock, self.conn() as c:
                c.execute("INSERT OR IGNORE INTO files (id, created_at, filename, bytes, purpose, sha256, kind, "
                          "mime_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                          (meta["id"], meta["created_at"], safe_name(meta["filename"]), meta["bytes"],
                           meta["purpose"], meta["sha256"], meta["kind"], meta["mime_type"]))

    def list(self, purpose: str | None = None, limit: int = 100) -> list[FileObject]:
        if self.shared is not None:
            return [self.get(i) for i in shared_files.ids(self.shared, purpose, limit)]
        sql = "SELECT id FROM files" + (" WHERE purpose = ?" if purpose else "") + " ORDER BY created_at DESC, rowid DESC LIMIT ?"
        return [self.get(r[0]) for r in self.conn().execute(sql, (*([purpose] if purpose else []), limit))]

    def path(self, file_id: str) -> Path:
        """The stored file's path on disk."""
        obj = self.get(file_id)
        return self.root / obj.id / obj.filename

    def content(self, file_id: str) -> bytes:
        return self.path(file_id).read_bytes()

    def delete(self, file_id: str) -> bool:
        """Delete a file everywhere; it leaves every vector store that held it."""
        obj = self.get(file_id)
        with self.objects.transaction() as c:
            c.execute("DELETE FROM vector_store_files WHERE file_id = ?", (obj.id,))
        if self.shared is not None:
            shared_files.delete(self.shared, obj.id)
        self._remove_local(obj.id)
        return True

    def _remove_local(self, file_id: str) -> None:
        with self.lock, self.conn() as c:
            c.execute("DELETE FROM chunks WHERE file_id = ?", (file_id,))
            c.execute("DELETE FROM files WHERE id = ?", (file_id,))
        for child in (self.root / file_id).glob("*"):
            child.unlink()
        if (self.root / file_id).is_dir():
            (self.root / file_id).rmdir()

    def parse(self, file_id: str, known_symbols: Iterable[str] | None = None) -> dict:
        """The parsed content of a file (see :func:`qlwork.tools.file_parsing.parse`) plus its object; PDFs
        and images are parsed in the capped parser process (:mod:`qlwork.tools.parse_process`)."""
        obj = self.get(file_id)
        data = self.content(file_id)
        if obj.kind in file_parsing.BINARY_KINDS:  # untrusted decoders: a capped, killable process
            from .parse_process import parse_isolated

            parsed = parse_isolated(data, obj.filename, obj.kind)
        else:
            parsed = file_parsing.parse(data, obj.filename, obj.kind, known_symbols=known_symbols)
        if file_parsing.extension_mismatch(obj.kind, obj.filename):
            parsed["note_type"] = f"{obj.filename} holds {obj.kind.upper()} content despite its extension."
        return {"file": obj.to_dict(), **parsed}

    def image_input(self, file_id: str, detail: str = "auto") -> dict:
        """An image file as a vision input part (data URL), for backends that accept images."""
        obj = self.get(file_id)
        if obj.kind not in ("png", "jpeg"):
            raise InputError(f"{obj.filename} is not an image ({obj.kind}).", fix="Pass a PNG or JPEG file.",
                             code="not_an_image")
        encoded = base64.b64encode(self.content(file_id)).decode("ascii")
        return {"type": "input_image", "image_url": f"data:{obj.mime_type};base64,{encoded}", "detail": detail}


class LocalObjects:
    """``files.db`` seen as a :class:`qlwork.db.Database` (no database URL: nothing is shared, so the
    vector-store tables stay beside the index), on the file store's own connection and lock."""

    dialect = "sqlite"

    def __init__(self, fs: FileStore) -> None:
        self.fs = fs

    def connection(self) -> sqlite3.Connection:
        return self.fs.conn()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        with self.fs.lock, self.fs.conn() as c:
            yield c


_STORES: dict[str, FileStore] = {}
_STORES_LOCK = threading.Lock()


def file_store(root: str | os.PathLike | None = None) -> FileStore:
    """A cached :class:`FileStore` for ``root`` (default ``$QLWORK_HOME/files``, read at each call)."""
    path = str(Path(root) if root is not None else home() / "files")
    with _STORES_LOCK:
        if path not in _STORES:
            _STORES[path] = FileStore(path)
        return _STORES[path]


def store_of(ctx: Any) -> FileStore:
    """The file store of a ToolContext (``ctx.extra["file_store"]``) or the default one."""
    extra = getattr(ctx, "extra", None) or {}
    chosen = extra.get("file_store")
    return chosen if isinstance(chosen, FileStore) else file_store(chosen)


def readable_file(ctx: Any, file_id: str) -> FileObject:
    """The file ``file_id`` if this context may read it. A host serving several users sets
    ``ctx.extra["file_allowed"]`` (file_id -> bool); ids it refuses answer as unknown, so another
    user's files can neither be read nor probed for existence."""
    allowed = (getattr(ctx, "extra", None) or {}).get("file_allowed")
    if callable(allowed) and not allowed(str(file_id)):
        raise InputError(f"No file with id {file_id!r}.", fix="Upload the file first, or check the id.",
                         code="not_found", id=file_id)
    return store_of(ctx).get(file_id)


def created_file(ctx: Any, obj: FileObject) -> FileObject:
    """Report a file a tool made (e.g. a code_interpreter figure) to the host's
    ``ctx.extra["file_created"]`` hook, which records who owns it."""
    hook = (getattr(ctx, "extra", None) or {}).get("file_created")
    if callable(hook):
        hook(obj.id)
    return obj


def thread_attachments(messages: Iterable[Any]) -> list[dict]:
    """``{file_id, tools, message_id}`` for every attachment of ``messages`` (tool types as strings)."""
    out = []
    for m in messages:
        for a in getattr(m, "attachments", None) or []:
            tools = [t.get("type") if isinstance(t, dict) else str(t) for t in (a.tools or [])]
            out.append({"file_id": a.file_id, "tools": tools, "message_id": m.id})
    return out


def upload_file(path: str | os.PathLike, purpose: str = "assistants") -> dict:
    """Upload a file to the default store; returns the file object as a dict."""
    return file_store().upload(path, purpose).to_dict()
