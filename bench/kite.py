"""Kite provider benchmark: 2 years of daily candles for 50 symbols from the local fake Kite server.

Run 1 fetches everything through the real kiteconnect client under the 3 req/s historical limit (the
fake server enforces Kite's limits and would answer 429 to excess); the time is compared with the ideal
for that many requests at 3 req/s. Run 2, with a fresh provider, is served from the on-disk cache and
must make zero historical requests. The cold run's overhead over the ideal is printed as a percentage of
the ideal time and judged against the goal (:data:`OVERHEAD_GOAL`, 10%): OK or MISSED. Everything happens in a temporary QLWORK_HOME with dummy
credentials; the environment is restored afterwards.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from zoneinfo import ZoneInfo

N_SYMBOLS = 50
START, END = "2024-11-20", "2026-11-19"
NOW = dt.datetime(2026, 11, 20, 14, 0, tzinfo=ZoneInfo("Asia/Kolkata"))
HIST = "/instruments/historical/"
OVERHEAD_GOAL = 0.10
"""The cold run may take at most 10% longer than the ideal time at 3 req/s."""
USER = "bench"


def _fake_kite_module():
    name = "qlwork_tests_fake_kite"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "tests" / "servers" / "fake_kite.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def overhead_line(elapsed: float, ideal: float, goal: float = OVERHEAD_GOAL) -> str:
    """``overhead X% of the ideal time (goal <= 10%): OK|MISSED`` for a run of ``elapsed`` seconds."""
    if ideal <= 0:
        return f"overhead {elapsed:.2f} s with an ideal of 0 s (too few requests to judge the {goal:.0%} goal)"
    pct = (elapsed - ideal) / ideal
    verdict = "OK" if pct <= goal else "MISSED"
    return f"overhead {pct:+.1%} of the ideal {ideal:.1f} s (goal <= {goal:.0%}): {verdict}"


def run() -> list[str]:
    from qlwork.market.kite import KiteMarketData
    from qlwork.market.kite_login import complete_login
    from qlwork.market.ratelimit import RateLimiter

    saved = {k: os.environ.get(k) for k in ("QLWORK_HOME", "KITE_API_KEY", "KITE_API_SECRET")}
    lines = ["== kite == (fake Kite server on 127.0.0.1, real kiteconnect client)"]
    with tempfile.TemporaryDirectory(prefix="qlwork-bench-kite-") as tmp:
        os.environ.update(QLWORK_HOME=tmp, KITE_API_KEY="bench_key", KITE_API_SECRET="bench_secret")
        fake = _fake_kite_module().FakeKite(api_key="bench_key", api_secret="bench_secret",
                                            access_token="bench_token", today=NOW.date(), enforce_limits=True)
        fake.start()
        try:
            complete_login("req_token_ok", user=USER, root=fake.url, now=NOW)

            def provider() -> KiteMarketData:
                return KiteMarketData(user_id=USER, root=fake.url, clock=lambda: NOW, limiter=RateLimiter())

            symbols = [s for s in provider().instruments()["tradingsymbol"] if s != "NIFTY 50"][:N_SYMBOLS]
            fake.reset_log()
            t0 = time.perf_counter()
            first = provider().candles(symbols, start=START, end=END)
            cold = time.perf_counter() - t0
            n_req = fake.count(HIST)
            too_many = sum(1 for r in fake.log(HIST) if r.status == 429)
            ideal = math.ceil(n_req / 3) - 1  # the last request may start once the previous windows pass
            bars = sum(len(f) for f in first.values())
            lines.append(f"cold: {len(first)} symbols x 2y daily = {bars} bars, {n_req} historical requests "
                         f"in {cold:.2f} s (ideal at 3 req/s: {ideal:.1f} s, overhead {cold - ideal:+.2f} s); "
                         f"max {fake.max_in_window(HIST, 1.0)} requests in any 1 s window; {too_many} HTTP 429")
            lines.append(overhead_line(cold, ideal))
            fake.reset_log()
            t0 = time.perf_counter()
            again = provider().candles(symbols, start=START, end=END)
            warm = time.perf_counter() - t0
            same = all(len(again[s]) == len(first[s]) for s in symbols)
            lines.append(f"warm (cache): {fake.count(HIST)} historical requests, {fake.count('/')} requests in "
                         f"all, {warm:.3f} s ({cold / max(warm, 1e-9):.0f}x faster); identical bar counts: {same}")
        finally:
            fake.stop()
            for key, value in saved.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
    return lines


if __name__ == "__main__":
    print("\n".join(run()))
