"""analytics.backtest: no look-ahead, the window and its warm-up, buy-and-hold and index books from the
prices, and every metric recomputed independently (plain NumPy and a per-day reference loop) to 1e-9."""

import numpy as np
import pytest

from qlwork.analytics import mean_reversion_backtest, momentum_backtest, run_backtest
from qlwork.analytics.backtest_metrics import METRIC_KEYS
from qlwork.errors import InputError

COST = 10 / 1e4
RF = 0.065


@pytest.fixture(scope="module")
def close():
    rng = np.random.default_rng(21)
    drift = np.linspace(-0.0005, 0.001, 25)  # some symbols trend better than others
    return 100 * np.exp(np.cumsum(rng.normal(drift, 0.015, (700, 25)), axis=0))


@pytest.fixture(scope="module")
def index():
    rng = np.random.default_rng(5)
    return 20_000 * np.exp(np.cumsum(rng.normal(0.0003, 0.01, 700)))


MOMENTUM = {"lookback": 60, "skip": 5, "top_n": 4, "rebalance_every": 10}
REVERSION = {"window": 20, "entry_z": -1.5, "exit_z": 0.0}
RUNS = [
    lambda c, b, **k: momentum_backtest(c, b, **MOMENTUM, **k),
    lambda c, b, **k: mean_reversion_backtest(c, b, **REVERSION, **k),
]


# -- independent references ---------------------------------------------------------------------------
def reference_metrics(equity: np.ndarray, invested: np.ndarray, turnover: np.ndarray) -> dict:
    """The metrics from an equity curve (1.0 first), written out in plain NumPy."""
    r = equity[1:] / equity[:-1] - 1.0
    days = r.size
    rf = (1 + RF) ** (1 / 252) - 1
    x = r - rf
    mdd = float(np.min(equity / np.maximum.accumulate(equity)) - 1.0)
    cagr = equity[-1] ** (252 / days) - 1
    return {"days": days, "years": days / 252, "total_return": equity[-1] - 1, "cagr": cagr,
            "volatility": np.std(r, ddof=1) * np.sqrt(252),
            "sharpe_ratio": np.mean(x) / np.std(x, ddof=1) * np.sqrt(252),
            "sortino_ratio": np.mean(x) / np.sqrt(np.sum(np.minimum(x, 0) ** 2) / days) * np.sqrt(252),
            "max_drawdown": mdd, "calmar_ratio": cagr / abs(mdd),
            "hit_rate": np.mean(r[invested] > 0), "turnover": turnover.sum(),
            "turnover_per_year": turnover.sum() / (days / 252), "total_costs": turnover.sum() * COST,
            "days_invested": int(invested.sum()), "exposure": invested.mean()}


def momentum_loop(c, start, lookback, skip, top_n, rebalance_every):
    """Day-by-day momentum book: (equity, invested, turnover) over the window."""
    n = c.shape[1]
    w, eq, inv, tos = np.zeros(n), [1.0], [], []
    for k, t in enumerate(range(start + 1, len(c))):
        to = 0.0
        if k % rebalance_every == 0:
            score = c[t - 1 - skip] / c[t - 1 - skip - lookback] - 1
            top = sorted(range(n), key=lambda j: (-score[j], j))[:top_n]
            target = np.zeros(n)
            target[top] = 1 / top_n
            to, w = np.abs(target - w).sum(), target
        r = c[t] / c[t - 1] - 1
        g = float(w @ r)
        eq.append(eq[-1] * (1 + g - to * COST))
        inv.append(w.sum() > 0)
        tos.append(to)
        w = w * (1 + r) / (1 + g)
    return np.array(eq), np.array(inv), np.array(tos)


def reversion_loop(c, start, window, entry_z, exit_z):
    """Day-by-day mean-reversion book with the z-score from a plain rolling mean and population std."""
    n = c.shape[1]
    state = np.zeros(n, dtype=bool)
    w, eq, inv, tos = np.zeros(n), [1.0], [], []
    for t in range(window - 1, len(c)):  # the state at each close, from the first full window
        seg = c[t - window + 1:t + 1]
        z = (c[t] - seg.mean(axis=0)) / seg.std(axis=0)
        state = np.where(z < entry_z, True, np.where(z >= exit_z, False, state))
        if t + 1 >= len(c) or t + 1 <= start:
            continue
        day = t + 1
        target = state / state.sum() if state.any() else np.zeros(n)
        to = np.abs(target - w).sum()
        r = c[day] / c[day - 1] - 1
        g = float(target @ r)
        eq.append(eq[-1] * (1 + g - to * COST))
        inv.append(target.sum() > 0)
        tos.append(to)
        w = target * (1 + r) / (1 + g) if target.sum() > 0 else target
    return np.array(eq), np.array(inv), np.array(tos)


def assert_metrics(got: dict, want: dict) -> None:
    for key, value in want.items():
        assert got[key] == pytest.approx(value, rel=1e-9, abs=1e-9), key


# -- tests ----------------------------------------------------------------------------------------------
def test_strategy_metrics_match_a_day_by_day_reference(close, index):
    start = 100  # beyond the 65-row warm-up: the window is stated, not implied by the rule
    bt = momentum_backtest(close, index, start=start, **MOMENTUM)
    eq, inv, tos = momentum_loop(close, start, **MOMENTUM)
    np.testing.assert_allclose(bt.books["strategy"].equity, eq, rtol=1e-12)
    assert_metrics(bt.books["strategy"].metrics, reference_metrics(eq, inv, tos))
    bt = mean_reversion_backtest(close, index, start=start, **REVERSION)
    eq, inv, tos = reversion_loop(close, start, **REVERSION)
    np.testing.assert_allclose(bt.books["strategy"].equity, eq, rtol=1e-12)
    assert_metrics(bt.books["strategy"].metrics, reference_metrics(eq, inv, tos))
    assert set(bt.books["strategy"].metrics) == set(METRIC_KEYS)


@pytest.mark.parametrize("run", RUNS)
def test_buy_and_hold_and_index_curves_come_from_the_prices(close, index, run):
    start = 120
    bt = run(close, index, start=start)
    rel = close[start:] / close[start]  # each stock's growth since the window's first close
    value = rel.mean(axis=1)  # equal rupees in each stock at the start, never rebalanced
    bh = np.concatenate([[1.0], (value[1] - COST) * value[1:] / value[1]])  # entry cost on day one
    np.testing.assert_allclose(bt.books["buy_and_hold"].equity, bh, rtol=1e-12)
    g = index[start:] / index[start]
    ix = np.concatenate([[1.0], (g[1] - COST) * g[1:] / g[1]])
    np.testing.assert_allclose(bt.books["benchmark"].equity, ix, rtol=1e-12)
    days = len(close) - start - 1
    for name, curve in (("buy_and_hold", bh), ("benchmark", ix)):
        m = bt.books[name].metrics
        assert_metrics(m, reference_metrics(curve, np.ones(days, dtype=bool), bt.books[name].turnover))
        assert m["turnover"] == pytest.approx(1.0) and m["total_costs"] == pytest.approx(COST)
    assert bt.books["buy_and_hold"].metrics["trades"] == close.shape[1] and bt.books["benchmark"].metrics["trades"] == 1


@pytest.mark.parametrize("run", RUNS)
def test_the_warm_up_is_in_no_curve_or_metric(close, index, run):
    start = 150
    bt = run(close, index, start=start)
    days = len(close) - start - 1
    for book in bt.books.values():
        assert book.returns.size == days and book.equity.size == days + 1 and book.equity[0] == 1.0
        assert book.metrics["days"] == days
        assert book.turnover[0] == pytest.approx(1.0) or book.weights[0].sum() == 0  # bought from cash in the window
    # history before the rows the rule reads can be anything: nothing changes
    wild = close.copy()
    wild[: start - bt.warmup] *= np.random.default_rng(3).uniform(0.2, 5.0, wild[: start - bt.warmup].shape)
    again = run(wild, index, start=start)
    if bt.strategy == "momentum":  # mean reversion's entry/exit state starts at the first row by design
        for name in bt.books:
            assert again.books[name].metrics == bt.books[name].metrics


def test_cagr_counts_every_window_day_even_in_cash(close, index):
    calm = close.copy()
    calm[:400] = calm[0]  # flat prices: the z-score rule stays in cash for the first part of the window
    bt = mean_reversion_backtest(calm, index, start=100, **REVERSION)
    m = bt.books["strategy"].metrics
    assert 0 < m["exposure"] < 1 and m["days_invested"] < m["days"]
    assert m["cagr"] == pytest.approx((1 + m["total_return"]) ** (252 / m["days"]) - 1, rel=1e-12)


@pytest.mark.parametrize("run", RUNS)
def test_no_look_ahead(close, index, run):
    base = run(close, index, start=100)
    for t0 in (200, 450):
        changed = close.copy()
        changed[t0:] *= np.exp(np.random.default_rng(t0).normal(0, 0.2, changed[t0:].shape))
        alt = run(changed, index, start=100)
        w0, w1 = base.books["strategy"].weights, alt.books["strategy"].weights
        day = t0 - 100  # window row of price row t0; weights[i] are held on window day i + 1
        # weights held on day t use closes through t-1 only: days <= t0 are unchanged
        np.testing.assert_array_equal(w1[:day], w0[:day])
        np.testing.assert_array_equal(alt.books["strategy"].returns[:day - 1], base.books["strategy"].returns[:day - 1])
        assert not np.array_equal(w1[day:], w0[day:])


def test_a_jump_at_a_close_moves_the_book_the_next_day_not_the_same_day(close, index):
    p = {"lookback": 20, "skip": 0, "top_n": 1, "rebalance_every": 1}
    start, t0 = 100, 300
    jumped = close.copy()
    loser = int(np.argmin(close[t0 - 1] / close[t0 - 21]))
    jumped[t0:, loser] *= 3.0  # from the close of t0 the worst stock becomes the best by far
    bt = momentum_backtest(jumped, index, start=start, **p)
    w = bt.books["strategy"].weights
    assert w[t0 - start - 1, loser] == 0.0  # day t0 is held with closes to t0-1: no knowledge of the jump
    assert w[t0 - start, loser] == 1.0  # day t0+1 is held with closes to t0: the jump is seen


@pytest.mark.parametrize("run", RUNS)
def test_accounting_and_costs(close, index, run):
    bt = run(close, index, start=100)
    s = bt.books["strategy"]
    np.testing.assert_allclose(s.equity, np.concatenate([[1.0], np.cumprod(1 + s.returns)]), rtol=1e-12)
    sums = s.weights.sum(axis=1)
    assert np.all((np.abs(sums - 1) < 1e-9) | (sums == 0)) and np.all(s.weights >= 0)
    r = close[101:] / close[100:-1] - 1
    np.testing.assert_allclose(s.returns, (s.weights * r).sum(axis=1) - s.turnover * COST, atol=1e-12)
    free = run(close, index, start=100, cost_bps=0.0)
    np.testing.assert_array_equal(free.books["strategy"].weights, s.weights)
    for name in bt.books:
        assert np.all(bt.books[name].returns <= free.books[name].returns + 1e-15)
        assert bt.books[name].equity[-1] < free.books[name].equity[-1]
        assert free.books[name].metrics["total_costs"] == 0 < bt.books[name].metrics["total_costs"]


def test_momentum_picks_the_top_names_and_holds_between_rebalances(close, index):
    bt = momentum_backtest(close, index, symbols=[f"S{i}" for i in range(25)], **MOMENTUM)
    assert bt.start == bt.warmup == 65
    score = close[65 - 5] / close[65 - 5 - 60] - 1  # decided at the close of the window's first row
    w = bt.books["strategy"].weights
    assert set(np.flatnonzero(w[0])) == set(np.argsort(-score)[:4])
    np.testing.assert_allclose(w[0][w[0] > 0], 0.25)
    assert np.all(bt.books["strategy"].turnover[1:10] == 0)  # drifting, no trading until the next rebalance
    assert len(bt.final_holdings()) == 4 and all(s.startswith("S") for s in bt.final_holdings())


def test_mean_reversion_enters_after_drop_and_exits_on_recovery():
    days = 120
    p = np.full((days, 2), 100.0) + np.sin(np.arange(days))[:, None] * 0.5
    p[60:65, 0] = [95, 92, 90, 91, 93]  # sharp drop -> entry
    p[65:, 0] = 101.0  # recovery -> exit
    bt = mean_reversion_backtest(p, np.linspace(100, 110, days), window=20, entry_z=-1.5, exit_z=0.0)
    w = bt.books["strategy"].weights  # window row i is price row bt.start + 1 + i
    row = 61 - bt.start - 1
    assert w[row - 1, 0] == 0 and w[row, 0] == 1.0  # entered the day after the signal
    assert w[-1, 0] == 0.0 and w[:, 1].max() == 0.0  # exited; the calm symbol never triggers


def test_bad_input_is_refused_with_a_fix(close, index):
    with pytest.raises(InputError, match="warm-up"):
        momentum_backtest(close, index, start=10)
    with pytest.raises(InputError, match="entry_z"):
        mean_reversion_backtest(close, index, entry_z=1.0, exit_z=0.0)
    with pytest.raises(InputError, match="cost_bps"):
        momentum_backtest(close, index, cost_bps=-1)
    with pytest.raises(InputError, match="symbols"):
        momentum_backtest(close, index, symbols=["A"])
    with pytest.raises(InputError, match="benchmark"):
        momentum_backtest(close, index[:-5])
    with pytest.raises(InputError, match="no parameter"):
        run_backtest(close, index, "momentum", {"window": 3})
    with pytest.raises(InputError, match="Unknown strategy"):
        run_backtest(close, index, "carry")
