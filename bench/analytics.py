"""Benchmark: qlwork.analytics vs TA-Lib (RSI) and quantstats (risk metrics), 500 x 2,520 days."""

from __future__ import annotations

import warnings

import numpy as np

from .timing import best_ms

DAYS, SYMBOLS, SEED = 2520, 500, 42


def _data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    rets = rng.normal(0.0003, 0.015, (DAYS, SYMBOLS))
    prices = 100.0 * np.cumprod(1.0 + rets, axis=0)
    return prices, rets


def _rsi_lines(prices: np.ndarray) -> list[str]:
    import talib

    from qlwork.analytics import rsi

    columns = [np.ascontiguousarray(prices[:, j]) for j in range(SYMBOLS)]
    ours_ms, ours = best_ms(lambda: rsi(prices, 14), 7)
    ta_ms, ref = best_ms(lambda: [talib.RSI(prices[:, j], 14) for j in range(SYMBOLS)], 7)
    ta_best_ms, _ = best_ms(lambda: [talib.RSI(c, 14) for c in columns], 7)
    diff = np.nanmax(np.abs(ours - np.column_stack(ref)))
    return [
        f"rsi(14) {SYMBOLS} symbols x {DAYS} days:",
        f"  qlwork 2-D                          {ours_ms:8.2f} ms",
        f"  talib.RSI per column of the array   {ta_ms:8.2f} ms   qlwork/talib = {ours_ms / ta_ms:.2f}x",
        f"  talib.RSI per pre-split column      {ta_best_ms:8.2f} ms   qlwork/talib = {ours_ms / ta_best_ms:.2f}x "
        f"(goal <= 1.0x on TA-Lib's best layout) {'OK' if ours_ms <= ta_best_ms else 'ABOVE GOAL'}",
        f"  max |qlwork - talib| = {diff:.2e} (goal <= 1e-9) {'OK' if diff <= 1e-9 else 'ABOVE GOAL'}",
        "  (one thread each: qlwork's numba kernel is not parallel)",
    ]


def _risk_lines(rets: np.ndarray) -> list[str]:
    import pandas as pd
    import quantstats as qs

    from qlwork.analytics import max_drawdown, sharpe_ratio, sortino_ratio, value_at_risk

    def ours():
        return np.stack([sharpe_ratio(rets), sortino_ratio(rets), max_drawdown(rets),
                         value_at_risk(rets, 0.95, "parametric")])

    index = pd.bdate_range("2016-01-01", periods=DAYS)
    series = [pd.Series(rets[:, j], index=index) for j in range(SYMBOLS)]

    def theirs():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return np.array([[qs.stats.sharpe(s), qs.stats.sortino(s), qs.stats.max_drawdown(s),
                              qs.stats.value_at_risk(s)] for s in series]).T

    ours_ms, a = best_ms(ours, 7)
    qs_ms, b = best_ms(theirs, 2)
    return [
        f"sharpe+sortino+max_drawdown+VaR(parametric) {SYMBOLS} symbols x {DAYS} days:",
        f"  qlwork 2-D                {ours_ms:9.2f} ms",
        f"  quantstats per column     {qs_ms:9.2f} ms   speed-up = {qs_ms / ours_ms:.0f}x",
        f"  max |qlwork - quantstats| = {np.max(np.abs(a - b)):.2e}",
    ]


def run() -> list[str]:
    """Benchmark lines (best of several repeats, time.perf_counter)."""
    prices, rets = _data()
    return ["== analytics ==", *_rsi_lines(prices), *_risk_lines(rets)]
