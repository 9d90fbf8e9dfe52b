"""`qlwork serve` under load: 50 concurrent openai SDK clients (offline engine), completed runs per
second and /health latency measured at the same time (goals: >= 60 runs/s, /health p99 <= 50 ms on
2 cores).

Each client loops ``threads.create_and_run_poll`` (a new thread with one message and a run, polled
with the SDK's poll helper until it rests) for a fixed time. The clients run in their own process
(asyncio, ``AsyncOpenAI``) so their CPU use is not charged to the /health probe, which asks every
50 ms from this process. Server configurations: one process (``--workers 1``) and two processes
sharing the port (``--workers 2``). The machine is shared, so the load average is printed too.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import statistics
import tempfile
import threading
import time
from pathlib import Path

CLIENTS = 50
SECONDS = 20.0
GOAL_RPS = 60.0
GOAL_HEALTH_MS = 50.0
BEFORE = "before issue 15 (one process, 4 threads, same load): 15.9 completed runs/s, /health p50 412 ms, p99 1121 ms"
CONFIGS = [("--workers 1 --threads 4", ("--workers", "1", "--threads", "4")),
           ("--workers 2 --threads 3", ("--workers", "2", "--threads", "3"))]


def _load(base_url: str, key: str, clients: int, seconds: float, out) -> None:
    """Child process: ``clients`` SDK clients looping create_and_run_poll for ``seconds``."""
    import openai

    async def main() -> tuple[int, int, float]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=2, timeout=60)
        assistant = await client.beta.assistants.create(model="gpt-4o", name="load")
        done = failed = 0
        start = time.perf_counter()
        deadline = start + seconds

        async def one() -> None:
            nonlocal done, failed
            while time.perf_counter() < deadline:
                try:
                    run = await client.beta.threads.create_and_run_poll(
                        assistant_id=assistant.id, poll_interval_ms=25,
                        thread={"metadata": {"portfolio_id": "sample:diversified"},
                                "messages": [{"role": "user", "content": "Signals for TCS"}]})
                    done, failed = (done + 1, failed) if run.status == "completed" else (done, failed + 1)
                except openai.APIError:
                    failed += 1

        await asyncio.gather(*(one() for _ in range(clients)))
        elapsed = time.perf_counter() - start
        await client.close()
        return done, failed, elapsed

    out.put(asyncio.run(main()))


def _probe(base: str, stop: threading.Event, samples: list[float]) -> None:
    import httpx

    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            start = time.perf_counter()
            http.get(f"{base}/health").raise_for_status()
            samples.append((time.perf_counter() - start) * 1000)
            stop.wait(0.05)


def measure(args: tuple[str, ...], pythonpath: str | None = None, clients: int = CLIENTS,
            seconds: float = SECONDS) -> dict:
    """Start a server with ``args`` on a fresh home and load it; returns the figures."""
    from qlwork.assistant.store import Store
    from qlwork.server.keys import KeyStore

    from .server import _pct, _start_server

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        store = Store(home / "qlwork.db")
        key = KeyStore(store).create("load")[1]
        store.close()
        proc, base_url = _start_server(home, *args, pythonpath=pythonpath)
        base = base_url.rsplit("/v1", 1)[0]
        try:
            idle: list[float] = []
            idle_stop = threading.Event()
            threading.Timer(2.0, idle_stop.set).start()
            _probe(base, idle_stop, idle)
            queue = multiprocessing.get_context("spawn").Queue()
            child = multiprocessing.get_context("spawn").Process(target=_load, args=(base_url, key, clients, seconds, queue))
            samples: list[float] = []
            stop = threading.Event()
            prober = threading.Thread(target=_probe, args=(base, stop, samples))
            load_before = os.getloadavg()[0]
            child.start()
            time.sleep(3)  # clients connecting and warming up
            prober.start()
            done, failed, elapsed = queue.get(timeout=seconds + 120)
            stop.set()
            prober.join()
            child.join(30)
        finally:
            proc.terminate()
            proc.wait(60)
    return {"rps": done / elapsed, "done": done, "failed": failed, "idle_p50": statistics.median(idle),
            "p50": statistics.median(samples), "p99": _pct(samples, 0.99), "n": len(samples),
            "load": (load_before, os.getloadavg()[0])}


def run() -> list[str]:
    lines = [f"== server under load ({CLIENTS} SDK clients, {SECONDS:.0f} s, offline engine, {os.cpu_count()} cores) =="]
    for label, args in CONFIGS:
        r = measure(args)
        ok = "ok" if r["rps"] >= GOAL_RPS and r["p99"] <= GOAL_HEALTH_MS else "under goal"
        lines.append(f"{label}: {r['rps']:.1f} completed runs/s ({r['done']} runs, {r['failed']} not completed); "
                     f"/health p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms under load ({r['n']} probes; idle p50 "
                     f"{r['idle_p50']:.1f} ms); load average {r['load'][0]:.1f} -> {r['load'][1]:.1f} "
                     f"(goal >= {GOAL_RPS:.0f} runs/s, p99 <= {GOAL_HEALTH_MS:.0f} ms: {ok})")
    lines.append(BEFORE)
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
