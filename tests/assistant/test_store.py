"""Store CRUD, pagination, cascade, migrations, transitions, default assistant."""

import json
import sqlite3
import threading

import pytest

from qlwork.assistant.defaults import DEFAULT_ASSISTANT_NAME, ensure_default_assistant
from qlwork.assistant.objects import ALLOWED_TRANSITIONS
from qlwork.assistant.store import MIGRATIONS, Store
from qlwork.errors import InputError


def _set_created(store, table, ids_and_times):
    with store.transaction() as conn:
        for id_, t in ids_and_times:
            conn.execute(f"UPDATE {table} SET created_at = ? WHERE id = ?", (t, id_))


@pytest.fixture()
def store(store_both):
    """These tests run on SQLite and on PostgreSQL."""
    return store_both


@pytest.fixture()
def sqlite_store(tmp_path):
    s = Store(tmp_path / "test.db")
    yield s
    s.close()


def test_default_path_is_under_qlwork_home(tmp_path):
    s = Store()
    assert s.path == tmp_path / "home" / "qlwork.db" and s.path.exists()
    s.close()


def test_pragmas(sqlite_store):
    conn = sqlite_store._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_assistant_crud(store):
    a = store.create_assistant(name="A", instructions="x", tools=[{"type": "file_search"}], metadata={"k": "v"})
    assert store.get_assistant(a.id) == a
    b = store.update_assistant(a.id, name="B", metadata={"k": "w"})
    assert (b.name, b.metadata, b.tools) == ("B", {"k": "w"}, [{"type": "file_search"}])
    assert store.get_assistant(a.id) == b
    assert [x.id for x in store.list_assistants()] == [a.id]
    with pytest.raises(InputError, match="Cannot update"):
        store.update_assistant(a.id, id="asst_other")
    with pytest.raises(InputError, match="Invalid"):
        store.update_assistant(a.id, tools="nope")
    assert store.delete_assistant(a.id)
    with pytest.raises(InputError) as info:
        store.get_assistant(a.id)
    assert info.value.details == {"code": "not_found", "id": a.id} and a.id in str(info.value)


def test_thread_crud_and_metadata_merge(store):
    t = store.create_thread({"portfolio_id": "p1", "risk_profile": "low"}, user_id="u1")
    assert t.user_id == "u1" and t.metadata["user_id"] == "u1"
    t2 = store.update_thread_metadata(t.id, {"risk_profile": "high", "portfolio_id": None, "new": 1})
    assert t2.metadata == {"user_id": "u1", "risk_profile": "high", "new": 1}
    assert store.get_thread(t.id) == t2
    with pytest.raises(InputError, match="thread_missing"):
        store.get_thread("thread_missing")


def test_thread_pagination_newest_first_with_cursors(store):
    threads = [store.create_thread(user_id="u1") for _ in range(6)]
    other = store.create_thread(user_id="u2")
    # two timestamps tie: order must still be deterministic (insertion order breaks ties)
    _set_created(store, "threads", [(t.id, 100 + i // 2) for i, t in enumerate(threads)])
    ids = [t.id for t in threads]
    listed = [t.id for t in store.list_threads(user_id="u1")]
    assert listed == ids[::-1]
    assert [t.id for t in store.list_threads(user_id="u1", order="asc")] == ids
    page1 = store.list_threads(user_id="u1", limit=2)
    page2 = store.list_threads(user_id="u1", limit=2, after=page1[-1].id)
    page3 = store.list_threads(user_id="u1", limit=2, after=page2[-1].id)
    assert [t.id for t in page1 + page2 + page3] == ids[::-1]
    assert store.list_threads(user_id="u1", after=page3[-1].id) == []
    back = store.list_threads(user_id="u1", limit=2, before=page3[0].id)
    assert [t.id for t in back] == [t.id for t in page2]
    between = store.list_threads(user_id="u1", after=ids[5], before=ids[1])
    assert [t.id for t in between] == [ids[4], ids[3], ids[2]]
    assert other.id in [t.id for t in store.list_threads()]
    assert other.id not in listed
    with pytest.raises(InputError):
        store.list_threads(order="sideways")
    with pytest.raises(InputError):
        store.list_threads(limit=0)
    with pytest.raises(InputError, match="thread_nope"):
        store.list_threads(after="thread_nope")


def test_messages_order_cursors_and_run_filter(store):
    t = store.create_thread(user_id="u1")
    msgs = [store.add_message(t.id, "user", f"m{i}") for i in range(5)]
    run = store.create_run(t.id, store.create_assistant(name="a").id)
    reply = store.add_message(t.id, "assistant", [{"type": "json", "json": {"a": 1}}], run_id=run.id)
    texts = [m.text for m in store.list_messages(t.id)]
    assert texts == ["m0", "m1", "m2", "m3", "m4", ""]
    assert [m.id for m in store.list_messages(t.id, order="desc", limit=2)] == [reply.id, msgs[4].id]
    assert [m.text for m in store.list_messages(t.id, after=msgs[1].id, limit=2)] == ["m2", "m3"]
    assert [m.text for m in store.list_messages(t.id, before=msgs[3].id, limit=2)] == ["m1", "m2"]
    assert [m.text for m in store.list_messages(t.id, order="desc", after=msgs[3].id)] == ["m2", "m1", "m0"]
    assert [m.id for m in store.list_messages(t.id, run_id=run.id)] == [reply.id]
    assert store.get_message(reply.id).data == {"a": 1}
    with pytest.raises(InputError) as info:
        store.add_message("thread_missing", "user", "x")
    assert info.value.details["code"] == "not_found"
    with pytest.raises(InputError):
        store.add_message(t.id, "robot", "x")
    with pytest.raises(InputError) as info:
        store.add_message(t.id, "user", "again", id=reply.id)
    assert info.value.details["code"] == "duplicate_id"


def test_delete_thread_cascades(store):
    a = store.create_assistant(name="a")
    t = store.create_thread(user_id="u1")
    keep = store.create_thread(user_id="u1")
    for thread in (t, keep):
        store.add_message(thread.id, "user", "hi")
        run = store.create_run(thread.id, a.id)
        store.add_step(run.id, "message_creation", {"type": "message_creation", "message_creation": {"message_id": "m"}})
    assert store.delete_thread(t.id)
    conn = store._conn()
    for table in ("messages", "runs", "run_steps"):
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id = ?", (t.id,)).fetchone()[0] == 0
        assert conn.execute(f"SELECT COUNT(*) FROM {table} WHERE thread_id = ?", (keep.id,)).fetchone()[0] == 1
    with pytest.raises(InputError):
        store.delete_thread(t.id)


def test_migrations_idempotent(database):
    path = database
    first = Store(path)
    t = first.create_thread(user_id="u")
    second = Store(path)
    assert first.schema_version == second.schema_version == MIGRATIONS[-1][0]
    assert second.migrate() == MIGRATIONS[-1][0]
    rows = second._conn().execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert [r[0] for r in rows] == [m[0] for m in MIGRATIONS]
    assert second.get_thread(t.id) == t
    first.close(), second.close()


def test_transitions_follow_the_table_exactly(store):
    a = store.create_assistant(name="a")
    statuses = sorted(ALLOWED_TRANSITIONS)
    for source in statuses:
        for target in statuses:
            t = store.create_thread()
            run = store.create_run(t.id, a.id)
            with store.transaction() as conn:
                conn.execute("UPDATE runs SET status = ? WHERE id = ?", (source, run.id))
            if target in ALLOWED_TRANSITIONS[source]:
                moved = store.transition(run.id, target)
                assert moved.status == store.get_run(run.id).status == target
            else:
                with pytest.raises(InputError) as info:
                    store.transition(run.id, target)
                assert info.value.details["code"] == "illegal_transition"
                assert store.get_run(run.id).status == source


def test_transition_stamps_and_refusals(store):
    a = store.create_assistant(name="a")
    t = store.create_thread()
    run = store.create_run(t.id, a.id)
    with pytest.raises(InputError) as info:
        store.create_run(t.id, a.id)
    assert info.value.details["code"] == "run_active"
    started = store.transition(run.id, "in_progress")
    assert started.started_at is not None and store.active_run(t.id).id == run.id
    cancelled = store.transition(run.id, "cancelled")
    assert cancelled.cancelled_at is not None and store.active_run(t.id) is None
    with pytest.raises(InputError, match="cannot go from cancelled to completed"):
        store.transition(run.id, "completed")
    with pytest.raises(InputError, match="transition"):
        store.update_run(run.id, status="completed")
    assert store.update_run(run.id, metadata={"note": "x"}).metadata == {"note": "x"}
    assert store.create_run(t.id, a.id).status == "queued"  # the thread is free again


def test_steps_and_audit(store):
    a = store.create_assistant(name="a")
    t = store.create_thread(user_id="u")
    store.add_message(t.id, "user", "q")
    run = store.create_run(t.id, a.id)
    step = store.add_step(run.id, "tool_calls", {"type": "tool_calls", "tool_calls": [
        {"id": "call_1", "function": {"name": "add", "arguments": "{}"}}]})
    assert step.thread_id == t.id and step.assistant_id == a.id
    details = step.step_details.model_dump()
    details["tool_calls"][0]["function"]["output"] = '{"sum": 2}'
    done = store.update_step(step.id, status="completed", step_details=details)
    assert store.list_steps(run.id) == [done] and done.tool_calls[0].function.output == '{"sum": 2}'
    trail = store.audit(t.id)
    assert set(trail) == {"thread", "messages", "runs", "steps"}
    assert trail["steps"][0]["step_details"]["tool_calls"][0]["function"]["output"] == '{"sum": 2}'
    json.dumps(trail)  # plain data


def test_finish_run_closes_open_calls(store):
    a = store.create_assistant(name="a")
    t = store.create_thread()
    run = store.create_run(t.id, a.id)
    store.transition(run.id, "in_progress")
    store.add_step(run.id, "tool_calls", {"type": "tool_calls", "tool_calls": [
        {"id": "call_1", "function": {"name": "x", "arguments": "{}", "output": "{}"}},
        {"id": "call_2", "function": {"name": "y", "arguments": "{}"}}]})
    failed = store.finish_run(run.id, "failed", last_error={"code": "boom", "message": "it broke"})
    step = store.list_steps(run.id)[0]
    assert failed.failed_at and step.status == "failed" and step.last_error.code == "boom"
    assert step.tool_calls[0].function.output == "{}"
    assert json.loads(step.tool_calls[1].function.output)["error"]["code"] == "boom"


def test_recover_leaves_live_owner_alone(store):
    a = store.create_assistant(name="a")
    run = store.create_run(store.create_thread().id, a.id)
    assert store.recover(reason="test") == []
    assert store.get_run(run.id).status == "queued"
    with store.transaction() as conn:  # an owner pid that cannot exist
        conn.execute("UPDATE runs SET owner_pid = 2147483600 WHERE id = ?", (run.id,))
    [recovered] = store.recover(reason="owner vanished")
    assert recovered.status == "failed" and recovered.last_error.code == "crashed"
    assert "owner vanished" in recovered.last_error.message
    other = store.create_run(store.create_thread().id, a.id)
    assert [r.id for r in store.recover(all=True)] == [other.id]


def test_default_assistant_once_even_when_racing(database):
    path = database
    results, errors = [], []

    def make():
        try:
            s = Store(path)
            results.append(ensure_default_assistant(s).id)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=make) for _ in range(6)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    assert not errors and len(set(results)) == 1
    s = Store(path)
    assistant = ensure_default_assistant(s)
    assert assistant.id == results[0] and assistant.name == DEFAULT_ASSISTANT_NAME
    assert len(s.list_assistants()) == 1
    assert (assistant.model, assistant.backend) == ("offline-rules", "offline")
    assert {"type": "code_interpreter"} in assistant.tools and {"type": "file_search"} in assistant.tools
    assert "TradingResponse" in assistant.instructions and "not investment advice" in assistant.instructions
    assert "Indian equity" in assistant.instructions


def test_rows_are_json_in_sqlite(sqlite_store):
    t = sqlite_store.create_thread({"a": [1, 2]}, user_id="u")
    raw = sqlite3.connect(sqlite_store.path).execute("SELECT metadata FROM threads WHERE id = ?", (t.id,)).fetchone()[0]
    assert json.loads(raw) == {"a": [1, 2], "user_id": "u"}
