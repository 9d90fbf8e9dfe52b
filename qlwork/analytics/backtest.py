"""Vectorised long-only, equal-weight strategy backtests on a days x symbols close array.

Timing (no look-ahead): the weights held on day ``t`` are decided with closes up to ``t-1`` only
and earn day ``t``'s close-to-close return. ``weights[t]`` are the start-of-day weights (they drift
with prices between rebalances); ``turnover[t] = sum(|target - drifted|)`` (two-sided, 1.0 = the
whole book traded once; buying from cash counts 1.0) and costs ``turnover * cost_bps / 1e4`` are
deducted from day ``t``'s return. Missing prices are carried forward (a gap day earns 0 and the
next valid day the full move); a symbol is only eligible once its own history is long enough.

``equity`` starts at 1.0 (day 0 has no position) and equals ``cumprod(1 + returns)``. Metrics are
computed with :mod:`qlwork.analytics.risk` over the **active** period, from the first day with a
position; floats are rounded to 6 dp and undefined values are None.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qlwork.config import DEFAULT_RISK_FREE_RATE
from qlwork.errors import InputError

from . import indicators as ind
from . import risk
from ._common import as_2d, check_period, forward_fill

__all__ = ["BacktestResult", "momentum_backtest", "mean_reversion_backtest", "window_summary"]


@dataclass
class BacktestResult:
    """Daily series of a backtest plus summary ``metrics`` (see module docstring)."""

    strategy: str
    equity: np.ndarray  # (days,), starts at 1.0
    returns: np.ndarray  # (days,), net of costs
    weights: np.ndarray  # (days, symbols), start-of-day weights
    turnover: np.ndarray  # (days,)
    metrics: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)


def _prices(close, min_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    c, _ = as_2d(close, "close", min_rows=min_rows)
    if np.any(c <= 0):
        raise InputError("close contains zero or negative prices.", fix="Pass positive close prices.")
    filled, first, _ = forward_fill(c)
    r = np.zeros_like(filled)
    r[1:] = filled[1:] / filled[:-1] - 1.0
    return filled, np.nan_to_num(r), first


def _cost(cost_bps: float) -> float:
    if not np.isfinite(cost_bps) or cost_bps < 0:
        raise InputError(f"cost_bps={cost_bps!r} must be >= 0.", fix="Use e.g. 10 for 0.10% per trade.")
    return cost_bps / 1e4


def _clean(v) -> float | None:
    v = float(v)
    return round(v, 6) if np.isfinite(v) else None


def _result(strategy, weights, gross, turnover, cost, n_reb, symbols, risk_free, params) -> BacktestResult:
    returns = gross - turnover * cost
    equity = np.cumprod(1.0 + returns)
    active = np.flatnonzero(weights.sum(axis=1) > 0)
    m: dict = {"n_days": int(len(returns)), "active_days": 0, "start_index": None}
    keys = ("total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown")
    if active.size >= 2:
        rr = returns[active[0]:]
        s = risk.risk_summary(rr, risk_free=risk_free)
        m.update({k: _clean(s[k]) for k in keys})
        m.update(active_days=int(rr.size), start_index=int(active[0]),
                 avg_turnover=_clean(turnover[active[0]:].mean()))
    else:
        m.update({k: None for k in keys}, avg_turnover=None)
    m.update(total_cost=_clean((turnover * cost).sum()), n_rebalances=int(n_reb), risk_free=float(risk_free))
    if symbols is not None:
        m["final_holdings"] = [symbols[i] for i in np.flatnonzero(weights[-1] > 0)]
    return BacktestResult(strategy, equity, returns, weights, turnover, m, params)


def _symbols(close, symbols, n: int):
    if symbols is None and hasattr(close, "columns"):
        symbols = list(close.columns)
    if symbols is not None:
        symbols = [str(s) for s in symbols]
        if len(symbols) != n:
            raise InputError(f"{len(symbols)} symbols for {n} price columns.", fix="Pass one symbol per column.")
    return symbols


def momentum_backtest(close, lookback: int = 126, skip: int = 21, top_n: int = 5, rebalance_every: int = 21,
                      cost_bps: float = 10.0, symbols=None, risk_free: float = DEFAULT_RISK_FREE_RATE) -> BacktestResult:
    """Cross-sectional momentum: every ``rebalance_every`` days hold the ``top_n`` symbols with the
    best return from ``t-1-skip-lookback`` to ``t-1-skip`` (equal weight), drifting in between.

    The first rebalance is day ``lookback + skip + 1``; cash (0 return) before it.
    """
    lookback, top_n = check_period(lookback, "lookback"), check_period(top_n, "top_n")
    skip, every = check_period(skip, "skip", 0), check_period(rebalance_every, "rebalance_every")
    cost = _cost(cost_bps)
    start = lookback + skip + 1
    c, r, first = _prices(close, start + 1)
    t, n = c.shape
    symbols = _symbols(close, symbols, n)
    reb = np.arange(start, t, every)
    end, begin = reb - 1 - skip, reb - 1 - skip - lookback  # both <= t_rebalance - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        score = c[end] / c[begin] - 1.0
    score[begin[:, None] < first[None, :]] = np.nan  # not enough own history yet
    order = np.argsort(np.where(np.isnan(score), np.inf, -score), axis=1, kind="stable")[:, :top_n]
    picked = np.zeros_like(score, dtype=bool)
    np.put_along_axis(picked, order, True, axis=1)
    picked &= ~np.isnan(score)
    counts = picked.sum(axis=1, keepdims=True)
    targets = np.where(picked, 1.0 / np.maximum(counts, 1), 0.0)

    weights = np.zeros((t, n))
    gross = np.zeros(t)
    turnover = np.zeros(t)
    drifted = np.zeros(n)
    for k, day in enumerate(reb):  # one step per rebalance; each holding period is vectorised
        stop = reb[k + 1] if k + 1 < reb.size else t
        target = targets[k]
        turnover[day] = np.abs(target - drifted).sum()
        value = target * np.cumprod(1.0 + r[day:stop], axis=0)  # end-of-day value per name
        before = np.vstack([target, value[:-1]])  # start-of-day values
        tot = before.sum(axis=1, keepdims=True)
        weights[day:stop] = np.where(tot > 0, before / np.where(tot > 0, tot, 1.0), 0.0)
        gross[day:stop] = np.where(tot[:, 0] > 0, value.sum(axis=1) / np.where(tot[:, 0] > 0, tot[:, 0], 1.0) - 1.0, 0.0)
        last = value[-1].sum()
        drifted = value[-1] / last if last > 0 else np.zeros(n)
    params = {"lookback": lookback, "skip": skip, "top_n": top_n, "rebalance_every": every, "cost_bps": cost_bps}
    return _result("momentum", weights, gross, turnover, cost, reb.size, symbols, risk_free, params)


def mean_reversion_backtest(close, window: int = 20, entry_z: float = -1.5, exit_z: float = 0.0,
                            cost_bps: float = 10.0, symbols=None,
                            risk_free: float = DEFAULT_RISK_FREE_RATE) -> BacktestResult:
    """Per-symbol mean reversion on the z-score ``(close - SMA) / std`` over ``window`` days
    (population std): enter when z < ``entry_z``, exit when z >= ``exit_z``, hold in between.

    Held names are equal-weighted and rebalanced to equal weight daily (that drift trading is in
    ``turnover``). ``n_rebalances`` counts days on which the set of held names changes. Fully
    vectorised: the entry/exit state machine is a forward fill of entry (1) / exit (0) events.
    """
    window = check_period(window, "window", 2)
    if not entry_z < exit_z:
        raise InputError(f"entry_z={entry_z} must be below exit_z={exit_z}.", fix="Use e.g. -1.5 and 0.0.")
    cost = _cost(cost_bps)
    c, r, first = _prices(close, window + 1)
    t, n = c.shape
    symbols = _symbols(close, symbols, n)
    upper, mid, _ = ind.bbands(np.asarray(close, dtype=float).reshape(t, n), window, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = upper - mid
        z = np.where(sd > 0, (c - mid) / np.where(sd > 0, sd, 1.0), np.nan)
    event = np.where(z < entry_z, 1.0, np.where(z >= exit_z, 0.0, np.nan))  # NaN: keep state
    state = forward_fill(np.vstack([np.zeros((1, n)), event]))[0][1:]
    held = np.zeros((t, n), dtype=bool)
    held[1:] = state[:-1] > 0.5  # decided at the close of t-1, held during t
    count = held.sum(axis=1, keepdims=True)
    weights = np.where(held, 1.0 / np.maximum(count, 1), 0.0)
    gross = (weights * r).sum(axis=1)
    drifted = np.zeros((t, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        grown = weights[:-1] * (1.0 + r[:-1])
        tot = grown.sum(axis=1, keepdims=True)
        drifted[1:] = np.where(tot > 0, grown / np.where(tot > 0, tot, 1.0), 0.0)
    turnover = np.abs(weights - drifted).sum(axis=1)
    n_reb = int(np.any(held[1:] != held[:-1], axis=1).sum())
    params = {"window": window, "entry_z": entry_z, "exit_z": exit_z, "cost_bps": cost_bps}
    return _result("mean_reversion", weights, gross, turnover, cost, n_reb, symbols, risk_free, params)


def window_summary(result: BacktestResult, start: int = 0, risk_free: float = DEFAULT_RISK_FREE_RATE) -> dict:
    """Metrics and trading activity of ``result`` over days ``start..end`` (a display window that begins
    after the strategy's warm-up), as if the equity were rebased to 1.0 at the close of day ``start``.

    Returns ``total_return, cagr, volatility, sharpe_ratio, sortino_ratio, max_drawdown`` (fractions,
    annualised with 252 days) over the returns of days ``start+1..``, and ``trades`` (positions opened
    plus closed: a symbol's weight going from 0 to > 0 or back), ``rebalance_days`` (days with turnover),
    ``turnover`` (sum of two-sided turnover, 1.0 = the book traded once), ``cost`` (sum of the daily cost
    deductions, a fraction of capital). Floats rounded to 6 dp; undefined values None.
    """
    days = result.returns.size
    if not 0 <= start < days - 1:
        raise InputError(f"start={start} leaves no days in a {days}-day backtest.",
                         fix=f"Use a start from 0 to {days - 2}.")
    keys = ("total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown")
    s = risk.risk_summary(result.returns[start + 1:], risk_free=risk_free)
    held = result.weights[start:] > 0
    changes = held[1:] != held[:-1]
    turnover = result.turnover[start + 1:]
    cost = float(result.params.get("cost_bps", 0.0)) / 1e4
    out = {k: _clean(s[k]) for k in keys}
    out.update(trades=int(changes.sum()), rebalance_days=int((turnover > 0).sum()),
               turnover=_clean(turnover.sum()), cost=_clean((turnover * cost).sum()))
    return out
