"""Tearsheet metrics (qlwork.analytics.performance) against quantstats on the same returns, to 1e-9."""

import warnings

import numpy as np
import pandas as pd
import pytest

from qlwork.analytics import alpha, beta, performance as P
from qlwork.errors import InputError

qs = pytest.importorskip("quantstats")
TOL = 1e-9


def _pair(seed: int, n: int = 700, first_loss: bool = False):
    rng = np.random.default_rng(seed)
    idx = pd.bdate_range("2023-03-01", periods=n)
    r = rng.normal(0.0004, 0.012, n)
    r[7] = 0.0  # a flat day: neither a win nor a loss
    if first_loss:
        r[0] = -0.02  # under water from the first day
    b = 0.6 * r + rng.normal(0, 0.008, n)
    return pd.Series(r, index=idx), pd.Series(b, index=idx), idx.values.astype("datetime64[D]")


CASES = [(1, False), (6, True), (11, False)]


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("seed,first_loss", CASES)
def test_scalar_metrics_match_quantstats(seed, first_loss):
    r, b, d = _pair(seed, first_loss=first_loss)
    x = r.to_numpy()
    growth, calmar = P.cagr_calmar(x)
    pairs = {
        "cagr": (growth, qs.stats.cagr(r)), "calmar": (calmar, qs.stats.calmar(r)),
        "omega": (P.omega(x), qs.stats.omega(r)), "skew": (P.skew(x), qs.stats.skew(r)),
        "kurtosis": (P.kurtosis(x), qs.stats.kurtosis(r)), "tail_ratio": (P.tail_ratio(x), qs.stats.tail_ratio(r)),
        "information_ratio": (P.information_ratio(x, b.to_numpy()), qs.stats.information_ratio(r, b)),
        "alpha": (alpha(x, b.to_numpy()), qs.stats.greeks(r, b)["alpha"]),
        "beta": (beta(x, b.to_numpy()), qs.stats.greeks(r, b)["beta"]),
    }
    for freq, agg in (("D", None), ("M", "ME"), ("Y", "YE")):
        pairs[f"best_{freq}"] = (P.best(x, d, freq), qs.stats.best(r, aggregate=agg))
        pairs[f"worst_{freq}"] = (P.worst(x, d, freq), qs.stats.worst(r, aggregate=agg))
        pairs[f"win_rate_{freq}"] = (P.win_rate(x, d, freq), qs.stats.win_rate(r, aggregate=agg))
    for name, (mine, ref) in pairs.items():
        assert mine == pytest.approx(float(ref), abs=TOL), name


def test_two_columns_give_each_series_its_own_value():
    r, b, d = _pair(3)
    both = np.column_stack([r, b])
    assert P.skew(both)[1] == pytest.approx(qs.stats.skew(b), abs=TOL)
    assert P.best(both, d, "M")[1] == pytest.approx(qs.stats.best(b, aggregate="ME"), abs=TOL)
    m = P.tearsheet_metrics(r.to_numpy(), b.to_numpy(), d)
    assert m["cagr"] == pytest.approx([qs.stats.cagr(r), qs.stats.cagr(b)], abs=TOL)
    assert m["sharpe_ratio"] == pytest.approx([qs.stats.sharpe(r), qs.stats.sharpe(b)], abs=TOL)
    assert m["beta"][1] == 1.0 and m["alpha"][1] == 0.0


@pytest.mark.parametrize("seed", [1, 5])
def test_rolling_beta_matches_rolling_greeks(seed):
    r, b, _ = _pair(seed)
    ref = qs.stats.rolling_greeks(r, b, 126)["beta"].to_numpy()
    mine = P.rolling_beta(r.to_numpy(), b.to_numpy(), 126)
    assert np.array_equal(np.isnan(ref), np.isnan(mine))
    assert np.nanmax(np.abs(ref - mine)) < TOL


@pytest.mark.parametrize("seed,first_loss", CASES)
def test_worst_drawdowns_match_drawdown_details(seed, first_loss):
    r, _, d = _pair(seed, first_loss=first_loss)
    ref = qs.stats.drawdown_details(qs.stats.to_drawdown_series(r)).sort_values("max drawdown").head(10)
    mine = P.drawdown_periods(r.to_numpy(), d)
    assert len(mine) == len(ref) >= 5
    for got, (start, valley, end, days, depth) in zip(mine, ref[["start", "valley", "end", "days", "max drawdown"]]
                                                      .itertuples(index=False)):
        assert (got["start"], got["valley"], got["end"], got["days"]) == (start, valley, end, days)
        assert got["max_drawdown"] * 100 == pytest.approx(depth, abs=TOL)
    assert mine[0]["max_drawdown"] == pytest.approx(qs.stats.max_drawdown(r), abs=TOL)


def test_monthly_table_matches_monthly_returns_with_eoy():
    r, _, d = _pair(2)
    ref = qs.stats.monthly_returns(r)  # years x JAN..DEC + EOY, 0 where no data
    t = P.monthly_table(r.to_numpy(), d)
    assert t["years"] == [int(y) for y in ref.index]
    assert np.nan_to_num(t["grid"]) == pytest.approx(ref.iloc[:, :12].to_numpy(), abs=TOL)
    assert t["year"] == pytest.approx(ref["EOY"].to_numpy(), abs=TOL)
    assert np.isnan(t["grid"][0, 0])  # no data in January 2023: missing, not a 0% month


def test_bad_input_is_refused_with_a_fix():
    with pytest.raises(InputError, match="dates"):
        P.best(np.zeros(5), np.arange(4).astype("datetime64[D]"), "M")
    with pytest.raises(InputError, match="ascending"):
        P.period_returns_by(np.zeros(3), np.array(["2024-01-03", "2024-01-02", "2024-01-04"], "datetime64[D]"), "M")
    with pytest.raises(InputError, match="window"):
        P.rolling_beta(np.zeros(10), np.zeros(10), 20)
    with pytest.raises(InputError, match="period"):
        P.period_keys(np.array(["2024-01-01"], "datetime64[D]"), "W")


def test_a_spell_under_water_from_the_first_day_to_the_end_is_listed():
    """Where the definitions differ: quantstats' drawdown_details lists no spell for a series that is
    under water from its first day and never recovers; qlwork lists it (start = first day)."""
    r = np.array([-0.02, 0.005, -0.01, 0.004, 0.001])
    d = np.datetime64("2024-01-01") + np.arange(5)
    ref = qs.stats.drawdown_details(qs.stats.to_drawdown_series(pd.Series(r, index=pd.DatetimeIndex(d))))
    assert len(ref) == 0
    (spell,) = P.drawdown_periods(r, d)
    assert (spell["start"], spell["end"], spell["recovered"], spell["days"]) == ("2024-01-01", "2024-01-05", False, 5)
    assert spell["max_drawdown"] == pytest.approx(float(np.min(np.cumprod(1 + r))) - 1, abs=TOL)
