"""Client-side function tools: requires_action -> submit_tool_outputs, with the user's BYOAI backend
(openai-chat on the scripted fake model) chosen per user preference."""

from __future__ import annotations

import json

import openai
import pytest

from qlwork.assistant.response import TradingResponse

ORDER_BOOK = {"type": "function", "function": {
    "name": "get_order_book", "description": "Best bid/ask from the platform's own order book.",
    "parameters": {"type": "object", "properties": {"symbol": {"type": "string"}}, "required": ["symbol"]}}}
ANSWER = {"analysis_type": "order_book", "overall_score": 6.0, "risk_level": "moderate",
          "recommendations": [{"action": "watch", "symbol": "TCS", "reason": "Tight spread at 3500",
                               "confidence": 0.5, "timeframe": "1 day"}],
          "insights": ["Bid 3500 from the platform order book"], "risk_metrics": {}}


@pytest.fixture()
def waiting(byoai_user, fm):
    """A run of the user's assistant waiting in requires_action for get_order_book."""
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model", name="platform", tools=[ORDER_BOOK])
    assert assistant.model_extra["backend"] == "openai-chat"  # from the user's preferences
    thread = client.beta.threads.create(metadata={"user_id": "end-user-1", "portfolio_id": "sample:diversified"})
    client.beta.threads.messages.create(thread.id, role="user", content="Where is TCS trading on our book?")
    model.add(fm.calls(("get_order_book", {"symbol": "TCS"}, "call_book_1")))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    return client, model, assistant, thread, run


def test_requires_action_then_submit(waiting, fm):
    client, model, assistant, thread, run = waiting
    assert run.status == "requires_action", run.last_error
    action = run.required_action
    assert action.type == "submit_tool_outputs"
    (call,) = action.submit_tool_outputs.tool_calls
    assert call.id == "call_book_1" and call.type == "function"
    assert call.function.name == "get_order_book" and json.loads(call.function.arguments) == {"symbol": "TCS"}

    with pytest.raises(openai.ConflictError) as exc:  # one active run per thread
        client.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert exc.value.status_code == 409 and exc.value.code == "run_active"
    with pytest.raises(openai.BadRequestError):  # outputs must answer the pending call
        client.beta.threads.runs.submit_tool_outputs(run.id, thread_id=thread.id,
                                                     tool_outputs=[{"tool_call_id": "call_other", "output": "{}"}])

    model.add(fm.text(ANSWER))
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": call.id, "output": json.dumps({"bid": 3500, "ask": 3501})}])
    assert done.status == "completed", done.last_error
    tool_messages = [m for m in model.bodies("/chat/completions")[-1]["messages"] if m["role"] == "tool"]
    assert json.loads(tool_messages[0]["content"]) == {"bid": 3500, "ask": 3501}  # the model got the output
    message = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    answer = TradingResponse.model_validate(json.loads(message.content[0].text.value))
    assert answer.recommendations[0].symbol == "TCS" and "get_order_book" in answer.conversation_context.tools_used
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
    assert steps[0].step_details.tool_calls[0].function.output == json.dumps({"bid": 3500, "ask": 3501})


def test_submit_tool_outputs_stream(waiting, fm):
    client, model, _, thread, run = waiting
    model.add(fm.text(ANSWER))
    call_id = run.required_action.submit_tool_outputs.tool_calls[0].id
    with client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call_id, "output": "{\"bid\": 1}"}]) as s:
        events = [e.event for e in s]
        final = s.get_final_run()
    assert final.status == "completed"
    assert events[0] == "thread.run.queued" and events[-1] == "thread.run.completed"
    assert events.count("thread.run.step.completed") == 2  # the answered call step, then the message step
    assert "thread.message.delta" in events


def test_cancel_waiting_run(waiting):
    client, _, assistant, thread, run = waiting
    cancelled = client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert all(s.status != "in_progress" for s in steps)  # nothing left open
    assert json.loads(steps[0].step_details.tool_calls[0].function.output)["error"]
