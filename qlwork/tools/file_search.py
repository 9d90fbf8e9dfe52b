"""file_search: vector-store-like collections of files searched with SQLite FTS5 (BM25).

A vector store belongs to an assistant or a thread (``owner_kind``/``owner_id``). Adding a file
parses it (PDF per page, text, JSON, CSV), splits each page into overlapping word windows and indexes
them once per file in an FTS5 table (porter stemming). A search ranks chunks by BM25 and returns
file_id, filename, page, score and a quoted passage, so answers can cite ``[filename p.N]``.
No embeddings, no model download.

With ``QLWORK_DATABASE_URL`` set, the vector stores and their file lists (per-file status, chunk
count, error) are shared by every host through the database; the FTS5 index is a per-host cache in
``files.db``, filled on demand from the shared file bytes (so a store made through one server is
listed and searched through any other). Scores use only the searched files' statistics
(:mod:`qlwork.tools.search_rank`), so every host scores a search the same.

The ``file_search`` tool searches the thread's and the assistant's stores (files attached to the
thread's messages with the file_search tool are indexed on first use). When neither has files it
searches qlwork's sample research library (synthetic notes in ``qlwork/data/research``) and says so.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Iterable

from ..errors import InputError, QlworkError
from . import search_rank
from .files import FileStore, new_id, store_of
from .registry import ToolContext, tool

CHUNK_WORDS = 120
OVERLAP_WORDS = 40
RESEARCH_DIR = Path(__file__).resolve().parent.parent / "data" / "research"
LIBRARY_OWNER = ("library", "qlwork-sample-research")
STOPWORDS = set("""a an and are as at be by can do does for from how i in is it me my of on or our say says
should tell the their them there these this to was what when where which who why will with you your about
notes note research""".split())


def chunk_text(text: str, size: int = CHUNK_WORDS, overlap: int = OVERLAP_WORDS) -> list[str]:
    """Overlapping windows of ``size`` words (``overlap`` words shared between neighbours)."""
    if overlap >= size:
        raise InputError("overlap must be smaller than the chunk size.", code="invalid_argument")
    words = text.split()
    if not words:
        return []
    step = size - overlap
    return [" ".join(words[i:i + size]) for i in range(0, max(len(words) - overlap, 1), step)]


# -- vector stores -------------------------------------------------------------------------------
# The stores and their file lists live in ``fs.objects`` (the shared database with QLWORK_DATABASE_URL,
# else files.db); the chunks live in this host's files.db, indexed once per file and rebuilt on demand.

def create_vector_store(fs: FileStore, name: str | None = None, file_ids: Iterable[str] = (),
                        owner_kind: str | None = None, owner_id: str | None = None) -> dict:
    """A new vector store (optionally owned by an assistant or thread) with ``file_ids`` added."""
    with fs.objects.transaction() as c:
        vs_id = _insert_store(c, name, owner_kind, owner_id)
    for fid in file_ids:
        add_file(fs, vs_id, fid)
    return get_vector_store(fs, vs_id)


def get_vector_store(fs: FileStore, vs_id: str) -> dict:
    conn = fs.objects.connection()
    row = conn.execute("SELECT id, created_at, name, owner_kind, owner_id FROM vector_stores WHERE id = ?",
                       (vs_id,)).fetchone()
    if row is None:
        raise InputError(f"No vector store with id {vs_id!r}.", code="not_found", id=vs_id)
    files = [{"file_id": f[0], "status": f[1], "chunks": f[2], "last_error": f[3]} for f in conn.execute(
        "SELECT file_id, status, chunks, last_error FROM vector_store_files WHERE vector_store_id = ? "
        "ORDER BY created_at, rowid", (vs_id,)).fetchall()]
    return {"id": vs_id, "object": "vector_store", "name": row["name"], "created_at": row["created_at"],
            "owner": {"kind": row["owner_kind"], "id": row["owner_id"]},
            "file_counts": {"total": len(files), "completed": sum(f["status"] == "completed" for f in files),
                            "failed": sum(f["status"] == "failed" for f in files)},
            "files": files}


def delete_vector_store(fs: FileStore, vs_id: str) -> None:
    """Delete a vector store and its file list (the files themselves stay)."""
    with fs.objects.transaction() as c:
        c.execute("DELETE FROM vector_store_files WHERE vector_store_id = ?", (vs_id,))
        c.execute("DELETE FROM vector_stores WHERE id = ?", (vs_id,))


def remove_file(fs: FileStore, vs_id: str, file_id: str) -> None:
    """Take a file out of a vector store (the file and its index stay)."""
    with fs.objects.transaction() as c:
        c.execute("DELETE FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?", (vs_id, file_id))


def owned_store(fs: FileStore, owner_kind: str, owner_id: str, create: bool = True) -> str | None:
    """The id of the vector store owned by (owner_kind, owner_id), created on demand (in one write
    transaction, so two servers sharing a database create one)."""
    sql = "SELECT id FROM vector_stores WHERE owner_kind = ? AND owner_id = ? ORDER BY created_at, rowid LIMIT 1"
    row = fs.objects.connection().execute(sql, (owner_kind, owner_id)).fetchone()
    if row is not None or not create:
        return row[0] if row is not None else None
    with fs.objects.transaction() as c:
        row = c.execute(sql, (owner_kind, owner_id)).fetchone()
        if row is not None:
            return row[0]
        return _insert_store(c, f"{owner_kind} {owner_id}", owner_kind, owner_id)


def _insert_store(conn, name: str | None, owner_kind: str | None, owner_id: str | None) -> str:
    """Insert a new vector store row in the caller's transaction; its id."""
    vs_id = new_id("vs")
    conn.execute("INSERT INTO vector_stores (id, created_at, name, owner_kind, owner_id) VALUES (?, ?, ?, ?, ?)",
                 (vs_id, int(time.time()), name, owner_kind, owner_id))
    return vs_id


def add_file(fs: FileStore, vs_id: str, file_id: str) -> dict:
    """Add a file to a vector store, indexing it if needed. A file that cannot be parsed is recorded
    as ``failed`` with the reason (and the InputError is raised)."""
    get_vector_store(fs, vs_id)
    obj = fs.get(file_id)
    done = fs.objects.connection().execute("SELECT status FROM vector_store_files WHERE vector_store_id = ? AND "
                                           "file_id = ?", (vs_id, obj.id)).fetchone()
    if done is not None and done[0] == "completed":
        return {"file_id": obj.id, "status": "completed"}
    try:
        count, error = index_file(fs, obj.id), None
    except QlworkError as exc:
        count, error = 0, exc.message
    status = "completed" if error is None else "failed"
    with fs.objects.transaction() as c:  # re-adding a failed file replaces its row (a new position)
        c.execute("DELETE FROM vector_store_files WHERE vector_store_id = ? AND file_id = ?", (vs_id, obj.id))
        c.execute("INSERT INTO vector_store_files (vector_store_id, file_id, status, chunks, last_error, created_at) "
                  "VALUES (?, ?, ?, ?, ?, ?)", (vs_id, obj.id, status, count, error, int(time.time())))
    if error:
        raise InputError(f"{obj.filename} cannot be searched: {error}", fix="Attach a PDF, text, CSV or JSON file.",
                         code="not_searchable", file_id=file_id)
    return {"file_id": obj.id, "status": status, "chunks": count}


def index_file(fs: FileStore, file_id: str) -> int:
    """Index a file in this host's FTS5 table unless it already is; its chunk count. Parsed outside
    the store's lock (a slow file never blocks other users); raises InputError if unsearchable."""
    rows = None if _indexed(fs, file_id) else _chunks(fs, file_id)
    with fs.lock:
        return _store_chunks(fs, file_id, rows)


def _indexed(fs: FileStore, file_id: str) -> bool:
    return fs.conn().execute("SELECT 1 FROM indexed_files WHERE file_id = ?", (file_id,)).fetchone() is not None


def _chunks(fs: FileStore, file_id: str) -> list[tuple]:
    """FTS rows of a file's text (the file is parsed; PDFs in the capped parser process)."""
    if fs.get(file_id).kind in ("png", "jpeg"):  # nothing to search: never decode the pixels here
        raise InputError("images have no text to search", code="not_searchable")
    parsed = fs.parse(file_id)
    pages = parsed.get("pages")
    if pages is None:  # CSV / JSON tables: index the raw text as one page
        pages = [fs.content(file_id).decode("utf-8-sig", errors="replace")]
    return [(text, file_id, n, i) for n, page in enumerate(pages, start=1) for i, text in enumerate(chunk_text(page))]


def _store_chunks(fs: FileStore, file_id: str, rows: list[tuple] | None) -> int:
    """Store a file's rows once (call under ``fs.lock``); the file's chunk count."""
    if rows is not None and not _indexed(fs, file_id):  # another request may have indexed it meanwhile
        with fs.conn() as c:
            c.executemany("INSERT INTO chunks (text, file_id, page, chunk) VALUES (?, ?, ?, ?)", rows)
            c.execute("INSERT INTO indexed_files VALUES (?)", (file_id,))
    return fs.conn().execute("SELECT COUNT(*) FROM chunks WHERE file_id = ?", (file_id,)).fetchone()[0]


def searchable_files(fs: FileStore, vector_store_ids: Iterable[str]) -> list[str]:
    """The completed files of the stores, each indexed on this host (a file added through another
    server is fetched and indexed here on first use; one that vanished meanwhile is left out)."""
    ids = list(vector_store_ids)
    if not ids:
        return []
    rows = fs.objects.connection().execute(
        f"SELECT DISTINCT file_id FROM vector_store_files WHERE vector_store_id IN ({', '.join('?' * len(ids))}) "
        f"AND status = 'completed'", ids).fetchall()
    ready = []
    for (file_id,) in rows:
        try:
            if not _indexed(fs, file_id):
                index_file(fs, file_id)
            ready.append(file_id)
        except QlworkError:
            continue  # deleted elsewhere since, or not parseable on this host
    return sorted(ready)


# -- search --------------------------------------------------------------------------------------

def fts_query(query: str) -> str:
    """An FTS5 expression OR-ing the query's terms (quoted, so user text is never FTS syntax)."""
    terms = [t for t in re.findall(r"[A-Za-z0-9]+", query.lower()) if t not in STOPWORDS]
    if not terms:
        raise InputError(f"The query {query!r} has no searchable words.", fix="Search for specific words.",
                         code="invalid_argument")
    return " OR ".join(f'"{t}"' for t in dict.fromkeys(terms))


def _quote(text: str, query: str, limit: int = 320) -> str:
    """The sentence(s) of ``text`` with the most query words, trimmed to ``limit`` characters."""
    words = {t for t in re.findall(r"[a-z0-9]+", query.lower()) if t not in STOPWORDS}
    sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]

    def hits(s: str) -> int:
        toks = set(re.findall(r"[a-z0-9]+", s.lower()))
        return sum(any(t == w or t.startswith(w[:5]) for t in toks) for w in words)

    best = max(range(len(sentences)), key=lambda i: (hits(sentences[i]), -i)) if sentences else 0
    quote = sentences[best] if sentences else text
    if best + 1 < len(sentences) and len(quote) + len(sentences[best + 1]) < limit:
        quote += " " + sentences[best + 1]
    return quote if len(quote) <= limit else quote[:limit - 3].rsplit(" ", 1)[0] + "..."


def search(fs: FileStore, query: str, vector_store_ids: Iterable[str], max_results: int = 5,
           only: Iterable[str] | None = None) -> list[dict]:
    """Best chunks for ``query`` among the files of ``vector_store_ids`` (BM25; higher score is better),
    restricted to the file ids ``only`` when given."""
    ids = list(vector_store_ids)
    if not ids:
        return []
    expression = fts_query(query)
    files = searchable_files(fs, ids)
    if only is not None:
        files = [f for f in files if f in set(only)]
    if not files:
        return []
    # BM25 with the searched files' statistics (search_rank), plus query-term coverage as before
    terms = expression.replace('"', "").split(" OR ")
    ranked = search_rank.rank(fs.conn(), expression, terms, files)[:max_results * 4]
    scored = sorted(((score + 0.1 * _coverage(r["text"], terms), r) for score, r in ranked),
                    key=lambda x: -x[0])[:max_results]  # stable: ties keep rank's order
    names = dict(fs.conn().execute(f"SELECT id, filename FROM files WHERE id IN ({', '.join('?' * len(files))})",
                                   files).fetchall())
    multi_page = {f: names[f].lower().endswith(".pdf") or _page_count(fs, f) > 1 for f in {r["file_id"] for _, r in scored}}
    results = []
    for score, r in scored:
        page = int(r["page"]) if multi_page[r["file_id"]] else None
        name = names[r["file_id"]]
        cite = f"[{name} p.{page}]" if page else f"[{name}]"
        results.append({"file_id": r["file_id"], "filename": name, "page": page, "chunk": int(r["chunk"]),
                        "score": round(score, 4), "quote": _quote(r["text"], query),
                        "text": r["text"], "citation": cite})
    return results


def _coverage(text: str, terms: list[str]) -> float:
    """Fraction of query terms found in ``text`` (prefix match, a rough stand-in for stemming)."""
    toks = set(re.findall(r"[a-z0-9]+", text.lower()))
    return sum(any(t.startswith(w[:6]) for t in toks) for w in terms) / max(len(terms), 1)


def _page_count(fs: FileStore, file_id: str) -> int:
    return fs.conn().execute("SELECT MAX(page) FROM chunks WHERE file_id = ?", (file_id,)).fetchone()[0] or 0


def sample_research_store(fs: FileStore) -> str:
    """The vector store of qlwork's synthetic sample research notes (created and indexed once)."""
    vs_id = owned_store(fs, *LIBRARY_OWNER)
    have = {f["file_id"] for f in get_vector_store(fs, vs_id)["files"]}
    if not have:
        for path in sorted(RESEARCH_DIR.iterdir()):
            if path.suffix.lower() in (".md", ".txt", ".pdf", ".json", ".csv"):
                add_file(fs, vs_id, fs.upload(path).id)
    return vs_id


def _thread_stores(fs: FileStore, ctx: ToolContext) -> list[str]:
    """Vector stores of the thread and assistant, after indexing the thread's file_search attachments."""
    extra = ctx.extra or {}
    ids: list[str] = []
    attached = [a for a in extra.get("attachments", []) if "file_search" in a.get("tools", [])]
    if ctx.thread_id and attached:
        vs_id = owned_store(fs, "thread", ctx.thread_id)
        for a in attached:
            try:
                add_file(fs, vs_id, a["file_id"])
            except InputError:
                pass  # recorded as failed; reported in the tool output
        ids.append(vs_id)
    elif ctx.thread_id and (vs := owned_store(fs, "thread", ctx.thread_id, create=False)):
        ids.append(vs)
    if extra.get("assistant_id") and (vs := owned_store(fs, "assistant", extra["assistant_id"], create=False)):
        ids.append(vs)
    return ids + list(extra.get("vector_store_ids", []))


@tool(name="file_search")
def file_search(ctx: ToolContext, query: str, max_results: int = 5, file_ids: list[str] | None = None) -> dict:
    """Search the files attached to this thread or assistant (research notes, PDFs, CSV, JSON) and
    return the best passages with file name, page and score, for citing as [filename p.N].

    Args:
        query: What to look for, in plain words (e.g. "NIFTY 50 support resistance levels").
        max_results: Number of passages to return (1 to 20).
        file_ids: Search only these attached files (e.g. the note the question names); omit for all.
    """
    if not 1 <= max_results <= 20:
        raise InputError(f"max_results {max_results} is out of range.", fix="Use 1 to 20.", code="invalid_argument",
                         field="max_results", allowed="1..20")
    fs = store_of(ctx)
    ids = _thread_stores(fs, ctx)
    stores = [get_vector_store(fs, i) for i in ids]
    searched = [f for s in stores for f in s["files"]]
    source = "thread and assistant files"
    if not any(f["status"] == "completed" for f in searched):
        ids = [sample_research_store(fs)]
        stores.append(get_vector_store(fs, ids[0]))
        source = "qlwork sample research library (synthetic research notes for demos)"
    only = [f for f in dict.fromkeys(file_ids)] if file_ids and source.startswith("thread") else None
    results = search(fs, query, ids, max_results, only=only)
    failed = [{"file_id": f["file_id"], "filename": fs.get(f["file_id"]).filename, "error": f["last_error"]}
              for s in stores for f in s["files"] if f["status"] == "failed"]
    return {"query": query, "source": source, "vector_store_ids": ids, "results": results,
            "files_searched": sorted({fs.get(f["file_id"]).filename for s in stores for f in s["files"]
                                      if f["status"] == "completed" and (only is None or f["file_id"] in only)}),
            "files_not_searchable": failed,
            "note": "Passages are quoted from the files; cite them as given in 'citation'."}
