"""The offline strategy answer (assistant/offline/compose_strategy.py) on real tool outputs from demo data:
it says when the strategy loses, states the window, warm-up and out-of-sample split, and its picks follow
the signals and the portfolio (no add unless the signal is buy; no add to an overweight holding)."""

from __future__ import annotations

import pytest

from qlwork.analytics.health import target_weight
from qlwork.assistant.evaluation import untraceable_figures
from qlwork.assistant.offline.compose_strategy import strategy_answer
from qlwork.market import get_provider
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio, generate_trading_signals

MARKET = get_provider("demo")


def tool(fn, ctx, **args) -> dict:
    result = fn.tool.run(args, ctx)
    assert result.error is None, result.error
    return result.output


@pytest.fixture(scope="module")
def ctx():
    return ToolContext(market=MARKET, portfolio="sample:diversified", risk_profile="moderate")


@pytest.fixture(scope="module")
def it_momentum(ctx):
    return tool(generate_trading_signals, ctx, sector="IT", strategy="momentum")


@pytest.fixture(scope="module")
def banks_momentum(ctx):
    return tool(generate_trading_signals, ctx, sector="Financial Services", strategy="momentum")


def answer_for(s: dict, a: dict | None) -> dict:
    answer = strategy_answer({"analysis_type": "strategy", "recommendations": [], "insights": [], "risk_metrics": {}},
                             s, a)
    assert untraceable_figures(answer, [o for o in (s, a) if o]) == []  # every figure from the tool outputs
    return answer


def test_a_strategy_that_loses_to_buy_and_hold_is_reported_as_such(it_momentum):
    b = it_momentum["backtest"]
    assert b["verdict"]["beats_buy_and_hold"] is False  # the case: IT momentum vs holding the same stocks
    answer = answer_for(it_momentum, None)
    text = " ".join(answer["insights"])
    assert "LOST to equal-weight buy-and-hold" in answer["insights"][1]  # said second, right after the rule
    m = b["metrics"]
    assert f"total return {m['strategy']['total_return'] * 100:.2f}% vs {m['buy_and_hold']['total_return'] * 100:.2f}%" in text
    assert "did not add value over simply holding the same stocks" in text
    assert {r["action"] for r in answer["recommendations"]} == {"watch"}  # a losing backtest is no reason to buy


def test_the_window_warm_up_and_out_of_sample_split_are_stated(it_momentum):
    b = it_momentum["backtest"]
    text = " ".join(answer_for(it_momentum, None)["insights"])
    w, warm, o = b["window"], b["warmup"], b["out_of_sample"]
    assert f"Window {w['start']} to {w['end']} ({w['days']} trading days)" in text
    assert f"The {warm['days']} trading days before it ({warm['start']} to {warm['end']})" in text
    assert f"parameters chosen on {o['train']['start']} to {o['train']['end']}" in text
    assert f"then run on {o['test']['start']} to {o['test']['end']} only" in text
    for book in ("Strategy:", "Equal-weight buy-and-hold of the same stocks:", "NIFTY 50:"):
        assert book in text
    s = b["metrics"]["strategy"]
    assert f"Calmar {s['calmar_ratio']:.2f}" in text and f"{s['trades']} trades" in text
    assert f"invested on {s['days_invested']} of {s['days']} days" in text


def test_picks_follow_their_own_signals_and_the_portfolio(ctx, banks_momentum, tmp_path):
    b = banks_momentum["backtest"]
    assert b["verdict"]["beats_buy_and_hold"] and b["verdict"]["beats_benchmark"]
    text = " ".join(answer_for(banks_momentum, None)["insights"])
    assert "beat both equal-weight buy-and-hold of the same stocks and the NIFTY 50" in text
    signals = {x["symbol"]: x["action"] for x in banks_momentum["signals"]}
    buys = [s for s in b["final_holdings"] if signals[s] == "buy"]
    assert buys and len(buys) < len(b["final_holdings"])  # some picks have a buy signal, some do not
    sym = buys[0]
    # held within its target weight: add; its weight is not above the target
    small = tool(analyze_portfolio, ctx)
    weight = next(h["weight"] for h in small["holdings"] if h["symbol"] == sym)
    assert weight <= target_weight(len(small["holdings"]), "moderate")
    recs = {r["symbol"]: r for r in answer_for(banks_momentum, small)["recommendations"]}
    assert recs[sym]["action"] == "add"
    active = small["active_sector_weights"]["Financial Services"]
    assert ("overweight sector" in recs[sym]["reason"]) == (active > 0)  # the sector tilt is flagged, not hidden
    for other in set(b["final_holdings"]) - set(buys):
        assert recs[other]["action"] == "watch" and f"signal is {signals[other]}" in recs[other]["reason"]
    # the same stock overweight in another portfolio: hold, and the reason says so
    path = tmp_path / "heavy.csv"
    path.write_text(f"tradingsymbol,exchange,quantity,average_price\n{sym},NSE,5000,500\nTCS,NSE,10,3000\n"
                    "ITC,NSE,50,400\nRELIANCE,NSE,20,1200\n")
    heavy = tool(analyze_portfolio, ctx, portfolio=str(path))
    recs = {r["symbol"]: r for r in answer_for(banks_momentum, heavy)["recommendations"]}
    assert recs[sym]["action"] == "hold" and "overweight" in recs[sym]["reason"] and "do not add" in recs[sym]["reason"]
    # not held, but its sector already overweight in the portfolio: a buy that says so
    banks = tmp_path / "banks.csv"
    banks.write_text("tradingsymbol,exchange,quantity,average_price\nHDFCBANK,NSE,400,1500\nKOTAKBANK,NSE,200,1800\n"
                     "TCS,NSE,10,3000\nITC,NSE,50,400\n")
    tilted = tool(analyze_portfolio, ctx, portfolio=str(banks))
    assert tilted["active_sector_weights"]["Financial Services"] > 0 and sym not in {h["symbol"] for h in tilted["holdings"]}
    recs = {r["symbol"]: r for r in answer_for(banks_momentum, tilted)["recommendations"]}
    assert recs[sym]["action"] == "buy" and "overweight sector" in recs[sym]["reason"]
    # no portfolio in the thread: a buy, with the caveat
    recs = {r["symbol"]: r for r in answer_for(banks_momentum, None)["recommendations"]}
    assert recs[sym]["action"] == "buy" and "check what you already hold" in recs[sym]["reason"]
