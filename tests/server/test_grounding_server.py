"""Grounding over the Assistants API: a BYOAI user's model (openai-chat on the scripted fake model)
invents figures; the answer a platform reads with the real openai SDK carries the grounding record
and the message metadata says how many figures were traced."""

from __future__ import annotations

import json

import pytest

from qlwork.assistant.response import TradingResponse


@pytest.mark.parametrize("policy", ["flag", "repair"])
def test_message_metadata_carries_grounding(byoai_user, fm, policy):
    client, model = byoai_user
    model.policy = fm.hallucinating_model()
    assistant = client.beta.assistants.create(model="fake-model", name="grounded", metadata={"grounding": policy})
    thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"},
                                        messages=[{"role": "user", "content": "Analyze my portfolio"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert not any(k.startswith("_qlwork") for k in run.metadata)  # the internal record stays internal
    message = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    answer = TradingResponse.model_validate(json.loads(message.content[0].text.value))
    g = answer.grounding
    assert message.metadata["grounding"] == g.summary and g.summary.endswith("figures traced to tool outputs")
    if policy == "flag":
        assert message.metadata["grounding_status"] == "flagged" and g.traced == g.checked - 2
        assert "42.42%" in message.metadata["grounding_untraceable"] and len(model.requests) == 2
    else:
        assert message.metadata["grounding_status"] == "repaired" and g.traced == g.checked
        assert "grounding_untraceable" not in message.metadata and len(model.requests) == 3


def test_message_metadata_carries_coverage(byoai_user, fm):
    """A BYOAI model (the rule-playing fake model over the wire) asked for a comparison over a period:
    the platform reads the coverage record in the answer and the message metadata."""
    client, model = byoai_user
    model.policy = fm.rule_model
    assistant = client.beta.assistants.create(model="fake-model", name="covered")
    thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"}, messages=[
        {"role": "user", "content": "Compare my portfolio with NIFTY 50 over 6 months"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    assert not any(k.startswith("_qlwork") for k in run.metadata)
    sent = [json.loads(c["function"]["arguments"]) for b in model.bodies() for m in b.get("messages", [])
            for c in m.get("tool_calls") or [] if c["function"]["name"] == "compare_with_benchmark"]
    assert sent == [{"benchmark": "NIFTY 50", "period": "6M"}]  # the model's call carried the period asked for
    message = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    answer = TradingResponse.model_validate(json.loads(message.content[0].text.value))
    assert answer.coverage.status == "covered" and answer.coverage.request["period"] == "6M"
    assert message.metadata["coverage"] == "answers: period ✓ benchmark ✓"
    assert message.metadata["coverage_status"] == "covered"
