"""Any assistant, not only the trading one: TradingResponse is enforced only for the trading assistant
(the default one, response_format json_schema/json_object, or metadata qlwork_response=TradingResponse)."""

from __future__ import annotations

import json
import pytest


@pytest.fixture()
def live(served_live):
    """This module's flows run against a real ``qlwork serve`` subprocess."""
    return served_live


TUTOR = dict(name="Math Tutor", instructions="You are a personal math tutor. Write and run code to answer math "
             "questions.", tools=[{"type": "code_interpreter"}])


def _ask(client, assistant_id: str, question: str):
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content=question)
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant_id)
    return run, client.beta.threads.messages.list(thread.id, limit=1).data[0]


def test_openai_example_tutor_gets_the_model_text(byoai_user, fm):
    client, model = byoai_user
    tutor = client.beta.assistants.create(model="fake-model", **TUTOR)
    assert tutor.response_format == "auto"
    model.add(fm.text("3x + 11 = 14, so 3x = 3 and x = 1."))
    run, message = _ask(client, tutor.id, "I need to solve the equation `3x + 11 = 14`. Can you help me?")
    assert run.status == "completed", run.last_error
    assert message.content[0].text.value == "3x + 11 = 14, so 3x = 3 and x = 1."
    body = model.bodies("/chat/completions")[-1]
    assert "response_format" not in body  # no TradingResponse schema forced on the tutor
    assert "TradingResponse" not in json.dumps(body["messages"])


def test_trading_assistant_still_enforces_the_schema(byoai_user, fm):
    client, model = byoai_user
    for kw in ({"response_format": {"type": "json_object"}}, {"metadata": {"qlwork_response": "TradingResponse"}}):
        trading = client.beta.assistants.create(model="fake-model", name="trading", **kw)
        model.add(fm.text("Looks fine to me."), fm.text("Still prose."))  # the answer and its repair
        run, message = _ask(client, trading.id, "Analyze my portfolio")
        answer = json.loads(message.content[0].text.value)  # prose is no answer: composed from the tools instead
        assert run.status == "completed" and answer["composed"]["model_commentary"] == "Still prose."
        assert "not a valid TradingResponse" in answer["composed"]["reason"]


def test_non_trading_assistant_answers_json_when_it_is_json(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model", name="ops")
    model.add(fm.text({"analysis_type": "note", "insights": ["ok"], "recommendations": [], "risk_metrics": {}}))
    run, message = _ask(client, assistant.id, "Summarise")
    answer = json.loads(message.content[0].text.value)
    assert run.status == "completed" and answer["conversation_context"]["thread_id"] == message.thread_id


def test_offline_engine_one_line_for_other_questions(live):
    client = live.client("any-a")
    tutor = client.beta.assistants.create(model="gpt-4o", **TUTOR)
    run, message = _ask(client, tutor.id, "What is the capital of France?")
    assert run.status == "completed"
    line = message.content[0].text.value
    assert "\n" not in line and "only answers portfolio" in line and "--backend openai-chat --model" in line
    # portfolio questions still get the TradingResponse answer from the same assistant
    run, message = _ask(client, tutor.id, "Signals for TCS")
    assert json.loads(message.content[0].text.value)["analysis_type"]
    # the default (trading) assistant keeps its structured help answer
    default = next(a for a in client.beta.assistants.list().data if a.metadata.get("default") == "true")
    _, message = _ask(client, default.id, "What is the capital of France?")
    assert json.loads(message.content[0].text.value)["analysis_type"] == "help"
