"""qlwork.formatting: Indian digit grouping, currency styles, percentages, points, labels."""

from __future__ import annotations

import pytest

from qlwork.errors import InputError
from qlwork.formatting import amount, currency_header, group_digits, inr, label, pct, pp, ratio


@pytest.mark.parametrize("whole, indian, international", [
    (0, "0", "0"), (999, "999", "999"), (1000, "1,000", "1,000"), (99999, "99,999", "99,999"),
    (100000, "1,00,000", "100,000"), (1999010, "19,99,010", "1,999,010"),
    (123456789012, "1,23,45,67,89,012", "123,456,789,012"), (-1999010, "-19,99,010", "-1,999,010"),
])
def test_digit_grouping(whole, indian, international):
    assert group_digits(whole) == indian
    assert group_digits(whole, "international") == international


def test_amounts_and_currency_styles(monkeypatch):
    assert inr(1999010) == "INR 19,99,010.00"
    assert inr(12345678.456) == "INR 1,23,45,678.46"
    assert inr(-1999010.5) == "-INR 19,99,010.50"  # the sign before the currency, on every surface
    assert inr(1999010, style="rupee") == "\u20b919,99,010.00"
    assert inr(-5, style="rupee", decimals=0) == "-\u20b95"
    assert amount(2500.5, signed=True) == "+2,500.50" and amount(-0.001) == "0.00"
    assert inr(None) == "n/a" and amount(float("nan")) == "n/a"
    monkeypatch.setenv("QLWORK_CURRENCY_STYLE", "rupee")
    monkeypatch.setenv("QLWORK_NUMBER_GROUPING", "international")
    assert inr(1999010) == "\u20b91,999,010.00" and currency_header("Value") == "Value (\u20b9)"


def test_an_unknown_setting_names_the_choices(monkeypatch):
    monkeypatch.setenv("QLWORK_CURRENCY_STYLE", "dollars")
    with pytest.raises(InputError, match="QLWORK_CURRENCY_STYLE") as err:
        inr(1)
    assert "inr, rupee" in err.value.fix


def test_percentages_points_ratios_labels():
    assert pct(0.0523) == "5.23%" and pct(-0.159, 1) == "-15.9%" and pct(0.02, signed=True) == "+2.00%"
    assert pp(0.031) == "+3.1 pp" and pp(-0.2) == "-20.0 pp"
    assert ratio(-0.6634) == "-0.66"
    assert label("sharpe_ratio") == "Sharpe ratio" and label("value_at_risk") == "1-day 95% VaR"
    assert label("very_high") == "Very high"


def test_metric_changes_and_signed_ratios():
    from qlwork.formatting import metric_change

    assert metric_change("volatility", -0.0007) == "-0.07 pp" and metric_change("max_drawdown", 0.0) == "+0.00 pp"
    assert metric_change("sharpe_ratio", 0.2379) == "+0.24" and metric_change("beta", -0.006) == "-0.01"
    assert metric_change("beta", None) == "n/a" and ratio(0.5, 1, signed=True) == "+0.5"


def test_times_are_shown_in_india_time():
    import datetime as dt

    from qlwork.formatting import when

    assert when("2026-11-21T06:30:00+00:00") == "21 Nov 2026, 12:00 IST"
    assert when("2026-11-21T20:15:09+00:00", seconds=True) == "22 Nov 2026, 01:45:09 IST"  # the next day in India
    assert when("2026-11-21T06:30:00") == "21 Nov 2026, 12:00 IST"  # naive: UTC
    assert when(dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))) == \
        "21 Nov 2026, 12:00 IST"
    assert when(1795242600) == "21 Nov 2026, 12:00 IST" and when(None) == when("") == "n/a"
