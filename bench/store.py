"""Runs per second on SQLite and on PostgreSQL, side by side.

Each run: ScriptedBackend-style trivial tool call, then an answer, through the real Runner and store
(thread, message, run, two steps, answer). 4 threads x RUNS runs at once on one store, so the
PostgreSQL figure includes its write lock and round trips. PostgreSQL is ``QLWORK_BENCH_DATABASE_URL``
if set (an empty database), else a throwaway cluster from the Debian binaries (tests/servers/pg_cluster.py).
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
import time
from pathlib import Path

from qlwork.assistant.runner import Runner
from qlwork.assistant.store import Store
from qlwork.tools.registry import Registry, tool

from .runner import _TimedBackend  # the scripted model: one tool call, then the answer

THREADS, RUNS = 4, 25


def _rate(store: Store) -> float:
    registry = Registry()

    @tool(registry=registry)
    def ping(n: int) -> dict:
        """Return n."""
        return {"n": n, "symbol": "TCS", "overall_score": 7.0, "confidence": 0.6, "beta": 0.9}

    assistant = store.create_assistant(name="bench", tools=[{"type": "function",
                                                             "function": registry.get("ping").function_schema()}])
    errors: list[BaseException] = []

    def work() -> None:
        runner = Runner(store, registry, _TimedBackend())
        try:
            for _ in range(RUNS):
                thread = store.create_thread(user_id="bench")
                store.add_message(thread.id, "user", "ping")
                runner.create_and_run(thread.id, assistant.id)
        except BaseException as exc:  # noqa: BLE001  (re-raised below)
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(THREADS)]
    start = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(300)
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return THREADS * RUNS / elapsed


def run() -> list[str]:
    lines = [f"== store == runs/s, {THREADS} threads x {RUNS} runs (runner + store, scripted model)"]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")
        lines.append(f"sqlite      {_rate(store):7.1f} runs/s")
        store.close()
    url, cluster = os.environ.get("QLWORK_BENCH_DATABASE_URL"), None
    if not url:
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "servers"))
        try:
            import pg_cluster
            cluster = pg_cluster.Cluster()
            url = cluster.new_database()
        except Exception as exc:  # noqa: BLE001  (no PostgreSQL here: say why)
            lines.append(f"postgresql  skipped: {exc}")
            return lines
    try:
        store = Store(url)
        lines.append(f"postgresql  {_rate(store):7.1f} runs/s")
        store.close()
    finally:
        if cluster is not None:
            cluster.stop()
    return lines
