"""The offline engine's question reader: a table of questions with the symbols and intent expected,
common upper-case words that are not symbols, and questions it cannot answer."""

from __future__ import annotations

import pytest

from qlwork.assistant.offline.intent import read_intent
from qlwork.market import get_provider


@pytest.fixture(scope="module")
def universe():
    inst = get_provider("demo").instruments()
    return sorted(set(inst["sector"]) - {"Index"}), set(inst["tradingsymbol"])


@pytest.mark.parametrize("question, kind, symbols, sector", [
    ("Analyze my portfolio", "portfolio", [], None),
    ("What about the technology sector?", "sector", [], "Information Technology"),
    ("Generate a strategy for tech stocks", "strategy", [], "Information Technology"),
    ("Signals for RELIANCE and TCS", "signals", ["RELIANCE", "TCS"], None),
    ("Who is the CEO of INFY?", "help", ["INFY"], None),
    ("What is the PE and EPS of TCS?", "market_data", ["TCS"], None),
    ("Is the IT sector overvalued vs its NAV?", "sector", [], "Information Technology"),
    ("Price of INFY YOY and QOQ", "market_data", ["INFY"], None),
    ("Should I buy HDFCBANK before the RBI policy?", "signals", ["HDFCBANK"], None),
    ("Latest news on RELIANCE", "help", ["RELIANCE"], None),
    ("What is my risk?", "risk", [], None),
    ("Signals for FOOBAR", "signals", ["FOOBAR"], None),  # unknown ticker kept: the tool suggests a fix
    ("Price of ITC", "market_data", ["ITC"], None),  # a symbol that looks like a word still counts
    ("Hello there", "help", [], None),
])
def test_questions_are_read_as_analysts_mean_them(universe, question, kind, symbols, sector):
    sectors, known = universe
    intent = read_intent(question, sectors, known)
    assert (intent.kind, intent.symbols, intent.sector) == (kind, symbols, sector)


def test_a_common_word_that_is_a_known_symbol_counts_only_when_alone():
    sectors = ["Financial Services"]
    assert read_intent("Signals for PE", sectors, {"PE", "TCS"}).symbols == ["PE"]
    assert read_intent("Signals for TCS with PE below 30", sectors, {"PE", "TCS"}).symbols == ["TCS"]


@pytest.fixture
def session(tmp_path, monkeypatch):
    from qlwork import open_session

    monkeypatch.setenv("QLWORK_HOME", str(tmp_path))
    return open_session("reader", portfolio="sample:diversified", new_thread=True)


def test_an_unknown_symbol_never_fails_the_call_for_the_known_one(session):
    answer = session.ask("Signals for INFY and FOOBAR")
    assert answer.response.analysis_type != "error"
    text = " ".join(answer.response.insights)
    assert "INFY:" in text and "Not answered for" in text and "FOOBAR" in text
    (step,) = [s for s in answer.steps if s.type == "tool_calls"]
    (call,) = step.step_details.tool_calls
    assert call.error is None  # answered for INFY; FOOBAR named, not fatal


def test_a_question_it_cannot_answer_gets_what_it_understood_and_the_help(session):
    answer = session.ask("Who is the CEO of INFY?")
    insights = answer.response.insights
    assert answer.response.analysis_type == "help"
    assert "INFY" in insights[0] and "Signals for INFY" in insights[0]
    assert any("Review your portfolio" in i for i in insights)
    assert not [s for s in answer.steps if s.type == "tool_calls"]  # no tool was called for the CEO
