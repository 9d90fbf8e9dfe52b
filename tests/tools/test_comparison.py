"""compare_with_benchmark and rank_holdings on demo data: the figures are the weekly report's period
table for the same window, per-symbol returns are the closes' own, rankings order what
calculate_risk_metrics measures over the same window, and bad input gets a precise error."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from qlwork.analytics.periods import period_start
from qlwork.market import get_provider
from qlwork.market.demo import DEMO_AS_OF
from qlwork.review.series import calendar_period_returns, period_returns, return_series
from qlwork.tools.comparison import compare_with_benchmark, rank_holdings
from qlwork.tools.registry import REGISTRY, ToolContext
from qlwork.tools.trading import calculate_risk_metrics

MARKET = get_provider("demo")
ALL_PERIODS = ("1W", "1M", "3M", "6M", "YTD", "1Y", "3Y", "2026-03-01")


@pytest.fixture()
def ctx():
    return ToolContext(market=MARKET, portfolio="sample:diversified")


def run(fn, ctx, **args):
    result = fn.tool.run(args, ctx)
    json.dumps(result.output, allow_nan=False)
    return result


def test_registered_with_strict_schemas():
    for name in ("compare_with_benchmark", "rank_holdings"):
        t = REGISTRY.get(name)
        strict = t.parameters_schema(strict=True)
        assert strict["additionalProperties"] is False and strict["required"] == list(strict["properties"])
        assert all(p.get("description") for p in t.parameters_schema()["properties"].values())


def test_portfolio_vs_nifty_equals_the_calendar_period_table_for_every_period(ctx):
    report = calendar_period_returns(MARKET, "sample:diversified", DEMO_AS_OF, wanted=ALL_PERIODS)
    for period in ALL_PERIODS:
        out = run(compare_with_benchmark, ctx, period=period).output
        row = report[period]
        assert out["period"] == period and out["benchmark"] == "NIFTY 50" and out["subject"] == "portfolio"
        assert out["window"]["start"] == row["start"] and out["window"]["end"] == DEMO_AS_OF.isoformat()
        assert (out["portfolio_return"], out["benchmark_return"], out["active_return"]) == \
            (row["portfolio"], row["benchmark"], row["active"]), period
        assert out["active_return_pp"] == pytest.approx(row["active"] * 100, abs=1e-6)  # percentage points


def test_the_reports_week_month_and_ytd_are_the_tools_figures(ctx):
    """The report's table is 1W / 1M / YTD / 1Y; its 1Y is the 252-day analysis window (issue 31), the
    other three are the calendar periods the tool measures, to the digit."""
    table = period_returns(return_series(MARKET, "sample:diversified", DEMO_AS_OF, 300))
    assert list(table) == ["1W", "1M", "YTD", "1Y"] and all(v is not None for v in table.values())
    for period in ("1W", "1M", "YTD"):
        out = run(compare_with_benchmark, ctx, period=period).output
        assert (out["portfolio_return"], out["benchmark_return"]) == (table[period]["portfolio"],
                                                                     table[period]["benchmark"]), period


def test_symbol_returns_are_their_closes_over_the_window(ctx):
    out = run(compare_with_benchmark, ctx, period="6M", symbols=["TCS", "INFY"]).output
    base = period_start(DEMO_AS_OF, "6M")
    close = MARKET.close_prices(["TCS", "INFY", "NIFTY 50"], start=base - dt.timedelta(days=14), end=DEMO_AS_OF)
    at = close.loc[:str(base)].iloc[-1]
    expect = (close.iloc[-1] / at - 1.0).round(4)
    assert out["subject"] == "symbols" and "portfolio_return" not in out
    assert out["returns"]["TCS"]["return"] == expect["TCS"] and out["returns"]["INFY"]["return"] == expect["INFY"]
    assert out["benchmark_return"] == expect["NIFTY 50"]
    assert out["returns"]["TCS"]["active"] == round(float(close.iloc[-1]["TCS"] / at["TCS"] - close.iloc[-1]["NIFTY 50"]
                                                          / at["NIFTY 50"]), 4)


def test_every_index_the_provider_lists_is_a_benchmark(ctx):
    inst = MARKET.instruments()
    for index in inst.loc[inst["instrument_type"] == "INDEX", "tradingsymbol"]:
        assert run(compare_with_benchmark, ctx, period="1M", benchmark=index.lower()).output["benchmark"] == index


def test_unknown_benchmark_and_period_name_the_fix(ctx):
    err = run(compare_with_benchmark, ctx, benchmark="NIFTY MOON").error
    assert "not an index" in err["message"] and "NIFTY 50" in err["fix"]
    err = run(compare_with_benchmark, ctx, period="fortnight").error
    assert "Unknown return period" in err["message"] and "YTD" in err["fix"]


def test_rank_by_volatility_orders_what_risk_metrics_measure_over_the_same_window(ctx):
    syms = ["TCS", "INFY", "TECHM", "WIPRO", "HCLTECH"]
    out = run(rank_holdings, ctx, metric="volatility", period="1Y", symbols=syms).output
    ref = run(calculate_risk_metrics, ctx, symbols=syms, period="1Y").output
    assert ref["window"]["start"] == out["window"]["start"] and ref["period"] == "1Y"
    vols = {s: m["volatility"] for s, m in ref["metrics"].items()}
    assert [r["symbol"] for r in out["ranking"]] == sorted(vols, key=lambda s: -vols[s])
    assert {r["symbol"]: r["value"] for r in out["ranking"]} == vols
    assert out["order"] == "desc" and [r["rank"] for r in out["ranking"]] == [1, 2, 3, 4, 5]


def test_rank_riskiest_first_puts_the_deepest_drawdown_first_and_weight_needs_the_portfolio(ctx):
    out = run(rank_holdings, ctx, metric="max_drawdown", period="3Y").output
    values = [r["value"] for r in out["ranking"]]
    assert out["order"] == "asc" and values == sorted(values) and out["subject"] == "portfolio"
    weights = run(rank_holdings, ctx, metric="weight").output["ranking"]
    assert abs(sum(r["value"] for r in weights) - 1.0) < 1e-3 and weights[0]["value"] >= weights[-1]["value"]
    err = run(rank_holdings, ctx, metric="weight", symbols=["TCS"]).error
    assert "portfolio holdings only" in err["message"]


def test_returns_ranking_matches_compare(ctx):
    ranked = run(rank_holdings, ctx, metric="return", period="YTD").output["ranking"]
    compared = run(compare_with_benchmark, ctx, period="YTD").output
    assert {r["symbol"]: r["value"] for r in ranked} == {s: v["return"] for s, v in compared["returns"].items()}
    assert ranked[0]["symbol"] == compared["best"] and ranked[-1]["symbol"] == compared["worst"]
    assert np.all(np.diff([r["value"] for r in ranked]) <= 0)
