"""One definition of each weight and window across a report's tables and charts (issue 31): the sector
table's columns on one basis, and every period return compounded from one daily series."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from qlwork.assistant.store import Store
from qlwork.review import executive as ex, render as rr, run_review, tearsheet_html as sheet
from qlwork.review.series import CASH, period_returns, return_series, sector_exposure

NOW = dt.datetime(2026, 11, 21, 6, 30, tzinfo=dt.timezone.utc)
AS_OF = "2026-11-20"


@pytest.fixture(scope="module")
def reviews(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("home") / "qlwork.db")
    near_cash = run_review("esha", AS_OF, portfolio="sample:near_cash", risk_profile="conservative", horizon="short",
                           store=store, now=NOW)
    diversified = run_review("bharat", AS_OF, portfolio="sample:diversified", store=store, now=NOW)
    return near_cash, diversified


def _rows(html: str, heading: str) -> list[list[str]]:
    """Cell texts of the first table after ``heading`` in ``html``."""
    part = html[html.index(heading):]
    body = part[part.index("<tbody>"):part.index("</tbody>")]
    return [[re.sub(r"<[^>]+>", "", c) for c in re.findall(r"<td[^>]*>(.*?)</td>", tr)]
            for tr in re.findall(r"<tr>(.*?)</tr>", body)]


def _num(text: str) -> float:
    return float(text.replace("%", "").replace("pp", "").replace(",", "").replace("+", "").strip())


def test_sector_table_columns_are_on_one_basis(reviews):
    """esha holds 85% LIQUIDBEES: before the fix the active column was re-normalised over the classified
    15% ("FMCG 5.00% vs 7.64% -> +25.62 pp"). Every row's active is now its portfolio minus benchmark."""
    near_cash, _ = reviews
    rows = _rows(rr.holdings_html(near_cash), "Sector weights vs")
    assert rows
    for sector, port, bench, active in rows:
        assert _num(active) == pytest.approx(_num(port) - _num(bench), abs=0.011), sector
    by = {r[0]: r for r in rows}
    assert by["Fast Moving Consumer Goods"][1:] == ["5.00%", "7.64%", "-2.64 pp"]
    assert by[CASH][1:3] == ["84.96%", "0.00%"]  # LIQUIDBEES: cash in all but name, a row of its own
    assert [r[0] for r in rows][-1] == CASH
    exp = near_cash.sectors
    assert sum(r["portfolio"] for r in exp) == pytest.approx(1.0, abs=1e-5)
    assert sum(r["benchmark"] for r in exp) == pytest.approx(1.0, abs=1e-5)
    assert sum(r["active"] for r in exp) == pytest.approx(0.0, abs=1e-5)


def test_sector_chart_draws_the_table_s_weights(reviews):
    near_cash, _ = reviews
    fig = rr.figure(near_cash, "sectors")
    ax = fig.axes[0]
    labels = [t.get_text() for t in ax.get_yticklabels()]
    bars = {}
    for patch, label in zip(ax.patches, labels):  # portfolio bars come first, one per sector
        bars[label] = patch.get_width()
    table = {r["sector"]: r["portfolio"] for r in near_cash.sectors}
    for label, width in bars.items():
        assert width == pytest.approx(table.get(label, 0.0), abs=1e-6), label


def test_unclassified_holdings_are_a_row_with_no_benchmark_weight():
    holdings = [{"symbol": "A", "sector": "IT", "weight": 0.5}, {"symbol": "B", "sector": "Unclassified", "weight": 0.3},
                {"symbol": "C", "sector": "Unclassified", "weight": 0.2}]
    rows = sector_exposure(holdings, {"IT": 0.25, "Banks": 0.75}, cash={"C"})
    assert [r["sector"] for r in rows] == ["Banks", "IT", "Unclassified", CASH]
    assert [(round(r["portfolio"], 6), round(r["benchmark"], 6), round(r["active"], 6)) for r in rows] == [
        (0.0, 0.75, -0.75), (0.5, 0.25, 0.25), (0.3, 0.0, 0.3), (0.2, 0.0, 0.2)]


def test_every_one_year_return_in_the_report_is_the_same_number(reviews):
    """Before the fix bharat's report showed -7.58% (returns table, calendar year) and -7.62% (metrics
    window, 252 trading days). Now the returns table, the assessment window, the equity chart, the
    score's trend and the tearsheet all compound the same daily series over the same 252 days."""
    for review in reviews:
        one_year = review.returns["1Y"]
        s = review.series.summary()
        assert (one_year["start"], one_year["days"]) == (s["start"], s["days"]) == (
            review.analysis["window"]["start"], review.analysis["window"]["days"])
        assert one_year["portfolio"] == s["portfolio_return"] == review.analysis["period_return"]
        assert one_year["benchmark"] == s["benchmark_return"]
        out = review.report_calls[0]["output"]
        daily = np.array(out["daily_returns"][-one_year["days"]:])
        assert np.prod(1 + daily) - 1 == pytest.approx(one_year["portfolio"], abs=1e-4)
        returns_cell = [r for r in _rows(ex.returns_html(review), "<h4>Returns") if r[0].startswith("1 year")][0]
        assessment = _rows(rr.assessment_html(review), "Score, risk level")[0]
        assert returns_cell[2] == assessment[3]  # the same text: "-7.62%"
        assert returns_cell[3] == assessment[4]


def test_period_returns_compound_the_series_they_are_given(reviews):
    from qlwork.market import get_provider

    _, diversified = reviews
    qty = {h["symbol"]: h["quantity"] for h in diversified.analysis["holdings"]}
    daily = return_series(get_provider("demo"), qty, AS_OF, 756)
    got = period_returns(daily, year_days=252)
    assert got == diversified.returns
    dates = np.array(daily.dates, dtype="datetime64[D]")
    k = int(np.searchsorted(dates, np.datetime64("2025-12-31"), side="right")) - 1  # YTD: last close of 2025
    assert got["YTD"]["start"] == str(dates[k])
    assert got["YTD"]["portfolio"] == pytest.approx(np.prod(1 + daily.portfolio[k:]) - 1, abs=5e-5)
    assert got["1W"]["days"] == 5 and got["1M"]["days"] >= 19


def test_tearsheet_metrics_are_quantstats_on_the_report_s_series(reviews):
    import warnings

    import pandas as pd

    qs = pytest.importorskip("quantstats")
    from qlwork.market import get_provider

    _, diversified = reviews
    out = diversified.report_calls[0]["output"]
    qty = {h["symbol"]: h["quantity"] for h in diversified.analysis["holdings"]}
    daily = return_series(get_provider("demo"), qty, AS_OF, 756)
    idx = pd.DatetimeIndex(daily.dates[1:])
    r, b = pd.Series(daily.portfolio, index=idx), pd.Series(daily.benchmark, index=idx)
    m = out["metrics"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = {"cagr": (qs.stats.cagr(r), qs.stats.cagr(b)), "calmar_ratio": (qs.stats.calmar(r), qs.stats.calmar(b)),
                    "omega_ratio": (qs.stats.omega(r), qs.stats.omega(b)), "skew": (qs.stats.skew(r), qs.stats.skew(b)),
                    "kurtosis": (qs.stats.kurtosis(r), qs.stats.kurtosis(b)),
                    "tail_ratio": (qs.stats.tail_ratio(r), qs.stats.tail_ratio(b)),
                    "best_month": (qs.stats.best(r, aggregate="ME"), qs.stats.best(b, aggregate="ME")),
                    "worst_year": (qs.stats.worst(r, aggregate="YE"), qs.stats.worst(b, aggregate="YE")),
                    "win_rate_days": (qs.stats.win_rate(r), qs.stats.win_rate(b)),
                    "max_drawdown": (qs.stats.max_drawdown(r), qs.stats.max_drawdown(b))}
        greeks = qs.stats.greeks(r, b)
        ir = qs.stats.information_ratio(r, b)
    for key, pair in expected.items():
        assert m[key] == pytest.approx([float(x) for x in pair], abs=1e-6), key  # the output rounds to 6 places
    assert m["alpha"][0] == pytest.approx(greeks["alpha"], abs=1e-6) and m["beta"][0] == pytest.approx(greeks["beta"], abs=1e-6)
    assert m["information_ratio"][0] == pytest.approx(ir, abs=1e-6)
    worst = out["drawdowns"][0]
    assert worst["max_drawdown"] == pytest.approx(qs.stats.max_drawdown(r), abs=1e-6)
    html = sheet.tearsheet_html(diversified)
    for text in ("Calmar", "Omega", "Tail ratio", "Information ratio", "Worst 10 drawdowns", "Year return"):
        assert text in html
