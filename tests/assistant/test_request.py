"""The structured request the offline parser reads from a question: task, symbols, sectors, period,
benchmark, files named, ranking metric, sizing, literal code, and pronouns resolved from the thread's
earlier answers."""

from __future__ import annotations

import datetime as dt

import pytest

from qlwork.assistant.offline.intent import read_request
from qlwork.assistant.offline.request import find_code, find_period
from qlwork.market import get_provider

AS_OF = dt.date(2026, 11, 20)


@pytest.fixture(scope="module")
def universe():
    inst = get_provider("demo").instruments()
    stocks = inst[inst["instrument_type"] == "EQ"]
    indices = sorted(inst.loc[inst["instrument_type"] == "INDEX", "tradingsymbol"])
    return sorted(set(stocks["sector"])), set(inst["tradingsymbol"]), indices


def req(universe, text, **kw):
    sectors, symbols, indices = universe
    intent = read_request(text, sectors, symbols, indices, as_of=AS_OF, **kw)
    return intent, intent.request


@pytest.mark.parametrize("text, period, words", [
    ("Compare my portfolio with NIFTY 50 over 1 year", "1Y", "over 1 year"),
    ("How did I do over the last 6 months?", "6M", "over the last 6 months"),
    ("returns over the past 3 months", "3M", "over the past 3 months"),
    ("performance last week vs the index", "1W", "last week"),
    ("my 1M return", "1M", "1M"),
    ("3Y returns against NIFTY", "3Y", "3Y"),
    ("YTD performance", "YTD", "YTD"),
    ("year to date vs nifty", "YTD", "year to date"),
    ("since March", "2026-03-01", "since March"),
    ("since Dec", "2025-12-01", "since Dec"),  # the latest December on or before the analysis date
    ("since January 2025", "2025-01-01", "since January 2025"),
    ("since 2026-04-15", "2026-04-15", "since 2026-04-15"),
    ("over twelve months", "1Y", "over twelve months"),
    ("Analyze my portfolio", None, None),
    ("What changed since last week's analysis?", None, None),  # compare-with-last-time, not a 1W return
])
def test_periods(text, period, words):
    assert find_period(text, AS_OF) == (period, words)


def test_compare_with_a_benchmark_over_a_period(universe):
    intent, r = req(universe, "Compare my portfolio with NIFTY 50 over 1 year")
    assert intent.kind == "benchmark" and r.task == "compare" and r.period == "1Y" and r.benchmark == "NIFTY 50"
    assert r.portfolio and r.symbols == []
    _, r = req(universe, "How has my portfolio done since March?")
    assert r.task == "compare" and r.period == "2026-03-01" and r.benchmark is None  # no benchmark named
    _, r = req(universe, "Did TCS beat the market YTD?")
    assert (r.task, r.symbols, r.period, r.benchmark) == ("compare", ["TCS"], "YTD", "NIFTY 50")


def test_an_index_named_as_the_subject_is_no_benchmark(universe):
    _, r = req(universe, "What do my notes say about NIFTY 50 support levels?")
    assert r.benchmark is None


def test_what_changed_stays_a_comparison_with_the_last_analysis(universe):
    intent, r = req(universe, "What changed since last week?")
    assert intent.kind == "compare" and r.task == "changes" and r.period is None


def test_rank_sizing_explain_sell(universe):
    _, r = req(universe, "Which of my holdings has the highest volatility over 6 months?")
    assert (r.task, r.metric, r.period) == ("rank", "volatility", "6M")
    _, r = req(universe, "Which stock has the deepest drawdown?")
    assert (r.task, r.metric) == ("rank", "max_drawdown")
    intent, r = req(universe, "Why TECHM? How much of it should I buy given what I already hold?")
    assert intent.kind == "explain" and r.task == "size" and r.sizing and r.explain and r.symbols == ["TECHM"]
    _, r = req(universe, "Should I trim RELIANCE to cut risk?")
    assert r.task == "trim" and r.symbols == ["RELIANCE"]


def test_pronouns_resolve_to_the_last_answers_symbols(universe):
    entities = {"symbols": ["TECHM", "INFY", "TCS"], "sector": "Information Technology",
                "by_sector": {"Information Technology": ["TECHM", "INFY", "TCS"], "Financial Services": ["HDFCBANK"]}}
    intent, r = req(universe, "Which of those has the highest risk?", entities=entities)
    assert intent.kind == "rank" and r.symbols == ["TECHM", "INFY", "TCS"]
    assert r.resolved == {"pronoun": "those", "symbols": ["TECHM", "INFY", "TCS"], "sector": "Information Technology"}
    _, r = req(universe, "Why is it rated buy?", entities={"symbols": ["TCS", "INFY"]})
    assert r.symbols == ["TCS"] and r.resolved["pronoun"] == "it"  # "it": the first symbol only
    _, r = req(universe, "Compare it with the IT stocks you mentioned earlier",
               entities={"symbols": ["HDFCBANK"], "by_sector": entities["by_sector"]})
    assert r.task == "compare" and r.symbols == ["HDFCBANK", "TECHM", "INFY", "TCS"]
    assert r.resolved["pronoun"] == {"word": "it", "symbols": ["HDFCBANK"]}
    _, r = req(universe, "Signals for IT stocks", entities=entities)  # "IT" in capitals is the sector
    assert r.resolved is None and r.sectors == ["Information Technology"]


def test_a_named_note_is_searched_when_the_thread_has_files(universe):
    intent, r = req(universe, "What are the key risks listed in my Kotak note?", has_files=True)
    assert intent.kind == "files" and r.task == "search_notes" and r.files == ["Kotak"]
    intent, r = req(universe, "What are the key risks listed in my Kotak note?", has_files=False)
    assert r.task != "search_notes"  # no file in the thread: it is not a note question


def test_literal_code():
    assert find_code("Run code: print(get_historical_prices('TCS').tail())") == "print(get_historical_prices('TCS').tail())"
    assert find_code("Please run this:\n```python\nx = 1\nprint(x + 1)\n```\nthanks") == "x = 1\nprint(x + 1)"
    assert find_code("Run code to plot RSI of TCS") is None  # a request for code, not code


def test_run_code_request_is_recorded(universe):
    intent, r = req(universe, "Run code: import matplotlib.pyplot as plt; plt.plot([1, 2]); plt.show()")
    assert intent.kind == "code" and r.task == "run_code" and r.plot
    assert r.to_dict() == {"task": "run_code", "code": "import matplotlib.pyplot as plt; plt.plot([1, 2]); plt.show()",
                           "plot": True}


def test_any_index_the_provider_lists_is_read_as_the_benchmark():
    from qlwork.assistant.offline.request import find_benchmark

    indices = ["NIFTY 50", "NIFTY BANK", "NIFTY IT", "NIFTY NEXT 50"]
    assert find_benchmark("Compare my banks with NIFTY BANK over 1Y", indices) == "NIFTY BANK"
    assert find_benchmark("my IT stocks vs niftyit", indices) == "NIFTY IT"
    assert find_benchmark("against the Nifty Next 50", indices) == "NIFTY NEXT 50"  # longest name first
    assert find_benchmark("did I beat the market?", indices) == "NIFTY 50"
    assert find_benchmark("did I beat the market?", ["NIFTY BANK"]) == "NIFTY BANK"  # the provider's own
    assert find_benchmark("Signals for TCS", indices) is None


def test_a_portfolio_question_is_not_hijacked_by_a_pronoun(universe):
    entities = {"symbols": ["TECHM"], "sector": "Information Technology"}
    intent, r = req(universe, "Analyze my portfolio and tell me what to do with it", entities=entities)
    assert intent.kind == "portfolio" and r.symbols == [] and r.resolved is None
    _, r = req(universe, "Which of those holdings is the safest?", entities={"symbols": ["TCS", "INFY"]})
    assert (r.task, r.symbols, r.metric, r.order) == ("rank", ["TCS", "INFY"], "volatility", "asc_risk")


def test_files_named_leave_out_generic_words():
    from qlwork.assistant.offline.request import find_files

    assert find_files("What does the attached research note say about IT margins?") == ["note"]
    assert find_files("Summarise my Kotak Securities note") == ["Kotak Securities"]
    assert find_files("key risks in the uploaded Jefferies report") == ["Jefferies"]
    assert find_files("Analyze my portfolio") == []
