import warnings

import numpy as np
import pandas as pd
import pytest

qs = pytest.importorskip("quantstats")

from qlwork.analytics import risk
from qlwork.errors import InputError

TOL = 1e-9


@pytest.fixture(scope="module")
def rets():
    rng = np.random.default_rng(5)
    r = rng.normal(0.0004, 0.015, (756, 6))
    r[100:104, 2] = np.nan  # a gap
    r[:50, 3] = np.nan  # listed later
    return r


@pytest.fixture(scope="module")
def bench_rets():
    return np.random.default_rng(6).normal(0.0003, 0.01, 756)


def series(a):
    # returns must be negative somewhere so quantstats does not mistake them for prices
    return pd.Series(a, index=pd.bdate_range("2021-01-01", periods=len(a)))


@pytest.fixture(autouse=True)
def _quiet():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


@pytest.mark.parametrize("rf", [0.0, 0.065])
def test_ratios_match_quantstats(rets, rf):
    sharpe, sortino = risk.sharpe_ratio(rets, rf), risk.sortino_ratio(rets, rf)
    for j in range(rets.shape[1]):
        s = series(rets[:, j])
        assert abs(sharpe[j] - qs.stats.sharpe(s, rf=rf)) <= TOL
        assert abs(sortino[j] - qs.stats.sortino(s, rf=rf)) <= TOL


def test_volatility_drawdown_var_match_quantstats(rets):
    vol, mdd = risk.volatility(rets), risk.max_drawdown(rets)
    dd = risk.drawdown(rets)
    var_p = risk.value_at_risk(rets, 0.95, "parametric")
    cvar_p = risk.conditional_value_at_risk(rets, 0.95, "parametric")
    cvar_h = risk.conditional_value_at_risk(rets, 0.95, "historical")
    cagr, total = risk.cagr(rets), risk.total_return(rets)
    for j in range(rets.shape[1]):
        s = series(rets[:, j])
        assert abs(vol[j] - qs.stats.volatility(s)) <= TOL
        assert abs(mdd[j] - qs.stats.max_drawdown(s)) <= TOL
        np.testing.assert_allclose(dd[:, j], qs.stats.to_drawdown_series(s).to_numpy(), atol=TOL)
        assert abs(var_p[j] - qs.stats.value_at_risk(s, confidence=0.95)) <= TOL
        assert abs(cvar_p[j] - qs.stats.conditional_value_at_risk(s, confidence=0.95)) <= TOL
        assert abs(cvar_h[j] - qs.stats.conditional_value_at_risk(s, confidence=0.95, method="historical")) <= TOL
        assert abs(cagr[j] - qs.stats.cagr(s)) <= TOL
        assert abs(total[j] - qs.stats.comp(s)) <= TOL


def test_historical_var_is_the_empirical_percentile(rets):
    var_h = risk.value_at_risk(rets, 0.99)
    for j in range(rets.shape[1]):
        assert abs(var_h[j] - np.nanpercentile(rets[:, j], 1)) <= TOL
    assert np.all(var_h < 0)  # reported as a return: negative = loss


def test_beta_alpha_match_quantstats_greeks(rets, bench_rets):
    r = rets + 0.7 * bench_rets[:, None]
    b, a = risk.beta(r, bench_rets), risk.alpha(r, bench_rets)
    for j in range(r.shape[1]):
        g = qs.stats.greeks(series(r[:, j]), series(bench_rets))
        assert abs(b[j] - g["beta"]) <= TOL and abs(a[j] - g["alpha"]) <= TOL
    assert np.all(np.abs(b - 0.7) < 0.15)


def test_one_d_equals_each_column_of_two_d(rets, bench_rets):
    summary = risk.risk_summary(rets, bench_rets)
    for j in range(rets.shape[1]):
        one = risk.risk_summary(rets[:, j], bench_rets)
        for key, value in one.items():
            if isinstance(value, float) and key not in ("risk_free", "var_level"):
                assert value == pytest.approx(summary[key][j], abs=1e-12, nan_ok=True), key
    assert isinstance(risk.sharpe_ratio(rets[:, 0]), float)
    assert risk.sharpe_ratio(rets).shape == (6,)


def test_risk_summary_agrees_with_single_metrics(rets, bench_rets):
    s = risk.risk_summary(rets, bench_rets, risk_free=0.05)
    np.testing.assert_allclose(s["sharpe_ratio"], risk.sharpe_ratio(rets, 0.05), atol=1e-12)
    np.testing.assert_allclose(s["sortino_ratio"], risk.sortino_ratio(rets, 0.05), atol=1e-12)
    np.testing.assert_allclose(s["max_drawdown"], risk.max_drawdown(rets), atol=1e-12)
    np.testing.assert_allclose(s["value_at_risk"], risk.value_at_risk(rets), atol=1e-12)
    np.testing.assert_allclose(s["beta"], risk.beta(rets, bench_rets), atol=1e-12)
    assert s["n_observations"].tolist() == [756, 756, 752, 706, 756, 756]


def test_known_values():
    r = np.array([0.10, -0.50, 0.20, 0.25])
    assert risk.total_return(r) == pytest.approx(1.1 * 0.5 * 1.2 * 1.25 - 1)
    np.testing.assert_allclose(risk.drawdown(r), [0.0, -0.5, -0.4, -0.25])
    assert risk.max_drawdown(r) == pytest.approx(-0.5)
    assert risk.max_drawdown(np.array([-0.1, 0.05])) == pytest.approx(-0.1)  # first-day loss counts
    np.testing.assert_allclose(risk.simple_returns(np.array([100.0, 110.0, 99.0])), [0.1, -0.1])


def test_correlation_matrix(rets):
    c = risk.correlation(rets)
    expected = pd.DataFrame(rets).corr().to_numpy()  # pairwise-complete, like pandas
    np.testing.assert_allclose(c, expected, atol=1e-12)
    np.testing.assert_allclose(np.diag(c), 1.0)


def test_bad_inputs():
    with pytest.raises(InputError):
        risk.max_drawdown(np.array([0.1, -1.5]))  # below -100%: percentages or prices?
    with pytest.raises(InputError):
        risk.value_at_risk(np.random.default_rng(0).normal(size=50), level=95)
    with pytest.raises(InputError):
        risk.value_at_risk(np.random.default_rng(0).normal(size=50), method="monte-carlo")
    with pytest.raises(InputError):
        risk.simple_returns(np.array([1.0, 0.0, 2.0]))
    with pytest.raises(InputError):
        risk.sharpe_ratio(np.zeros((2, 2, 2)))
    with pytest.raises(InputError):
        risk.beta(np.zeros(10), np.zeros(9))
    assert np.isnan(risk.sharpe_ratio(np.zeros(10)))  # zero volatility -> undefined, not inf
