"""Vectorised long-only strategy backtests on a days x symbols close array, each one beside an
equal-weight buy-and-hold of the same symbols and a benchmark index, over one stated window with the
same costs (:class:`Backtest`: the one result shape of the chat tool, the explorer and the report).

Window and warm-up: ``start`` is the row of the window's first close. Every book is in cash there
(equity 1.0) and the window's returns are those of rows ``start+1 .. last``. The rows before ``start``
are the **warm-up**: history the rule's first decision needs (momentum: ``lookback + skip`` rows; mean
reversion: ``window - 1`` rows, see :func:`warmup_rows`). They are in no curve and no metric.

Timing (no look-ahead): the weights held on day ``t`` are decided with closes up to ``t-1`` only and
earn day ``t``'s simple close-to-close return. ``weights[t]`` are start-of-day weights (they drift with
prices between rebalances); ``turnover[t] = sum(|target - drifted|)`` on a rebalance day (two-sided,
1.0 = the whole book traded once; buying from cash counts 1.0) and ``turnover * cost_bps / 1e4`` is
deducted from day ``t``'s return. Every book buys on the window's first day, so the strategy, the
buy-and-hold and the index (bought as if through an index fund) all pay the same entry cost. Missing
prices are carried forward (a gap day earns 0, the next valid day the full move); a symbol is only
eligible once its own history is long enough, and buy-and-hold buys the symbols priced at ``start``.
Metrics: :mod:`qlwork.analytics.backtest_metrics`; sweeps and the train/test split:
:mod:`qlwork.analytics.backtest_oos`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from qlwork.config import DEFAULT_RISK_FREE_RATE
from qlwork.errors import InputError

from . import indicators as ind
from ._common import as_2d, check_period, forward_fill
from .backtest_metrics import book_metrics

__all__ = ["Book", "Backtest", "BOOKS", "STRATEGIES", "DEFAULT_PARAMS", "run_backtest", "momentum_backtest",
           "mean_reversion_backtest", "warmup_rows", "strategy_params"]

STRATEGY, BUY_AND_HOLD, BENCHMARK_BOOK = "strategy", "buy_and_hold", "benchmark"
BOOKS = (STRATEGY, BUY_AND_HOLD, BENCHMARK_BOOK)
"""Keys of :attr:`Backtest.books`, in display order."""

DEFAULT_PARAMS = {
    "momentum": {"lookback": 126, "skip": 21, "top_n": 3, "rebalance_every": 21},
    "mean_reversion": {"window": 20, "entry_z": -1.5, "exit_z": 0.0},
}
"""Each strategy's parameters and their defaults (the chat tool and the explorer use these)."""
STRATEGIES = tuple(DEFAULT_PARAMS)


@dataclass
class Book:
    """One book over the window: ``returns`` (days,), net of costs; ``equity`` (days + 1,), 1.0 at the
    window's first close; ``weights`` (days, columns) start-of-day; ``turnover`` (days,); ``metrics``
    from :func:`qlwork.analytics.backtest_metrics.book_metrics`."""

    name: str
    returns: np.ndarray
    equity: np.ndarray
    weights: np.ndarray
    turnover: np.ndarray
    metrics: dict = field(default_factory=dict)


@dataclass
class Backtest:
    """A strategy beside equal-weight buy-and-hold and the benchmark, over rows ``start .. last``.

    ``params`` are the strategy's parameters plus ``cost_bps``; ``warmup`` the rows the rule needed
    before the window (``<= start``; the rows before ``start`` are all history, used or not);
    ``books`` maps :data:`BOOKS` to :class:`Book`. ``symbols`` name the columns (None if unnamed).
    """

    strategy: str
    params: dict
    start: int
    warmup: int
    books: dict[str, Book]
    symbols: list[str] | None = None
    risk_free: float = DEFAULT_RISK_FREE_RATE

    @property
    def days(self) -> int:
        """Returns in the window (its trading days after the first close)."""
        return int(self.books[STRATEGY].returns.size)

    def final_holdings(self) -> list:
        """Columns (symbols when named) the strategy holds on the window's last day."""
        held = np.flatnonzero(self.books[STRATEGY].weights[-1] > 0)
        return [self.symbols[i] for i in held] if self.symbols is not None else [int(i) for i in held]

    def metrics(self) -> dict[str, dict]:
        """Book name -> its metrics."""
        return {name: book.metrics for name, book in self.books.items()}


def strategy_params(strategy: str, params: dict | None = None) -> dict:
    """``params`` checked against ``strategy``'s names and completed with :data:`DEFAULT_PARAMS`."""
    if strategy not in DEFAULT_PARAMS:
        raise InputError(f"Unknown strategy {strategy!r}.", fix=f"Use one of: {', '.join(STRATEGIES)}.")
    given = dict(params or {})
    unknown = sorted(set(given) - set(DEFAULT_PARAMS[strategy]))
    if unknown:
        raise InputError(f"{strategy} has no parameter {', '.join(unknown)}.",
                         fix=f"Use only: {', '.join(DEFAULT_PARAMS[strategy])}.")
    out = {**DEFAULT_PARAMS[strategy], **given}
    if strategy == "momentum":
        out["lookback"], out["top_n"] = check_period(out["lookback"], "lookback"), check_period(out["top_n"], "top_n")
        out["skip"] = check_period(out["skip"], "skip", 0)
        out["rebalance_every"] = check_period(out["rebalance_every"], "rebalance_every")
    else:
        out["window"] = check_period(out["window"], "window", 2)
        out["entry_z"], out["exit_z"] = float(out["entry_z"]), float(out["exit_z"])
        if not out["entry_z"] < out["exit_z"]:
            raise InputError(f"entry_z={out['entry_z']} must be below exit_z={out['exit_z']}.",
                             fix="Use e.g. -1.5 and 0.0.")
    return out


def warmup_rows(strategy: str, params: dict | None = None) -> int:
    """Rows of history before the window's first close that the rule's first decision needs."""
    p = strategy_params(strategy, params)
    return p["lookback"] + p["skip"] if strategy == "momentum" else p["window"] - 1


def _cost(cost_bps: float) -> float:
    if not np.isfinite(cost_bps) or cost_bps < 0:
        raise InputError(f"cost_bps={cost_bps!r} must be >= 0.", fix="Use e.g. 10 for 0.10% per trade.")
    return cost_bps / 1e4


def _prices(close, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(raw, carried-forward, first valid row per column) of a positive price array."""
    raw, _ = as_2d(close, name, min_rows=3)
    with np.errstate(invalid="ignore"):
        if np.any(raw <= 0):
            raise InputError(f"{name} contains zero or negative prices.", fix="Pass positive close prices.")
    filled, first, _ = forward_fill(raw)
    return raw, filled, first


def _momentum_targets(c, first, start, p) -> tuple[np.ndarray, np.ndarray]:
    """Rebalance rows every ``rebalance_every`` days from ``start + 1`` and the equal-weight top ``top_n``
    by the return from row ``t-1-skip-lookback`` to ``t-1-skip`` (both <= t-1)."""
    reb = np.arange(start + 1, c.shape[0], p["rebalance_every"])
    end = reb - 1 - p["skip"]
    begin = end - p["lookback"]
    with np.errstate(invalid="ignore", divide="ignore"):
        score = c[end] / c[begin] - 1.0
    score[begin[:, None] < first[None, :]] = np.nan  # not enough own history yet
    order = np.argsort(np.where(np.isnan(score), np.inf, -score), axis=1, kind="stable")[:, :p["top_n"]]
    picked = np.zeros_like(score, dtype=bool)
    np.put_along_axis(picked, order, True, axis=1)
    picked &= ~np.isnan(score)
    return reb, picked / np.maximum(picked.sum(axis=1, keepdims=True), 1)


def _mean_reversion_targets(raw, c, start, p) -> tuple[np.ndarray, np.ndarray]:
    """Daily rebalance rows from ``start + 1``: equal weight over the names whose z-score
    ``(close - SMA) / std`` (population std, ``window`` days) fell below ``entry_z`` and has not yet
    come back to ``exit_z`` at the previous close. The entry/exit state is a forward fill of entry (1)
    and exit (0) events from the first row of history."""
    upper, mid, _ = ind.bbands(raw, p["window"], 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = upper - mid
        z = np.where(sd > 0, (c - mid) / np.where(sd > 0, sd, 1.0), np.nan)
    event = np.where(z < p["entry_z"], 1.0, np.where(z >= p["exit_z"], 0.0, np.nan))  # NaN: keep state
    state = forward_fill(np.vstack([np.zeros((1, c.shape[1])), event]))[0][1:] > 0.5  # state at each close
    reb = np.arange(start + 1, c.shape[0])
    held = state[reb - 1]  # decided at the close of t-1, held during t
    return reb, held / np.maximum(held.sum(axis=1, keepdims=True), 1)


def _book(name: str, c: np.ndarray, reb: np.ndarray, targets: np.ndarray, cost: float, risk_free: float) -> Book:
    """Account a book over window prices ``c`` (row 0 = the window's first close, in cash): at rebalance
    row ``reb[k]`` (>= 1) the book is set to ``targets[k]`` and drifts until the next one. Vectorised:
    in period ``k`` a name's value is ``target * c[t] / c[reb[k] - 1]``."""
    m = c.shape[0] - 1
    day = np.arange(1, m + 1)
    k = np.searchsorted(reb, day, side="right") - 1
    live = k >= 0
    kk = np.maximum(k, 0)
    target = np.where(live[:, None], targets[kk], 0.0)
    base = c[reb[kk] - 1]
    before = target * (c[day - 1] / base)  # start-of-day values
    after = target * (c[day] / base)  # end-of-day values
    tb, ta = before.sum(axis=1), after.sum(axis=1)
    safe_b, safe_a = np.where(tb > 0, tb, 1.0), np.where(ta > 0, ta, 1.0)
    gross = np.where(tb > 0, ta / safe_b - 1.0, 0.0)
    weights = before / safe_b[:, None]
    prev = reb - 2  # index (in ``day``) of the day before each rebalance
    drifted = np.where((prev >= 0)[:, None], after[np.maximum(prev, 0)] / safe_a[np.maximum(prev, 0), None], 0.0)
    turnover = np.zeros(m)
    turnover[reb - 1] = np.abs(targets - drifted).sum(axis=1)
    returns = gross - turnover * cost
    equity = np.concatenate([[1.0], np.cumprod(1.0 + returns)])
    metrics = book_metrics(returns, weights, turnover, cost, risk_free=risk_free)
    return Book(name, returns, equity, weights, turnover, metrics)


def _symbols(close, symbols, n: int):
    if symbols is None and hasattr(close, "columns"):
        symbols = list(close.columns)
    if symbols is not None:
        symbols = [str(s) for s in symbols]
        if len(symbols) != n:
            raise InputError(f"{len(symbols)} symbols for {n} price columns.", fix="Pass one symbol per column.")
    return symbols


def run_backtest(close, benchmark, strategy: str = "momentum", params: dict | None = None, start: int | None = None,
                 cost_bps: float = 10.0, symbols=None, risk_free: float = DEFAULT_RISK_FREE_RATE) -> Backtest:
    """``strategy`` (``"momentum"`` or ``"mean_reversion"``, :data:`DEFAULT_PARAMS`) on ``close`` (days x
    symbols, INR) beside equal-weight buy-and-hold of the same columns and ``benchmark`` (the index's
    closes on the same days), over rows ``start ..`` (default: right after the warm-up).

    ``momentum``: every ``rebalance_every`` days hold the ``top_n`` names with the best return from
    ``t-1-skip-lookback`` to ``t-1-skip`` (equal weight), drifting in between. ``mean_reversion``: hold
    (equal weight, rebalanced daily) the names whose ``window``-day z-score fell below ``entry_z`` until
    it is back at ``exit_z``. See the module docstring for timing, costs and the window.
    """
    p = strategy_params(strategy, params)
    cost = _cost(cost_bps)
    raw, c, first = _prices(close, "close")
    _, b, b_first = _prices(benchmark, "benchmark")
    t, n = c.shape
    if b.shape != (t, 1):
        raise InputError(f"benchmark has shape {b.shape} for {t} days of close prices.",
                         fix="Pass the index's closes on the same days, one column.")
    need = warmup_rows(strategy, p)
    start = need if start is None else int(start)
    if start < need:
        raise InputError(f"start={start} leaves {start} rows of warm-up; {strategy} with these parameters needs {need}.",
                         fix=f"Pass a start of at least {need} (or more history before the window).")
    if t - start - 1 < 2:
        raise InputError(f"The window from row {start} of {t} has fewer than 2 trading days.",
                         fix="Pass more days of prices or an earlier start.")
    if b_first[0] > start:
        raise InputError("The benchmark has no price at the window's first close.",
                         fix="Start the window on a day the index is priced.")
    names = _symbols(close, symbols, n)
    if strategy == "momentum":
        p["top_n"] = min(p["top_n"], n)
        reb, targets = _momentum_targets(c, first, start, p)
    else:
        reb, targets = _mean_reversion_targets(raw, c, start, p)
    window, one = c[start:], np.array([1])
    eligible = (first <= start)[None, :].astype(float)
    books = {
        STRATEGY: _book(STRATEGY, window, reb - start, targets, cost, risk_free),
        BUY_AND_HOLD: _book(BUY_AND_HOLD, window, one, eligible / max(eligible.sum(), 1.0), cost, risk_free),
        BENCHMARK_BOOK: _book(BENCHMARK_BOOK, b[start:], one, np.ones((1, 1)), cost, risk_free),
    }
    return Backtest(strategy, {**p, "cost_bps": float(cost_bps)}, start, need, books, names, float(risk_free))


def momentum_backtest(close, benchmark, *, start: int | None = None, cost_bps: float = 10.0, symbols=None,
                      risk_free: float = DEFAULT_RISK_FREE_RATE, **params) -> Backtest:
    """:func:`run_backtest` of the momentum rule (``lookback, skip, top_n, rebalance_every``)."""
    return run_backtest(close, benchmark, "momentum", params, start, cost_bps, symbols, risk_free)


def mean_reversion_backtest(close, benchmark, *, start: int | None = None, cost_bps: float = 10.0, symbols=None,
                            risk_free: float = DEFAULT_RISK_FREE_RATE, **params) -> Backtest:
    """:func:`run_backtest` of the mean-reversion rule (``window, entry_z, exit_z``)."""
    return run_backtest(close, benchmark, "mean_reversion", params, start, cost_bps, symbols, risk_free)
