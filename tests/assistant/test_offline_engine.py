"""The offline rule engine end to end: the seed's three-turn conversation through the real runner,
store, tools and demo data; follow-ups build on turn 1; answers are deterministic."""

import json

import pytest

import qlwork
from qlwork.assistant.evaluation import untraceable_figures
from qlwork.assistant.offline.intent import read_intent
from qlwork.assistant.render import tool_calls
from qlwork.assistant.store import Store
from qlwork.market import get_provider

MARKET = get_provider("demo")
SECTORS = sorted(set(MARKET.instruments().query("instrument_type == 'EQ'")["sector"]))
SYMBOLS = set(MARKET.instruments()["tradingsymbol"])


def calls_of(answer) -> list[dict]:
    calls = tool_calls([s.model_dump() for s in answer.steps])
    for c in calls:
        c["arguments"] = json.loads(c["arguments"] or "{}")
        c["output"] = json.loads(c["output"]) if isinstance(c["output"], str) else c["output"]
    return calls


@pytest.fixture()
def conversation(tmp_path):
    store = Store(tmp_path / "q.db")
    session = qlwork.open_session("asha", portfolio="sample:diversified", store=store, new_thread=True)
    answers = [session.ask(q) for q in ("Analyze my portfolio", "What about the technology sector?",
                                         "Generate a strategy for tech stocks")]
    yield session, answers, store
    store.close()


def test_turn1_portfolio_health(conversation):
    _, (a1, _, _), _ = conversation
    calls = calls_of(a1)
    assert [c["name"] for c in calls] == ["analyze_portfolio", "calculate_risk_metrics"]
    analysis = calls[0]["output"]
    r = a1.response
    assert r.analysis_type == "portfolio_health"
    assert r.overall_score == analysis["overall_score"] and r.risk_level == analysis["risk_level"]
    assert [x.model_dump() for x in r.recommendations] == analysis["recommendations"]
    assert r.risk_metrics["max_drawdown"] == analysis["risk_metrics"]["max_drawdown"]
    assert r.conversation_context.tools_used == ["analyze_portfolio", "calculate_risk_metrics"]
    assert r.conversation_context.message_id == a1.message.id
    assert "synthetic" in r.data_source


def test_turn2_builds_on_turn1_portfolio(conversation):
    _, (a1, a2, _), _ = conversation
    analysis = calls_of(a1)[0]["output"]
    calls = calls_of(a2)
    # the portfolio analysis is reused from the thread, not recomputed
    assert [c["name"] for c in calls] == ["generate_trading_signals"]
    assert calls[0]["arguments"] == {"sector": "Information Technology"}
    it_held = sorted(h["symbol"] for h in analysis["holdings"] if h["sector"] == "Information Technology")
    assert it_held, "the sample portfolio holds IT stocks"
    text = " ".join(a2.response.insights)
    assert "Building on the previous portfolio analysis" in text
    assert ", ".join(it_held) in text
    assert f"{analysis['sector_weights']['Information Technology'] * 100:.2f}%" in text
    assert a2.response.risk_metrics["sector_weight"] == analysis["sector_weights"]["Information Technology"]
    signal_actions = {s["symbol"]: s["action"] for s in calls[0]["output"]["signals"]}
    for rec in a2.response.recommendations:
        assert rec.symbol in signal_actions
        if rec.action in ("add", "reduce"):
            assert rec.symbol in it_held


def test_turn3_strategy_uses_backtest_and_holdings(conversation):
    _, (a1, _, a3), _ = conversation
    held = {h["symbol"] for h in calls_of(a1)[0]["output"]["holdings"]}
    calls = calls_of(a3)
    assert [c["name"] for c in calls] == ["generate_trading_signals"]
    assert calls[0]["arguments"] == {"sector": "Information Technology", "strategy": "momentum"}
    backtest = calls[0]["output"]["backtest"]
    metrics = backtest["metrics"]["strategy"]
    r = a3.response
    assert r.analysis_type == "strategy"
    assert [x.symbol for x in r.recommendations] == backtest["final_holdings"]
    signals = {x["symbol"]: x["action"] for x in calls[0]["output"]["signals"]}
    beats = backtest["verdict"]["beats_buy_and_hold"]
    analysis = calls_of(a1)[0]["output"]
    it_over = analysis["sector_weights"]["Information Technology"] > (
        analysis["limits"]["sector_caps"]["Information Technology"] - analysis["limits"]["sector_active_cap"])
    for rec in r.recommendations:
        assert rec.action in ("watch", "buy", "add", "hold")
        if rec.action in ("buy", "add"):  # only on the symbol's own buy signal, from a strategy that beat holding
            assert signals[rec.symbol] == "buy" and beats
            if it_over:  # IT above its NIFTY 50 weight: an add says so
                assert "overweight" in rec.reason, rec.reason
        if signals[rec.symbol] != "buy" or not beats:
            assert rec.action == "watch"
        assert rec.action != "add" or rec.symbol in held
    assert r.risk_metrics["sharpe_ratio"] == metrics["sharpe_ratio"]
    text = " ".join(r.insights)
    assert f"CAGR {metrics['cagr'] * 100:.2f}%" in text
    assert f"Window {backtest['window']['start']} to {backtest['window']['end']}" in text
    assert ("LOST to" in text) == (not beats or not backtest["verdict"]["beats_benchmark"])
    assert "Out of sample (train/test split)" in text
    assert "From the earlier portfolio analysis" in text
    assert a3.response.grounding.status == "grounded"


def test_every_figure_comes_from_a_tool_output(conversation):
    _, answers, _ = conversation
    seen = []
    for answer in answers:
        seen += [c["output"] for c in calls_of(answer)]  # this run's and earlier runs' outputs
        figures = untraceable_figures(answer.response.model_dump(), seen)
        assert figures == [], figures
    # the check has teeth: an invented figure is caught
    forged = answers[0].response.model_dump()
    forged["insights"].append("Expected return next year: 37.13%.")
    assert untraceable_figures(forged, seen)


def test_reopened_session_continues_the_thread(conversation, tmp_path):
    session, _, store = conversation
    again = qlwork.open_session("asha", store=Store(tmp_path / "q.db"))
    assert again.thread_id == session.thread_id
    answer = again.ask("What about the banking sector?")
    assert [c["name"] for c in calls_of(answer)] == ["generate_trading_signals"]
    assert "Building on the previous portfolio analysis" in " ".join(answer.response.insights)
    assert len(again.history()) == 8


def test_answers_are_deterministic(tmp_path):
    def once(name):
        store = Store(tmp_path / f"{name}.db")
        s = qlwork.open_session("ravi", portfolio="sample:concentrated", store=store, new_thread=True)
        r = s.ask("Analyze my portfolio").response.model_dump()
        store.close()
        r.pop("conversation_context")
        return r

    assert once("a") == once("b")


def test_unknown_intent_lists_capabilities(tmp_path):
    s = qlwork.open_session("u", portfolio="sample:diversified", store=Store(tmp_path / "q.db"), new_thread=True)
    answer = s.ask("Tell me a joke about cricket")
    assert answer.response.analysis_type == "help"
    assert calls_of(answer) == []
    assert any("Analyze my portfolio" in i for i in answer.response.insights)


def test_unknown_symbol_gets_a_suggestion(tmp_path):
    s = qlwork.open_session("u", portfolio="sample:diversified", store=Store(tmp_path / "q.db"), new_thread=True)
    answer = s.ask("Show me the price of RELIANC")
    assert answer.run.status == "completed"
    text = " ".join(answer.response.insights)
    assert "RELIANC" in text and "RELIANCE" in text and "Fix:" in text


@pytest.mark.parametrize(
    "text, kind, sector, symbols",
    [
        ("Analyze my portfolio", "portfolio", None, []),
        ("What about the technology sector?", "sector", "Information Technology", []),
        ("Generate a strategy for tech stocks", "strategy", "Information Technology", []),
        ("backtest mean reversion on banks", "strategy", "Financial Services", []),
        ("What is my risk?", "risk", None, []),
        ("Should I buy RELIANCE or tcs?", "signals", None, ["RELIANCE", "TCS"]),
        ("How has INFY done", "market_data", None, ["INFY"]),
        ("Is it a good time?", "help", None, []),
        ("compare with last week", "compare", None, []),
    ],
)
def test_read_intent(text, kind, sector, symbols):
    intent = read_intent(text, SECTORS, SYMBOLS)
    assert (intent.kind, intent.sector, intent.symbols) == (kind, sector, symbols)


def test_follow_up_inherits_sector():
    prev = read_intent("What about the technology sector?", SECTORS, SYMBOLS)
    follow = read_intent("Give me a momentum strategy for them", SECTORS, SYMBOLS, prev)
    assert follow.kind == "strategy" and follow.sector == "Information Technology"
    assert read_intent("mean reversion please", SECTORS, SYMBOLS).style == "mean_reversion"
