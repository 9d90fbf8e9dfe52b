"""Many clients at once: nothing lost; one active run per thread (409 for the other)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import openai

CLIENTS, RUNS_EACH = 8, 25


def test_eight_clients_many_runs(live):
    users = [f"conc{i}" for i in range(CLIENTS)]
    clients = {u: live.client(u, max_retries=3) for u in users}
    assistants = {u: clients[u].beta.assistants.create(model="gpt-4o", name=u).id for u in users}

    def work(user: str) -> list[tuple[str, str, int]]:
        client, done = clients[user], []
        for i in range(RUNS_EACH):
            thread = client.beta.threads.create(metadata={"user_id": f"{user}-{i}", "portfolio_id": "sample:diversified"})
            question = ["Review my portfolio", "Signals for TCS", "What is my risk?"][i % 3]
            client.beta.threads.messages.create(thread.id, role="user", content=question)
            run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistants[user],
                                                           poll_interval_ms=20)
            messages = client.beta.threads.messages.list(thread.id)
            done.append((thread.id, run.status, len(messages.data)))
        return done

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = dict(zip(users, pool.map(work, users)))
    for user, done in results.items():
        assert len(done) == RUNS_EACH
        assert all(status == "completed" and n == 2 for _, status, n in done), done
        for thread_id, _, _ in done[:3]:  # stored, owned and readable afterwards
            runs = clients[user].beta.threads.runs.list(thread_id=thread_id).data
            assert len(runs) == 1 and runs[0].status == "completed"
    store = live.store
    total = store._conn().execute("SELECT COUNT(*) FROM runs r JOIN threads t ON t.id = r.thread_id "
                                  "WHERE t.user_id LIKE 'conc%' AND r.status = 'completed'").fetchone()[0]
    assert total == CLIENTS * RUNS_EACH


def test_two_runs_on_one_thread_at_once(live):
    client = live.client("racer", max_retries=0)
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"})
    client.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    barrier = threading.Barrier(2)

    def start(_: int):
        barrier.wait()
        try:
            return client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
        except openai.ConflictError as exc:
            return exc

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(start, range(2)))
    runs = [o for o in outcomes if not isinstance(o, Exception)]
    conflicts = [o for o in outcomes if isinstance(o, openai.ConflictError)]
    assert len(runs) == 1 and len(conflicts) == 1, outcomes
    assert conflicts[0].status_code == 409 and conflicts[0].code == "run_active"
    final = client.beta.threads.runs.poll(runs[0].id, thread_id=thread.id)
    assert final.status == "completed"
    assert [r.id for r in client.beta.threads.runs.list(thread_id=thread.id).data] == [runs[0].id]
