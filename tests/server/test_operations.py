"""`qlwork serve` as an operator runs it: real server subprocesses on one QLWORK_HOME, driven with the
openai SDK, killed with SIGKILL mid-load, stopped with SIGTERM, two servers on one store. Every run
acknowledged with 2xx ends terminal (or completes), runs execute exactly once, threads never stay
blocked (no 409 afterwards)."""

from __future__ import annotations

import os
import signal
import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import openai
import pytest

from served import Served

from qlwork.assistant.store import Store
from qlwork.server.keys import KeyStore

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")
QUESTION = "Review my portfolio"


@pytest.fixture()
def home(tmp_path):
    return tmp_path


def _key(home: Path, user: str) -> str:
    store = Store(home / "qlwork.db")
    try:
        return KeyStore(store).create(user)[1]
    finally:
        store.close()


def _rows(home: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(home / "qlwork.db", timeout=30) as conn:
        return conn.execute(sql, params).fetchall()


def _load(client: openai.OpenAI, assistant_id: str, acked: list, stop: threading.Event, limit: int,
          errors: list | None = None, question: str = QUESTION) -> None:
    """Create thread-and-runs until ``stop``, ``limit`` or an error; record each run acknowledged
    with 2xx (and the error in ``errors``)."""
    errors = errors if errors is not None else []
    for _ in range(limit):  # bounded
        if stop.is_set():
            return
        try:
            run = client.beta.threads.create_and_run(
                assistant_id=assistant_id, thread={"metadata": {"portfolio_id": "sample:diversified"},
                                                   "messages": [{"role": "user", "content": question}]})
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            errors.append(exc)
            return
        acked.append((run.thread_id, run.id))


def _wait_terminal(home: Path, run_ids: list[str], seconds: float = 60) -> dict[str, str]:
    deadline = time.monotonic() + seconds
    while True:
        marks = ",".join("?" * len(run_ids))
        statuses = dict(_rows(home, f"SELECT id, status FROM runs WHERE id IN ({marks})", *run_ids))
        if all(s not in ACTIVE for s in statuses.values()) or time.monotonic() > deadline:
            return statuses
        time.sleep(0.1)


def _thread_usable(client: openai.OpenAI, assistant_id: str, thread_id: str) -> str:
    client.beta.threads.messages.create(thread_id, role="user", content="Signals for TCS")  # no 409
    return client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id,
                                                    poll_interval_ms=50).status


def test_kill_9_mid_load_then_restart_loses_no_acknowledged_run(home):
    key = _key(home, "ops")
    server = Served(home, "--threads", "1")
    client = server.client(key)
    assistant = client.beta.assistants.create(model="gpt-4o", name="ops")
    acked: list[tuple[str, str]] = []
    stop = threading.Event()
    loaders = [threading.Thread(target=_load, args=(server.client(key), assistant.id, acked, stop, 40))
               for _ in range(6)]
    for t in loaders:
        t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 24 and time.monotonic() < deadline:
        time.sleep(0.02)
    server.stop(signal.SIGKILL)  # mid-load: runs queued and one in progress
    stop.set()
    for t in loaders:
        t.join(30)
    run_ids = [r for _, r in acked]
    assert len(run_ids) >= 24
    left = dict(_rows(home, f"SELECT id, status FROM runs WHERE id IN ({','.join('?' * len(run_ids))})", *run_ids))
    assert len(left) == len(run_ids)  # every acknowledged run was stored
    left_active = {r: s for r, s in left.items() if s in ACTIVE}
    assert left_active, "the kill came too late to leave runs behind"

    server = Served(home, "--threads", "2")  # start-up recovery, no manual command
    try:
        statuses = _wait_terminal(home, run_ids)
        assert all(s not in ACTIVE for s in statuses.values()), Counter(statuses.values())
        for run_id, before in left_active.items():
            if before == "queued":
                assert statuses[run_id] == "completed", (run_id, statuses[run_id])
            elif statuses[run_id] == "failed":
                (code, message), = _rows(home, "SELECT json_extract(last_error, '$.code'), "
                                         "json_extract(last_error, '$.message') FROM runs WHERE id = ?", run_id)
                assert code == "server_error" and "the server stopped during this run" in message
        assert set(statuses.values()) <= {"completed", "failed"}
        # open steps closed: no ended run keeps an in_progress step (a run the new server is still executing,
        # e.g. one queued when the kill cut its 2xx off, may)
        assert not _rows(home, "SELECT s.id FROM run_steps s JOIN runs r ON r.id = s.run_id WHERE "
                               "s.status = 'in_progress' AND r.status NOT IN ('queued', 'in_progress', "
                               "'requires_action', 'cancelling')")
        client = server.client(key)
        failed = [t for t, r in acked if statuses[r] == "failed"]
        for thread_id in (failed + [t for t, _ in acked])[:8]:  # blocked threads first
            assert _thread_usable(client, assistant.id, thread_id) == "completed"
        # the failed run is visible to its client with the reason
        if failed:
            run = client.beta.threads.runs.list(failed[0]).data[-1]
            assert run.status == "failed" and run.last_error.code == "server_error"
    finally:
        assert server.stop() == 0


SLOW_ANSWER = {"analysis_type": "portfolio_health", "overall_score": 6.0, "risk_level": "moderate",
               "recommendations": [{"action": "hold", "symbol": "TCS", "reason": "Steady",
                                    "confidence": 0.5, "timeframe": "1 month"}],
               "insights": ["Balanced"], "risk_metrics": {}}


def test_sigterm_finishes_in_flight_runs_and_leaves_queued_ones_for_the_next_start(home, fm, monkeypatch):
    """A run in flight takes a second (a slow model), so the stop certainly has one to wait for: new
    runs get 503 meanwhile, it completes, the queued ones wait for the next start."""
    from qlwork.assistant.preferences import AIPreferences, save_preferences

    def slow(body, path):
        time.sleep(1.0)
        return fm.text(SLOW_ANSWER)

    monkeypatch.setenv("QLWORK_HOME", str(home))
    monkeypatch.setenv("QLWORK_TEST_KEY", "sk-test-ops-0123456789abcdef")
    with fm.FakeModel(policy=slow) as model:
        save_preferences("ops", AIPreferences(preferred_ai_provider="openai-chat", base_url=model.base_url,
                                              model="fake-model", api_key_env="QLWORK_TEST_KEY", stream=False,
                                              max_retries=0, timeout=10))
        key = _key(home, "ops")
        server = Served(home, "--threads", "1", "--grace-seconds", "20")
        client = server.client(key)
        assistant = client.beta.assistants.create(model="fake-model", name="ops")
        acked: list[tuple[str, str]] = []
        _load(client, assistant.id, acked, threading.Event(), 4)
        assert len(acked) == 4
        deadline = time.monotonic() + 10
        while not _rows(home, "SELECT id FROM runs WHERE status = 'in_progress'") and time.monotonic() < deadline:
            time.sleep(0.02)
        server.proc.send_signal(signal.SIGTERM)
        refused = None
        for _ in range(100):  # bounded: new runs are refused while the in-flight run finishes
            try:
                response = httpx.post(f"{server.base}/v1/threads/runs", headers={"authorization": f"Bearer {key}"},
                                      json={"assistant_id": assistant.id}, timeout=5)
            except httpx.TransportError:
                break
            if response.status_code == 503:
                refused = response
                break
            time.sleep(0.01)
        assert server.stop(timeout=40) == 0  # exit status 0
        assert refused is not None, "no 503 while draining"
        assert int(refused.headers["retry-after"]) > 0
        assert refused.json()["error"]["code"] == "server_shutting_down"
        run_ids = [r for _, r in acked]
        statuses = dict(_rows(home, f"SELECT id, status FROM runs WHERE id IN ({','.join('?' * 4)})", *run_ids))
        counts = Counter(statuses.values())
        assert set(counts) <= {"completed", "queued"}, counts  # nothing cancelled, failed or cut short
        assert counts["completed"] >= 1 and counts["queued"] >= 1, counts  # finished / left for the next start

        server = Served(home, "--threads", "2")
        try:
            statuses = _wait_terminal(home, run_ids)
            assert set(statuses.values()) == {"completed"}, Counter(statuses.values())
        finally:
            assert server.stop() == 0


def test_two_servers_on_one_store_execute_each_run_once_and_take_over_a_dead_one(home):
    key = _key(home, "ops")
    first = Served(home, "--threads", "2", "--lease-seconds", "3")
    second = Served(home, "--threads", "2", "--lease-seconds", "3")
    try:
        assistant = first.client(key).beta.assistants.create(model="gpt-4o", name="ops")
        acked: list[tuple[str, str]] = []
        stop = threading.Event()
        errors: list = []
        loaders = [threading.Thread(target=_load, args=(server.client(key), assistant.id, acked, stop, 18, errors,
                                                        "Signals for TCS"))
                   for server in (first, second) for _ in range(4)]
        for t in loaders:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 40 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.stop(signal.SIGKILL)  # its queued runs are taken over by the second server
        for t in loaders:
            t.join(60)
        run_ids = [r for _, r in acked]
        assert len(run_ids) >= 72, errors
        statuses = _wait_terminal(home, run_ids)
        counts = Counter(statuses.values())
        assert set(counts) <= {"completed", "failed"} and counts["completed"] >= len(run_ids) - 4, counts
        # exactly once: one answer and one message_creation step per completed run, and the same
        # number of tool-call steps as a single execution makes
        marks = ",".join("?" * len(run_ids))
        creations = dict(_rows(home, f"SELECT run_id, COUNT(*) FROM run_steps WHERE type = 'message_creation' "
                                     f"AND run_id IN ({marks}) GROUP BY run_id", *run_ids))
        answers = dict(_rows(home, f"SELECT run_id, COUNT(*) FROM messages WHERE role = 'assistant' "
                                   f"AND run_id IN ({marks}) GROUP BY run_id", *run_ids))
        tool_steps = dict(_rows(home, f"SELECT run_id, COUNT(*) FROM run_steps WHERE type = 'tool_calls' "
                                      f"AND run_id IN ({marks}) GROUP BY run_id", *run_ids))
        completed = [r for r, s in statuses.items() if s == "completed"]
        assert all(creations.get(r) == 1 and answers.get(r) == 1 for r in completed)
        assert len({tool_steps.get(r) for r in completed}) == 1, Counter(tool_steps.get(r) for r in completed)
        owners = {o for (o,) in _rows(home, f"SELECT DISTINCT owner_pid FROM runs WHERE id IN ({marks})", *run_ids)}
        assert {first.proc.pid, second.proc.pid} <= owners  # both servers executed runs
        assert httpx.get(f"{second.base}/ready").json()["status"] == "ready"
    finally:
        first.stop(signal.SIGKILL)
        assert second.stop() == 0


def _children(pid: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


def test_workers_processes_replace_a_killed_one_and_stop_with_status_0(home):
    key = _key(home, "ops")
    server = Served(home, "--workers", "2", "--threads", "2")
    try:
        children = _children(server.proc.pid)
        assert len(children) == 2
        os.kill(children[0], signal.SIGKILL)
        deadline = time.monotonic() + 30
        while (now := _children(server.proc.pid)) == children[1:] or len(now) < 2:  # replaced
            assert time.monotonic() < deadline, now
            time.sleep(0.1)
        client = server.client(key)
        assistant = client.beta.assistants.create(model="gpt-4o", name="ops")
        runs = [client.beta.threads.create_and_run_poll(
            assistant_id=assistant.id, poll_interval_ms=50,
            thread={"messages": [{"role": "user", "content": "Signals for TCS"}]}) for _ in range(6)]
        assert {r.status for r in runs} == {"completed"}
        assert httpx.get(f"{server.base}/ready").status_code == 200
    finally:
        assert server.stop() == 0
    assert not any(Path(f"/proc/{c}").exists() for c in children)
