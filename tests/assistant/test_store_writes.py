"""The write paths that keep a run's store work short: prepared inserts in one write, updates from an
object already held, the lease written with the run's row and checked where the run starts, and the
writers' turn lock shared by processes (issue 15, throughput)."""

import fcntl
import os
import sqlite3

import pytest

from qlwork.assistant.store.leases import Leases
from qlwork.assistant.runner import Runner
from qlwork.assistant.store import Store
from qlwork.errors import InputError


@pytest.fixture()
def store(store_both):
    """These tests run on SQLite and on PostgreSQL."""
    return store_both


def _thread_and_assistant(store):
    assistant = store.create_assistant(name="a", model="offline-rules")
    thread = store.create_thread({"portfolio_id": "sample:diversified"}, user_id="u1")
    store.add_message(thread.id, "user", "Signals for TCS")
    return thread, assistant


def test_insert_stores_prepared_objects_in_one_write_or_none(store):
    thread, assistant = _thread_and_assistant(store)
    run = store.create_run(thread.id, assistant.id)
    message = store.new_message(thread.id, "assistant", "answer", run_id=run.id, assistant_id=assistant.id)
    step = store.new_step(run.id, "message_creation", {"type": "message_creation",
                                                       "message_creation": {"message_id": message.id}},
                          status="completed", thread_id=thread.id, assistant_id=assistant.id)
    store.insert(message, step)
    assert store.get_message(message.id).content[0].text.value == "answer"
    assert store.get_step(step.id).step_details.message_creation.message_id == message.id
    # a step of a run that does not exist: nothing of the write is kept, and the error names the parent
    other = store.new_message(thread.id, "assistant", "second")
    orphan = store.new_step("run_missing", "message_creation", {"type": "message_creation",
                                                               "message_creation": {"message_id": other.id}},
                            thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(InputError) as err:
        store.insert(other, orphan)
    assert err.value.details["code"] == "not_found" and orphan.id in str(err.value)
    with pytest.raises(InputError):
        store.get_message(other.id)
    with pytest.raises(InputError) as dup:
        store.insert(message)
    assert dup.value.details["code"] == "duplicate_id"


def test_update_step_from_the_held_object_writes_only_the_given_fields(store):
    thread, assistant = _thread_and_assistant(store)
    run = store.create_run(thread.id, assistant.id)
    step = store.add_step(run.id, "tool_calls", {"type": "tool_calls", "tool_calls": []})
    store.update_step(step.id, last_error={"code": "x", "message": "set meanwhile"})  # another field
    updated = store.update_step(step.id, current=step, status="completed", completed_at=123)
    assert updated.status == "completed"
    stored = store.get_step(step.id)
    assert (stored.status, stored.completed_at, stored.last_error.message) == ("completed", 123, "set meanwhile")
    with pytest.raises(InputError):  # still validated
        store.update_step(step.id, current=step, status="nonsense")


def test_transition_with_the_current_run_still_refuses_illegal_moves(store):
    thread, assistant = _thread_and_assistant(store)
    run = store.create_run(thread.id, assistant.id)
    with store.transaction():
        current = store.get_run(run.id)
        started = store.transition(run.id, "in_progress", current=current)
    assert started.status == "in_progress" and store.run_status(run.id) == "in_progress"
    with pytest.raises(InputError) as err:
        store.transition(run.id, "queued", current=store.get_run(run.id))
    assert err.value.details["code"] == "illegal_transition"


def test_thread_metadata_kept_as_sent_when_not_stamped(store):
    stamped = store.create_thread({"a": 1}, user_id="u1")
    plain = store.create_thread({"a": 1}, user_id="u1", stamp_user=False)
    assert stamped.metadata == {"a": 1, "user_id": "u1"}
    assert store.get_thread(plain.id).metadata == {"a": 1} and store.get_thread(plain.id).user_id == "u1"


def test_lease_written_with_the_run_and_checked_where_it_starts(store):
    thread, assistant = _thread_and_assistant(store)
    mine, theirs = Leases(store), Leases(store)
    runner = Runner(store, backend="offline")
    run = runner.create_run(thread.id, assistant=assistant, columns=mine.columns())
    owner, expires = store.connection().execute("SELECT lease_owner, lease_expires FROM runs WHERE id = ?",
                                                (run.id,)).fetchone()
    assert owner == mine.owner and expires > 0
    # another server's claim fails: nothing happens, the run stays queued for its holder
    assert runner.execute(run.id, claim=lambda: theirs.holds(run.id)) is None
    assert store.run_status(run.id) == "queued"
    done = runner.execute(run.id, claim=lambda: mine.holds(run.id))
    assert done.status == "completed"
    with pytest.raises(InputError):  # a reused assistant of another id is not taken for the run's
        runner.create_run(thread.id, "asst_missing", assistant=assistant)


def test_writers_queue_on_the_shared_turn_lock(tmp_path):
    store = Store(tmp_path / "q.db", busy_timeout=0.3)
    fd = os.open(f"{tmp_path / 'q.db'}-wlock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # as another process holding its write turn
        with pytest.raises(sqlite3.OperationalError, match="no write turn"):
            store.create_thread({"x": 1})
        fcntl.flock(fd, fcntl.LOCK_UN)
        thread = store.create_thread({"x": 1})
        assert store.get_thread(thread.id).metadata == {"x": 1}
    finally:
        os.close(fd)
        store.close()
    # the turn's descriptor is closed after each transaction (none is kept open per database file)
    fds = {os.readlink(f"/proc/self/fd/{n}") for n in os.listdir("/proc/self/fd")
           if os.path.exists(f"/proc/self/fd/{n}")}
    assert f"{tmp_path / 'q.db'}-wlock" not in fds
