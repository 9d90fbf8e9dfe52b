"""file_search: chunking, FTS5/BM25 search with citations, thread stores and the sample library."""

from __future__ import annotations

import pytest

from qlwork.errors import InputError
from qlwork.tools import file_search as fsearch
from qlwork.tools.files import FileStore
from qlwork.tools.registry import ToolContext

SEED_QUERY = "NIFTY 50 technical analysis support resistance levels"


@pytest.fixture()
def fs(tmp_path):
    return FileStore(tmp_path / "files")


@pytest.fixture()
def research(fs):
    ids = [fs.upload(p).id for p in sorted(fsearch.RESEARCH_DIR.iterdir())]
    return fsearch.create_vector_store(fs, "Research Notes", ids), ids


def test_chunks_overlap():
    words = [f"w{i}" for i in range(300)]
    chunks = fsearch.chunk_text(" ".join(words), size=100, overlap=20)
    assert [c.split()[0] for c in chunks] == ["w0", "w80", "w160", "w240"]
    assert chunks[0].split()[-20:] == chunks[1].split()[:20]
    assert fsearch.chunk_text("") == []
    with pytest.raises(InputError):
        fsearch.chunk_text("a b", size=10, overlap=10)


def test_seed_example_finds_support_resistance_passages_with_citations(fs, research):
    store, ids = research
    assert store["file_counts"] == {"total": len(ids), "completed": len(ids), "failed": 0}
    results = fsearch.search(fs, SEED_QUERY, [store["id"]], max_results=5)
    assert results[0]["citation"] == "[nifty50_technical_outlook.pdf p.2]" and results[0]["page"] == 2
    assert "25,400" in results[0]["quote"] and "support" in results[0]["quote"].lower()
    files = [r["filename"] for r in results[:3]]
    assert "nifty50_weekly_levels.md" in files
    weekly = next(r for r in results if r["filename"] == "nifty50_weekly_levels.md")
    assert weekly["page"] is None and weekly["citation"] == "[nifty50_weekly_levels.md]"
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True) and scores[0] > 0
    assert {"file_id", "filename", "page", "score", "quote", "text", "citation"} <= set(results[0])


def test_query_text_is_never_fts_syntax(fs, research):
    store, _ = research
    assert fsearch.search(fs, 'support" OR ( NEAR AND -', [store["id"]])
    with pytest.raises(InputError, match="no searchable words"):
        fsearch.fts_query("what is the ?")


def test_tool_indexes_thread_attachments_and_keeps_threads_apart(fs, tmp_path):
    pdf = fs.upload(fsearch.RESEARCH_DIR / "nifty50_technical_outlook.pdf")
    png = fs.create(_png(), "chart.png")
    ctx = ToolContext(thread_id="thread_a", extra={"file_store": fs, "attachments": [
        {"file_id": pdf.id, "tools": ["file_search"]}, {"file_id": png.id, "tools": ["file_search"]}]})
    out = fsearch.file_search.tool.invoke({"query": "resistance levels"}, ctx)
    assert out["source"] == "thread and assistant files" and out["files_searched"] == ["nifty50_technical_outlook.pdf"]
    assert out["results"][0]["citation"].startswith("[nifty50_technical_outlook.pdf p.")
    assert out["files_not_searchable"][0]["filename"] == "chart.png"
    assert "images have no text" in out["files_not_searchable"][0]["error"]
    # a second search reuses the thread's store; another thread does not see these files
    again = fsearch.file_search.tool.invoke({"query": "resistance"}, ctx)
    assert again["vector_store_ids"] == out["vector_store_ids"]
    other = ToolContext(thread_id="thread_b", extra={"file_store": fs})
    lib = fsearch.file_search.tool.invoke({"query": SEED_QUERY}, other)
    assert lib["source"].startswith("qlwork sample research library (synthetic")
    assert pdf.id not in {r["file_id"] for r in lib["results"]}
    assert lib["results"][0]["filename"] == "nifty50_technical_outlook.pdf"


def test_assistant_store_is_searched(fs):
    note = fs.create(b"HDFCBANK support is near 930 according to our desk.", "desk.txt")
    vs = fsearch.owned_store(fs, "assistant", "asst_1")
    fsearch.add_file(fs, vs, note.id)
    ctx = ToolContext(thread_id="thread_x", extra={"file_store": fs, "assistant_id": "asst_1"})
    out = fsearch.file_search.tool.invoke({"query": "HDFCBANK support", "max_results": 2}, ctx)
    assert out["results"][0]["citation"] == "[desk.txt]" and out["vector_store_ids"] == [vs]
    bad = fsearch.file_search.tool.run({"query": "x", "max_results": 50}, ctx)
    assert bad.error and "out of range" in bad.error["message"]


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, format="PNG")
    return buf.getvalue()


def test_bm25_uses_the_searched_files_statistics(fs):
    from qlwork.tools import search_rank

    one, two = fs.create(b"alpha betas beta", "one.txt"), fs.create(b"gamma delta", "two.txt")
    store = fsearch.create_vector_store(fs, "tiny", [one.id, two.id])
    ranked = search_rank.rank(fs.conn(), '"beta"', ["beta"], [one.id, two.id])
    # by hand: N = 2 chunks, n(beta) = 1, tf = 2 (porter: betas -> beta), dl = avgdl = 3 words
    # idf = ln(1 + 1.5 / 1.5) = ln 2; score = ln 2 * 2 * 2.2 / (2 + 1.2)
    assert [r["file_id"] for _, r in ranked] == [one.id]
    assert ranked[0][0] == pytest.approx(0.6931472 * 4.4 / 3.2)
    before = fsearch.search(fs, "beta", [store["id"]])
    assert before[0]["score"] == pytest.approx(round(0.6931472 * 4.4 / 3.2 + 0.1, 4))  # + term coverage
    # another store's files on this host change nothing (SQLite's bm25() counts the whole index)
    other = fs.create(b"beta " * 30 + b"epsilon " * 3000, "other.txt")
    fsearch.create_vector_store(fs, "other", [other.id])
    assert fsearch.search(fs, "beta", [store["id"]]) == before
