"""Streaming like OpenAI's: every AssistantEventHandler callback fires (tool-call ones included), and a
model backend that streams sends the answer token by token."""

from __future__ import annotations

import asyncio
import json
import pytest

from openai import AssistantEventHandler, AsyncAssistantEventHandler

from qlwork.assistant.response import TradingResponse


@pytest.fixture()
def live(served_live):
    """This module's flows run against a real ``qlwork serve`` subprocess."""
    return served_live


META = {"portfolio_id": "sample:diversified"}
CALLBACKS = ("on_run_step_created", "on_run_step_delta", "on_run_step_done", "on_tool_call_created",
             "on_tool_call_delta", "on_tool_call_done", "on_message_created", "on_message_delta", "on_message_done",
             "on_text_created", "on_text_delta", "on_text_done", "on_end")


def recorder(base):
    """An event handler class recording (callback, detail) for every callback in CALLBACKS."""

    def make(name):
        if issubclass(base, AsyncAssistantEventHandler):
            async def async_callback(self, *args):
                self.calls.append((name, args))
            return async_callback

        def callback(self, *args):
            self.calls.append((name, args))
        return callback

    def init(self):
        base.__init__(self)
        self.calls = []

    return type("Recorder", (base,), {"__init__": init, **{n: make(n) for n in CALLBACKS}})


Recorder = recorder(AssistantEventHandler)


def names(handler, callback):
    return [args for name, args in handler.calls if name == callback]


def test_runs_stream_fires_every_callback(live):
    client = live.client("stream-a")
    assistant = client.beta.assistants.create(model="gpt-4o")
    thread = client.beta.threads.create(metadata=META)
    client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio")
    handler = Recorder()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id, event_handler=handler) as s:
        s.until_done()
    assert {name for name, _ in handler.calls} == set(CALLBACKS)
    created = [args[0] for args in names(handler, "on_tool_call_created")]
    done = [args[0] for args in names(handler, "on_tool_call_done")]
    assert [c.function.name for c in created] == ["analyze_portfolio", "calculate_risk_metrics"]
    assert list(dict.fromkeys(c.id for c in done)) == [c.id for c in created]  # the SDK repeats the last
    assert all(json.loads(c.function.output) for c in done)  # outputs arrived before the step completed
    delta, snapshot = names(handler, "on_tool_call_delta")[0]
    assert delta.index == 0 and snapshot.function.name == "analyze_portfolio" and delta.function.arguments == "{}"
    (text,) = names(handler, "on_text_done")
    answer = TradingResponse.model_validate(json.loads(text[0].value))
    assert answer.conversation_context.thread_id == thread.id
    (message,) = names(handler, "on_message_done")
    assert message[0].id == answer.conversation_context.message_id
    assert handler.current_run.status == "completed"


def test_client_functions_stream_then_submit_stream(live):
    client = live.client("stream-b")
    fn = {"type": "function", "function": {"name": "calculate_risk_metrics", "parameters": {
        "type": "object", "properties": {"portfolio_id": {"type": "string"}}}}}
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[fn])
    thread = client.beta.threads.create(metadata={"portfolio_id": "pf-9"})
    client.beta.threads.messages.create(thread.id, role="user", content="What is my risk?")
    first = Recorder()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id, event_handler=first) as s:
        s.until_done()
    run = first.current_run
    assert run.status == "requires_action"
    (call,) = [args[0] for args in names(first, "on_tool_call_done")]
    assert call.function.name == "calculate_risk_metrics" and json.loads(call.function.arguments) == {"portfolio_id": "pf-9"}
    second = Recorder()
    with client.beta.threads.runs.submit_tool_outputs_stream(
            run_id=run.id, thread_id=thread.id, event_handler=second,
            tool_outputs=[{"tool_call_id": call.id, "output": json.dumps({"risk_metrics": {"volatility": 0.17}})}]) as s:
        s.until_done()
    assert second.current_run.status == "completed"
    (text,) = names(second, "on_text_done")
    assert json.loads(text[0].value)["risk_metrics"] == {"volatility": 0.17}


def test_create_and_run_stream_and_poll(live):
    client = live.client("stream-c")
    assistant = client.beta.assistants.create(model="gpt-4o")
    handler = Recorder()
    with client.beta.threads.create_and_run_stream(
            assistant_id=assistant.id, event_handler=handler,
            thread={"metadata": META, "messages": [{"role": "user", "content": "Signals for TCS and INFY"}]}) as s:
        s.until_done()
    assert handler.current_run.status == "completed" and names(handler, "on_tool_call_created")
    run = client.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, thread={"metadata": META, "messages": [{"role": "user", "content": "My risk?"}]})
    assert run.status == "completed"


def test_model_backend_streams_token_by_token(streaming_user, fm):
    client, model = streaming_user
    tutor = client.beta.assistants.create(model="fake-model", name="Math Tutor", instructions="You are a math tutor.")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="Solve 3x + 11 = 14")
    model.add(fm.text("3x + 11 = 14 gives 3x = 3, so x = 1."))
    handler = Recorder()
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=tutor.id, event_handler=handler) as s:
        s.until_done()
    assert handler.current_run.status == "completed", handler.current_run.last_error
    deltas = [args[0].value for args in names(handler, "on_text_delta")]
    assert model.bodies("/chat/completions")[-1].get("stream") is True
    assert len(deltas) > 1 and "".join(deltas) == "3x + 11 = 14 gives 3x = 3, so x = 1."
    (created,) = names(handler, "on_message_created")
    (done,) = names(handler, "on_message_done")
    assert created[0].id == done[0].id and done[0].content[0].text.value == "".join(deltas)
    stored = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert stored.id == done[0].id


def test_async_stream_handler(live):
    client = live.async_client("stream-d")

    async def flow():
        assistant = await client.beta.assistants.create(model="gpt-4o")
        thread = await client.beta.threads.create(metadata=META)
        await client.beta.threads.messages.create(thread.id, role="user", content="What is my risk?")
        handler = recorder(AsyncAssistantEventHandler)()
        handler.calls = []
        async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                                   event_handler=handler) as s:
            await s.until_done()
        return handler

    handler = asyncio.run(flow())
    assert [c[0].function.name for c in names(handler, "on_tool_call_created")] == ["calculate_risk_metrics"]
    assert names(handler, "on_text_done")


def test_streamed_text_that_fails_validation_ends_with_a_composed_answer(streaming_user, fm):
    client, model = streaming_user
    trading = client.beta.assistants.create(model="fake-model", response_format={"type": "json_object"})
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio")
    model.add(fm.text("Looks fine."), fm.text("Really fine."))  # the answer and its repair: both prose
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=trading.id) as s:
        events = [(e.event, e.data) for e in s]
    kinds = [k for k, _ in events]
    assert kinds[-1] == "thread.run.completed" and "thread.message.incomplete" not in kinds
    streamed = "".join(d.delta.content[0].text.value for k, d in events if k == "thread.message.delta")
    assert streamed == "Looks fine.Really fine."  # both attempts were shown as they came
    completed = next(d for k, d in events if k == "thread.message.completed")
    stored = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert stored.role == "assistant" and stored.id == completed.id  # the composed answer, under the streamed id
    answer = json.loads(stored.content[0].text.value)
    assert answer["composed"]["model_commentary"] == "Really fine." and answer["composed"]["from_tools"]
