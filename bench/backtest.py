"""Benchmark: a momentum backtest on 50 symbols x 2,520 days beside equal-weight buy-and-hold and an index
(goal: under 50 ms), against a per-day reference loop of the same rule, and its metrics against quantstats;
plus the chat tool's whole backtest (prices, window, out-of-sample split of 9 combinations) on demo data."""

from __future__ import annotations

import warnings

import numpy as np

from .timing import best_ms

DAYS, SYMBOLS, SEED = 2520, 50, 7
GOAL_MS = 50.0
PARAMS = {"lookback": 126, "skip": 21, "top_n": 10, "rebalance_every": 21}
COST = 10 / 1e4


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    close = 100.0 * np.cumprod(1.0 + rng.normal(0.0004, 0.017, (DAYS, SYMBOLS)), axis=0)
    index = 20_000.0 * np.cumprod(1.0 + rng.normal(0.0003, 0.01, DAYS))
    return close, index


def _loop(close: np.ndarray, index: np.ndarray, start: int) -> list[np.ndarray]:
    """The same three books written the plain way: one Python step per day."""
    p, n = PARAMS, close.shape[1]
    out = []
    for book in ("strategy", "buy_and_hold", "benchmark"):
        c = close if book != "benchmark" else index[:, None]
        w, eq = np.zeros(c.shape[1]), [1.0]
        for k, t in enumerate(range(start + 1, len(c))):
            to = 0.0
            if book == "strategy" and k % p["rebalance_every"] == 0:
                score = c[t - 1 - p["skip"]] / c[t - 1 - p["skip"] - p["lookback"]] - 1
                target = np.zeros(n)
                target[np.argsort(-score, kind="stable")[:p["top_n"]]] = 1 / p["top_n"]
                to, w = np.abs(target - w).sum(), target
            elif book != "strategy" and k == 0:
                target = np.full(c.shape[1], 1 / c.shape[1])
                to, w = 1.0, target
            r = c[t] / c[t - 1] - 1
            g = float(w @ r)
            eq.append(eq[-1] * (1 + g - to * COST))
            w = w * (1 + r) / (1 + g)
        out.append(np.array(eq))
    return out


def _engine_lines(close, index) -> list[str]:
    from qlwork.analytics import run_backtest

    start = PARAMS["lookback"] + PARAMS["skip"]
    ours_ms, bt = best_ms(lambda: run_backtest(close, index, "momentum", PARAMS, start), 15)
    loop_ms, ref = best_ms(lambda: _loop(close, index, start), 3)
    diff = max(float(np.max(np.abs(bt.books[b].equity - e))) for b, e in zip(("strategy", "buy_and_hold", "benchmark"), ref))
    lines = [
        f"momentum backtest + buy-and-hold + index, {SYMBOLS} symbols x {DAYS} days (metrics included):",
        f"  qlwork run_backtest (vectorised)    {ours_ms:8.2f} ms   goal < {GOAL_MS:.0f} ms "
        f"{'OK' if ours_ms < GOAL_MS else 'ABOVE GOAL'}",
        f"  per-day reference loop              {loop_ms:8.2f} ms   speed-up = {loop_ms / ours_ms:.1f}x",
        f"  max |equity - reference| = {diff:.2e}",
    ]
    try:
        import pandas as pd
        import quantstats as qs
    except ModuleNotFoundError:
        return lines + ["  quantstats: skipped (not installed)"]
    idx = pd.bdate_range("2016-01-01", periods=bt.days)
    series = {name: pd.Series(book.returns, index=idx) for name, book in bt.books.items()}

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return {n: (qs.stats.sharpe(s, rf=0.065), qs.stats.sortino(s, rf=0.065), qs.stats.max_drawdown(s),
                        qs.stats.volatility(s)) for n, s in series.items()}

    qs_ms, q = best_ms(theirs, 3)
    keys = ("sharpe_ratio", "sortino_ratio", "max_drawdown", "volatility")
    gap = max(abs(bt.books[n].metrics[k] - v) for n, vals in q.items() for k, v in zip(keys, vals))
    return lines + [f"  quantstats sharpe/sortino/mdd/vol of the 3 books {qs_ms:8.2f} ms (metrics only); "
                    f"max |qlwork - quantstats| = {gap:.2e}"]


def _tool_lines() -> list[str]:
    from qlwork.market import get_provider
    from qlwork.market.demo import DEMO_AS_OF
    from qlwork.tools.backtesting import strategy_backtest

    market = get_provider("demo")
    inst = market.instruments()
    names = sorted(inst.loc[inst["instrument_type"] == "EQ", "tradingsymbol"])[:50]
    ms, run = best_ms(lambda: strategy_backtest(market, names, DEMO_AS_OF, "momentum", years=10).output(), 3)
    return [f"  tools.backtesting: {len(names)} demo stocks x 10 years, backtest + 9-combination train/test + "
            f"JSON output  {ms:8.2f} ms ({run['out_of_sample']['combinations']} combinations)"]


def run() -> list[str]:
    """Benchmark lines (best of several repeats, time.perf_counter)."""
    close, index = _data()
    return ["== backtest ==", *_engine_lines(close, index), *_tool_lines()]
