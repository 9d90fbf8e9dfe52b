"""Tools for "compare with a benchmark over a period" and "rank holdings by a metric".

``compare_with_benchmark`` reports the return of the portfolio (today's quantities held through the
period, as the weekly report's period table) or of named symbols against a benchmark index over one
period ("1W", "1M", "3M", "6M", "YTD", "1Y", "3Y", or since a date), with the active return in
percentage points; the figures are those of :func:`qlwork.review.series.calendar_period_returns` for
the same window (both use :mod:`qlwork.analytics.periods`), and so of the weekly report's 1W / 1M / YTD
rows (its 1Y row is the 252-trading-day analysis window, not a calendar year). ``rank_holdings`` orders holdings (or named symbols)
by a risk or return metric over a period. Fractions, not percentages; prices in INR.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np

from ..analytics import periods, risk
from ..config import BENCHMARK, DEFAULT_RISK_FREE_RATE
from ..errors import InputError
from .context import (benchmark_index, history_window, load_holdings, market_of, resolve_as_of, resolve_known, rnd,
                      source_of)
from .registry import ToolContext, tool

Metric = Literal["volatility", "max_drawdown", "beta", "return", "var_95", "sharpe_ratio", "weight"]

METRICS = {
    "volatility": "Annualised standard deviation of simple daily returns over the period (x sqrt(252)).",
    "max_drawdown": "Largest peak-to-trough fall over the period, a negative fraction (most negative = riskiest).",
    "beta": "Covariance of daily returns with the benchmark over the benchmark's variance.",
    "return": "Simple return over the period (last close over the base close, minus 1).",
    "var_95": "Historical 1-day 95% Value at Risk: the 5th percentile daily return (more negative = riskier).",
    "sharpe_ratio": "Annualised mean excess daily return over annualised volatility.",
    "weight": "Share of the portfolio's market value at the last close.",
}
RISKIEST_FIRST = {"volatility": "desc", "beta": "desc", "max_drawdown": "asc", "var_95": "asc",
                  "return": "desc", "sharpe_ratio": "desc", "weight": "desc"}
"""The order that puts the highest risk (or the best return) first, per metric."""


def _window_frame(market, names: list[str], bench: str, day: dt.date, period: str):
    """Close prices from a fortnight before the period's base date to ``day`` and the base row."""
    base = periods.period_start(day, period)
    close, window = history_window(market, names + [bench], day, None, start=base - dt.timedelta(days=14),
                                   required=(bench,))
    days = np.array([d.date() for d in close.index], dtype="datetime64[D]")
    k = int(periods.base_indices(days, [base])[0])
    if k < 0:
        raise InputError(f"The price history starts after {base} ({period} before {day}).",
                         fix="Use a shorter period or a later as_of date.", field="period")
    return close, k, window.get("symbols_without_data", [])


def _span(close, k: int) -> dict:
    return {"start": close.index[k].date().isoformat(), "end": close.index[-1].date().isoformat(),
            "days": int(len(close) - 1 - k)}


@tool
def compare_with_benchmark(
    ctx: ToolContext,
    period: str = "1Y",
    benchmark: str = BENCHMARK,
    symbols: list[str] | None = None,
    portfolio: str | None = None,
    as_of: str | None = None,
) -> dict:
    """Return of the portfolio (or of named symbols) against a benchmark index over one period, with the
    active return (portfolio minus benchmark) in percentage points and each holding's own return.

    Args:
        period: "1W", "1M", "3M", "6M", "YTD", "1Y", "3Y" (or nW / nM / nY), or a start date YYYY-MM-DD ("since").
        benchmark: Index to compare with, e.g. "NIFTY 50" (any index the provider lists).
        symbols: NSE symbols to compare instead of the portfolio.
        portfolio: Portfolio source; omit for the thread's portfolio.
        as_of: Last date YYYY-MM-DD; omit for the latest data date.
    """
    market = market_of(ctx)
    period = periods.normalise_period(period)
    bench = benchmark_index(market, benchmark)
    day = resolve_as_of(ctx, as_of)
    not_found: list[dict] = []
    if symbols:
        names, not_found = resolve_known(market, symbols)
        qty = None
    else:
        pf = load_holdings(ctx, portfolio)
        names, qty = list(pf.symbols), pf.quantities.astype(float)
    close, k, without = _window_frame(market, [s for s in names if s != bench], bench, day, period)
    names = [s for s in names if s in close.columns and s != bench]
    filled = close.ffill()  # carried forward only: a missing close keeps the last one
    cols = [filled[bench].to_numpy(dtype=float), *filled[names].to_numpy(dtype=float).T]
    if qty is not None:  # today's quantities held through the period, as the report's period table
        keep = [i for i, s in enumerate(pf.symbols) if s in names]
        growth = risk.holding_returns(close[names].to_numpy(dtype=float), qty[keep])
        cols.insert(0, np.concatenate([[1.0], np.cumprod(1.0 + growth)]))
    rets = periods.window_returns(np.column_stack(cols), [k])[0]
    offset = 1 if qty is None else 2
    ref = float(rets[offset - 1])
    each = {s: {"return": rnd(r), "active": rnd(r - ref)} for s, r in zip(names, rets[offset:])}
    out: dict = {"subject": "symbols" if qty is None else "portfolio", "period": period,
                 "period_label": periods.period_label(period), "benchmark": bench, "as_of": day.isoformat(),
                 "window": _span(close, k), "benchmark_return": rnd(ref), "returns": each}
    if qty is not None:
        port = float(rets[0])
        out.update(portfolio=pf.name, portfolio_return=rnd(port), active_return=rnd(port - ref),
                   active_return_pp=rnd((port - ref) * 100, 2))
        best = sorted((s for s in each if each[s]["return"] is not None), key=lambda s: -each[s]["return"])
        if best:
            out["best"], out["worst"] = best[0], best[-1]
    out["data_source"] = source_of(market)
    if without:
        out["symbols_without_data"] = without
    if not_found:
        out["symbols_not_found"] = not_found
    return out


@tool
def rank_holdings(
    ctx: ToolContext,
    metric: Metric = "volatility",
    period: str = "1Y",
    symbols: list[str] | None = None,
    order: Literal["riskiest_first", "desc", "asc"] = "riskiest_first",
    benchmark: str = BENCHMARK,
    portfolio: str | None = None,
    as_of: str | None = None,
) -> dict:
    """Holdings (or named symbols) ranked by one metric over a period, e.g. "which has the highest risk?".

    Args:
        metric: volatility, max_drawdown, beta, return, var_95, sharpe_ratio, or weight (portfolio only).
        period: "1W", "1M", "3M", "6M", "YTD", "1Y", "3Y" (or nW / nM / nY), or a start date YYYY-MM-DD.
        symbols: NSE symbols to rank; omit for the portfolio's holdings.
        order: riskiest_first (highest volatility / beta, deepest drawdown / VaR, best return first), desc or asc.
        benchmark: Index for beta, e.g. "NIFTY 50".
        portfolio: Portfolio source when ranking holdings; omit for the thread's portfolio.
        as_of: Last date YYYY-MM-DD; omit for the latest data date.
    """
    market = market_of(ctx)
    period = periods.normalise_period(period)
    bench = benchmark_index(market, benchmark)
    day = resolve_as_of(ctx, as_of)
    not_found: list[dict] = []
    if symbols:
        if metric == "weight":
            raise InputError("metric 'weight' ranks portfolio holdings only.", fix="Omit symbols, or rank by another metric.",
                             field="metric")
        names, not_found = resolve_known(market, symbols)
    else:
        pf = load_holdings(ctx, portfolio)
        names = list(pf.symbols)
    close, k, without = _window_frame(market, [s for s in names if s != bench], bench, day, period)
    names = [s for s in names if s in close.columns and s != bench]
    window = close.iloc[k:].ffill()
    prices = window[names].to_numpy(dtype=float)
    if metric == "weight":
        held = dict(zip(pf.symbols, pf.quantities.astype(float)))
        value = prices[-1] * np.array([held[s] for s in names])
        values = value / value.sum()
    elif metric == "return":
        values = periods.window_returns(prices, [0])[0]
    else:
        rets = risk.simple_returns(prices)
        if metric == "var_95":
            values = np.atleast_1d(risk.value_at_risk(rets, 0.95))
        else:
            rf = ctx.risk_free_rate if ctx.risk_free_rate is not None else DEFAULT_RISK_FREE_RATE
            summary = risk.risk_summary(rets, risk.simple_returns(window[bench].to_numpy(dtype=float)), risk_free=rf)
            values = np.asarray(summary[metric], dtype=float)
    direction = RISKIEST_FIRST[metric] if order == "riskiest_first" else order
    key = np.where(np.isfinite(values), values, -np.inf if direction == "desc" else np.inf)
    idx = np.argsort(-key if direction == "desc" else key, kind="stable")
    sectors = market.sectors(names)
    ranking = [{"rank": i + 1, "symbol": names[j], "value": rnd(float(values[j])), "sector": sectors.get(names[j])}
               for i, j in enumerate(idx)]
    out = {"metric": metric, "definition": METRICS[metric], "order": direction, "period": period,
           "period_label": periods.period_label(period), "benchmark": bench, "as_of": day.isoformat(),
           "subject": "symbols" if symbols else "portfolio", "window": _span(close, k), "ranking": ranking,
           "data_source": source_of(market)}
    if without:
        out["symbols_without_data"] = without
    if not_found:
        out["symbols_not_found"] = not_found
    return out
