"""What a server does with runs others left behind (start-up recovery and takeover by lease), the
server-side expiry of runs waiting for tool outputs, and the bound on the runner cache (an API user
sending a new ``model`` on every run)."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time

import pytest

from qlwork.assistant.store.leases import Leases, holder_gone
from qlwork.assistant.store import Store

ANSWER = {"analysis_type": "portfolio_health", "overall_score": 6.0, "risk_level": "moderate",
          "recommendations": [{"action": "hold", "symbol": "TCS", "reason": "Steady",
                               "confidence": 0.5, "timeframe": "1 month"}],
          "insights": ["Balanced"], "risk_metrics": {}}
ORDER_BOOK = {"type": "function", "function": {
    "name": "get_order_book", "description": "Best bid/ask from the platform's own order book.",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}}
DEAD = f"{socket.gethostname()}/999999999/1/deadbeef"  # a pid no process can have on this host
ELSEWHERE = "other-host/1234/1/cafe"


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path))
    return tmp_path


def _status(home, run_id: str) -> tuple[str, dict | None]:
    with sqlite3.connect(home / "qlwork.db", timeout=30) as conn:
        status, error = conn.execute("SELECT status, last_error FROM runs WHERE id = ?", (run_id,)).fetchone()
    return status, json.loads(error) if error else None


def _wait(home, run_id: str, statuses: tuple, seconds: float = 20) -> str:
    deadline = time.monotonic() + seconds
    while (status := _status(home, run_id)[0]) not in statuses and time.monotonic() < deadline:
        time.sleep(0.05)
    return status


def _lease(store: Store, run_id: str, owner: str | None, expires_ms: int | None) -> None:
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET lease_owner = ?, lease_expires = ? WHERE id = ?", (owner, expires_ms, run_id))


def test_holder_gone():
    future = int(time.time() * 1000) + 60_000
    assert holder_gone(DEAD, future)  # same host, no such process: at once
    assert not holder_gone(ELSEWHERE, future)  # another host: only by expiry
    assert holder_gone(ELSEWHERE, int(time.time() * 1000) - 1)
    assert not holder_gone(None, None)


def test_start_up_recovery_runs_queued_fails_in_progress_cancels_cancelling(home, live_server):
    from qlwork.assistant.defaults import ensure_default_assistant

    store = Store(home / "qlwork.db")
    assistant = ensure_default_assistant(store)
    future = int(time.time() * 1000) + 600_000

    def run_on_new_thread(status: str):
        thread = store.create_thread({"portfolio_id": "sample:diversified"}, user_id="ops")
        store.add_message(thread.id, "user", "Signals for TCS")
        run = store.create_run(thread.id, assistant.id, model="offline-rules", backend="offline", max_turns=10)
        for step in {"queued": [], "in_progress": ["in_progress"], "cancelling": ["in_progress", "cancelling"]}[status]:
            store.transition(run.id, step)
        return thread.id, run.id

    queued = run_on_new_thread("queued")
    _lease(store, queued[1], DEAD, future)
    working = run_on_new_thread("in_progress")
    _lease(store, working[1], ELSEWHERE, int(time.time() * 1000) - 5_000)  # expired on another host
    step = store.add_step(working[1], "tool_calls", {"type": "tool_calls", "tool_calls": [
        {"id": "call_1", "type": "function", "function": {"name": "analyze_portfolio", "arguments": "{}"}}]})
    cancelling = run_on_new_thread("cancelling")
    _lease(store, cancelling[1], DEAD, future)
    legacy = run_on_new_thread("in_progress")  # no lease: an older server's run whose process died
    with store.transaction() as conn:
        conn.execute("UPDATE runs SET owner_pid = 999999999 WHERE id = ?", (legacy[1],))
    alive = run_on_new_thread("in_progress")  # held by a live server elsewhere: left alone
    _lease(store, alive[1], ELSEWHERE, future)
    store.close()

    server = live_server(home, workers=2)
    assert _wait(home, queued[1], ("completed",)) == "completed"
    for run_id in (working[1], legacy[1]):
        status, error = _status(home, run_id)
        assert status == "failed" and error["code"] == "server_error"
        assert "the server stopped during this run" in error["message"]
    assert _status(home, cancelling[1])[0] == "cancelled"
    assert _status(home, alive[1])[0] == "in_progress"
    closed = server.store.get_step(step.id)
    assert closed.status == "failed" and json.loads(closed.tool_calls[0].function.output)["error"]
    for thread_id, _ in (queued, working, cancelling, legacy):  # usable at once: no run_active (409)
        server.store.create_run(thread_id, assistant.id, model="offline-rules", backend="offline", max_turns=1)
    # the failed run reads as such through the API (the SDK's view)
    key = server.key("ops")  # the thread's user_id is "ops": that is what makes it theirs
    run = server.client(key=key).beta.threads.runs.retrieve(working[1], thread_id=working[0])
    assert run.status == "failed" and run.last_error.code == "server_error"


def test_a_lease_is_taken_by_exactly_one_server(home):
    from qlwork.assistant.defaults import ensure_default_assistant

    store = Store(home / "qlwork.db")
    assistant = ensure_default_assistant(store)
    thread = store.create_thread({}, user_id="ops")
    run = store.create_run(thread.id, assistant.id, model="offline-rules", backend="offline", max_turns=1)
    _lease(store, run.id, DEAD, 0)
    contenders = [Leases(Store(home / "qlwork.db"), seconds=5) for _ in range(4)]
    taken = [c.sweep()[0] for c in contenders]
    assert sum(len(t) for t in taken) == 1
    winner = next(c for c, t in zip(contenders, taken) if t)
    assert all(c.holds(run.id) is (c is winner) for c in contenders)
    assert winner.release_queued() == 1 and not any(c.holds(run.id) for c in contenders if c is not winner)


def _fake_user(home, fm, monkeypatch, model) -> str:
    from qlwork.assistant.preferences import AIPreferences, save_preferences

    monkeypatch.setenv("QLWORK_TEST_KEY", "sk-test-ops-0123456789abcdef")
    save_preferences("carol", AIPreferences(preferred_ai_provider="openai-chat", base_url=model.base_url,
                                            model="fake-model", api_key_env="QLWORK_TEST_KEY", stream=False,
                                            max_retries=0, timeout=10))
    return "carol"


def test_requires_action_run_expires_on_the_server_unread(home, fm, monkeypatch, live_server):
    with fm.FakeModel() as model:
        user = _fake_user(home, fm, monkeypatch, model)
        server = live_server(home, workers=2, action_timeout=1, lease_seconds=1.5)
        client = server.client(user, max_retries=0)
        assistant = client.beta.assistants.create(model="fake-model", name="platform", tools=[ORDER_BOOK])
        thread = client.beta.threads.create(messages=[{"role": "user", "content": "TCS book?"}])
        model.add(fm.calls(("get_order_book", {"symbol": "TCS"}, "call_book_1")))
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                       poll_interval_ms=50)
        assert run.status == "requires_action", run.last_error
        # nobody reads the thread: the server's heartbeat expires the run
        assert _wait(home, run.id, ("expired",), seconds=10) == "expired"
        run = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
        assert run.status == "expired" and "no tool outputs" in run.last_error.message
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
        assert all(s.status != "in_progress" for s in steps)
        model.add(fm.text(ANSWER))
        again = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                         poll_interval_ms=50)  # no 409
        assert again.status == "completed", again.last_error


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_new_model_on_every_run_does_not_grow_the_runner_cache(home, fm, monkeypatch, live_server):
    """The attack of issue 13 item 8: each run names another ``model``; runners (and their HTTP
    clients) beyond the bound are closed."""
    with fm.FakeModel(policy=lambda body, path: fm.text(ANSWER)) as model:
        user = _fake_user(home, fm, monkeypatch, model)
        server = live_server(home, workers=2, max_runners=4)
        client = server.client(user, max_retries=0)
        assistant = client.beta.assistants.create(model="fake-model", name="platform")

        def run_with(name: str) -> None:
            run = client.beta.threads.create_and_run_poll(
                assistant_id=assistant.id, model=name, poll_interval_ms=20,
                thread={"messages": [{"role": "user", "content": "Review my portfolio"}]})
            assert run.status == "completed" and run.model == name, run.last_error

        for i in range(6):  # warm up: imports, connection pools, the cache filled to its bound
            run_with(f"warm-{i}")
        before = _fds()
        for i in range(40):
            run_with(f"attacker-model-{i}")
        assert {b["model"] for b in model.bodies("/chat/completions")} >= {f"attacker-model-{i}" for i in range(40)}
        time.sleep(0.3)  # let the fake model's side of closed connections finish closing
        assert _fds() - before < 16, f"file descriptors grew from {before} to {_fds()}"
        cache = server.app.state.qlwork.engine._runners
        assert len(cache) <= 4


def test_serve_refuses_settings_that_cannot_work(home, capsys):
    from qlwork.cli import main

    assert main(["serve", "--lease-seconds", "0", "--port", "1"]) == 2
    assert "--lease-seconds must be at least 1" in capsys.readouterr().err
    assert main(["serve", "--threads", "0", "--port", "1"]) == 2
