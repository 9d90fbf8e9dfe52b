"""Parameter sweeps and the out-of-sample train/test split of :mod:`qlwork.analytics.backtest`.

:func:`train_test` splits the window at a row: every parameter combination runs on the first part (the
train window, with the prices after the split cut off, so nothing later can leak in), the one with the
best ``criterion`` (default Sharpe; ties go to the earlier combination) is kept, and only that one runs
on the second part (the test window, beside buy-and-hold and the benchmark over the same days). The test
window's warm-up is the history before it, the train window included: past prices, not look-ahead.
:func:`walk_forward` repeats the choice every ``test_days`` on the ``train_days`` before (rolling).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from qlwork.config import DEFAULT_RISK_FREE_RATE
from qlwork.errors import InputError

from .backtest import STRATEGY, Backtest, Book, run_backtest, strategy_params, warmup_rows
from .backtest_metrics import book_metrics

__all__ = ["DEFAULT_GRIDS", "OutOfSample", "WalkForward", "parameter_grid", "grid_warmup", "sweep", "train_test",
           "walk_forward"]

DEFAULT_GRIDS = {
    "momentum": {"lookback": (63, 126, 252), "rebalance_every": (5, 21, 63)},
    "mean_reversion": {"window": (10, 20, 40), "entry_z": (-1.0, -1.5, -2.0)},
}
"""Parameters varied by default per strategy (the others keep their given values)."""
MIN_PART_DAYS = 20
"""Fewest trading days in each part of a train/test split."""


def parameter_grid(strategy: str, base: dict | None = None, grid: dict | None = None) -> list[dict]:
    """Every combination of ``grid`` (name -> values; default :data:`DEFAULT_GRIDS`) over ``base``,
    in the grid's order, each checked and completed by :func:`strategy_params`."""
    base = strategy_params(strategy, base)
    grid = DEFAULT_GRIDS[strategy] if grid is None else grid
    if not grid or any(not list(v) for v in grid.values()):
        raise InputError("The parameter grid is empty.", fix="Give each parameter a list of values, e.g. "
                         "{'lookback': [63, 126, 252]}.")
    names = list(grid)
    return [strategy_params(strategy, {**base, **dict(zip(names, combo))})
            for combo in itertools.product(*(list(grid[k]) for k in names))]


def grid_warmup(strategy: str, combos: list[dict]) -> int:
    """The longest warm-up any of ``combos`` needs."""
    return max(warmup_rows(strategy, p) for p in combos)


def sweep(close, benchmark, strategy: str, combos: list[dict], start: int, cost_bps: float = 10.0,
          symbols=None, risk_free: float = DEFAULT_RISK_FREE_RATE) -> list[Backtest]:
    """One :class:`Backtest` per parameter combination, all over the same window (rows ``start ..``)."""
    need = grid_warmup(strategy, combos)
    if start < need:
        raise InputError(f"The sweep needs {need} rows of warm-up before the window; there are {start}.",
                         fix="Use shorter lookbacks or windows in the grid, or a later window start.")
    return [run_backtest(close, benchmark, strategy, p, start, cost_bps, symbols, risk_free) for p in combos]


@dataclass
class OutOfSample:
    """A train/test split: rows ``train_start .. split`` choose the parameters, rows ``split .. last``
    report them. ``trials`` hold each combination's train-window strategy metrics (``params`` and
    ``metrics``), ``chosen`` the winner, ``test`` its backtest over the test window."""

    criterion: str
    train_start: int
    split: int
    last: int
    trials: list[dict]
    chosen: dict
    test: Backtest


def _score(value) -> float:
    return -np.inf if value is None else float(value)


def train_test(close, benchmark, strategy: str, base: dict | None = None, grid: dict | None = None,
               start: int | None = None, train_fraction: float = 0.5, cost_bps: float = 10.0, symbols=None,
               risk_free: float = DEFAULT_RISK_FREE_RATE, criterion: str = "sharpe_ratio") -> OutOfSample:
    """Choose ``strategy``'s parameters from ``grid`` on the first ``train_fraction`` of the window that
    starts at row ``start`` (default: the grid's warm-up), report the choice on the rest."""
    combos = parameter_grid(strategy, base, grid)
    need = grid_warmup(strategy, combos)
    start = need if start is None else int(start)
    close, benchmark = np.asarray(close, dtype=float), np.asarray(benchmark, dtype=float)
    last = close.shape[0] - 1
    if not 0.0 < train_fraction < 1.0:
        raise InputError(f"train_fraction={train_fraction} must be between 0 and 1.", fix="Use e.g. 0.5.")
    split = start + int(round(train_fraction * (last - start)))
    if min(split - start, last - split) < MIN_PART_DAYS:
        raise InputError(f"A {last - start}-day window split at {train_fraction:g} leaves under {MIN_PART_DAYS} "
                         "days in a part.", fix="Use a longer window.")
    trained = sweep(close[:split + 1], benchmark[:split + 1], strategy, combos, start, cost_bps, symbols, risk_free)
    trials = [{"params": {k: v for k, v in bt.params.items() if k != "cost_bps"}, "metrics": bt.books[STRATEGY].metrics}
              for bt in trained]
    best = int(np.argmax([_score(t["metrics"].get(criterion)) for t in trials]))  # first of equals
    chosen = trials[best]["params"]
    test = run_backtest(close, benchmark, strategy, chosen, split, cost_bps, symbols, risk_free)
    return OutOfSample(criterion, start, split, last, trials, chosen, test)


@dataclass
class WalkForward:
    """Walk-forward: every ``test_days`` the parameters are chosen again on the ``train_days`` before
    (rolling), then held for the next ``test_days``. ``folds`` hold each fold's ``train``/``test`` rows
    (first, last), ``chosen`` and its test-window strategy ``metrics``; ``backtest`` chains the folds'
    strategy days into one book (re-bought at each fold start, costs included) beside buy-and-hold and the
    benchmark over the same days (rows ``backtest.start ..``)."""

    criterion: str
    folds: list[dict]
    backtest: Backtest


def walk_forward(close, benchmark, strategy: str, base: dict | None = None, grid: dict | None = None,
                 start: int | None = None, train_days: int = 252, test_days: int = 126, cost_bps: float = 10.0,
                 symbols=None, risk_free: float = DEFAULT_RISK_FREE_RATE,
                 criterion: str = "sharpe_ratio") -> WalkForward:
    """Walk-forward over the window that starts at row ``start`` (default: the grid's warm-up): the first
    fold's test starts ``train_days`` after it; no fold sees a price after its own test start."""
    combos = parameter_grid(strategy, base, grid)
    start = grid_warmup(strategy, combos) if start is None else int(start)
    close, benchmark = np.asarray(close, dtype=float), np.asarray(benchmark, dtype=float)
    last = close.shape[0] - 1
    first = start + int(train_days)
    if min(int(train_days), int(test_days)) < MIN_PART_DAYS or first + MIN_PART_DAYS > last:
        raise InputError(f"A {last - start}-day window cannot hold {train_days} train days and a {test_days}-day "
                         "test fold.", fix="Use a longer window or shorter train_days / test_days.")
    folds, parts = [], []
    for s in range(first, last, int(test_days)):
        e = min(s + int(test_days), last)
        trained = sweep(close[:s + 1], benchmark[:s + 1], strategy, combos, s - int(train_days), cost_bps, symbols,
                        risk_free)
        scores = [_score(bt.books[STRATEGY].metrics.get(criterion)) for bt in trained]
        chosen = {k: v for k, v in trained[int(np.argmax(scores))].params.items() if k != "cost_bps"}
        test = run_backtest(close[:e + 1], benchmark[:e + 1], strategy, chosen, s, cost_bps, symbols, risk_free)
        folds.append({"train": (s - int(train_days), s), "test": (s, e), "chosen": chosen,
                      "metrics": test.books[STRATEGY].metrics})
        parts.append(test.books[STRATEGY])
    whole = run_backtest(close, benchmark, strategy, base, first, cost_bps, symbols, risk_free)  # the comparisons
    returns = np.concatenate([p.returns for p in parts])
    weights = np.concatenate([p.weights for p in parts])
    turnover = np.concatenate([p.turnover for p in parts])
    chained = Book(STRATEGY, returns, np.concatenate([[1.0], np.cumprod(1.0 + returns)]), weights, turnover,
                   book_metrics(returns, weights, turnover, cost_bps / 1e4, risk_free=risk_free))
    books = {**whole.books, STRATEGY: chained}
    bt = Backtest(strategy, {**whole.params, "train_days": int(train_days), "test_days": int(test_days)}, first,
                  grid_warmup(strategy, combos), {k: books[k] for k in whole.books}, whole.symbols, risk_free)
    return WalkForward(criterion, folds, bt)
