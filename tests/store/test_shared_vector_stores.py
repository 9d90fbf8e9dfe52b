"""file_search vector stores shared through PostgreSQL: a store made with one QLWORK_HOME (one host) is
listed, read, searched, changed and deleted through another home on the same database; each host
indexes the shared file bytes itself. Without a database URL they stay in the home's files.db."""

from __future__ import annotations

import sqlite3

import httpx
import pytest
from served import Served

from qlwork.assistant.store.schema import MIGRATIONS
from qlwork.assistant.store import Store
from qlwork.errors import InputError
from qlwork.server.keys import KeyStore
from qlwork.tools import file_search as fsearch
from qlwork.tools.files import FileStore
from qlwork.tools.registry import ToolContext
from qlwork.tools.shared_files import VECTOR_TABLES

WEEKLY = fsearch.RESEARCH_DIR / "nifty50_weekly_levels.md"
OUTLOOK = fsearch.RESEARCH_DIR / "nifty50_technical_outlook.pdf"
QUERY = "NIFTY support resistance levels"


def _tables(path) -> set[str]:
    with sqlite3.connect(path) as c:
        return {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def _hits(results: list[dict]) -> list[tuple]:
    return [(r["file_id"], r["page"], r["chunk"], r["score"], r["text"]) for r in results]


def test_the_migration_is_the_file_stores_ddl_and_applies_on_both_databases(database, tmp_path, monkeypatch):
    version, description, statements = next(m for m in MIGRATIONS if m[1] == "vector stores")
    assert statements == list(VECTOR_TABLES)  # a change to one needs a new migration, never an edit
    if database.startswith("postgresql://"):  # a file store made the tables first: the migration still applies
        monkeypatch.setenv("QLWORK_DATABASE_URL", database)
        fsearch.create_vector_store(FileStore(tmp_path / "files"), "first")
    store = Store(database)
    try:
        assert store.schema_version >= version
        for table in ("vector_stores", "vector_store_files"):
            count = store.connection().execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            assert count == (1 if table == "vector_stores" and store.dialect == "postgresql" else 0)
    finally:
        store.close()


def test_python_api_two_homes_one_database(pg_cluster, tmp_path, monkeypatch):
    url = pg_cluster.new_database()
    monkeypatch.setenv("QLWORK_DATABASE_URL", url)
    Store(url).close()  # the server or `qlwork db upgrade` applies migration 4
    host_a, host_b = FileStore(tmp_path / "a" / "files"), FileStore(tmp_path / "b" / "files")
    weekly, outlook = host_a.upload(WEEKLY), host_a.upload(OUTLOOK)
    made = fsearch.create_vector_store(host_a, "Research", [weekly.id, outlook.id])
    thread_store = fsearch.owned_store(host_a, "thread", "thread_x")
    assert "vector_stores" not in _tables(tmp_path / "a" / "files" / "files.db")  # not kept per host

    seen = fsearch.get_vector_store(host_b, made["id"])
    assert seen == made and seen["file_counts"] == {"total": 2, "completed": 2, "failed": 0}
    assert fsearch.owned_store(host_b, "thread", "thread_x", create=False) == thread_store
    assert not (tmp_path / "b" / "files" / weekly.id).exists()  # nothing fetched or indexed yet

    # host a has also indexed another store's long file, mostly without the query's words (which moves
    # SQLite's own BM25 statistics): scores must not care
    noise = host_a.create(b"Quarterly dividend payout ratio commentary. " * 600 + b"NIFTY support zones.", "noise.txt")
    fsearch.create_vector_store(host_a, "other", [noise.id])
    on_a, on_b = fsearch.search(host_a, QUERY, [made["id"]]), fsearch.search(host_b, QUERY, [made["id"]])
    assert on_b and _hits(on_b) == _hits(on_a)
    assert {r["filename"] for r in on_b} == {"nifty50_weekly_levels.md", "nifty50_technical_outlook.pdf"}
    assert (tmp_path / "b" / "files" / weekly.id).is_dir()  # fetched and indexed on first search

    # the thread's store is found by the tool on host b, with a file attached on host a
    fsearch.add_file(host_a, thread_store, weekly.id)
    out = fsearch.file_search.tool.invoke({"query": QUERY}, ToolContext(thread_id="thread_x",
                                                                         extra={"file_store": host_b}))
    assert out["source"] == "thread and assistant files" and out["vector_store_ids"] == [thread_store]
    assert out["files_searched"] == ["nifty50_weekly_levels.md"]

    host_b.delete(weekly.id)  # a deleted file leaves every store, for every host
    assert [f["file_id"] for f in fsearch.get_vector_store(host_a, made["id"])["files"]] == [outlook.id]
    assert {r["file_id"] for r in fsearch.search(host_a, QUERY, [made["id"]])} == {outlook.id}
    fsearch.delete_vector_store(host_b, made["id"])
    with pytest.raises(InputError, match="No vector store"):
        fsearch.get_vector_store(host_a, made["id"])


def test_two_servers_two_homes_one_database(pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    store = Store(url)
    keys = KeyStore(store)
    alice, bob = keys.create("alice")[1], keys.create("bob")[1]
    first = Served(tmp_path / "host-a", "--threads", "1", env={"QLWORK_DATABASE_URL": url})
    second = Served(tmp_path / "host-b", "--threads", "1", env={"QLWORK_DATABASE_URL": url})
    try:
        a, b = first.client(alice), second.client(alice)
        weekly = a.files.create(file=WEEKLY.open("rb"), purpose="assistants")
        outlook = a.files.create(file=OUTLOOK.open("rb"), purpose="assistants")
        vs = a.vector_stores.create(name="Research", file_ids=[weekly.id], metadata={"desk": "equities"})
        batch = a.vector_stores.file_batches.create(vector_store_id=vs.id, file_ids=[outlook.id],
                                                    attributes={"kind": "pdf"})

        assert [s.id for s in b.vector_stores.list()] == [vs.id]
        got = b.vector_stores.retrieve(vs.id)
        assert (got.name, got.metadata, got.file_counts.completed, got.file_counts.total) == \
            ("Research", {"desk": "equities"}, 2, 2)
        files = {f.id: f for f in b.vector_stores.files.list(vector_store_id=vs.id)}
        assert set(files) == {weekly.id, outlook.id} and files[outlook.id].attributes == {"kind": "pdf"}
        assert all(f.status == "completed" for f in files.values())
        seen = b.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id)
        assert (seen.status, seen.file_counts.completed, seen.file_counts.total) == ("completed", 1, 1)

        search = {"query": QUERY, "max_num_results": 5}
        on_a = httpx.post(f"{first.base}/v1/vector_stores/{vs.id}/search", json=search,
                          headers={"Authorization": f"Bearer {alice}"}, timeout=30).json()
        on_b = httpx.post(f"{second.base}/v1/vector_stores/{vs.id}/search", json=search,
                          headers={"Authorization": f"Bearer {alice}"}, timeout=30).json()
        assert on_b["data"] and on_b["data"] == on_a["data"]
        assert {d["file_id"] for d in on_b["data"]} == {weekly.id, outlook.id}
        page = b.vector_stores.files.content(vector_store_id=vs.id, file_id=weekly.id)
        assert "support" in " ".join(part.text for part in page).lower()

        # another user's key on the other server finds nothing
        other = second.client(bob)
        assert list(other.vector_stores.list()) == []
        with pytest.raises(Exception, match="404|No vector store"):
            other.vector_stores.retrieve(vs.id)

        # changes through b are seen through a
        b.vector_stores.update(vs.id, name="Research (weekly)")
        b.vector_stores.files.delete(vector_store_id=vs.id, file_id=weekly.id)
        again = a.vector_stores.retrieve(vs.id)
        assert (again.name, again.file_counts.total) == ("Research (weekly)", 1)
        b.vector_stores.delete(vs.id)
        assert list(a.vector_stores.list()) == []
        assert "vector_stores" not in _tables(tmp_path / "host-a" / "files" / "files.db")
    finally:
        first.stop()
        second.stop()
        store.close()


def test_without_a_url_vector_stores_stay_in_the_homes_files_db(tmp_path, monkeypatch):
    monkeypatch.delenv("QLWORK_DATABASE_URL", raising=False)
    host_a, host_b = FileStore(tmp_path / "a"), FileStore(tmp_path / "b")
    made = fsearch.create_vector_store(host_a, "Research", [host_a.upload(WEEKLY).id])
    assert host_a.shared is None and "vector_stores" in _tables(tmp_path / "a" / "files.db")
    assert fsearch.search(host_a, QUERY, [made["id"]])
    with pytest.raises(InputError, match="No vector store"):
        fsearch.get_vector_store(host_b, made["id"])


def test_a_files_db_from_before_keeps_its_vector_stores(tmp_path, monkeypatch):
    """files.db written by the previous release (foreign keys to files) opens unchanged."""
    monkeypatch.delenv("QLWORK_DATABASE_URL", raising=False)
    fs = FileStore(tmp_path / "files")
    note = fs.upload(WEEKLY)
    fs.conn().close()
    fs._local.conn = None
    with sqlite3.connect(tmp_path / "files" / "files.db") as c:  # the old layout of the two tables
        c.execute("DROP TABLE vector_store_files")
        c.execute("DROP TABLE vector_stores")
        c.execute("CREATE TABLE vector_stores (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL, name TEXT, "
                  "owner_kind TEXT, owner_id TEXT)")
        c.execute("CREATE TABLE vector_store_files (vector_store_id TEXT NOT NULL REFERENCES vector_stores(id) "
                  "ON DELETE CASCADE, file_id TEXT NOT NULL REFERENCES files(id) ON DELETE CASCADE, status TEXT "
                  "NOT NULL, chunks INTEGER NOT NULL DEFAULT 0, last_error TEXT, created_at INTEGER NOT NULL, "
                  "PRIMARY KEY (vector_store_id, file_id))")
        c.execute("INSERT INTO vector_stores VALUES ('vs_old', 1, 'old', NULL, NULL)")
    reopened = FileStore(tmp_path / "files")
    fsearch.add_file(reopened, "vs_old", note.id)
    assert fsearch.get_vector_store(reopened, "vs_old")["file_counts"]["completed"] == 1
    assert fsearch.search(reopened, QUERY, ["vs_old"])[0]["file_id"] == note.id
    reopened.delete(note.id)
    assert fsearch.get_vector_store(reopened, "vs_old")["files"] == []
