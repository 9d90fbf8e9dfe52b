"""The report's tearsheet: monthly returns, rolling 6-month volatility and Sharpe vs the benchmark,
the distribution of daily returns with VaR and CVaR, and the holdings that added or took away the
most return over the window.

:func:`portfolio_tearsheet` is a tool (schema from its signature, arguments validated, invoked with a
:class:`~qlwork.tools.registry.ToolContext`) kept in its own registry, :data:`REPORT_TOOLS`: the report
calls it itself, lists the call with its arguments and output in the audit trail, and draws every
tearsheet figure from that output (nothing else). It is not offered to the assistant.

Conventions: the portfolio is today's holdings bought and held through the window (as the review's
equity chart); returns are simple daily returns; annualisation uses 252 days; Sharpe uses the
context's annual risk-free rate; VaR and CVaR are historical 1-day figures (negative = loss).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..analytics import risk
from ..config import BENCHMARK, DEFAULT_RISK_FREE_RATE
from ..tools.context import history_window, load_holdings, market_of, resolve_as_of, rnd, source_of
from ..tools.registry import Registry, ToolContext, tool

REPORT_TOOLS = Registry()
ROLLING_DAYS = 126  # six months of trading days


def _rolling(rets: np.ndarray, window: int, rf: float) -> tuple[np.ndarray, np.ndarray]:
    """Rolling annualised volatility and Sharpe of each column of ``rets`` (days x series), computed by
    :mod:`qlwork.analytics.risk` on every window at once; row k covers days k .. k+window-1."""
    views = np.lib.stride_tricks.sliding_window_view(rets, window, axis=0)  # (k, series, window)
    k, n, _ = views.shape
    stacked = views.transpose(2, 0, 1).reshape(window, k * n)  # days x (window, series) pairs
    vol = risk.volatility(stacked).reshape(k, n)
    sharpe = risk.sharpe_ratio(stacked, risk_free=rf).reshape(k, n)
    return vol, sharpe


def _series(values: np.ndarray) -> list:
    return [rnd(v) for v in values]


@tool(registry=REPORT_TOOLS)
def portfolio_tearsheet(ctx: ToolContext, as_of: str | None = None, lookback_days: int = 756,
                        confidence: float = 0.95, top_n: int = 5) -> dict:
    """Tearsheet series of the thread's portfolio vs NIFTY 50: monthly returns, rolling 6-month
    volatility and Sharpe, daily returns with historical VaR/CVaR, top contributors and detractors.

    Args:
        as_of: Last date YYYY-MM-DD; omit for the thread's date.
        lookback_days: Trading days of history (130 to 2520); 756 is three years.
        confidence: VaR confidence level between 0.8 and 0.995.
        top_n: Holdings listed as contributors and as detractors (1 to 10).
    """
    from ..errors import InputError

    if not 130 <= lookback_days <= 2520:
        raise InputError(f"lookback_days {lookback_days} is out of range.", fix="Use 130 to 2520 trading days.",
                         field="lookback_days", allowed="130..2520")
    if not 0.8 <= confidence <= 0.995:
        raise InputError(f"confidence {confidence} is out of range.", fix="Use a level between 0.8 and 0.995.",
                         field="confidence", allowed="0.8..0.995")
    if not 1 <= top_n <= 10:
        raise InputError(f"top_n {top_n} is out of range.", fix="Use 1 to 10.", field="top_n", allowed="1..10")
    market, day = market_of(ctx), resolve_as_of(ctx, as_of)
    rf = ctx.risk_free_rate if ctx.risk_free_rate is not None else DEFAULT_RISK_FREE_RATE
    pf = load_holdings(ctx, None)
    close, window = history_window(market, pf.symbols + [BENCHMARK], day, lookback_days, required=(BENCHMARK,))
    symbols = [s for s in pf.symbols if s in close.columns]
    qty = np.array([h.quantity for h in pf.holdings if h.tradingsymbol in close.columns], dtype=float)
    prices = close[symbols].ffill().bfill().to_numpy(dtype=float)
    values = prices * qty  # days x holdings, INR
    value = values.sum(axis=1)
    bench = close[BENCHMARK].ffill().to_numpy(dtype=float)
    both = np.column_stack([value, bench])
    rets = both[1:] / both[:-1] - 1.0  # days-1 x [portfolio, benchmark]
    dates = [d.strftime("%Y-%m-%d") for d in close.index]
    vol, sharpe = _rolling(rets, ROLLING_DAYS, rf)
    month_end = pd.Series(value, index=pd.DatetimeIndex(close.index).tz_localize(None)).resample("ME").last()
    monthly = np.diff(np.concatenate([[value[0]], month_end.to_numpy()])) / np.concatenate([[value[0]],
                                                                                          month_end.to_numpy()[:-1]])
    daily = rets[:, 0]
    var = float(risk.value_at_risk(daily, confidence))
    cvar = float(risk.conditional_value_at_risk(daily, confidence))
    contrib = (values[-1] - values[0]) / value[0]  # sums to the portfolio's return over the window
    own = values[-1] / values[0] - 1.0
    order = np.lexsort((np.array(symbols), -contrib))
    rows = [{"symbol": symbols[i], "contribution": rnd(contrib[i], 6), "return": rnd(own[i]),
             "weight_start": rnd(values[0, i] / value[0])} for i in order]
    level = f"{round(confidence * 100, 1):g}"
    return {
        "data_source": source_of(market), "window": window, "portfolio": pf.name, "benchmark": BENCHMARK,
        "total_return": rnd(value[-1] / value[0] - 1.0, 6), "benchmark_return": rnd(bench[-1] / bench[0] - 1.0, 6),
        "monthly_returns": {m.strftime("%Y-%m"): rnd(r, 6) for m, r in zip(month_end.index, monthly)},
        "rolling": {"window_days": ROLLING_DAYS, "dates": dates[ROLLING_DAYS:],
                    "portfolio_volatility": _series(vol[:, 0]), "benchmark_volatility": _series(vol[:, 1]),
                    "portfolio_sharpe": _series(sharpe[:, 0]), "benchmark_sharpe": _series(sharpe[:, 1]),
                    "risk_free_rate": rf},
        "daily_returns": [rnd(r, 6) for r in daily],
        "confidence": confidence, f"var_{level}": rnd(var, 6), f"cvar_{level}": rnd(cvar, 6),
        "contributors": [r for r in rows if (r["contribution"] or 0) > 0][:top_n],
        "detractors": [r for r in reversed(rows) if (r["contribution"] or 0) < 0][:top_n],
        "conventions": "Today's holdings held through the window; simple daily returns; 252-day annualisation; "
                       "historical 1-day VaR/CVaR (negative = loss); contributions sum to the total return.",
    }
