import numpy as np
import pytest

from qlwork.analytics import mean_reversion_backtest, momentum_backtest
from qlwork.errors import InputError


@pytest.fixture(scope="module")
def close():
    rng = np.random.default_rng(21)
    drift = np.linspace(-0.0005, 0.001, 25)  # some symbols trend better than others
    return 100 * np.exp(np.cumsum(rng.normal(drift, 0.015, (700, 25)), axis=0))


RUNS = [
    lambda c, **k: momentum_backtest(c, lookback=60, skip=5, top_n=4, rebalance_every=10, **k),
    lambda c, **k: mean_reversion_backtest(c, window=20, **k),
]


@pytest.mark.parametrize("run", RUNS)
def test_no_look_ahead(close, run):
    base = run(close)
    for t0 in (200, 450):
        changed = close.copy()
        changed[t0:] *= np.exp(np.random.default_rng(t0).normal(0, 0.2, changed[t0:].shape))
        alt = run(changed)
        # weights held on day t use closes through t-1 only: days <= t0 are unchanged
        np.testing.assert_array_equal(alt.weights[: t0 + 1], base.weights[: t0 + 1])
        np.testing.assert_array_equal(alt.returns[:t0], base.returns[:t0])
        assert not np.array_equal(alt.weights[t0 + 1 :], base.weights[t0 + 1 :])


@pytest.mark.parametrize("run", RUNS)
def test_accounting(close, run):
    res = run(close)
    assert res.equity[0] == 1.0 and res.returns[0] == 0.0
    np.testing.assert_allclose(res.equity, np.cumprod(1 + res.returns), rtol=1e-12)
    sums = res.weights.sum(axis=1)
    assert np.all((np.abs(sums - 1) < 1e-9) | (sums == 0)) and np.all(res.weights >= 0)
    daily = np.vstack([np.zeros((1, close.shape[1])), close[1:] / close[:-1] - 1])
    gross = (res.weights * daily).sum(axis=1)  # weights applied to the same day's returns
    np.testing.assert_allclose(res.returns, gross - res.turnover * 10 / 1e4, atol=1e-12)
    m = res.metrics
    for key in ("total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown",
                "avg_turnover", "n_rebalances"):
        assert key in m and m[key] is not None
    active = res.returns[m["start_index"]:]
    assert m["total_return"] == pytest.approx(np.prod(1 + active) - 1, abs=1e-6)
    assert -1 <= m["max_drawdown"] <= 0


@pytest.mark.parametrize("run", RUNS)
def test_costs_reduce_returns(close, run):
    free, costly = run(close, cost_bps=0.0), run(close, cost_bps=50.0)
    np.testing.assert_array_equal(free.weights, costly.weights)
    assert np.all(costly.returns <= free.returns + 1e-15)
    assert costly.equity[-1] < free.equity[-1]
    assert costly.metrics["total_cost"] > 0 == free.metrics["total_cost"]


def test_momentum_picks_top_names_on_rebalance(close):
    res = momentum_backtest(close, lookback=60, skip=5, top_n=4, rebalance_every=10,
                            symbols=[f"S{i}" for i in range(25)])
    day = 60 + 5 + 1
    assert res.metrics["start_index"] == day and np.all(res.weights[:day] == 0)
    score = close[day - 1 - 5] / close[day - 1 - 5 - 60] - 1
    expected = set(np.argsort(-score)[:4])
    assert set(np.flatnonzero(res.weights[day])) == expected
    np.testing.assert_allclose(res.weights[day][list(expected)], 0.25)
    assert res.turnover[day] == pytest.approx(1.0)  # bought from cash
    assert len(res.metrics["final_holdings"]) == 4
    assert res.metrics["n_rebalances"] == len(range(day, 700, 10))
    # between rebalances weights drift and there is no trading
    assert np.all(res.turnover[day + 1 : day + 10] == 0)


def test_mean_reversion_enters_after_drop_and_exits_on_recovery():
    days = 120
    p = np.full((days, 2), 100.0) + np.sin(np.arange(days))[:, None] * 0.5
    p[60:65, 0] = [95, 92, 90, 91, 93]  # sharp drop -> entry
    p[65:, 0] = 101.0  # recovery -> exit
    res = mean_reversion_backtest(p, window=20, entry_z=-1.5, exit_z=0.0)
    assert res.weights[60, 0] == 0 and res.weights[61, 0] == 1.0  # entered the day after the signal
    assert res.weights[-1, 0] == 0.0
    assert res.weights[:, 1].max() == 0.0  # the calm symbol never triggers


def test_bad_parameters(close):
    with pytest.raises(InputError):
        momentum_backtest(close[:50])
    with pytest.raises(InputError):
        mean_reversion_backtest(close, entry_z=1.0, exit_z=0.0)
    with pytest.raises(InputError):
        momentum_backtest(close, cost_bps=-1)
    with pytest.raises(InputError):
        momentum_backtest(close, symbols=["A"])
