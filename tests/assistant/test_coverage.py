"""The questions of issue 27 through the real runner, store, tools and demo data: each is answered as
asked (tool arguments carry the period and benchmark asked for, figures equal the weekly report's
series for the same window), follow-ups resolve "those" / "it" across three turns without repeating
an answer, and every answer on every backend records its coverage next to its grounding."""

from __future__ import annotations

import json

import pytest

import qlwork
from qlwork.assistant.backends.base import FinalMessage, ToolCalls
from qlwork.assistant.backends.scripted import ScriptedBackend, call
from qlwork.assistant.coverage import CANNOT, RUN_KEY, check
from qlwork.assistant.render import audit_markdown
from qlwork.assistant.store import Store
from qlwork.market import get_provider
from qlwork.market.demo import DEMO_AS_OF
from qlwork.review.series import calendar_period_returns

MARKET = get_provider("demo")
PORTFOLIO = "sample:diversified"


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "q.db")
    yield s
    s.close()


@pytest.fixture()
def session(store):
    return qlwork.open_session("asha", portfolio=PORTFOLIO, store=store, new_thread=True)


def calls(answer) -> list[tuple[str, dict, dict]]:
    return [(c.function.name, json.loads(c.function.arguments or "{}"), json.loads(c.function.output))
            for c in answer.tool_calls]


def parts(answer) -> dict[str, bool]:
    return {p.name: p.covered for p in answer.response.coverage.parts}


def pct(x: float) -> str:
    return f"{x * 100:.2f}%"


@pytest.mark.parametrize("question, period", [
    ("Compare my portfolio with NIFTY 50 over 1 year", "1Y"),
    ("How did my portfolio do against NIFTY 50 over the last week?", "1W"),
    ("Compare my portfolio with the NIFTY 50 over the past month", "1M"),
    ("Portfolio vs NIFTY 50 over 3 months", "3M"),
    ("How did my portfolio perform against the benchmark in the last 6 months?", "6M"),
    ("Compare my portfolio with NIFTY 50 YTD", "YTD"),
    ("Compare my portfolio with NIFTY 50 over 3 years", "3Y"),
    ("How has my portfolio done against NIFTY since March?", "2026-03-01"),
])
def test_compare_with_the_benchmark_over_the_period_asked(session, question, period):
    answer = session.ask(question)
    ((name, args, out),) = calls(answer)
    assert name == "compare_with_benchmark" and args == {"period": period, "benchmark": "NIFTY 50"}
    row = calendar_period_returns(MARKET, PORTFOLIO, DEMO_AS_OF, wanted=(period,))[period]  # the calendar table
    text = " ".join(answer.response.insights)
    assert pct(row["portfolio"]) in text and pct(row["benchmark"]) in text and "NIFTY 50" in text
    assert f"{out['active_return_pp']} percentage points" in text and row["start"] in text
    assert answer.response.risk_metrics["active_return"] == out["active_return"]
    assert answer.response.analysis_type == "benchmark_comparison"
    cov = answer.response.coverage
    assert cov.status == "covered" and parts(answer) == {"period": True, "benchmark": True}
    assert cov.request["task"] == "compare" and cov.request["period"] == period
    assert answer.response.grounding.status == "grounded"
    assert "There is no earlier analysis" not in text  # "compare" is not compare-with-last-time here


def test_the_coverage_record_is_on_the_message_run_and_threads_show(session, store):
    answer = session.ask("Compare my portfolio with NIFTY 50 over 1 year")
    assert answer.message.metadata["coverage"] == "answers: period ✓ benchmark ✓"
    assert answer.message.metadata["coverage_status"] == "covered"
    assert json.loads(answer.message.metadata["coverage_request"])["benchmark"] == "NIFTY 50"
    assert store.get_run(answer.run.id).metadata[RUN_KEY]["status"] == "covered"
    shown = audit_markdown(store.audit(session.thread_id))
    assert "Coverage: answers: period ✓ benchmark ✓." in shown and "Grounding:" in shown
    assert "Coverage: answers: period ✓ benchmark ✓." in answer.text  # the plain-text answer too


def test_three_turns_of_anaphora_without_repeating_an_answer(session):
    a1 = session.ask("What about the technology sector?")
    a2 = session.ask("Which of those has the highest risk?")
    a3 = session.ask("Compare it with the IT stocks you mentioned earlier")
    named = a2.response.coverage.request["symbols"]
    assert set(named) >= {"INFY", "TCS"} and a2.response.coverage.request["resolved"]["pronoun"] == "those"
    ((name, args, out),) = calls(a2)
    assert name == "rank_holdings" and args["symbols"] == named and args["metric"] == "volatility"
    assert args["period"] == "1Y"
    top = out["ranking"][0]
    assert a2.response.insights[0].startswith(f"{top['symbol']} has the highest volatility")
    assert pct(top["value"]) in a2.response.insights[0]
    assert a2.response.insights != a1.response.insights and parts(a2)["ranking"]
    ((name, args, out),) = calls(a3)
    assert name == "compare_with_benchmark" and set(args["symbols"]) == set(named)
    assert all(pct(out["returns"][s]["return"]) in " ".join(a3.response.insights) for s in named)
    assert a3.response.coverage.status == "covered" and a3.response.insights != a2.response.insights


def test_why_and_how_much_says_plainly_what_it_cannot_size(session):
    session.ask("Analyze my portfolio")
    answer = session.ask("Why TECHM? How much of it should I buy given what I already hold?")
    names = [n for n, _, _ in calls(answer)]
    assert names == ["generate_trading_signals", "analyze_portfolio"]
    signal = calls(answer)[0][2]["signals"][0]
    text = " ".join(answer.response.insights)
    assert f"Why TECHM: the signal is {signal['action']}" in text and signal["reasons"][0] in text
    assert CANNOT in text and "no position-sizing tool" in text
    assert parts(answer) == {"TECHM": True, "sizing": False}
    assert answer.response.coverage.status == "partial"
    assert "sizing ✗ (no position-sizing tool" in answer.response.coverage.summary


def test_risk_and_prices_carry_the_period(session):
    risk = session.ask("What is my risk over the last 6 months?")
    ((name, args, out),) = calls(risk)
    assert name == "calculate_risk_metrics" and args == {"period": "6M"} and out["window"]["start"] == "2026-05-20"
    prices = session.ask("Price of INFY since March")
    name, args, out = calls(prices)[0]
    assert name == "get_market_data" and args["start"] == "2026-02-28" and out["window"]["start"] == "2026-03-02"
    assert prices.response.coverage.status == "covered"


def test_a_model_that_drops_the_benchmark_and_period_is_recorded_and_says_so(store):
    """Another backend (scripted): it analyses the portfolio and answers without any NIFTY 50 figure."""
    answer_json = json.dumps({"analysis_type": "portfolio_comparison", "insights": ["Your portfolio looks healthy."],
                              "recommendations": [], "risk_metrics": {}})
    backend = ScriptedBackend([ToolCalls([call("analyze_portfolio", {})]), FinalMessage(answer_json)], name="model")
    s = qlwork.open_session("asha", portfolio=PORTFOLIO, store=store, new_thread=True, backend=backend)
    answer = s.ask("Compare my portfolio with NIFTY 50 over 1 year")
    cov = answer.response.coverage
    assert cov.status == "none" and parts(answer) == {"period": False, "benchmark": False}
    assert answer.response.insights[0].startswith(CANNOT) and "What I can do instead" in answer.response.insights[0]
    assert "period ✗ (no tool call used over 1 year)" in cov.summary


def test_a_model_that_answers_as_asked_is_covered(store):
    def final(inp):
        out = json.loads(inp.run_items[0][1])
        return FinalMessage(json.dumps({
            "analysis_type": "benchmark_comparison", "recommendations": [], "risk_metrics": {},
            "insights": [f"Over 1Y the portfolio returned {pct(out['portfolio_return'])} against "
                         f"{pct(out['benchmark_return'])} for NIFTY 50."]}))

    backend = ScriptedBackend([ToolCalls([call("compare_with_benchmark", {"period": "1Y"})]), final], name="model")
    s = qlwork.open_session("asha", portfolio=PORTFOLIO, store=store, new_thread=True, backend=backend)
    answer = s.ask("Compare my portfolio with NIFTY 50 over 1 year")
    assert answer.response.coverage.status == "covered" and answer.response.grounding.status == "grounded"
    assert not any(CANNOT in i for i in answer.response.insights)


def test_a_word_for_word_repeat_is_not_an_answer_to_a_new_question():
    answer = {"insights": ["TCS: hold."], "recommendations": [], "risk_metrics": {}}
    record = check({"task": "rank", "symbols": ["TCS"]}, answer, [], earlier=[dict(answer)])
    assert record.status == "partial" and "repeats an earlier answer word for word" in record.summary


def test_a_greeting_has_nothing_to_cover(session):
    answer = session.ask("Hello there")
    assert answer.response.coverage.status == "nothing_asked" and "coverage" not in (answer.message.metadata or {})


def test_what_counts_as_covered_for_a_models_own_wording():
    """A model need not use qlwork's words: sector aliases, any case of a symbol, a lookback that is the
    period, a benchmark return from get_market_data all count; a wrong window does not."""
    sector = check({"task": "sector", "sectors": ["Information Technology"]},
                   {"insights": ["IT stocks look strong."]}, [])
    assert sector.status == "covered"
    assert check({"task": "sector", "sectors": ["Information Technology"]}, {"insights": ["it is fine"]}, []).status == "none"
    assert check({"task": "signals", "symbols": ["TCS"]}, {"insights": ["Tcs: hold."]}, []).status == "covered"
    request = {"task": "risk", "period": "6M", "as_of": "2026-11-20"}
    assert check(request, {"insights": []}, [("calculate_risk_metrics", {"lookback_days": 126}, {})]).status == "covered"
    assert check(request, {"insights": []}, [("calculate_risk_metrics", {"lookback_days": 252}, {})]).status == "none"
    assert check(request, {"insights": []}, [("get_market_data", {"start": "2026-05-20"}, {})]).status == "covered"
    bench = {"task": "compare", "benchmark": "NIFTY 50"}
    out = {"data": {"NIFTY 50": {"period_return": -0.0821}}}
    assert check(bench, {"insights": ["NIFTY 50 fell 8.21% over the year."]}, [("get_market_data", {}, out)]).status == "covered"
    assert check(bench, {"insights": ["NIFTY 50 fell over the year."]}, [("get_market_data", {}, out)]).status == "none"


def test_a_sectors_stocks_against_the_benchmark(session):
    answer = session.ask("How did IT stocks do over 3 months?")
    ((name, args, out),) = calls(answer)
    it = sorted(MARKET.instruments().query("sector == 'Information Technology'")["tradingsymbol"])
    assert name == "compare_with_benchmark" and args == {"benchmark": "NIFTY 50", "period": "3M", "symbols": it}
    text = " ".join(answer.response.insights)
    assert all(f"{s}: {pct(out['returns'][s]['return'])}" in text for s in it)
    assert answer.response.coverage.status == "covered"
    assert parts(answer) == {"period": True, "benchmark": True, "Information Technology": True}


def test_a_question_outside_the_tools_says_so_plainly(session):
    answer = session.ask("Who is the CEO of INFY?")
    assert answer.tool_calls == [] and answer.response.coverage.status == "none"
    first = answer.response.insights[0]  # the engine's own help says it first (the runner adds no second line)
    assert first.startswith(CANNOT) and "people, news, corporate events" in first and "Signals for INFY" in first
    assert sum(CANNOT in i for i in answer.response.insights) == 1
    assert "question ✗" in answer.message.metadata["coverage"]
