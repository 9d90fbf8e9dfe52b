"""XIRR against an independent root finder (scipy's brentq on the same NPV), and time-weighted returns
on hand-worked flows."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import brentq

from qlwork.analytics.cashflows import annualise, time_weighted_return, xirr


def npv(rate, amounts, dates):
    years = (np.asarray(dates, dtype="datetime64[D]") - np.asarray(dates, dtype="datetime64[D]").min()).astype(float) / 365
    return float(np.sum(np.asarray(amounts) / (1 + rate) ** years))


def reference(amounts, dates):
    return brentq(lambda r: npv(r, amounts, dates), -0.9999, 1e4, xtol=1e-14, rtol=1e-14, maxiter=500)


def test_one_year_doubling_is_one_hundred_percent():
    assert xirr([-100.0, 200.0], ["2023-01-01", "2024-01-01"]) == pytest.approx(1.0, abs=1e-12)


def test_console_style_sip_matches_brentq():
    dates = [dt.date(2021, m, 5) for m in range(1, 13)] + [dt.date(2023, 6, 30)]
    amounts = [-10_000.0] * 12 + [151_234.56]
    ours = xirr(amounts, dates)
    assert abs(ours - reference(amounts, dates)) < 1e-9
    assert abs(npv(ours, amounts, dates)) < 1e-6


def test_loss_and_partial_sells_match_brentq():
    dates = ["2019-02-01", "2019-08-14", "2020-03-23", "2021-11-02", "2024-07-31"]
    amounts = [-50_000.0, -25_000.0, 12_000.0, 20_000.0, 18_500.0]
    assert abs(xirr(amounts, dates) - reference(amounts, dates)) < 1e-9
    assert xirr(amounts, dates) < 0


def test_no_sign_change_has_no_rate():
    assert np.isnan(xirr([-100.0, -50.0], ["2023-01-01", "2024-01-01"]))
    with pytest.raises(ValueError):
        xirr([-1.0, 2.0], ["2023-01-01"])


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 3000), st.floats(1_000, 1_000_000)), min_size=1, max_size=12),
       st.floats(0.2, 5.0), st.integers(180, 4000))
def test_random_investments_match_brentq(buys, growth, extra_days):
    start = np.datetime64("2015-01-01")
    dates = [start + np.timedelta64(d, "D") for d, _ in buys]
    last = max(dates) + np.timedelta64(extra_days, "D")
    amounts = [-a for _, a in buys] + [growth * sum(a for _, a in buys)]
    ours = xirr(amounts, dates + [last])
    ref = reference(amounts, dates + [last])
    assert abs(ours - ref) < 1e-9


def test_time_weighted_return_ignores_the_flows():
    # 100 -> 110 (+10%), then 100 paid in at the day's end -> 210, then -> 231 (+10%)
    values = np.array([100.0, 110.0, 210.0, 231.0])
    flows = np.array([100.0, 0.0, 100.0, 0.0])
    r = time_weighted_return(values, flows)
    assert r == pytest.approx([0.10, (210 - 100) / 110 - 1, 0.10])
    assert np.prod(1 + r) - 1 == pytest.approx(1.1 * 1.0 * 1.1 - 1)
    # a day starting from nothing is not a return
    assert time_weighted_return(np.array([0.0, 0.0, 50.0]), np.array([0.0, 0.0, 50.0])).tolist() == [0.0, 0.0]
    assert annualise(0.21, 730) == pytest.approx(0.1, abs=1e-3)
