"""The metrics of one backtest book over its window (:mod:`qlwork.analytics.backtest`).

Every metric uses the window's daily returns only (net of costs; the warm-up is in none of them):
``days`` returns make ``years = days / 252``. Fractions, not percentages; undefined values are None;
floats are not rounded (callers round for display). The conventions are those of
:mod:`qlwork.analytics.risk` (sample std, quantstats' Sortino, drawdown from 1.0 before the first day),
computed here on one 1-D series in a single pass for speed.
"""

from __future__ import annotations

import numpy as np

from qlwork.config import DEFAULT_RISK_FREE_RATE, TRADING_DAYS_PER_YEAR


__all__ = ["METRIC_DEFINITIONS", "METRIC_KEYS", "book_metrics"]

METRIC_DEFINITIONS = {
    "days": "Trading days (daily returns) in the window; the warm-up before it is not counted.",
    "years": "days / 252.",
    "total_return": "Compounded return over the window, prod(1 + r) - 1, net of costs.",
    "cagr": "Compound annual growth rate over the whole window: (1 + total_return) ** (252 / days) - 1.",
    "volatility": "Annualised sample standard deviation of daily returns (x sqrt(252)).",
    "sharpe_ratio": "Annualised mean daily excess return over its standard deviation; annual risk-free rate "
                    "converted per day as (1 + rf) ** (1 / 252) - 1.",
    "sortino_ratio": "Annualised mean daily excess return over the downside deviation sqrt(sum(min(x, 0)^2) / days).",
    "max_drawdown": "Largest fall of the equity curve from its running peak (1.0 at the window's first close), "
                    "a negative fraction.",
    "calmar_ratio": "cagr / |max_drawdown|.",
    "hit_rate": "Share of invested days (a position held at the day's start) with a net return above 0.",
    "turnover": "Sum of two-sided daily turnover (1.0 = the whole book traded once; the first purchase counts 1.0).",
    "turnover_per_year": "turnover / years.",
    "total_costs": "Sum of the daily cost deductions (turnover x cost_bps / 10,000), a fraction of capital.",
    "trades": "Positions opened plus positions closed in the window.",
    "rebalance_days": "Days with any trading.",
    "days_invested": "Days with a position held at the day's start.",
    "exposure": "days_invested / days.",
}
"""What each key of :func:`book_metrics` means (shown with tool outputs)."""
METRIC_KEYS = tuple(METRIC_DEFINITIONS)


def _num(v) -> float | None:
    v = float(v)
    return v if np.isfinite(v) else None


def book_metrics(returns: np.ndarray, weights: np.ndarray, turnover: np.ndarray, cost: float,
                 risk_free: float = DEFAULT_RISK_FREE_RATE, periods: int = TRADING_DAYS_PER_YEAR) -> dict:
    """:data:`METRIC_KEYS` of a book: daily net ``returns`` (days,), start-of-day ``weights``
    (days, columns), two-sided ``turnover`` (days,) and ``cost`` (a fraction per unit of turnover).
    The book is taken to be in cash before its first day (a position held on day 1 was opened then)."""
    r = np.asarray(returns, dtype=float)
    days = int(r.size)
    rf = (1.0 + risk_free) ** (1.0 / periods) - 1.0
    equity = np.cumprod(1.0 + r)
    peak = np.maximum(np.maximum.accumulate(equity), 1.0)
    wealth = float(equity[-1])
    excess = r - rf
    std = float(r.std(ddof=1)) if days > 1 else np.nan
    downside = float(np.sqrt(np.square(np.minimum(excess, 0.0)).sum() / days))
    mean_excess = float(excess.mean())
    ann = np.sqrt(periods)
    with np.errstate(invalid="ignore", divide="ignore"):
        cagr = _num(wealth ** (periods / days) - 1.0) if wealth >= 0 else None
        sharpe = _num(mean_excess / std * ann) if std > 0 else None
        sortino = _num(mean_excess / downside * ann) if downside > 0 else None
    mdd = min(float((equity / peak).min()) - 1.0, 0.0)
    held = weights > 0
    opened_or_closed = held[1:] != held[:-1]
    invested = held.any(axis=1)
    n_invested = int(invested.sum())
    total_turnover = float(turnover.sum())
    return {
        "days": days,
        "years": days / periods,
        "total_return": wealth - 1.0,
        "cagr": cagr,
        "volatility": _num(std * ann),
        "sharpe_ratio": sharpe,
        "sortino_ratio": sortino,
        "max_drawdown": mdd,
        "calmar_ratio": cagr / -mdd if cagr is not None and mdd < 0 else None,
        "hit_rate": float((r[invested] > 0).mean()) if n_invested else None,
        "turnover": total_turnover,
        "turnover_per_year": total_turnover / (days / periods),
        "total_costs": float((turnover * cost).sum()),
        "trades": int(held[0].sum() + opened_or_closed.sum()),
        "rebalance_days": int((turnover > 0).sum()),
        "days_invested": n_invested,
        "exposure": n_invested / days,
    }
