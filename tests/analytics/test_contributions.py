"""Risk contributions per holding, checked against independent computations (pandas covariance,
numerical derivatives, direct recomputation)."""

import numpy as np
import pandas as pd
import pytest

from qlwork.analytics import contributions as rc
from qlwork.errors import InputError


@pytest.fixture()
def book():
    rng = np.random.default_rng(7)
    market = rng.normal(0.0004, 0.01, (600, 1))
    rets = 0.8 * market + rng.normal(0.0, 0.012, (600, 6)) * np.linspace(0.5, 1.5, 6)
    w = rng.dirichlet(np.ones(6))
    return rets, w


def test_components_sum_to_volatility_and_match_pandas(book):
    rets, w = book
    out = rc.risk_contributions(rets, w)
    cov = pd.DataFrame(rets).cov().to_numpy() * 252  # independent: pandas sample covariance
    sigma = float(np.sqrt(w @ cov @ w))
    assert out["volatility"] == pytest.approx(sigma, abs=1e-12)
    assert out["component"].sum() == pytest.approx(out["volatility"], abs=1e-9)
    assert out["share"].sum() == pytest.approx(1.0, abs=1e-9)
    # the portfolio series' own std equals the covariance volatility at fixed weights
    assert out["volatility"] == pytest.approx(float(np.std(rets @ w, ddof=1) * np.sqrt(252)), abs=1e-12)


def test_marginal_is_the_numerical_derivative(book):
    rets, w = book
    out = rc.risk_contributions(rets, w)
    h = 1e-6
    for i in range(w.size):
        up, down = w.copy(), w.copy()
        up[i] += h
        down[i] -= h
        deriv = (np.std(rets @ up, ddof=1) - np.std(rets @ down, ddof=1)) / (2 * h) * np.sqrt(252)
        assert out["marginal"][i] == pytest.approx(deriv, rel=1e-6)


def test_var_components_sum_to_parametric_var(book):
    rets, w = book
    out = rc.risk_contributions(rets, w, level=0.95)
    port = rets @ w
    expected = port.mean() + np.std(port, ddof=1) * -1.6448536269514722
    assert out["var"] == pytest.approx(expected, abs=1e-12)
    assert out["var_component"].sum() == pytest.approx(out["var"], abs=1e-9)


def test_volatility_after_trims_matches_recomputation(book):
    rets, w = book
    cuts = w * 0.5
    after = rc.volatility_after_trims(rets, w, cuts)
    for i in range(w.size):
        w2 = w.copy()
        w2[i] -= cuts[i]
        assert after[i] == pytest.approx(np.std(rets @ w2, ddof=1) * np.sqrt(252), abs=1e-12)


def test_nan_counts_as_zero_and_cash_weight_is_allowed(book):
    rets, w = book
    r = rets.copy()
    r[:50, 2] = np.nan  # listed late
    out = rc.risk_contributions(r, w * 0.6)  # 40% in cash
    filled = np.nan_to_num(r)
    assert out["volatility"] == pytest.approx(np.std(filled @ (w * 0.6), ddof=1) * np.sqrt(252), abs=1e-12)
    assert out["component"].sum() == pytest.approx(out["volatility"], abs=1e-9)


def test_zero_volatility_and_bad_input():
    flat = np.zeros((30, 2))
    out = rc.risk_contributions(flat, [0.5, 0.5])
    assert out["volatility"] == 0 and not out["component"].any()
    with pytest.raises(InputError, match="weights"):
        rc.risk_contributions(np.ones((30, 2)) * 0.01, [1.0])
    with pytest.raises(InputError, match="level"):
        rc.risk_contributions(np.ones((30, 2)) * 0.01, [0.5, 0.5], level=95)
