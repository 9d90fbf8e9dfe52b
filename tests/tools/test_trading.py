"""The four trading tools on demo data: traceable, JSON-clean outputs and model-readable errors."""

import json

import numpy as np
import pytest

from qlwork.market import get_provider
from qlwork.market.demo import DEMO_AS_OF
from qlwork.tools.registry import REGISTRY, ToolContext
from qlwork.tools.trading import (
    analyze_portfolio,
    calculate_risk_metrics,
    generate_trading_signals,
    get_market_data,
)

TOOLS = ["analyze_portfolio", "calculate_risk_metrics", "generate_trading_signals", "get_market_data"]
MARKET = get_provider("demo")


@pytest.fixture()
def ctx():
    return ToolContext(market=MARKET, portfolio="sample:diversified", risk_profile="moderate")


def run(fn, ctx, **args):
    result = fn.tool.run(args, ctx)
    json.dumps(result.output, allow_nan=False)  # strict JSON: no NaN or inf leaks out
    return result


def test_registered_with_strict_schemas():
    assert set(TOOLS) <= set(REGISTRY.names())
    for name in TOOLS:
        t = REGISTRY.get(name)
        strict = t.parameters_schema(strict=True)
        assert strict["additionalProperties"] is False
        assert strict["required"] == list(strict["properties"])
        assert t.description and all(p.get("description") for p in t.parameters_schema()["properties"].values())


def test_analyze_portfolio_is_traceable_and_consistent(ctx):
    out = run(analyze_portfolio, ctx).output
    assert out["as_of"] == DEMO_AS_OF.isoformat() and out["data_source"]["synthetic"] is True
    assert 0 <= out["overall_score"] <= 10 and out["risk_level"] in {"low", "moderate", "high", "very_high"}
    weights = [h["weight"] for h in out["holdings"]]
    assert len(weights) == 18 and abs(sum(weights) - 1) < 1e-3
    for rec in out["recommendations"]:
        assert rec["action"] in {"buy", "sell", "hold", "rebalance", "reduce", "add", "watch"}
        assert rec["reason"] and (rec["confidence"] is None or 0 <= rec["confidence"] <= 1)
    # recompute the buy-and-hold drawdown and value independently with pandas
    symbols = [h["symbol"] for h in out["holdings"]]
    qty = np.array([h["quantity"] for h in out["holdings"]], dtype=float)
    close = MARKET.close_prices(symbols, end=DEMO_AS_OF).iloc[-253:]
    value = close @ qty
    dd = (value / value.cummax() - 1).min()
    assert out["risk_metrics"]["max_drawdown"] == pytest.approx(dd, abs=1e-4)
    assert out["total_value"] == pytest.approx(float(value.iloc[-1]), abs=0.01)
    assert out["window"] == {"start": close.index[0].date().isoformat(), "end": "2026-11-20", "days": 252}


def test_concentrated_portfolio_gets_a_trim(ctx):
    out = run(analyze_portfolio, ctx, portfolio="sample:concentrated").output
    top = max(out["holdings"], key=lambda h: h["weight"])
    recs = {r["symbol"]: r for r in out["recommendations"]}
    assert top["symbol"] in recs and recs[top["symbol"]]["action"] in {"reduce", "rebalance"}
    assert "Overweight position" in recs[top["symbol"]]["reason"]
    diversified = run(analyze_portfolio, ctx).output
    assert out["concentration"]["hhi"] > diversified["concentration"]["hhi"]


def test_get_market_data_matches_provider(ctx):
    out = run(get_market_data, ctx, symbols=["tcs", "NSE:INFY"], limit=5).output
    assert out["symbols"] == ["TCS", "INFY"]
    closes = MARKET.close_prices(["TCS"], end=DEMO_AS_OF)["TCS"]
    assert out["data"]["TCS"]["last_close"] == pytest.approx(float(closes.iloc[-1]))
    assert len(out["data"]["TCS"]["candles"]) == 5 and out["data"]["TCS"]["candles"][-1]["date"] == "2026-11-20"
    assert len(out["series"]["dates"]) == len(out["series"]["close"]["INFY"]) == out["window"]["days"] + 1


def test_signals_for_a_sector_and_a_backtest(ctx):
    out = run(generate_trading_signals, ctx, sector="it").output
    it = set(MARKET.instruments().query("sector == 'Information Technology'")["tradingsymbol"])  # "it": alias
    assert set(out["symbols"]) == it
    assert sum(out["summary"].values()) == len(it)
    span = out["signal_window"]  # traceable: the bars behind the signals
    assert span["bars"] == 300 and span["end"] == out["as_of"] and span["start"] < span["end"]
    assert out["summary"]["buy"] == sum(s["action"] == "buy" for s in out["signals"])
    bt = run(generate_trading_signals, ctx, sector="IT", strategy="momentum", top_n=2).output["backtest"]
    assert set(bt["final_holdings"]) <= it and len(bt["final_holdings"]) == 2 and bt["parameters"]["top_n"] == 2
    assert bt["series"]["equity"][-1] == pytest.approx(1 + bt["metrics"]["strategy"]["total_return"], abs=1e-3)
    dates, equity = bt["series"]["dates"], bt["series"]["equity"]  # one date per equity point
    assert len(dates) == len(equity) == len(bt["series"]["buy_and_hold"]) == len(bt["series"]["benchmark"])
    assert equity[0] == 1.0 and (dates[0], dates[-1]) == (bt["window"]["start"], bt["window"]["end"])


def test_risk_metrics_for_symbols(ctx):
    out = run(calculate_risk_metrics, ctx, symbols=["RELIANCE", "TCS"], lookback_days=60).output
    r = MARKET.close_prices(["RELIANCE"], end=DEMO_AS_OF)["RELIANCE"].iloc[-61:].pct_change().dropna()
    assert out["metrics"]["RELIANCE"]["volatility"] == pytest.approx(r.std() * np.sqrt(252), abs=1e-4)
    assert out["metrics"]["RELIANCE"]["var_95"] <= 0 and "average_correlation" in out
    portfolio = run(calculate_risk_metrics, ctx).output
    assert portfolio["subject"] == "portfolio" and portfolio["definitions"]["var_95"]


@pytest.mark.parametrize(
    "fn, args, needle",
    [
        (get_market_data, {"symbols": ["RELIANC"]}, "RELIANCE"),
        (generate_trading_signals, {"symbols": ["INFOSIS"]}, "did you mean INFY"),  # by company name
        (get_market_data, {"symbols": ["TCS"], "end": "2026-13-01"}, "YYYY-MM-DD"),
        (get_market_data, {"symbols": ["TCS"], "end": "2031-01-01"}, "after the last available date"),
        (get_market_data, {"symbols": ["TCS"], "limit": 0}, "between 1 and 500"),
        (generate_trading_signals, {"sector": "crypto"}, "Use one of"),
        (calculate_risk_metrics, {"confidence": 1.5}, "between 0.8 and 0.995"),
        (analyze_portfolio, {"lookback_days": 5}, "between 20 and 2520"),
        (analyze_portfolio, {"portfolio": "/nonexistent/holdings.csv"}, "holdings.csv"),
        (analyze_portfolio, {"risk_profile": "yolo"}, "conservative"),
    ],
)
def test_bad_arguments_give_readable_errors(ctx, fn, args, needle):
    result = run(fn, ctx, **args)
    assert result.error is not None
    assert needle in json.dumps(result.error)
    assert result.error.get("fix") or result.error.get("errors")


@pytest.mark.parametrize("fn, args, field", [
    (get_market_data, {"symbols": ["TCS"], "limit": 0}, "limit"),
    (generate_trading_signals, {"sector": "crypto"}, "sector"),
    (generate_trading_signals, {"sector": "IT", "strategy": "momentum", "backtest_years": 40}, "backtest_years"),
    (generate_trading_signals, {"sector": "IT", "strategy": "momentum", "benchmark": "DOW JONES"}, "benchmark"),
    (calculate_risk_metrics, {"confidence": 1.5}, "confidence"),
    (analyze_portfolio, {"lookback_days": 5}, "lookback_days"),
    (get_market_data, {"symbols": ["TCS"], "end": "2031-01-01"}, "end"),
    (analyze_portfolio, {"as_of": "2031-01-01"}, "as_of"),
])
def test_range_errors_name_the_field_and_allowed_values(ctx, fn, args, field):
    """A model told which argument was wrong, and what is allowed, can correct itself."""
    error = run(fn, ctx, **args).error
    assert error["field"] == field and error["allowed"], error


def test_no_portfolio_in_context_is_explained():
    result = run(analyze_portfolio, ToolContext(market=MARKET))
    assert "sample:diversified" in result.error["fix"]


def test_insight_texts_use_the_shared_formatter_and_stay_traceable(ctx, monkeypatch):
    from qlwork import formatting
    from qlwork.assistant.grounding import untraceable_figures

    out = run(analyze_portfolio, ctx).output
    first = out["insights"][0]
    value, pnl = out["total_value"], sum(h["pnl"] for h in out["holdings"])
    assert value > 1e5  # large enough that lakh grouping differs from thousands grouping
    assert f"worth {formatting.inr(value)} with unrealised P&L of {formatting.inr(pnl)}" in first
    whole = formatting.amount(value).split(".")[0]
    assert whole.count(",") >= 2 and len(whole.split(",")[-2]) == 2  # Indian: ...,12,34,567 pairs
    top = max(out["holdings"], key=lambda h: h["weight"])
    assert f"{top['symbol']} at {formatting.pct(top['weight'])} of value" in out["insights"][1]
    # grounding reads the Indian-grouped amount as the tool's number, not only as a copy of its text
    numbers_only = {k: v for k, v in out.items() if k not in ("insights", "recommendations")}
    answer = {"analysis_type": "portfolio_health", "insights": [f"The portfolio is worth {formatting.inr(value)}."],
              "recommendations": [], "risk_metrics": {}}
    assert untraceable_figures(answer, [numbers_only]) == []
    answer["insights"] = [f"The portfolio is worth {formatting.inr(value * 1.01)}."]  # a figure the tools never gave
    assert len(untraceable_figures(answer, [numbers_only])) == 1
    monkeypatch.setenv("QLWORK_CURRENCY_STYLE", "rupee")
    rupee = run(analyze_portfolio, ctx).output["insights"][0]
    assert f"worth \u20b9{formatting.amount(value)}" in rupee
    answer["insights"] = [rupee.split(" with ")[0] + "."]
    assert untraceable_figures(answer, [numbers_only]) == []


def test_recommendation_reasons_show_weights_as_percentages(ctx):
    from qlwork import formatting

    out = run(analyze_portfolio, ctx, portfolio="sample:concentrated").output
    weights = {h["symbol"]: h["weight"] for h in out["holdings"]}
    recs = [r for r in out["recommendations"] if r["reason"].startswith("Overweight")]
    assert recs
    for rec in recs:
        cap = formatting.pct(out["limits"]["position_cap"])
        assert rec["reason"].startswith(f"Overweight position ({formatting.pct(weights[rec['symbol']])} vs the {cap} "
                                        "position cap)")
        assert rec["reason"].endswith(f"trim to {formatting.pct(rec['target_weight'])}")
