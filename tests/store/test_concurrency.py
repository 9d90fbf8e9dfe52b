"""4 processes x 100 asks on one store (SQLite file or PostgreSQL): every run completes exactly once,
and the one-active-run-per-thread rule holds while all four race on one shared thread."""

import subprocess
import sys
import textwrap

from qlwork.assistant.store import Store

ASKER = textwrap.dedent('''
    import json, sys
    from qlwork.assistant.backends.base import FinalMessage, ToolCallRequest, ToolCalls
    from qlwork.assistant.runner import Runner
    from qlwork.assistant.store import Store
    from qlwork.errors import InputError
    from qlwork.tools.registry import Registry, tool

    target, assistant_id, shared_thread, tag = sys.argv[1:5]
    reg = Registry()

    @tool(registry=reg)
    def ping(n: int) -> dict:
        """Return n."""
        return {"n": n}

    class Backend:
        name, model = "scripted", "scripted"
        def next_step(self, inp):
            if inp.run_items:
                return FinalMessage(json.dumps({"analysis_type": "general", "insights": ["ok"]}))
            return ToolCalls([ToolCallRequest(f"call_{inp.turn}", "ping", '{"n": 1}')])

    store = Store(target)
    runner = Runner(store, reg, Backend())
    refused = 0
    for i in range(100):
        thread = store.create_thread(user_id=tag)
        store.add_message(thread.id, "user", f"{tag}-{i}")
        runner.create_and_run(thread.id, assistant_id)
        if i % 10 == 0:  # race the others for the one shared thread
            try:
                run = store.create_run(shared_thread, assistant_id)
                store.transition(run.id, "in_progress")
                store.finish_run(run.id, "completed")
            except InputError as exc:
                assert exc.details.get("code") in ("run_active", "illegal_transition"), exc
                refused += 1
    print(refused)
''')


def test_four_processes_hundred_asks_each(database):
    store = Store(database)
    assistant = store.create_assistant(name="c", tools=[{"type": "function", "function": {
        "name": "ping", "description": "Return n.", "parameters": {"type": "object", "properties": {
            "n": {"type": "integer"}}, "required": ["n"]}}}])
    shared = store.create_thread(user_id="shared")
    procs = [subprocess.Popen([sys.executable, "-c", ASKER, store.target, assistant.id, shared.id, f"p{i}"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(4)]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err[-2000:] for _, err in outs]
    conn = store.connection()
    statuses = dict(conn.execute("SELECT status, COUNT(*) FROM runs WHERE thread_id <> ? GROUP BY status",
                                 (shared.id,)).fetchall())
    assert statuses == {"completed": 400}
    answers = conn.execute("SELECT run_id, COUNT(*) FROM messages WHERE role = 'assistant' GROUP BY run_id "
                           "HAVING COUNT(*) <> 1").fetchall()
    assert answers == [] and conn.execute("SELECT COUNT(*) FROM messages WHERE role = 'assistant'").fetchone()[0] == 400
    # the shared thread: never two active runs; every attempt either ran or was refused
    shared_runs = store.list_runs(shared.id, limit=100)
    refused = sum(int(out.strip()) for out, _ in outs)
    assert len(shared_runs) + refused == 40 and {r.status for r in shared_runs} <= {"completed"}
    store.close()
