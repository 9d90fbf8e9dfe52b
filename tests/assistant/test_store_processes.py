"""Several processes on one database; a process killed mid-run."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from qlwork.assistant.objects import Message, Run, RunStep


@pytest.fixture()
def store(store_both):
    """These tests run on SQLite and on PostgreSQL."""
    return store_both

WRITER = textwrap.dedent("""
    import sys
    from qlwork.assistant.store import Store
    db, thread_id, tag = sys.argv[1:4]
    store = Store(db)
    for i in range(100):
        store.add_message(thread_id, "user", f"{tag}-{i}")
""")

CRASHER = textwrap.dedent("""
    import sys, time
    from qlwork.assistant.backends.base import FinalMessage, ToolCalls
    from qlwork.assistant.backends.scripted import ScriptedBackend, call
    from qlwork.assistant.runner import Runner
    from qlwork.assistant.store import Store
    from qlwork.tools.registry import Registry, tool
    db, marker = sys.argv[1:3]
    reg = Registry()

    @tool(registry=reg)
    def slow(n: int) -> dict:
        '''Sleep for a long time.'''
        open(marker, "a").write(f"{n}\\n")
        time.sleep(60)
        return {"n": n}

    store = Store(db)
    a = store.create_assistant(name="crash", tools=[{"type": "function", "function": reg.get("slow").function_schema()}])
    t = store.create_thread(user_id="u")
    store.add_message(t.id, "user", "go")
    backend = ScriptedBackend([ToolCalls([call("slow", {"n": 1}), call("slow", {"n": 2})]), FinalMessage("{}")])
    Runner(store, reg, backend).create_and_run(t.id, a.id)
""")


def _spawn(script, *args):
    return subprocess.Popen([sys.executable, "-c", script, *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_two_processes_write_200_messages(store):
    t = store.create_thread(user_id="u")
    procs = [_spawn(WRITER, store.target, t.id, tag) for tag in ("a", "b")]
    outputs = [p.communicate(timeout=60) for p in procs]
    for proc, (_, err) in zip(procs, outputs):
        assert proc.returncode == 0, err
        assert "locked" not in err
    messages = store.list_messages(t.id, limit=1000)
    assert len(messages) == 200
    for tag in ("a", "b"):
        assert [m.text for m in messages if m.text.startswith(tag)] == [f"{tag}-{i}" for i in range(100)]


def test_many_threads_share_one_store(store):
    t = store.create_thread(user_id="u")
    errors = []

    def write(n):
        try:
            for i in range(25):
                store.add_message(t.id, "user", f"{n}-{i}")
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=write, args=(n,)) for n in range(8)]
    [w.start() for w in workers]
    [w.join() for w in workers]
    assert not errors
    assert len(store.list_messages(t.id, limit=1000)) == 200


def test_killed_process_leaves_a_recoverable_run(store, tmp_path):
    marker = tmp_path / "started"
    proc = _spawn(CRASHER, store.target, marker)
    deadline = time.time() + 30
    while not (marker.exists() and len(marker.read_text().split()) == 2):
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline, "tools never started"
        time.sleep(0.02)
    [run] = [r for t in store.list_threads() for r in store.list_runs(t.id)]
    assert run.status == "in_progress"
    assert store.recover(reason="should not touch a live run") == []
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)

    [recovered] = store.recover(reason="worker killed by test")
    assert recovered.id == run.id and recovered.status == "failed" and recovered.failed_at
    assert recovered.last_error.code == "crashed" and "worker killed by test" in recovered.last_error.message
    [step] = store.list_steps(run.id)
    assert step.status == "failed"
    for c in step.tool_calls:
        assert json.loads(c.function.output)["error"]["code"] == "crashed"
    assert store.recover(reason="again") == []

    # every stored row still parses, and the thread can take a new run
    conn = store.connection()
    for table, model in (("messages", Message), ("runs", Run), ("run_steps", RunStep)):
        for row in conn.execute(f"SELECT * FROM {table}"):
            data = {k: row[k] for k in row.keys()}
            for k, v in data.items():
                if isinstance(v, str) and v[:1] in "[{":
                    data[k] = json.loads(v)
            model.model_validate(data)
    assert store.create_run(run.thread_id, run.assistant_id).status == "queued"
