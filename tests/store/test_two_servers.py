"""Two `qlwork serve` processes with different QLWORK_HOMEs and one PostgreSQL database (two hosts,
as far as the store is concerned): runs created on either execute exactly once, and one server
killed with SIGKILL mid-load leaves nothing active -- the other takes its runs over."""

from __future__ import annotations

import signal
import threading
import time
from collections import Counter
from pathlib import Path

import openai
from served import Served

from qlwork.assistant.store import Store
from qlwork.server.keys import KeyStore

ACTIVE = ("queued", "in_progress", "requires_action", "cancelling")


def Server(home: Path, url: str) -> Served:
    """A server on its own QLWORK_HOME (one "host") with the shared database."""
    return Served(home, "--threads", "2", "--lease-seconds", "3", env={"QLWORK_DATABASE_URL": url})


def _load(client, assistant_id, acked, limit, errors):
    for _ in range(limit):  # bounded
        try:
            run = client.beta.threads.create_and_run(
                assistant_id=assistant_id, thread={"metadata": {"portfolio_id": "sample:diversified"},
                                                   "messages": [{"role": "user", "content": "Review my portfolio"}]})
        except (openai.APIConnectionError, openai.APIStatusError) as exc:
            errors.append(exc)
            return
        acked.append(run.id)


def test_two_homes_one_database_each_run_once_and_a_killed_server_taken_over(pg_cluster, tmp_path):
    url = pg_cluster.new_database()
    store = Store(url)
    key = KeyStore(store).create("ops")[1]
    first, second = Server(tmp_path / "host-a", url), Server(tmp_path / "host-b", url)
    try:
        assistant = first.client(key).beta.assistants.create(model="gpt-4o", name="ops")
        acked: list[str] = []
        errors: list = []
        loaders = [threading.Thread(target=_load, args=(server.client(key), assistant.id, acked, 15, errors))
                   for server in (first, second) for _ in range(3)]
        for t in loaders:
            t.start()
        deadline = time.monotonic() + 30
        while len(acked) < 30 and time.monotonic() < deadline:
            time.sleep(0.02)
        first.stop(signal.SIGKILL)
        for t in loaders:
            t.join(60)
        assert len(acked) >= 45, errors  # the second server's clients all got through
        marks = ",".join("?" * len(acked))
        deadline = time.monotonic() + 60
        while True:
            statuses = dict(store.connection().execute(f"SELECT id, status FROM runs WHERE id IN ({marks})",
                                                       acked).fetchall())
            if all(s not in ACTIVE for s in statuses.values()) or time.monotonic() > deadline:
                break
            time.sleep(0.1)
        counts = Counter(statuses.values())
        assert set(counts) <= {"completed", "failed"} and counts["completed"] >= len(acked) - 3, counts
        per_run = dict(store.connection().execute(
            f"SELECT run_id, COUNT(*) FROM messages WHERE role = 'assistant' AND run_id IN ({marks}) GROUP BY run_id",
            acked).fetchall())
        completed = [r for r, s in statuses.items() if s == "completed"]
        assert all(per_run.get(r) == 1 for r in completed)  # exactly once
        owners = {o for (o,) in store.connection().execute(
            f"SELECT DISTINCT owner_pid FROM runs WHERE id IN ({marks})", acked).fetchall()}
        assert {first.proc.pid, second.proc.pid} <= owners  # both servers executed runs
        # no server wrote a SQLite store: the homes hold no qlwork.db
        assert not (tmp_path / "host-a" / "qlwork.db").exists() and not (tmp_path / "host-b" / "qlwork.db").exists()
    finally:
        first.stop(signal.SIGKILL)
        assert second.stop() == 0
        store.close()
