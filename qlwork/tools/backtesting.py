"""The strategy backtest behind ``generate_trading_signals`` (strategy ``momentum`` / ``mean_reversion``)
and the strategy explorer (:mod:`qlwork.explore`): one function, one set of defaults and one output,
so the chat and the explorer give the same figures for the same question.

:func:`strategy_backtest` takes the last ``years`` x 252 trading days up to ``day`` as the window and the
history before it as the warm-up (as long as the longest lookback of the out-of-sample grid needs), runs
:func:`qlwork.analytics.backtest.run_backtest` over the window beside equal-weight buy-and-hold of the same
stocks and the benchmark index (NIFTY 50 unless another index is asked for), with the same costs, and a
train/test split (:func:`qlwork.analytics.backtest_oos.train_test`: parameters chosen on the window's
first half by Sharpe, reported on the second half). :meth:`StrategyRun.output` is the JSON the tool
returns: fractions rounded to 4 decimals, dates ISO (Asia/Kolkata trading days), prices INR.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

from ..analytics.backtest import BOOKS, STRATEGY, Backtest, run_backtest, strategy_params, warmup_rows
from ..analytics.backtest_metrics import METRIC_DEFINITIONS
from ..analytics.backtest_oos import (OutOfSample, WalkForward, grid_warmup, parameter_grid, sweep, train_test,
                                     walk_forward)
from ..config import DEFAULT_RISK_FREE_RATE, TRADING_DAYS_PER_YEAR
from ..errors import InputError
from .context import _drop_failed, benchmark_index, rnd, source_of

DEFAULT_YEARS = 3
DEFAULT_COST_BPS = 10.0
TRAIN_FRACTION = 0.5
"""Share of the window whose prices choose the parameters in the out-of-sample check."""
CRITERION = "sharpe_ratio"

CONVENTIONS = ("Simple daily close-to-close returns, annualised with 252 trading days; weights decided with "
               "the previous close only; costs (cost_bps of two-sided turnover) charged to the strategy, the "
               "equal-weight buy-and-hold and the index alike, each bought from cash on the window's first day; "
               "the warm-up days feed the first signals and are in no curve or metric.")


@dataclass
class StrategyRun:
    """A backtest and its out-of-sample check on the rows of ``dates`` (the warm-up, then the window).

    ``close`` (rows x symbols, INR; NaN where unpriced) and ``index`` (rows,) are the prices used;
    ``backtest`` covers the window (rows ``backtest.start ..``); ``out_of_sample`` is None when the
    window is too short to split (``oos_note`` says why).
    """

    strategy: str
    symbols: list[str]
    benchmark: str
    dates: list[str]
    close: np.ndarray
    index: np.ndarray
    backtest: Backtest
    out_of_sample: OutOfSample | None
    oos_note: str | None
    data_source: dict

    def span(self, first: int, last: int | None = None) -> dict:
        """Rows ``first .. last`` as ``{"start", "end", "days"}`` (days = returns between them)."""
        last = len(self.dates) - 1 if last is None else last
        return {"start": self.dates[first], "end": self.dates[last], "days": int(last - first)}

    def warmup(self, bt: Backtest | None = None) -> dict:
        """The warm-up rows the rule used before ``bt``'s window: ``{"start", "end", "days"}``."""
        bt = bt or self.backtest
        return {"start": self.dates[bt.start - bt.warmup], "end": self.dates[bt.start - 1], "days": int(bt.warmup)}

    def sweep(self, grid: dict | None = None) -> list[Backtest]:
        """The strategy over the same window for every combination of ``grid`` (default the out-of-sample
        grid around this run's parameters): how sensitive the result is to its parameters."""
        base = {k: v for k, v in self.backtest.params.items() if k != "cost_bps"}
        return sweep(self.close, self.index, self.strategy, parameter_grid(self.strategy, base, grid),
                     self.backtest.start, self.backtest.params["cost_bps"], self.symbols, self.backtest.risk_free)

    def walk_forward(self, train_days: int = TRADING_DAYS_PER_YEAR, test_days: int = TRADING_DAYS_PER_YEAR // 2,
                     grid: dict | None = None) -> WalkForward:
        """Walk-forward over this run's window: parameters re-chosen every ``test_days`` on the ``train_days``
        before (the out-of-sample grid by default), chained beside buy-and-hold and the index."""
        base = {k: v for k, v in self.backtest.params.items() if k != "cost_bps"}
        return walk_forward(self.close, self.index, self.strategy, base, grid, self.backtest.start, train_days,
                            test_days, self.backtest.params["cost_bps"], self.symbols, self.backtest.risk_free, CRITERION)

    def output(self) -> dict:
        """The tool's ``backtest`` object (see the module docstring)."""
        bt = self.backtest
        window = self.span(bt.start)
        out = {
            "strategy": self.strategy,
            "parameters": _rounded(bt.params),
            "benchmark": self.benchmark,
            "symbols": list(self.symbols),
            "window": window,
            "warmup": self.warmup(),
            "metrics": _metrics(bt),
            "verdict": _verdict(bt),
            "final_holdings": bt.final_holdings(),
            "out_of_sample": self._oos_output(),
            "series": {"dates": self.dates[bt.start:], "equity": _curve(bt, STRATEGY),
                       "buy_and_hold": _curve(bt, "buy_and_hold"), "benchmark": _curve(bt, "benchmark")},
            "definitions": METRIC_DEFINITIONS,
            "conventions": CONVENTIONS,
        }
        return out

    def _oos_output(self) -> dict:
        o = self.out_of_sample
        if o is None:
            return {"method": None, "note": self.oos_note}
        return {"method": "train/test split", "criterion": o.criterion, "train": self.span(o.train_start, o.split),
                "test": self.span(o.split, o.last), "combinations": len(o.trials), "chosen": _rounded(o.chosen),
                "trials": [{"params": _rounded(t["params"]), CRITERION: rnd(t["metrics"][CRITERION]),
                            "cagr": rnd(t["metrics"]["cagr"])} for t in o.trials],
                "metrics": _metrics(o.test), "verdict": _verdict(o.test)}


def _rounded(d: dict) -> dict:
    return {k: (rnd(v) if isinstance(v, float) else v) for k, v in d.items()}


def _metrics(bt: Backtest) -> dict:
    return {name: _rounded(bt.books[name].metrics) for name in BOOKS}


def _curve(bt: Backtest, name: str) -> list[float]:
    return np.round(bt.books[name].equity, 4).tolist()  # 4 decimals, as rnd


def _verdict(bt: Backtest) -> dict:
    """Whether the strategy beat buy-and-hold and the index on total return over the window, and the
    CAGR differences (strategy minus comparison, fractions a year)."""
    m = {name: bt.books[name].metrics for name in BOOKS}
    s = m[STRATEGY]
    return {"beats_buy_and_hold": bool(s["total_return"] > m["buy_and_hold"]["total_return"]),
            "beats_benchmark": bool(s["total_return"] > m["benchmark"]["total_return"]),
            "cagr_vs_buy_and_hold": rnd(s["cagr"] - m["buy_and_hold"]["cagr"])
            if None not in (s["cagr"], m["buy_and_hold"]["cagr"]) else None,
            "cagr_vs_benchmark": rnd(s["cagr"] - m["benchmark"]["cagr"])
            if None not in (s["cagr"], m["benchmark"]["cagr"]) else None}


def strategy_backtest(market, symbols: list[str], day: dt.date, strategy: str = "momentum", *,
                      years: int = DEFAULT_YEARS, benchmark: str | None = None, cost_bps: float = DEFAULT_COST_BPS,
                      params: dict | None = None, risk_free: float | None = None) -> StrategyRun:
    """``strategy`` on ``symbols`` over the last ``years`` of trading days up to ``day`` (see the module
    docstring); ``params`` override :data:`qlwork.analytics.backtest.DEFAULT_PARAMS`."""
    if not 1 <= int(years) <= 10:
        raise InputError(f"years {years} is out of range.", fix="Use 1 to 10 years.", field="backtest_years",
                         allowed="1..10")
    bench = benchmark_index(market, benchmark)
    p = strategy_params(strategy, params)
    combos = parameter_grid(strategy, p)
    warm = max(warmup_rows(strategy, p), grid_warmup(strategy, combos))
    names = sorted(dict.fromkeys(s for s in symbols if s != bench))  # one order: the same sums everywhere
    if not names:
        raise InputError("No stocks to backtest.", fix="Name symbols or a sector.")
    window_rows = int(years) * TRADING_DAYS_PER_YEAR + 1
    rows = window_rows + warm
    first = day - dt.timedelta(days=int(rows * 1.5) + 30)
    close, _ = _drop_failed(market.close_prices(names + [bench], start=first, end=day), names + [bench], (bench,))
    close = close.iloc[-rows:]
    names = [s for s in names if s in close.columns]
    if len(close) < warm + 3:
        raise InputError(f"Only {len(close)} trading days of prices up to {day}; the warm-up alone needs {warm}.",
                         fix="Use a later as_of date or a shorter lookback.")
    start = max(len(close) - window_rows, warm)  # a short history shortens the window, never the warm-up
    prices, index = close[names].to_numpy(dtype=float), close[bench].to_numpy(dtype=float)
    rf = DEFAULT_RISK_FREE_RATE if risk_free is None else float(risk_free)
    bt = run_backtest(prices, index, strategy, p, start, cost_bps, names, rf)
    oos, note = None, None
    try:
        oos = train_test(prices, index, strategy, p, None, start, TRAIN_FRACTION, cost_bps, names, rf, CRITERION)
    except InputError as exc:
        note = f"No out-of-sample check: {exc.message}"
    dates = close.index.strftime("%Y-%m-%d").tolist()  # trading days (Asia/Kolkata)
    return StrategyRun(strategy, names, bench, dates, prices, index, bt, oos, note, source_of(market))
