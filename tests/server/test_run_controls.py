"""Run controls honoured on model backends, through the openai SDK against `qlwork serve` with a user
whose preferences select openai-chat on the scripted model (tests/servers/fake_model.py): tool_choice,
temperature/top_p, max_*_tokens ending a run `incomplete`, truncation_strategy, a run's own
response_format, and OpenAI's event order when the model streams."""

from __future__ import annotations

import json

ANSWER = {"analysis_type": "help", "insights": ["hello"], "recommendations": [], "risk_metrics": {}}
FN = {"type": "function", "function": {"name": "lookup", "description": "Looks a word up on the client.",
                                       "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}


def _thread(client, *texts):
    thread = client.beta.threads.create()
    for text in texts:
        client.beta.threads.messages.create(thread.id, role="user", content=text)
    return thread


def _run(client, thread, assistant, **options):
    return client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                    poll_interval_ms=50, timeout=60, **options)


def test_tool_choice_none_sends_no_tools_and_answers(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model", tools=[FN])
    model.add(fm.text("Just text."))
    run = _run(client, _thread(client, "hello"), assistant, tool_choice="none")
    assert run.status == "completed" and run.tool_choice == "none"
    assert "tools" not in model.bodies()[-1]


def test_tool_choice_named_and_required_are_forwarded(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model", tools=[FN, {"type": "code_interpreter"}])
    model.add(fm.calls(("lookup", {"q": "x"})))
    run = _run(client, _thread(client, "look it up"), assistant,
               tool_choice={"type": "function", "function": {"name": "lookup"}})
    body = model.bodies()[-1]
    assert run.status == "requires_action"
    assert body["tool_choice"] == {"type": "function", "function": {"name": "lookup"}}
    assert [t["function"]["name"] for t in body["tools"]] == ["lookup"]
    client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)
    model.add(fm.calls(("lookup", {"q": "y"})))
    run = _run(client, _thread(client, "again"), assistant, tool_choice="required")
    assert model.bodies()[-1]["tool_choice"] == "required"
    client.beta.threads.runs.cancel(run.id, thread_id=run.thread_id)


def test_sampling_options_reach_the_model(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model")
    model.add(fm.text("ok"))
    run = _run(client, _thread(client, "hello"), assistant, temperature=0.3, top_p=0.9, max_completion_tokens=400)
    body = model.bodies()[-1]
    assert run.status == "completed" and (body["temperature"], body["top_p"], body["max_tokens"]) == (0.3, 0.9, 400)


def test_token_budgets_end_the_run_incomplete(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model")
    reply = fm.text("a long answer")
    reply.usage = {"in": 50, "out": 900}
    model.add(reply)
    run = _run(client, _thread(client, "hello"), assistant, max_completion_tokens=100)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_completion_tokens"
    assert run.usage.completion_tokens == 900
    reply = fm.text("short")
    reply.usage = {"in": 5000, "out": 3}
    model.add(reply)
    run = _run(client, _thread(client, "hello"), assistant, max_prompt_tokens=1000)
    assert run.status == "incomplete" and run.incomplete_details.reason == "max_prompt_tokens"


def test_truncation_last_messages_keeps_only_the_newest(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model")
    model.add(fm.text("ok"))
    thread = _thread(client, "first MARK-1", "second MARK-2", "third MARK-3")
    run = _run(client, thread, assistant, truncation_strategy={"type": "last_messages", "last_messages": 1})
    sent = json.dumps(model.bodies()[-1]["messages"])
    assert run.status == "completed" and "MARK-3" in sent and "MARK-1" not in sent and "MARK-2" not in sent


def test_a_runs_own_json_schema_is_sent_as_given(byoai_user, fm):
    client, model = byoai_user
    assistant = client.beta.assistants.create(model="fake-model")  # not the trading assistant
    schema = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
              "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "City", "schema": schema, "strict": True}}
    model.add(fm.text('{"city": "Pune"}'))
    run = _run(client, _thread(client, "Where?"), assistant, response_format=fmt)
    assert run.status == "completed" and model.bodies()[-1]["response_format"] == fmt
    [message] = client.beta.threads.messages.list(run.thread_id, order="desc", limit=1).data
    assert message.content[0].text.value == '{"city": "Pune"}'


def test_streamed_answer_step_comes_before_its_message(streaming_user, fm):
    client, model = streaming_user
    assistant = client.beta.assistants.create(model="fake-model", tools=[FN])
    thread = _thread(client, "look it up")
    model.add(fm.calls(("lookup", {"q": "x"})), fm.text("The answer, streamed."))
    events = []
    with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        for event in stream:
            events.append(event)
    run = next(e.data for e in events if e.event == "thread.run.requires_action")
    call = run.required_action.submit_tool_outputs.tool_calls[0]
    with client.beta.threads.runs.submit_tool_outputs_stream(
            thread_id=thread.id, run_id=run.id, tool_outputs=[{"tool_call_id": call.id, "output": "42"}]) as stream:
        after = [(e.event, getattr(e.data, "id", None), getattr(e.data, "type", None)) for e in stream]
    names = [name for name, _, _ in after]
    tool_done = next(i for i, (n, _, t) in enumerate(after) if n == "thread.run.step.completed" and t == "tool_calls")
    step_created = next(i for i, (n, _, t) in enumerate(after)
                        if n == "thread.run.step.created" and t == "message_creation")
    assert tool_done < step_created < names.index("thread.message.created") < names.index("thread.message.delta")
    message_done = names.index("thread.message.completed")
    step_done = next(i for i, (n, _, t) in enumerate(after) if n == "thread.run.step.completed" and t == "message_creation")
    assert message_done < step_done < names.index("thread.run.completed")
    created_id = after[step_created][1]
    assert created_id == after[step_done][1]  # the announced step is the stored one
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert created_id in {s.id for s in steps}


def test_an_assistants_own_json_schema_is_sent_as_given(byoai_user, fm):
    client, model = byoai_user
    schema = {"type": "object", "properties": {"mood": {"type": "string"}}, "required": ["mood"],
              "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "Mood", "schema": schema, "strict": True}}
    assistant = client.beta.assistants.create(model="fake-model", response_format=fmt)
    model.add(fm.text('{"mood": "calm"}'))
    run = _run(client, _thread(client, "How is the market?"), assistant)
    body = model.bodies()[-1]
    assert run.status == "completed" and body["response_format"]["json_schema"]["name"] == "Mood"
    assert body["response_format"]["json_schema"]["schema"] == schema
    assert "TradingResponse" not in json.dumps(body)
