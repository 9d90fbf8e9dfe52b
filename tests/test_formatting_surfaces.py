"""One number style on every surface (issue 33): percentage points as "pp", weights never as raw
fractions, the sign before the currency, grouped amounts and quantities, one precision per figure kind,
and a window on every "Total return" -- checked in the formatter, in the offline engine's answers (the
plain-text CLI rendering and the widget HTML of the same answer), and in the holdings tables."""

from __future__ import annotations

import re

import pytest

import qlwork
from qlwork import formatting as F
from qlwork.assistant.render import answer_text, holdings_table
from qlwork.assistant.store import Store
from qlwork.widget.render import answer_html, holdings_html

RAW_FRACTION = re.compile(r"\b(?:weight|Weight)\b[^,.;]*?\b0\.\d+\b(?!\s?(?:%|pp))")


def test_the_formatter_rules():
    assert F.inr(-15954) == "-INR 15,954.00" and F.inr(15954, signed=True) == "+INR 15,954.00"
    assert F.inr(-15954, style="rupee") == "-\u20b915,954.00"
    assert F.inr(2992016.0) == "INR 29,92,016.00"
    assert F.quantity(100000) == "1,00,000" and F.quantity(1234.5678) == "1,234.568" and F.quantity(None) == "n/a"
    assert F.metric("sector_weight", 0.13) == "13.00%"
    assert F.metric("active_sector_weight", 0.0095) == "+0.95 pp"
    assert F.metric("active_sector_weight", -0.01) == "-1.00 pp"
    assert F.metric_change("active_sector_weight", 0.001) == "+0.10 pp"
    assert F.metric("sharpe_ratio", 0.5061) == "0.51"
    assert F.label("total_return") == "Total return over the window"


@pytest.fixture(scope="module")
def answers(tmp_path_factory):
    store = Store(tmp_path_factory.mktemp("fmt") / "q.db")
    session = qlwork.open_session("asha", portfolio="sample:it_heavy", store=store, new_thread=True)
    out = {q: session.ask(q) for q in ("Analyze my portfolio", "What about the technology sector?",
                                       "What is my risk?", "Signals for INFY and TCS", "Price of TCS")}
    yield out
    store.close()


def _texts(answer) -> tuple[str, str, dict]:
    data = answer.response.model_dump()
    return answer_text(data), answer_html(data), data


def test_sector_answer_speaks_in_points(answers):
    text, html, data = _texts(answers["What about the technology sector?"])
    assert re.search(r"\d+\.\d{2} pp (?:above|below) the NIFTY 50 weight", text), text
    assert not re.search(r"\d%\s+(?:above|below) the NIFTY 50 weight", text)
    assert re.search(r"Sector weight \d+\.\d{2}%", text) and re.search(r"Active sector weight vs NIFTY 50 [+-]\d+\.\d{2} pp",
                                                                      text), text
    assert not RAW_FRACTION.search(text), text
    assert "Sector weight" in html and " pp" in html
    assert data["grounding"]["status"] == "grounded", data["grounding"]  # points trace to the tool outputs


def test_risk_answer_one_precision_and_a_window(answers):
    text, html, data = _texts(answers["What is my risk?"])
    sharpe = re.search(r"Sharpe (-?\d+\.\d+)", text).group(1)
    assert len(sharpe.split(".")[1]) == 2  # as the tables show it, not 0.5061
    assert re.search(r"over \d+ trading days \(\d{4}-\d{2}-\d{2} to \d{4}-\d{2}-\d{2}\)", text), text
    if "total_return" in data["risk_metrics"]:
        assert "Total return over the window" in text and "Total return over the window" in html
    assert data["grounding"]["status"] == "grounded", data["grounding"]


def test_signal_agreement_in_words_not_a_raw_fraction(answers):
    """A signal's confidence is the share of its rules that agree (issue 26): said as "n of 4 signal
    rules", never as a bare 0.xx; a hold has none."""
    text, _, data = _texts(answers["Signals for INFY and TCS"])
    assert re.search(r": (?:buy|sell) \(signal agreement \d of \d signal rules\)", text), text
    assert re.search(r": hold \(no signal agreement\)", text) or ": hold" not in text, text
    assert not re.search(r"confidence 0\.\d+", text), text
    assert data["grounding"]["status"] == "grounded", data["grounding"]


def test_prices_in_grouped_inr(answers):
    text, _, data = _texts(answers["Price of TCS"])
    assert re.search(r"last close INR \d{1,2}(?:,\d{2})*,\d{3}\.\d{2}", text), text
    assert data["grounding"]["status"] == "grounded", data["grounding"]


def test_holdings_tables_group_quantities():
    analysis = {"holdings": [{"symbol": "ITC", "sector": "FMCG", "quantity": 100000, "average_price": 410.0,
                              "last_price": 440.5, "market_value": 4405000.0, "weight": 0.5, "pnl": -15954.0,
                              "pnl_pct": -0.0036}]}
    plain = holdings_table(analysis)
    assert "1,00,000" in plain and "44,05,000.00" in plain and "-15,954.00" in plain and "50.00%" in plain
    assert "100000" not in plain
    html = holdings_html(analysis)
    assert "1,00,000" in html and "100000" not in html
