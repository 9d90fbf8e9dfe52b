"""`qlwork serve` under load: 50 concurrent openai SDK clients (offline engine), completed runs per
second and /health latency measured at the same time (goals: >= 60 runs/s, /health p99 <= 50 ms on
2 cores).

Each client loops ``threads.create_and_run_poll`` (a new thread with one message and a run, polled
with the SDK's poll helper until it rests) for a fixed time. The clients run in their own process
(asyncio, ``AsyncOpenAI``) so their CPU use is not charged to the /health probe, which asks every
50 ms from this process. Server configurations: one process (``--workers 1``) and two processes
sharing the port (``--workers 2``). The machine is shared, so the load average is printed too.
The server's CPU seconds per completed run (all its processes, from /proc) are printed as well: the
clients share the cores, so this is the figure that says what the server itself costs.

Soak: ``python -m bench.server_load --soak-seconds 600 [--workers 2 --threads 3] [--clients 50]``
loads one server for that long and samples the resident memory (RSS, /proc) of its processes every
``--sample-seconds`` (10); it prints the first, last and peak RSS and the slope (MB per minute, least
squares) over the whole soak and over its second half, where a leak shows and warm-up does not.
"""

from __future__ import annotations

import argparse
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
BEFORE = ("before issue 15 (code of 6ca5815, one process, 4 threads, this bench, load average 6.5-8.5 from other "
          "jobs): 26.3 and 27.9 completed runs/s, /health p50 8-12 ms, p99 162 and 2015 ms")
CONFIGS = [("--workers 1 --threads 4", ("--workers", "1", "--threads", "4")),
           ("--workers 2 --threads 3", ("--workers", "2", "--threads", "3"))]


def _load(base_url: str, key: str, clients: int, seconds: float, out) -> None:
    """Child process: ``clients`` SDK clients looping create_and_run_poll for ``seconds``."""
    import openai

    async def main() -> tuple[int, int, float, float]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key=key, max_retries=2, timeout=60)
        assistant = await client.beta.assistants.create(model="gpt-4o", name="load")
        done = failed = 0
        start, cpu = time.perf_counter(), time.process_time()
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
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        await client.close()
        return done, failed, elapsed, cpu

    out.put(asyncio.run(main()))


def _probe(base: str, stop: threading.Event, samples: list[float]) -> None:
    import httpx

    with httpx.Client(timeout=10) as http:
        while not stop.is_set():
            start = time.perf_counter()
            http.get(f"{base}/health").raise_for_status()
            samples.append((time.perf_counter() - start) * 1000)
            stop.wait(0.05)


def _tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the worker processes of ``--workers N``), from /proc."""
    pids, i = [pid], 0
    while i < len(pids):
        try:
            for task in os.listdir(f"/proc/{pids[i]}/task"):
                with open(f"/proc/{pids[i]}/task/{task}/children") as f:
                    pids += [int(c) for c in f.read().split()]
        except OSError:  # ended meanwhile
            pass
        i += 1
    return pids


def _rss_mb(pids: list[int]) -> float:
    """Summed resident memory of ``pids`` in MB (VmRSS)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                total += next((int(line.split()[1]) for line in f if line.startswith("VmRSS:")), 0)
        except OSError:
            pass
    return total / 1024


def _cpu_seconds(pids: list[int]) -> float:
    """User + system CPU seconds used so far by ``pids`` (their own threads, not reaped children)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
        except OSError:
            pass
    return total / os.sysconf("SC_CLK_TCK")


def slope_mb_per_min(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute (0 for fewer than 2)."""
    if len(samples) < 2:
        return 0.0
    mean_t = statistics.fmean(t for t, _ in samples)
    mean_m = statistics.fmean(m for _, m in samples)
    spread = sum((t - mean_t) ** 2 for t, _ in samples)
    return 60 * sum((t - mean_t) * (m - mean_m) for t, m in samples) / spread if spread else 0.0


def measure(args: tuple[str, ...], pythonpath: str | None = None, clients: int = CLIENTS,
            seconds: float = SECONDS, sample_seconds: float | None = None) -> dict:
    """Start a server with ``args`` on a fresh home and load it; returns the figures (with
    ``sample_seconds``, also ``rss``: (seconds since the load began, MB) every that often)."""
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
            child = multiprocessing.get_context("spawn").Process(target=_load,
                                                                 args=(base_url, key, clients, seconds, queue))
            samples: list[float] = []
            stop = threading.Event()
            prober = threading.Thread(target=_probe, args=(base, stop, samples))
            load_before = os.getloadavg()[0]
            pids = _tree(proc.pid)
            cpu_before = _cpu_seconds(pids)
            child.start()
            began = time.monotonic()
            rss: list[tuple[float, float]] = []
            if sample_seconds:
                sampler = threading.Thread(target=_sample_rss, args=(proc.pid, began, sample_seconds, stop, rss))
                sampler.start()
            time.sleep(3)  # clients connecting and warming up
            prober.start()
            done, failed, elapsed, client_cpu = queue.get(timeout=seconds + 120)
            cpu = _cpu_seconds(pids) - cpu_before
            stop.set()
            prober.join()
            if sample_seconds:
                sampler.join()
            child.join(30)
        finally:
            proc.terminate()
            proc.wait(60)
    return {"rps": done / elapsed, "done": done, "failed": failed, "idle_p50": statistics.median(idle),
            "p50": statistics.median(samples), "p99": _pct(samples, 0.99), "n": len(samples),
            "load": (load_before, os.getloadavg()[0]), "cpu_ms": 1000 * cpu / max(done, 1),
            "client_cpu_ms": 1000 * client_cpu / max(done, 1), "rss": rss}


def _sample_rss(pid: int, began: float, every: float, stop: threading.Event, out: list) -> None:
    while True:
        out.append((time.monotonic() - began, _rss_mb(_tree(pid))))
        if stop.wait(every):
            return


def soak(args: tuple[str, ...], seconds: float, clients: int = CLIENTS, every: float = 10.0) -> list[str]:
    """Load one server for ``seconds`` and report its RSS over time (see the module docstring)."""
    r = measure(args, clients=clients, seconds=seconds, sample_seconds=every)
    rss = r["rss"]
    mbs = [m for _, m in rss]
    half = [s for s in rss if s[0] >= rss[-1][0] / 2]
    return [f"== soak: {' '.join(args)}, {clients} SDK clients, {seconds:.0f} s, RSS of the server processes "
            f"every {every:.0f} s ({len(rss)} samples) ==",
            f"{r['rps']:.1f} completed runs/s ({r['done']} runs, {r['failed']} not completed); /health p99 "
            f"{r['p99']:.1f} ms; load average {r['load'][0]:.1f} -> {r['load'][1]:.1f}",
            f"RSS first {mbs[0]:.1f} MB, last {mbs[-1]:.1f} MB, peak {max(mbs):.1f} MB; slope "
            f"{slope_mb_per_min(rss):+.2f} MB/min overall, {slope_mb_per_min(half):+.2f} MB/min over the second half",
            "RSS samples (s: MB): " + ", ".join(f"{t:.0f}: {m:.1f}" for t, m in rss)]


def run() -> list[str]:
    lines = [f"== server under load ({CLIENTS} SDK clients, {SECONDS:.0f} s, offline engine, "
             f"{os.cpu_count()} cores) =="]
    for label, args in CONFIGS:
        r = measure(args)
        ok = "ok" if r["rps"] >= GOAL_RPS and r["p99"] <= GOAL_HEALTH_MS else "under goal"
        lines.append(f"{label}: {r['rps']:.1f} completed runs/s ({r['done']} runs, {r['failed']} not completed); "
                     f"/health p50 {r['p50']:.1f} ms, p99 {r['p99']:.1f} ms under load ({r['n']} probes; idle p50 "
                     f"{r['idle_p50']:.1f} ms); CPU per run: server {r['cpu_ms']:.1f} ms, SDK clients "
                     f"{r['client_cpu_ms']:.1f} ms; load average "
                     f"{r['load'][0]:.1f} -> {r['load'][1]:.1f} "
                     f"(goal >= {GOAL_RPS:.0f} runs/s, p99 <= {GOAL_HEALTH_MS:.0f} ms: {ok})")
    lines.append(BEFORE)
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.server_load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--soak-seconds", type=float, help="soak one server this long, sampling its RSS")
    parser.add_argument("--sample-seconds", type=float, default=10.0, help="RSS sampling period of a soak")
    parser.add_argument("--workers", default="2", help="server processes of a soak (default 2)")
    parser.add_argument("--threads", default="3", help="runs at once per server process of a soak (default 3)")
    parser.add_argument("--clients", type=int, default=CLIENTS, help="concurrent SDK clients")
    opts = parser.parse_args(argv)
    if opts.soak_seconds:
        lines = soak(("--workers", opts.workers, "--threads", opts.threads), opts.soak_seconds, opts.clients,
                     opts.sample_seconds)
    else:
        lines = run()
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
