"""analytics.backtest_oos: the train/test split chooses on the first part only and reports on the second;
a sweep is the same window for every combination."""

import numpy as np
import pytest

from qlwork.analytics import run_backtest
from qlwork.analytics.backtest_oos import parameter_grid, sweep, train_test
from qlwork.errors import InputError


@pytest.fixture(scope="module")
def prices():
    rng = np.random.default_rng(8)
    close = 100 * np.exp(np.cumsum(rng.normal(np.linspace(-0.0004, 0.0008, 12), 0.016, (900, 12)), axis=0))
    index = 10_000 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, 900)))
    return close, index


GRID = {"lookback": (40, 80), "rebalance_every": (5, 20)}


def test_the_choice_is_the_best_train_sharpe_and_is_reported_on_the_test_part(prices):
    close, index = prices
    o = train_test(close, index, "momentum", {"skip": 5, "top_n": 3}, GRID, start=100, train_fraction=0.5)
    assert (o.train_start, o.split, o.last) == (100, 500, 899)
    assert len(o.trials) == 4 and [t["params"]["lookback"] for t in o.trials] == [40, 40, 80, 80]
    best = max(o.trials, key=lambda t: t["metrics"]["sharpe_ratio"])
    assert o.chosen == best["params"]
    # each trial is the strategy run on the train window alone
    alone = run_backtest(close[:501], index[:501], "momentum", o.trials[2]["params"], start=100)
    assert o.trials[2]["metrics"] == alone.books["strategy"].metrics
    # the test part: rows 500.. with the chosen parameters, beside buy-and-hold and the index on the same days
    assert o.test.start == 500 and o.test.days == 399
    again = run_backtest(close, index, "momentum", o.chosen, start=500)
    assert o.test.metrics() == again.metrics()


def test_prices_after_the_split_cannot_change_the_choice(prices):
    close, index = prices
    base = train_test(close, index, "momentum", {"skip": 5, "top_n": 3}, GRID, start=100)
    later = close.copy()
    later[501:] *= np.exp(np.random.default_rng(1).normal(0, 0.3, later[501:].shape))
    alt = train_test(later, index, "momentum", {"skip": 5, "top_n": 3}, GRID, start=100)
    assert [t["metrics"] for t in alt.trials] == [t["metrics"] for t in base.trials]
    assert alt.chosen == base.chosen
    assert alt.test.books["strategy"].metrics != base.test.books["strategy"].metrics


def test_sweep_runs_every_combination_over_one_window(prices):
    close, index = prices
    combos = parameter_grid("mean_reversion", None, {"window": (10, 30), "entry_z": (-1.0, -2.0)})
    assert [(c["window"], c["entry_z"]) for c in combos] == [(10, -1.0), (10, -2.0), (30, -1.0), (30, -2.0)]
    runs = sweep(close, index, "mean_reversion", combos, start=50)
    assert {r.start for r in runs} == {50} and len({r.days for r in runs}) == 1
    assert len({r.books["strategy"].metrics["total_return"] for r in runs}) == 4  # the parameters matter
    assert all(r.books["buy_and_hold"].metrics == runs[0].books["buy_and_hold"].metrics for r in runs)


def test_bad_splits_and_grids_are_refused(prices):
    close, index = prices
    with pytest.raises(InputError, match="warm-up"):
        sweep(close, index, "momentum", parameter_grid("momentum", None, {"lookback": (300,)}), start=100)
    with pytest.raises(InputError, match="under 20 days"):
        train_test(close[:130], index[:130], "momentum", {"skip": 5}, GRID, start=100)
    with pytest.raises(InputError, match="empty"):
        parameter_grid("momentum", None, {"lookback": ()})
    with pytest.raises(InputError, match="train_fraction"):
        train_test(close, index, "momentum", None, GRID, start=300, train_fraction=1.0)


def test_walk_forward_chains_folds_chosen_on_the_past_only(prices):
    from qlwork.analytics.backtest_oos import walk_forward

    close, index = prices
    base = {"skip": 5, "top_n": 3}
    wf = walk_forward(close, index, "momentum", base, GRID, start=100, train_days=200, test_days=150)
    assert [f["test"] for f in wf.folds] == [(300, 450), (450, 600), (600, 750), (750, 899)]
    assert [f["train"] for f in wf.folds] == [(100, 300), (250, 450), (400, 600), (550, 750)]
    for f in wf.folds:  # each choice is the best train Sharpe, each test the chosen rule from cash
        s, e = f["test"]
        trials = sweep(close[:s + 1], index[:s + 1], "momentum", parameter_grid("momentum", base, GRID), s - 200)
        best = max(trials, key=lambda bt: bt.books["strategy"].metrics["sharpe_ratio"])
        assert f["chosen"] == {k: v for k, v in best.params.items() if k != "cost_bps"}
        alone = run_backtest(close[:e + 1], index[:e + 1], "momentum", f["chosen"], start=s)
        assert f["metrics"] == alone.books["strategy"].metrics
    bt = wf.backtest
    chained = np.prod([1 + f["metrics"]["total_return"] for f in wf.folds]) - 1
    assert bt.books["strategy"].metrics["total_return"] == pytest.approx(chained, rel=1e-12)
    assert bt.start == 300 and bt.days == 599 and all(b.returns.size == 599 for b in bt.books.values())
    # a price after the first fold's test start cannot change the first choice
    later = close.copy()
    later[301:] *= 1.5 ** np.random.default_rng(2).normal(0, 1, later[301:].shape)
    again = walk_forward(later, index, "momentum", base, GRID, start=100, train_days=200, test_days=150)
    assert again.folds[0]["chosen"] == wf.folds[0]["chosen"]
    with pytest.raises(InputError, match="test fold"):
        walk_forward(close[:350], index[:350], "momentum", base, GRID, start=100, train_days=240, test_days=150)
