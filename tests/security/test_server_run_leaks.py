"""Issue 32 item 4: model-backed runs leak nothing (the attack: an API user exhausting the server).

Every model-backed run used to leave file descriptors open (``qlwork.db`` and ``qlwork.db-wal``): the
store kept the SQLite connection of every thread that ever touched it, and the server's request threads
come and go (the ASGI thread pool grows under concurrent requests and retires threads idle for 10 s).
After 300 runs a real ``qlwork serve`` held ~600 more descriptors and ~280 MB more memory. Here one user
makes 300 runs on a fake model (one tool call, then the answer) from four concurrent clients in bursts with idle gaps between them, and the server's
descriptors and resident memory, measured after the first burst, must stay flat. The mechanism itself
is checked directly too: 300 short-lived threads reading one store.
"""

from __future__ import annotations

import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import fake_model as fm

ANSWER = {"analysis_type": "portfolio_health", "overall_score": 5.0, "risk_level": "moderate",
          "recommendations": [], "insights": ["done"], "risk_metrics": {}}
BURSTS, PER_BURST, CLIENTS = 3, 100, 4
IDLE = 11.0  # seconds: longer than the ASGI thread pool keeps an idle thread (anyio: 10 s)


def _policy(body: dict, path: str) -> fm.Reply:
    if any(m.get("role") == "tool" for m in body.get("messages", [])):
        return fm.text(ANSWER)
    return fm.calls(("analyze_portfolio", {"portfolio": "sample:diversified"}, "call_1"))


def _usage(pid: int) -> tuple[int, int, int]:
    """(open fds, of which on qlwork.db*, resident kB) of a process."""
    fds = [os.readlink(f"/proc/{pid}/fd/{n}") for n in os.listdir(f"/proc/{pid}/fd")]
    rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
               if line.startswith("VmRSS:"))
    return len(fds), sum("qlwork.db" in f for f in fds), rss


def _db_fds(path: Path) -> int:
    return sum(str(path) in os.readlink(f"/proc/self/fd/{n}") for n in os.listdir("/proc/self/fd")
               if os.path.exists(f"/proc/self/fd/{n}"))


def test_short_lived_threads_do_not_keep_store_connections(tmp_path):
    from qlwork.assistant.store import Store

    store = Store(tmp_path / "qlwork.db")
    try:
        store.create_thread({}, user_id="u")
        before = _db_fds(tmp_path / "qlwork.db")
        for _ in range(300):
            t = threading.Thread(target=lambda: store.connection().execute("SELECT COUNT(*) FROM threads").fetchone())
            t.start()
            t.join()
        store.connection().execute("SELECT 1")
        assert _db_fds(tmp_path / "qlwork.db") - before <= 4  # was 2 per thread: 600
    finally:
        store.close()


def test_model_backed_runs_keep_fds_and_memory_flat(start_server):
    with fm.FakeModel(policy=_policy) as model:
        served = start_server()
        client = served.model_user("flood", model)
        assistant = client.beta.assistants.create(model="fake-model")

        def one(i: int) -> str:
            run = client.beta.threads.create_and_run_poll(
                assistant_id=assistant.id, thread={"messages": [{"role": "user", "content": "Review my portfolio."}]},
                poll_interval_ms=20, timeout=60)
            return run.status

        samples = []
        with ThreadPoolExecutor(CLIENTS) as pool:
            for burst in range(BURSTS):
                statuses = list(pool.map(one, range(burst * PER_BURST, (burst + 1) * PER_BURST)))
                assert statuses == ["completed"] * PER_BURST, statuses
                time.sleep(IDLE)  # let the server's idle request threads retire (not a speed assertion)
                samples.append(_usage(served.proc.pid))
    (fds0, db0, rss0), (fds1, db1, rss1) = samples[0], samples[-1]
    assert db1 - db0 <= 4, samples  # was ~2 per run
    assert fds1 - fds0 <= 10, samples
    assert rss1 - rss0 <= 64 * 1024, samples  # kB
