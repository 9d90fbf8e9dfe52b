"""analyze_portfolio on a 50-holding portfolio over 5 years (goal: under 50 ms warm), and the
offline three-turn conversation end to end (runner, store, tools, rule engine)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from qlwork import open_session
from qlwork.assistant.store import Store
from qlwork.cli.demo import DEMO_QUESTIONS
from qlwork.market import get_provider
from qlwork.portfolio import load_portfolio
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio

GOAL_MS = 50.0


def _timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return times


def run() -> list[str]:
    market = get_provider("demo")
    inst = market.instruments()
    symbols = inst[inst["instrument_type"] == "EQ"]["tradingsymbol"].tolist()[:50]
    last = market.close_prices(symbols, end=market.default_as_of).iloc[-1]
    pf = load_portfolio([{"tradingsymbol": s, "quantity": 10, "average_price": float(last[s]) * 0.9}
                         for s in symbols], name="bench50")
    ctx = ToolContext(market=market, portfolio=pf)
    analyze_portfolio.tool.invoke({"lookback_days": 1260}, ctx)  # warm caches and kernels
    ms = _timed(lambda: analyze_portfolio.tool.invoke({"lookback_days": 1260}, ctx), 20)
    lines = ["== tools ==",
             f"analyze_portfolio, {len(symbols)} holdings x 1260 days: median {statistics.median(ms):.1f} ms, "
             f"min {min(ms):.1f} ms (goal < {GOAL_MS:.0f} ms warm)"]
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.db")

        def conversation():
            session = open_session("bench", portfolio="sample:diversified", store=store, new_thread=True)
            for question in DEMO_QUESTIONS:
                session.ask(question)

        conversation()
        ms = _timed(conversation, 5)
        store.close()
    lines.append(f"offline three-turn conversation end to end: median {statistics.median(ms):.0f} ms "
                 f"({statistics.median(ms) / 3:.0f} ms per turn)")
    return lines
