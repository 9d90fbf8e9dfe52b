"""The Kite limiter across processes: real subprocesses sharing one QLWORK_HOME, real wall clock."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from qlwork.market import ratelimit
from qlwork.market.ratelimit import ProcessRateLimiter, RateLimiter, key_id, shared_limiter

ROOT = Path(__file__).resolve().parents[2]
TOL = 0.005  # seconds

CHILD = r"""
import json, sys, time
from qlwork.market.ratelimit import shared_limiter
limiter = shared_limiter(sys.argv[1])
n = int(sys.argv[2])
print("ready", flush=True)
sys.stdin.readline()  # wait for "go": every child starts together
stamps = []
for _ in range(n):
    with limiter.slot("historical"):
        stamps.append(time.time())
print(json.dumps({"stamps": stamps, "stats": limiter.stats()}), flush=True)
"""


def _run_children(home: Path, keys: list[str], n: int) -> list[dict]:
    env = {**os.environ, "QLWORK_HOME": str(home), "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", CHILD, key, str(n)], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, env=env, cwd=str(ROOT)) for key in keys]
    try:
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs]
        for p in procs:
            assert p.wait(timeout=30) == 0
        return results
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()


def _max_in_window(stamps: list[float], per: float = 1.0) -> int:
    stamps = sorted(stamps)
    return max(sum(1 for t in stamps[i:] if t < s + per - TOL) for i, s in enumerate(stamps))


def test_four_processes_share_three_per_second(tmp_path):
    results = _run_children(tmp_path / "home", ["KEY_A"] * 4, 5)
    stamps = sorted(t for r in results for t in r["stamps"])
    assert len(stamps) == 20
    assert _max_in_window(stamps) <= 3
    assert all(b - a >= 1.0 - TOL for a, b in zip(stamps, stamps[3:]))  # any 4 consecutive span >= 1 s
    span = stamps[-1] - stamps[0]
    assert 6.0 - TOL <= span <= 6.8, span  # 20 grants at 3/s: 7 windows, the last opens after 6 s
    assert all(r["stats"]["shared"] for r in results)
    files = [p.name for p in (tmp_path / "home" / "ratelimit").iterdir()]
    assert files == [f"{key_id('KEY_A')}-historical.json"]
    assert "KEY_A" not in (tmp_path / "home" / "ratelimit" / files[0]).read_text()


def test_other_api_key_has_its_own_budget(tmp_path):
    a1 = ProcessRateLimiter("KEY_A", directory=tmp_path)
    a2 = ProcessRateLimiter("KEY_A", directory=tmp_path)  # separate in-process state, like another process
    b = ProcessRateLimiter("KEY_B", directory=tmp_path)
    t0 = time.monotonic()
    for _ in range(3):
        a1.release(a1.acquire("historical"))
    for _ in range(3):
        b.release(b.acquire("historical"))
    assert time.monotonic() - t0 < 0.3  # key B is not held back by key A's full window
    a2.release(a2.acquire("historical"))
    assert time.monotonic() - t0 >= 1.0 - TOL  # key A's fourth waits for the window, in any process
    assert key_id("KEY_A") != key_id("KEY_B") and len(key_id("KEY_A")) == 16


def test_threads_and_processes_in_one_file(tmp_path):
    limiter = ProcessRateLimiter("K", {"historical": 3}, per=0.3, directory=tmp_path)
    other = ProcessRateLimiter("K", {"historical": 3}, per=0.3, directory=tmp_path)
    stamps: list[float] = []
    lock = threading.Lock()

    def work(lim: ProcessRateLimiter) -> None:
        for _ in range(3):
            with lim.slot("historical"):
                with lock:
                    stamps.append(time.time())
                time.sleep(0.005)

    threads = [threading.Thread(target=work, args=(lim,)) for lim in (limiter, other) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=20)
    stamps.sort()
    assert len(stamps) == 18
    assert all(b - a >= 0.3 for a, b in zip(stamps, stamps[3:]))
    assert limiter.stats()["taken"]["historical"] == other.stats()["taken"]["historical"] == 9


def test_slot_of_a_dead_process_is_reclaimed(tmp_path):
    limiter = ProcessRateLimiter("K", {"quote": 1}, directory=tmp_path)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    now = time.time()
    # a crashed process left its request in flight; another's slot is stale (older than max_hold)
    limiter.path("quote").write_text(json.dumps([[None, now, dead.pid, limiter._host, "x.1"]]))
    t0 = time.monotonic()
    with limiter.slot("quote"):
        pass
    assert time.monotonic() - t0 <= 1.0 + 0.1  # ended when noticed: one window, not forever
    limiter = ProcessRateLimiter("K", {"quote": 1}, directory=tmp_path)  # no local slot in its window
    limiter.path("quote").write_text(json.dumps([[None, now - 500, os.getppid(), "elsewhere", "y.1"]]))
    t0 = time.monotonic()
    with limiter.slot("quote"):
        pass
    assert time.monotonic() - t0 <= 1.0 + 0.1


def test_clock_stepping_back_and_garbage_do_not_block(tmp_path):
    limiter = ProcessRateLimiter("K", {"quote": 1}, directory=tmp_path)
    future = time.time() + 3600
    limiter.path("quote").write_text(json.dumps([[future, future, 1, "h", "z.1"]]))
    t0 = time.monotonic()
    with limiter.slot("quote"):
        pass
    assert time.monotonic() - t0 <= 1.0 + 0.1
    limiter.path("quote").write_text("{not json")
    t0 = time.monotonic()
    limiter.path("other").write_text("{not json")
    with limiter.slot("other"):
        pass
    assert time.monotonic() - t0 < 0.1


def test_unwritable_state_dir_falls_back_with_a_warning(tmp_path, caplog):
    blocker = tmp_path / "ratelimit"
    blocker.write_text("a file where the folder should be")
    with caplog.at_level(logging.WARNING, logger="qlwork.market.ratelimit"):
        limiter = ProcessRateLimiter("K", {"historical": 2}, per=0.2, directory=blocker)
    assert not limiter.shared and "cannot use" in caplog.text and "within this process" in caplog.text
    stamps = []
    for _ in range(4):
        with limiter.slot("historical"):
            stamps.append(time.monotonic())
    assert stamps[2] - stamps[0] >= 0.2  # the in-process limit still holds
    assert limiter.stats()["shared"] is False


def test_shared_limiter_per_key_and_home(tmp_path, monkeypatch):
    monkeypatch.setattr(ratelimit, "_SHARED", None)
    monkeypatch.setattr(ratelimit, "_BY_KEY", {})
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "h1"))
    a = shared_limiter("KEY_A")
    assert isinstance(a, ProcessRateLimiter) and a is shared_limiter("KEY_A")
    assert a is not shared_limiter("KEY_B")
    assert a.directory == tmp_path / "h1" / "ratelimit"
    assert type(shared_limiter()) is RateLimiter  # no key: in-process only, no files
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "h2"))
    assert shared_limiter("KEY_A") is not a
    override = RateLimiter({"historical": 50})
    monkeypatch.setattr(ratelimit, "_SHARED", override)
    assert shared_limiter("KEY_A") is override and shared_limiter() is override


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_starts_with_clean_in_process_state(tmp_path):
    limiter = ProcessRateLimiter("K", {"historical": 1}, directory=tmp_path)
    handle = limiter.acquire("historical")  # held by the parent while forking
    pid = os.fork()
    if pid == 0:  # child: the parent's copied in-flight slot must not block it forever
        code = 1
        try:
            t0 = time.monotonic()
            with limiter.slot("historical"):  # waits for the parent's real slot only
                pass
            code = 0 if time.monotonic() - t0 < 3.0 else 2
        finally:
            os._exit(code)
    time.sleep(0.05)
    limiter.release(handle)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
