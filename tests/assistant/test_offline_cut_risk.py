"""'What should I sell to cut risk?' on the offline engine: holdings ranked by risk contribution, with
the volatility before and after the proposed trim, every figure traced."""

import json

import pytest

import qlwork
from qlwork.assistant.evaluation import untraceable_figures
from qlwork.assistant.offline.intent import read_intent
from qlwork.assistant.render import tool_calls
from qlwork.assistant.store import Store


@pytest.mark.parametrize("text", ["What should I sell to cut risk?", "Which stocks should I trim to reduce my risk?",
                                  "How do I lower volatility?", "Help me de-risk"])
def test_intent(text):
    assert read_intent(text, ["Information Technology"], {"TCS"}).kind == "cut_risk"
    assert read_intent("What is my risk?", [], set()).kind == "risk"


def test_names_top_contributors_with_volatility_before_and_after(tmp_path):
    store = Store(tmp_path / "q.db")
    s = qlwork.open_session("u", portfolio="sample:it_heavy", store=store, new_thread=True)
    answer = s.ask("What should I sell to cut risk?")
    calls = tool_calls([st.model_dump() for st in answer.steps])
    assert [c["name"] for c in calls] == ["calculate_risk_metrics"]
    out = calls[0]["output"]
    out = json.loads(out) if isinstance(out, str) else out
    table = out["risk_contributions"]
    r = answer.response
    assert r.analysis_type == "risk_reduction"
    top = [h["symbol"] for h in table["holdings"][:3]]
    assert [x.symbol for x in r.recommendations] == top and all(x.action == "reduce" for x in r.recommendations)
    assert {x.action for x in r.recommendations} == {"reduce"}  # no buys when asked what to sell
    first = table["holdings"][0]
    rec = r.recommendations[0]
    assert rec.shares == first["trim_shares"] < 0 and rec.amount_inr == first["trim_amount_inr"]
    assert rec.sector == "Information Technology" and rec.sector_weight_after == first["sector_weight_after_trim"]
    before, after = table["trim_proposal"]["volatility_before"], table["trim_proposal"]["volatility_after"]
    assert after < before
    assert any(f"{before * 100:.2f}% before, {after * 100:.2f}% after" in i for i in r.insights)
    assert untraceable_figures(r.model_dump(mode="json"), [out]) == []
    assert r.grounding.status == "grounded"
    store.close()


def test_risk_answer_names_the_largest_contributors(tmp_path):
    store = Store(tmp_path / "q.db")
    s = qlwork.open_session("u", portfolio="sample:concentrated", store=store, new_thread=True)
    answer = s.ask("What is my risk?")
    out = tool_calls([st.model_dump() for st in answer.steps])[0]["output"]
    out = json.loads(out) if isinstance(out, str) else out
    top = out["risk_contributions"]["holdings"][0]
    line = next(i for i in answer.response.insights if i.startswith("Largest contributors to volatility"))
    assert f"{top['symbol']} {top['share_of_volatility'] * 100:.2f}%" in line
    assert answer.response.grounding.status == "grounded"
    store.close()
