"""The report's tearsheet, what a quantstats user expects, for the portfolio and its benchmark side by
side: the metrics block (:func:`qlwork.analytics.performance.tearsheet_metrics`), monthly returns with
each year's, end-of-year returns, the ten worst drawdowns and the underwater curve, rolling 6-month
volatility, Sharpe and beta, the distribution of daily returns with VaR and CVaR, and the holdings that
added or took away the most return over the window.

:func:`portfolio_tearsheet` is a tool (schema from its signature, arguments validated, invoked with a
:class:`~qlwork.tools.registry.ToolContext`) kept in its own registry, :data:`REPORT_TOOLS`: the report
calls it itself, lists the call with its arguments and output in the audit trail, and draws every
tearsheet figure from that output (nothing else). It is not offered to the assistant.

Conventions: the portfolio is today's holdings bought and held through the window, the one daily series of
the report (:func:`qlwork.review.series.returns_of`, as the equity chart and the period returns); returns are simple daily returns; annualisation uses 252 days; Sharpe uses the
context's annual risk-free rate; VaR and CVaR are historical 1-day figures (negative = loss).
"""

from __future__ import annotations

import numpy as np

from ..analytics import performance, risk
from ..config import BENCHMARK, DEFAULT_RISK_FREE_RATE
from ..tools.context import history_window, load_holdings, market_of, resolve_as_of, rnd, source_of
from ..tools.registry import Registry, ToolContext, tool
from .series import returns_of

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
    """Tearsheet of the thread's portfolio vs NIFTY 50: quantstats' metrics side by side, monthly and
    yearly returns, worst drawdowns, underwater curve, rolling 6-month volatility, Sharpe and beta,
    daily returns with historical VaR/CVaR, top contributors and detractors.

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
    series = returns_of(close, dict(zip(symbols, qty)), BENCHMARK)  # the report's one daily series
    rets = np.column_stack([series.portfolio, series.benchmark])  # days-1 x [portfolio, benchmark]
    days = np.array(series.dates[1:], dtype="datetime64[D]")  # the day each return is for
    dates = series.dates
    vol, sharpe = _rolling(rets, ROLLING_DAYS, rf)
    beta = performance.rolling_beta(rets[:, 0], rets[:, 1], ROLLING_DAYS)[ROLLING_DAYS - 1:]
    table = performance.monthly_table(rets, days)
    daily = rets[:, 0]
    var = float(risk.value_at_risk(daily, confidence))
    cvar = float(risk.conditional_value_at_risk(daily, confidence))
    values = close[symbols].ffill().bfill().to_numpy(dtype=float) * qty  # days x holdings, INR
    value = values.sum(axis=1)
    contrib = (values[-1] - values[0]) / value[0]  # sums to the portfolio's return over the window
    own = values[-1] / values[0] - 1.0
    order = np.lexsort((np.array(symbols), -contrib))
    rows = [{"symbol": symbols[i], "contribution": rnd(contrib[i], 6), "return": rnd(own[i]),
             "weight_start": rnd(values[0, i] / value[0])} for i in order]
    level = f"{round(confidence * 100, 1):g}"
    metrics = performance.tearsheet_metrics(rets[:, 0], rets[:, 1], days, risk_free=rf)
    dd = risk.drawdown(rets)
    growth = np.prod(1.0 + rets, axis=0) - 1.0
    grid = table["grid"]
    return {
        "data_source": source_of(market), "window": window, "portfolio": pf.name, "benchmark": BENCHMARK,
        "total_return": rnd(growth[0], 6), "benchmark_return": rnd(growth[1], 6),
        "monthly_returns": {f"{y}-{m + 1:02d}": rnd(grid[i, m, 0], 6) for i, y in enumerate(table["years"])
                            for m in range(12) if np.isfinite(grid[i, m, 0])},
        "monthly_table": {"years": table["years"], "portfolio": [[rnd(v, 6) for v in row] for row in grid[..., 0]],
                          "benchmark": [[rnd(v, 6) for v in row] for row in grid[..., 1]],
                          "portfolio_year": _series(table["year"][:, 0]), "benchmark_year": _series(table["year"][:, 1])},
        "eoy_returns": [{"year": y, "portfolio": rnd(p, 6), "benchmark": rnd(b, 6)}
                        for y, (p, b) in zip(table["years"], table["year"])],
        "metrics": {k: [rnd(v, 6) for v in pair] for k, pair in metrics.items()},
        "metric_definitions": METRIC_NOTES,
        "drawdowns": [{**d, "max_drawdown": rnd(d["max_drawdown"], 6)}
                      for d in performance.drawdown_periods(daily, days, top=10)],
        "underwater": {"dates": dates[1:], "portfolio": [rnd(v, 6) for v in dd[:, 0]],
                       "benchmark": [rnd(v, 6) for v in dd[:, 1]]},
        "rolling": {"window_days": ROLLING_DAYS, "dates": dates[ROLLING_DAYS:],
                    "portfolio_volatility": _series(vol[:, 0]), "benchmark_volatility": _series(vol[:, 1]),
                    "portfolio_sharpe": _series(sharpe[:, 0]), "benchmark_sharpe": _series(sharpe[:, 1]),
                    "beta": _series(beta), "risk_free_rate": rf},
        "daily_returns": [rnd(r, 6) for r in daily],
        "confidence": confidence, f"var_{level}": rnd(var, 6), f"cvar_{level}": rnd(cvar, 6),
        "contributors": [r for r in rows if (r["contribution"] or 0) > 0][:top_n],
        "detractors": [r for r in reversed(rows) if (r["contribution"] or 0) < 0][:top_n],
        "conventions": "Today's holdings held through the window (a holding counts from its first price); simple "
                       "daily returns; 252-day annualisation; historical 1-day VaR/CVaR (negative = loss); "
                       "metrics as quantstats defines them (see metric_definitions); contributions sum to the "
                       "total return.",
    }


METRIC_NOTES = {
    "cagr": "Compound annual growth: (1 + total return) ^ (252 / days) - 1 (quantstats).",
    "calmar_ratio": "CAGR / |max drawdown| (quantstats).",
    "omega_ratio": "Sum of daily gains / sum of daily losses, threshold 0 (quantstats).",
    "sharpe_ratio": "Annualised, excess of the risk-free rate (quantstats with rf).",
    "sortino_ratio": "Annualised, downside deviation over all days (quantstats with rf).",
    "best_day": "Largest daily return; months and years are calendar periods, compounded (quantstats).",
    "win_rate_days": "Up days / days that moved (quantstats).",
    "skew": "Bias-corrected sample skewness (quantstats / pandas).",
    "kurtosis": "Bias-corrected excess kurtosis, normal = 0 (quantstats / pandas).",
    "tail_ratio": "|95th percentile / 5th percentile| of daily returns (quantstats).",
    "alpha": "Annualised: 252 x (mean daily return - beta x benchmark's), no risk-free rate (quantstats greeks).",
    "beta": "cov(portfolio, benchmark) / var(benchmark) of daily returns (quantstats greeks).",
    "information_ratio": "mean / std of daily active returns, not annualised (quantstats); x sqrt(252) annualises it.",
}
