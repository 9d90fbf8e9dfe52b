"""Server round trips vs the Python session API (goal: server overhead <= 10 ms p50).

A round trip: create a thread, add a message, run it with the offline engine until it completes
(``runs.create_and_poll``), list the messages: five HTTP requests. Measured against ``qlwork serve``
in a subprocess (its own interpreter, as deployed) with the real openai SDK (1 and 8 concurrent
clients) and with a lean HTTP client (httpx, same requests and headers) that shows the server's own
share: the SDK spends about a millisecond per request building and parsing objects on the client.
The baseline is the same round trip through :class:`~qlwork.assistant.session.Session` in this
process.
"""

from __future__ import annotations

import gc
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

QUESTION = "Signals for TCS"
ROUNDS_ONE = 40
ROUNDS_EACH_OF_8 = 10
GOAL_MS = 10.0


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _direct(home: Path, rounds: int) -> list[float]:
    from qlwork.assistant.session import Session
    from qlwork.assistant.store import Store

    store = Store(home / "direct.db")
    samples = []
    for i in range(rounds + 3):
        start = time.perf_counter()
        session = Session("bench", store=store, new_thread=True, portfolio="sample:diversified")
        session.ask(QUESTION)
        session.history()
        if i >= 3:
            samples.append((time.perf_counter() - start) * 1000)
    store.close()
    return samples


def _start_server(home: Path, *args: str, pythonpath: str | None = None) -> tuple[subprocess.Popen, str]:
    import httpx

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "QLWORK_HOME": str(home)}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    proc = subprocess.Popen([sys.executable, "-m", "qlwork.cli", "serve", "--port", str(port),
                             *(args or ("--threads", "4"))],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc, f"http://127.0.0.1:{port}/v1"
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("qlwork serve did not start")
        time.sleep(0.1)


def _client_rounds(base_url: str, key: str, rounds: int) -> list[float]:
    import openai

    client = openai.OpenAI(base_url=base_url, api_key=key)
    assistant = client.beta.assistants.create(model="gpt-4o", name="bench")
    samples = []
    for i in range(rounds + 2):
        start = time.perf_counter()
        thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"})
        client.beta.threads.messages.create(thread.id, role="user", content=QUESTION)
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        client.beta.threads.messages.list(thread.id)
        if run.status != "completed":
            raise RuntimeError(f"run {run.id} ended {run.status}")
        if i >= 2:
            samples.append((time.perf_counter() - start) * 1000)
    client.close()
    return samples


def _lean_rounds(base_url: str, key: str, rounds: int) -> list[float]:
    """The same five requests with plain httpx (keep-alive), polling like the SDK's poll helper."""
    import httpx

    headers = {"authorization": f"Bearer {key}", "openai-beta": "assistants=v2"}
    samples = []
    with httpx.Client(base_url=base_url, headers=headers, timeout=30) as http:
        assistant = http.post("/assistants", json={"model": "gpt-4o", "name": "bench"}).json()["id"]
        for i in range(rounds + 2):
            start = time.perf_counter()
            thread = http.post("/threads", json={"metadata": {"portfolio_id": "sample:diversified"}}).json()["id"]
            http.post(f"/threads/{thread}/messages", json={"role": "user", "content": QUESTION}).raise_for_status()
            run = http.post(f"/threads/{thread}/runs", json={"assistant_id": assistant}).json()
            for _ in range(100):  # bounded: each poll waits server-side up to 2 s
                if run["status"] not in ("queued", "in_progress", "cancelling"):
                    break
                run = http.get(f"/threads/{thread}/runs/{run['id']}", headers={"x-stainless-poll-helper": "true"}).json()
            http.get(f"/threads/{thread}/messages").raise_for_status()
            if run["status"] != "completed":
                raise RuntimeError(f"run {run['id']} ended {run['status']}")
            if i >= 2:
                samples.append((time.perf_counter() - start) * 1000)
    return samples


def run() -> list[str]:
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    from qlwork.assistant.store import Store
    from qlwork.server.keys import KeyStore

    lines = ["== server =="]
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        os.environ.setdefault("QLWORK_HOME", str(home))
        direct = _direct(home, ROUNDS_ONE)
        gc.freeze()  # the market data loaded above is long-lived: keep it out of the client's GC passes
        store = Store(home / "qlwork.db")
        keys = [KeyStore(store).create(f"bench{i}")[1] for i in range(8)]
        store.close()
        proc, base_url = _start_server(home)
        try:
            _client_rounds(base_url, keys[0], 3)  # warm the server (market data, imports)
            lean = _lean_rounds(base_url, keys[0], ROUNDS_ONE)
            direct += _direct(home, ROUNDS_ONE)  # baseline taken on both sides of the lean rounds
            lean += _lean_rounds(base_url, keys[0], ROUNDS_ONE)
            start = time.perf_counter()
            one = _client_rounds(base_url, keys[0], ROUNDS_ONE)
            one_rps = len(one) / (time.perf_counter() - start)
            start = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                parts = list(pool.map(lambda k: _client_rounds(base_url, k, ROUNDS_EACH_OF_8), keys))
            eight_rps = sum(len(p) for p in parts) / (time.perf_counter() - start)
            eight = [s for p in parts for s in p]
        finally:
            proc.terminate()
            proc.wait(15)
    base = statistics.median(direct)
    overhead = statistics.median(lean) - base
    sdk_overhead = statistics.median(one) - base
    verdict = "ok" if overhead <= GOAL_MS else "over goal"
    lines += [
        f"session API round trip (direct): p50 {base:.1f} ms, p99 {_pct(direct, 0.99):.1f} ms",
        f"server, 1 client:  {one_rps:.1f} round trips/s (x5 requests), p50 {statistics.median(one):.1f} ms, "
        f"p99 {_pct(one, 0.99):.1f} ms",
        f"server, 8 clients: {eight_rps:.1f} round trips/s (x5 requests), p50 {statistics.median(eight):.1f} ms, "
        f"p99 {_pct(eight, 0.99):.1f} ms",
        f"lean HTTP client:  p50 {statistics.median(lean):.1f} ms, p99 {_pct(lean, 0.99):.1f} ms",
        f"server overhead over the session API (p50, 1 client, lean client): {overhead:.1f} ms per round trip "
        f"of 5 requests (goal <= {GOAL_MS:.0f} ms: {verdict}); with the openai SDK's client-side cost: "
        f"{sdk_overhead:.1f} ms",
    ]
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
