"""BM25 over the searched files only, so one search scores the same on every host.

SQLite's ``bm25()`` takes its corpus statistics (chunk count, how many chunks hold a term) from the
whole FTS5 table, that is from every file this host happens to have indexed; with vector stores shared
by several servers, each keeping its own index, that made scores depend on the host. Here FTS5 only
finds the matching chunks and supplies term frequencies (``fts5vocab``, the same porter stemming as
the index); the statistics come from the files being searched:

    score = sum over query terms t of idf(t) * tf * (K1 + 1) / (tf + K1 * (1 - B + B * dl / avgdl))
    idf(t) = ln(1 + (N - n(t) + 0.5) / (n(t) + 0.5))

with N the chunks of the searched files, n(t) those holding t, tf the occurrences of t in the chunk,
dl its length in words and avgdl the mean length of the matching chunks. This IDF stays positive in
tiny collections (SQLite's clamps to ~0 when a term is in most chunks).
"""

from __future__ import annotations

import math
import sqlite3
from typing import Any

K1, B = 1.2, 0.75


def _setup(conn: sqlite3.Connection) -> None:
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.chunk_terms USING fts5vocab(main, chunks, instance)")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_text USING fts5(t, tokenize = 'porter unicode61')")
    conn.execute("CREATE VIRTUAL TABLE IF NOT EXISTS temp.query_terms USING fts5vocab(temp, query_text, row)")


def stems(conn: sqlite3.Connection, words: list[str]) -> list[str]:
    """``words`` as the index stores them (porter unicode61), each once."""
    _setup(conn)
    with conn:  # this connection's temp tables only: the files database is not written
        conn.execute("DELETE FROM temp.query_text")
        conn.execute("INSERT INTO temp.query_text (t) VALUES (?)", (" ".join(words),))
    return [r[0] for r in conn.execute("SELECT term FROM temp.query_terms ORDER BY term")]


def rank(conn: sqlite3.Connection, expression: str, words: list[str], files: list[str]) -> list[tuple[float, Any]]:
    """(BM25 score, chunk row) for every chunk of ``files`` matching the FTS5 ``expression`` (made of
    ``words``); rows have text, file_id, page, chunk. Best first; ties in (file_id, page, chunk) order."""
    marks = ", ".join("?" * len(files))
    rows = conn.execute(f"SELECT rowid, text, file_id, page, chunk FROM chunks WHERE chunks MATCH ? AND "
                        f"file_id IN ({marks})", (expression, *files)).fetchall()
    if not rows:
        return []
    total = conn.execute(f"SELECT COUNT(*) FROM chunks WHERE file_id IN ({marks})", files).fetchone()[0]
    docs = {r["rowid"]: r for r in rows}
    freq: dict[int, dict[str, int]] = {doc: {} for doc in docs}
    for term in stems(conn, words):
        for doc, count in conn.execute("SELECT doc, COUNT(*) FROM temp.chunk_terms WHERE term = ? GROUP BY doc",
                                       (term,)):
            if doc in freq:
                freq[doc][term] = count
    held = {t: sum(t in f for f in freq.values()) for t in {t for f in freq.values() for t in f}}
    idf = {t: math.log(1 + (total - n + 0.5) / (n + 0.5)) for t, n in held.items()}
    length = {doc: r["text"].count(" ") + 1 for doc, r in docs.items()}  # chunks are words joined by spaces
    mean = sum(length.values()) / len(length) or 1.0
    scored = []
    for doc, r in docs.items():
        norm = K1 * (1 - B + B * length[doc] / mean)
        score = sum(idf[t] * tf * (K1 + 1) / (tf + norm) for t, tf in freq[doc].items())
        scored.append((score, r))
    return sorted(scored, key=lambda x: (-x[0], x[1]["file_id"], int(x[1]["page"]), int(x[1]["chunk"])))
