"""The run-time advice check: rules on hand-made answers, and on real runs (offline engine, and the real
openai client against the fake model server in its reckless mode)."""

from __future__ import annotations

import pytest

import qlwork
from qlwork.assistant import advice
from qlwork.assistant.render import audit_markdown
from qlwork.assistant.session import Session
from qlwork.errors import InputError, QlworkError
from qlwork.market import get_provider
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio
from qlwork.widget.render import answer_html

from .conftest import model_backend

MARKET = get_provider("demo")


@pytest.fixture(scope="module")
def it_heavy():
    return analyze_portfolio.tool.run({}, ToolContext(market=MARKET, portfolio="sample:it_heavy")).output


def rec(action, symbol, reason="because", **sizes):
    return {"action": action, "symbol": symbol, "reason": reason, "confidence": None, "timeframe": "1-4 weeks", **sizes}


def rules(answer, outputs, question=""):
    return [(f.symbol, f.rule) for f in advice.check(answer, outputs, question)[0]]


def test_each_rule(it_heavy):
    held = {h["symbol"]: h for h in it_heavy["holdings"]}
    cap = it_heavy["limits"]["position_cap"]
    answer = {"recommendations": [
        rec("add", "TCS"),  # largest position, IT far above NIFTY 50
        rec("add", "HDFCBANK", target_weight=round(cap + 0.05, 4)),  # underweight sector, but past the cap
        rec("sell", "SBIN"),  # not held
        rec("reduce", "WIPRO", shares=-(held["WIPRO"]["quantity"] + 1)),  # more than held
        rec("add", "INFY", "Adding although IT is overweight, because the client asked to"),  # said so and why
    ]}
    assert rules(answer, [it_heavy]) == [("TCS", "overweight_add"), ("HDFCBANK", "cap_breach"), ("SBIN", "not_held"),
                                         ("WIPRO", "cap_breach")]
    assert rules({"recommendations": [rec("buy", "HDFCBANK")]}, [], "What should I sell to cut risk?") == [
        ("HDFCBANK", "buy_when_selling")]
    assert rules({"recommendations": [rec("buy", "HDFCBANK")]}, [], "Which stocks should I buy or sell?") == []
    assert rules({"recommendations": [rec("sell", "ZZZ")]}, []) == []  # no portfolio facts: nothing to compare


def test_repair_rewrites_only_the_offending_recommendations(it_heavy):
    answer = {"analysis_type": "portfolio_health", "recommendations": [
        rec("add", "TCS", shares=10, amount_inr=31500.0), rec("sell", "SBIN"), rec("reduce", "WIPRO")]}
    fixed, record = advice.review(answer, [it_heavy], "", "repair")
    assert record.status == "repaired" and len(record.findings) == 2 and record.checked == 3
    first, second, third = fixed["recommendations"]
    assert first["action"] == "hold" and "shares" not in first and first["reason"].startswith("Advice check: add to an")
    assert second["action"] == "watch" and "does not hold" in second["reason"]
    assert third == answer["recommendations"][2]
    assert answer["recommendations"][0]["action"] == "add"  # the input is not changed
    flagged, record = advice.review(answer, [it_heavy], "", "flag")
    assert record.status == "flagged" and flagged == answer
    with pytest.raises(InputError, match="repair"):
        advice.policy_for({"advice": "ignore"})


@pytest.mark.parametrize("name", ["diversified", "concentrated", "it_heavy", "near_cash", "smallcap_highvol"])
def test_offline_answers_are_sound_on_every_sample(tmp_path, name):
    store = qlwork.assistant.store.Store(tmp_path / "q.db")
    s = qlwork.open_session("u", portfolio=f"sample:{name}", store=store, new_thread=True)
    for question in ("Analyze my portfolio", "What should I sell to cut risk?"):
        answer = s.ask(question)
        assert answer.response.advice.status == "sound", answer.response.advice
        assert answer.message.metadata["advice_status"] == "sound"
        assert answer.run.metadata[advice.RUN_KEY]["status"] == "sound"
    store.close()


def test_reckless_model_is_caught_and_repaired(store, fm, planted_key):
    with fm.FakeModel(policy=fm.reckless_model) as server:
        session = Session("u1", backend=model_backend("openai-chat", server), store=store, market=MARKET,
                          portfolio="sample:it_heavy", new_thread=True)
        answer = session.ask("Analyze my portfolio")
    a = answer.response.advice
    assert a.status == "repaired" and [(f.symbol, f.rule) for f in a.findings] == [("TCS", "overweight_add")]
    first = answer.response.recommendations[0]
    assert first.symbol == "TCS" and first.action == "hold" and "Strong momentum" in first.reason
    assert not [r for r in answer.response.recommendations if r.action in ("add", "buy") and r.symbol == "TCS"]
    assert answer.message.metadata["advice_status"] == "repaired"
    assert "TCS" in answer.message.metadata["advice_findings"]
    trail = audit_markdown(store.audit(answer.run.thread_id))
    assert "Advice: 1 problem in" in trail and "(repaired)" in trail
    page = answer_html(answer.response)
    assert 'class="qlwork-advice" data-status="repaired"' in page
    assert "Advice: 1 problem" in answer.text


def test_reject_policy_fails_the_run(store, fm, planted_key):
    with fm.FakeModel(policy=fm.reckless_model) as server:
        session = Session("u1", backend=model_backend("openai-chat", server), store=store, market=MARKET,
                          portfolio="sample:it_heavy", new_thread=True)
        store.update_assistant(session.assistant_id, metadata={"advice": "reject"})
        with pytest.raises(QlworkError, match="unsound_advice") as caught:
            session.ask("Analyze my portfolio")
    run = store.get_run(caught.value.details["run_id"])
    assert run.status == "failed" and run.last_error.code == "unsound_advice" and "TCS" in run.last_error.message
    assert run.metadata[advice.RUN_KEY]["findings"][0]["symbol"] == "TCS"
    assert not store.list_messages(session.thread_id, order="desc", limit=1, run_id=run.id)  # never shown
