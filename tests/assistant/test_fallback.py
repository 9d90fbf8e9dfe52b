"""Answers that degrade gracefully (assistant/fallback.py): the real openai SDK against the scripted
server playing a weak model, the real trading tools on the demo market, a real SQLite store. A model
whose answers never validate still leaves the user a structured answer built from tool figures, with
its own text labelled as model commentary; a model that calls no tool gets the offline plan run for it;
a small-context model gets a compact prompt."""

from __future__ import annotations

import json

import pytest

from qlwork.assistant.backends.transcript import COMPACT_RULES, REPAIR_PREFIX, TOOL_PROTOCOL
from qlwork.assistant.fallback import COMPOSER
from qlwork.assistant.grounding import untraceable_figures
from qlwork.assistant.model_turns import MODEL_KEY
from qlwork.assistant.session import Session
from qlwork.market import get_provider

from .conftest import model_backend

PROSE = "Your portfolio looks fine overall, I would keep it."


@pytest.fixture(scope="module")
def market():
    return get_provider("demo")


def session_on(store, server, market, **options) -> Session:
    return Session("u1", backend=model_backend("openai-chat", server, **options), store=store, market=market,
                   portfolio="sample:diversified", new_thread=True)


def outputs_of(store, thread_id):
    return [c.function.output for _, c in store.completed_tool_calls(thread_id)]


def test_model_that_calls_no_tool_and_never_validates_gets_a_composed_answer(store, fm, planted_key, market):
    with fm.FakeModel(fm.text(PROSE), fm.text("Still prose: " + PROSE)) as server:
        answer = session_on(store, server, market).ask("Analyze my portfolio")
        bodies = server.bodies("/chat/completions")
    run = answer.run
    assert run.status == "completed" and len(bodies) == 2
    steps = answer.steps if hasattr(answer, "steps") else store.list_steps(run.id)
    [tool_step] = [s for s in steps if s.type == "tool_calls"]
    assert {c.function.name for c in tool_step.tool_calls} == {"analyze_portfolio", "calculate_risk_metrics"}
    assert tool_step.metadata[MODEL_KEY]["source"].startswith("offline plan")
    # the repair turn carried the planned tools' outputs to the model
    repair = bodies[1]["messages"]
    assert repair[-1]["content"].startswith(REPAIR_PREFIX) and any(m["role"] == "tool" for m in repair)
    data = answer.message.data
    assert data["composed"]["by"] == COMPOSER and "analyze_portfolio" in data["composed"]["from_tools"]
    assert data["composed"]["model_commentary"] == "Still prose: " + PROSE
    assert data["overall_score"] is not None and data["risk_metrics"]  # the tools' figures
    health = json.loads(next(c.function.output for c in tool_step.tool_calls if c.function.name == "analyze_portfolio"))
    assert data["overall_score"] == health["overall_score"]
    assert untraceable_figures(data, outputs_of(store, run.thread_id)) == []
    assert data["grounding"]["status"] in ("grounded", "flagged") and data["grounding"]["checked"] > 0
    text = answer.message.text
    assert f"Composed by {COMPOSER}" in text and "Model commentary (from the model, unverified): Still prose" in text


def test_model_with_tool_calls_but_broken_answers_keeps_its_outputs(store, fm, planted_key, market):
    with fm.FakeModel(fm.calls(("analyze_portfolio", {})), fm.text('{"analysis_type": ""}'),
                      fm.text('{"overall_score": "high"}')) as server:
        answer = session_on(store, server, market).ask("Analyze my portfolio")
        assert len(server.requests) == 3  # no plan: the model had called a tool
    data = answer.message.data
    assert answer.run.status == "completed" and data["composed"]["from_tools"] == ["analyze_portfolio"]
    assert data["composed"]["model_commentary"] == '{"overall_score": "high"}'
    assert "not a valid TradingResponse" in data["composed"]["reason"]


def test_small_context_model_gets_a_compact_prompt(store, fm, planted_key, market):
    with fm.FakeModel(policy=fm.rule_model) as big, fm.FakeModel(policy=fm.rule_model) as small:
        wide = session_on(store, big, market, response_format="json_object").ask("Analyze my portfolio")
        narrow = session_on(store, small, market, response_format="json_object", context_window=4096,
                            max_output_tokens=256).ask("Analyze my portfolio")
        first_big, first_small = big.bodies()[0], small.bodies()[0]
        last_big, last_small = big.bodies()[-1], small.bodies()[-1]
    assert wide.run.status == narrow.run.status == "completed"
    assert COMPACT_RULES in first_small["messages"][0]["content"]
    assert len(first_small["messages"][0]["content"]) < len(first_big["messages"][0]["content"]) / 2
    assert {t["function"]["name"] for t in first_small["tools"]} == {"analyze_portfolio", "calculate_risk_metrics"}
    assert len(first_big["tools"]) > len(first_small["tools"])
    assert len(json.dumps(last_small)) < len(json.dumps(last_big))
    # the figures survive the cut: the small model's answer is as grounded as the big one's
    assert narrow.message.data["overall_score"] == wide.message.data["overall_score"]


def test_text_protocol_lists_only_planned_tools_for_a_small_model(store, fm, planted_key, market):
    with fm.FakeModel(policy=fm.rule_model) as server:
        server.reject_tools = True
        answer = session_on(store, server, market, context_window=2048, max_output_tokens=256).ask(
            "What is my risk?")
        system = server.bodies()[-1]["messages"][0]["content"]
    assert answer.run.status == "completed"
    assert TOOL_PROTOCOL in system and "- calculate_risk_metrics(" in system and "- get_market_data(" not in system
