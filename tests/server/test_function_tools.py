"""Client-side function tools: requires_action -> submit_tool_outputs, with the user's BYOAI backend
(openai-chat on the scripted fake model) chosen per user preference."""

from __future__ import annotations

import json

import openai
import pytest

from qlwork.assistant.response import TradingResponse


@pytest.fixture()
def live(served_live):
    """This module's flows run against a real ``qlwork serve`` subprocess."""
    return served_live


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


ANALYZE = {"type": "function", "function": {
    "name": "analyze_portfolio", "description": "The platform's own portfolio analysis (client-side).",
    "parameters": {"type": "object", "properties": {"portfolio_id": {"type": "string"}}}}}


def test_client_declared_registry_name_runs_client_side(byoai_user, fm):
    """A function the client declares runs client-side even when a qlwork tool has its name; the
    run's ``model`` is the model of that run, also when it resumes."""
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model", name="platform", tools=[ANALYZE])
    assert [t.function.name for t in assistant.tools] == ["analyze_portfolio"]
    assert "_qlwork_client" not in assistant.tools[0].model_dump_json()  # the marker stays internal
    thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"},
                                        messages=[{"role": "user", "content": "Review my portfolio"}])
    model.add(fm.calls(("analyze_portfolio", {"portfolio_id": "p-1"}, "call_ap_1")))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   model="fake-model-xl")
    assert run.status == "requires_action", run.last_error
    assert run.model == "fake-model-xl"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert call.id == "call_ap_1" and call.function.name == "analyze_portfolio"
    assert json.loads(call.function.arguments) == {"portfolio_id": "p-1"}
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    assert step.step_details.tool_calls[0].function.output is None  # the server did not run it

    model.add(fm.text(ANSWER))
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "{\"score\": 8}"}])
    assert done.status == "completed", done.last_error
    bodies = model.bodies("/chat/completions")[-2:]
    assert [b["model"] for b in bodies] == ["fake-model-xl", "fake-model-xl"]
    assert [json.loads(m["content"]) for m in bodies[-1]["messages"] if m["role"] == "tool"] == [{"score": 8}]

    # a run's own tools are the client's too
    thread2 = client.beta.threads.create(messages=[{"role": "user", "content": "Again"}])
    default = next(a for a in client.beta.assistants.list(limit=100).data if a.name == "Quantum Leap Trading Assistant")
    model.add(fm.calls(("analyze_portfolio", {}, "call_ap_2")))
    run2 = client.beta.threads.runs.create_and_poll(thread_id=thread2.id, assistant_id=default.id, tools=[ANALYZE])
    assert run2.status == "requires_action", run2.last_error
    client.beta.threads.runs.cancel(run2.id, thread_id=thread2.id)


@pytest.mark.parametrize("which", ["default", "created_without_tools"])
def test_qlwork_tools_run_server_side(byoai_user, fm, which):
    """The default assistant and assistants whose tools were not given keep qlwork's trading tools."""
    client, model = byoai_user
    if which == "default":
        assistant = next(a for a in client.beta.assistants.list(limit=100).data
                         if a.name == "Quantum Leap Trading Assistant")
    else:
        assistant = client.beta.assistants.create(model="fake-model", name="mine")
    thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"},
                                        messages=[{"role": "user", "content": "Review my portfolio"}])
    model.add(fm.calls(("analyze_portfolio", {}, "call_srv_1")), fm.text(ANSWER))
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    step = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    output = json.loads(step.step_details.tool_calls[0].function.output)
    assert "error" not in output and output  # qlwork's analysis ran on the server
