"""Return periods and window returns (qlwork.analytics.periods): calendar base dates, the since-a-date
form, bad input refused with the accepted forms, and window returns against a direct computation."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest

from qlwork.analytics.periods import (
    PERIODS, base_indices, normalise_period, period_label, period_start, window_returns,
)
from qlwork.errors import InputError

DAY = dt.date(2026, 11, 20)


@pytest.mark.parametrize("period, base", [
    ("1W", dt.date(2026, 11, 13)), ("1M", dt.date(2026, 10, 20)), ("3M", dt.date(2026, 8, 20)),
    ("6M", dt.date(2026, 5, 20)), ("YTD", dt.date(2025, 12, 31)), ("1Y", dt.date(2025, 11, 20)),
    ("3Y", dt.date(2023, 11, 20)), ("2W", dt.date(2026, 11, 6)), ("18M", dt.date(2025, 5, 20)),
    ("2026-03-01", dt.date(2026, 2, 28)),  # since March 1st: the base is the last close before it
])
def test_base_dates(period, base):
    assert period_start(DAY, period) == base


def test_month_ends_and_leap_days_clamp():
    assert period_start(dt.date(2026, 3, 31), "1M") == dt.date(2026, 2, 28)
    assert period_start(dt.date(2024, 2, 29), "1Y") == dt.date(2023, 2, 28)
    assert period_start(dt.date(2026, 1, 15), "1M") == dt.date(2025, 12, 15)
    assert period_start(dt.date(2026, 8, 31), "6M") == dt.date(2026, 2, 28)


def test_canonical_forms_and_labels():
    assert [normalise_period(p) for p in (" 1y", "ytd", "3m", "2026-03-01")] == ["1Y", "YTD", "3M", "2026-03-01"]
    assert [period_label(p) for p in ("1Y", "6M", "1W", "YTD", "2026-03-01")] == [
        "1 year", "6 months", "1 week", "year to date", "since 2026-03-01"]
    assert set(PERIODS) == {"1W", "1M", "3M", "6M", "YTD", "1Y", "3Y"}


@pytest.mark.parametrize("bad, fix", [("5D", "Use one of"), ("last year", "Use one of"), ("40Y", "1 to 20"),
                                       ("0M", "1 to 20")])
def test_bad_periods_name_the_accepted_forms(bad, fix):
    with pytest.raises(InputError) as exc:
        normalise_period(bad)
    assert fix in exc.value.fix


def test_a_start_after_the_analysis_date_is_refused():
    with pytest.raises(InputError, match="after the analysis date"):
        period_start(DAY, "2026-12-01")


def test_window_returns_match_a_direct_computation_for_every_column():
    rng = np.random.default_rng(7)
    levels = np.cumprod(1 + rng.normal(0, 0.01, size=(300, 4)), axis=0) * 100
    days = np.arange(np.datetime64("2025-09-01"), np.datetime64("2025-09-01") + 300)
    bases = [dt.date(2025, 9, 1) + dt.timedelta(days=d) for d in (10, 100, 298)]
    starts = base_indices(days, bases)
    assert starts.tolist() == [10, 100, 298]
    out = window_returns(levels, starts)
    assert out.shape == (3, 4)
    np.testing.assert_allclose(out, levels[-1] / levels[starts] - 1.0, rtol=0, atol=1e-15)


def test_uncovered_and_degenerate_windows_are_nan():
    levels = np.array([[1.0, np.nan], [1.1, 2.0], [1.21, 2.2]])
    days = np.array(["2026-01-05", "2026-01-06", "2026-01-07"], dtype="datetime64[D]")
    starts = base_indices(days, [dt.date(2026, 1, 1), dt.date(2026, 1, 5), dt.date(2026, 1, 7)])
    assert starts.tolist() == [-1, 0, 2]
    out = window_returns(levels, starts)
    assert np.isnan(out[0]).all() and np.isnan(out[2]).all()  # before the history; the last row itself
    assert out[1, 0] == pytest.approx(0.21) and np.isnan(out[1, 1])  # a missing base level
