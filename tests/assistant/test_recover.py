"""Runs nothing will finish (a dead owner, a cancel nobody completes, tool outputs never submitted)
are recovered when a Session opens or uses their thread, so a crash never blocks a thread for good."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from qlwork.assistant.backends.base import FinalMessage, ToolCalls
from qlwork.assistant.backends.scripted import ScriptedBackend, call
from qlwork.assistant.objects import now
from qlwork.assistant.session import Session
from qlwork.errors import InputError

DEAD_PID = 2147483600  # cannot exist (above pid_max)

ASKER = textwrap.dedent('''
    import sys, time
    from qlwork.assistant.backends.base import FinalMessage, ToolCalls
    from qlwork.assistant.backends.scripted import ScriptedBackend, call
    from qlwork.assistant.session import Session
    from qlwork.assistant.store import Store
    from qlwork.tools.registry import Registry, tool
    db, marker = sys.argv[1:3]
    reg = Registry()

    @tool(registry=reg)
    def slow(n: int) -> dict:
        """Sleep for a long time."""
        open(marker, "a").write("started\\n")
        time.sleep(60)
        return {"n": n}

    store = Store(db)
    s = Session("u", backend=ScriptedBackend([ToolCalls([call("slow", {"n": 1})]), FinalMessage("{}")]),
                store=store, registry=reg, market=object(), portfolio="sample:balanced", new_thread=True)
    store.update_assistant(s.assistant_id, tools=[{"type": "function", "function": reg.get("slow").function_schema()}])
    print(s.thread_id, flush=True)
    s.ask("first question")
''')


@pytest.fixture()
def store(store_both):
    """These tests run on SQLite and on PostgreSQL."""
    return store_both


def open_session(store, tools, steps=(), **kw):
    return Session("u", backend=ScriptedBackend(list(steps)), store=store, registry=tools.registry,
                   market=object(), **kw)


def set_owner(store, run_id, pid=DEAD_PID, host=None):
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET owner_pid = ?, owner_host = COALESCE(?, owner_host) WHERE id = ?",
                     (pid, host, run_id))


def test_a_killed_process_does_not_block_its_thread(store, tools, final_text, tmp_path):
    marker = str(tmp_path / "marker")
    proc = subprocess.Popen([sys.executable, "-c", ASKER, store.target, marker],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        thread_id = proc.stdout.readline().strip()
        assert thread_id.startswith("thread_"), proc.communicate(timeout=30)
        deadline = time.time() + 60
        while not os.path.exists(marker):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline, "the tool never started"
            time.sleep(0.02)
        [run] = store.list_runs(thread_id)
        assert run.status == "in_progress"
        # the owner is alive: opening the thread leaves its run alone, and the thread stays busy
        live = open_session(store, tools, [FinalMessage(final_text())], thread_id=thread_id)
        assert store.get_run(run.id).status == "in_progress"
        with pytest.raises(InputError) as info:
            live.ask("too early")
        assert info.value.details["code"] == "run_active"
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()

    again = open_session(store, tools, [FinalMessage(final_text())], thread_id=thread_id)
    crashed = store.get_run(run.id)
    assert crashed.status == "failed" and crashed.last_error.code == "crashed"
    assert "in_progress" in crashed.last_error.message and str(proc.pid) in crashed.last_error.message
    [step] = store.list_steps(run.id)
    assert step.status == "failed"
    answer = again.ask("Can you answer now?")
    assert answer.run.status == "completed"
    assert [m.text for m in again.history() if m.role == "user"] == ["first question", "Can you answer now?"]


@pytest.mark.parametrize("status", ["queued", "in_progress", "cancelling"])
def test_runs_of_a_dead_owner_are_failed_when_the_thread_is_opened(store, tools, final_text, status):
    s = open_session(store, tools, new_thread=True)
    run = s.runner.create_run(s.thread_id)
    if status != "queued":
        store.transition(run.id, "in_progress")
    if status == "cancelling":
        store.transition(run.id, "cancelling")
    set_owner(store, run.id)
    again = open_session(store, tools, [FinalMessage(final_text())])  # the user's latest thread
    assert again.thread_id == s.thread_id
    recovered = store.get_run(run.id)
    assert recovered.status == "failed" and recovered.last_error.code == "crashed"
    assert f"while {status}" in recovered.last_error.message
    assert again.ask("hello").run.status == "completed"


def test_ask_recovers_on_a_long_lived_session(store, tools, final_text):
    s = open_session(store, tools, [FinalMessage(final_text())], new_thread=True)
    run = s.runner.create_run(s.thread_id)
    store.transition(run.id, "in_progress")
    set_owner(store, run.id)  # its process died after this session opened the thread
    assert s.ask("still there?").run.status == "completed"
    assert store.get_run(run.id).status == "failed"


def test_cancel_of_a_run_whose_process_died(store, tools, final_text):
    s = open_session(store, tools, [FinalMessage(final_text())], new_thread=True)
    run = s.runner.create_run(s.thread_id)
    store.transition(run.id, "in_progress")
    set_owner(store, run.id)
    assert s.cancel() is None  # recovered (failed) rather than left cancelling with nobody to finish it
    assert store.get_run(run.id).status == "failed"
    assert s.ask("next").run.status == "completed"


def test_live_and_foreign_runs_are_left_alone(store, tools):
    s = open_session(store, tools, new_thread=True)
    run = s.runner.create_run(s.thread_id)
    store.transition(run.id, "in_progress")  # owned by this (live) process
    other = open_session(store, tools, new_thread=True)
    foreign = other.runner.create_run(other.thread_id)
    set_owner(store, foreign.id, host="another-host")  # cannot tell whether it is alive: keep it
    assert open_session(store, tools, thread_id=s.thread_id).recover() == []
    assert open_session(store, tools, thread_id=other.thread_id).recover() == []
    assert store.get_run(run.id).status == "in_progress" and store.get_run(foreign.id).status == "queued"
    # the sweep is per thread: another thread's dead run is not touched
    set_owner(store, run.id)
    assert open_session(store, tools, thread_id=other.thread_id).recover() == []
    assert store.get_run(run.id).status == "in_progress"


def waiting_run(store, tools, assistant, final_text):
    s = open_session(store, tools, [ToolCalls([call("client_lookup", {"q": "x"})]), FinalMessage(final_text())],
                     new_thread=True, assistant_id=assistant.id)
    answer = s.ask("needs the client")
    assert answer.run.status == "requires_action" and answer.response is None
    return s, answer.run


def test_requires_action_expires_after_ten_minutes(store, tools, assistant, final_text):
    s, run = waiting_run(store, tools, assistant, final_text)
    again = open_session(store, tools, [FinalMessage(final_text())], thread_id=s.thread_id)
    assert store.get_run(run.id).status == "requires_action"  # fresh: still waiting for the client
    with pytest.raises(InputError, match="already has an active run"):
        again.ask("too early")
    with store.transaction() as conn:  # it has been waiting for 10 minutes and a second
        conn.execute("UPDATE run_steps SET created_at = created_at - 601 WHERE run_id = ?", (run.id,))
        conn.execute("UPDATE runs SET created_at = created_at - 601, started_at = started_at - 601 "
                     "WHERE id = ?", (run.id,))
    assert again.ask("and now?").run.status == "completed"
    expired = store.get_run(run.id)
    assert expired.status == "expired" and expired.last_error.code == "expired"
    assert expired.required_action is None
    [step] = [st for st in store.list_steps(run.id) if st.type == "tool_calls"]
    assert step.status == "expired" and step.tool_calls[0].function.output  # no orphaned call


def test_requires_action_honours_its_expires_at(store, tools, assistant, final_text):
    s, run = waiting_run(store, tools, assistant, final_text)
    store.update_run(run.id, metadata={"expires_at": now() + 3600})
    assert store.recover(action_timeout=0) == []  # its own expiry wins over the default
    store.update_run(run.id, metadata={"expires_at": now() - 1})
    [expired] = s.recover()
    assert expired.id == run.id and expired.status == "expired"


def test_a_waiting_run_is_not_failed_for_its_owner_dying(store, tools, assistant, final_text):
    # any process may submit the tool outputs, so only the expiry ends a requires_action run
    s, run = waiting_run(store, tools, assistant, final_text)
    set_owner(store, run.id)
    assert store.recover() == []
    assert store.get_run(run.id).status == "requires_action"
