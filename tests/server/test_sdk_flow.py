"""The platform-service flow with the real openai SDK (sync and async) against a live server."""

from __future__ import annotations

import asyncio
import json
import time

import openai
import pytest

from qlwork.assistant.response import TradingResponse

META = {"user_id": "platform-user-42", "portfolio_id": "sample:diversified", "risk_profile": "moderate"}


def answer_of(client, thread_id: str) -> TradingResponse:
    messages = client.beta.threads.messages.list(thread_id=thread_id, order="desc", limit=1)
    message = messages.data[0]
    assert message.role == "assistant" and message.content[0].type == "text"
    return TradingResponse.model_validate(json.loads(message.content[0].text.value))


def test_platform_flow_polling(alice, assistant):
    thread = alice.beta.threads.create(metadata=META)
    assert thread.metadata == META  # the client's metadata comes back exactly as sent
    message = alice.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    assert message.content[0].text.value == "Review my portfolio"
    assert message.content[0].text.annotations == []

    run = alice.beta.threads.runs.create(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status in ("queued", "in_progress") and run.object == "thread.run"
    deadline = time.monotonic() + 30
    while run.status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.02)
        run = alice.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert run.status == "completed", run.last_error
    assert run.usage is not None and run.completed_at >= run.created_at

    answer = answer_of(alice, thread.id)
    assert answer.analysis_type and 0 <= answer.overall_score <= 10
    assert answer.risk_level in ("low", "moderate", "high", "very_high")
    assert answer.conversation_context.thread_id == thread.id
    assert {"analyze_portfolio", "calculate_risk_metrics"} <= set(answer.conversation_context.tools_used)

    messages = alice.beta.threads.messages.list(thread_id=thread.id, order="asc")
    assert [m.role for m in messages.data] == ["user", "assistant"]
    assert messages.data[1].run_id == run.id and messages.data[1].assistant_id == assistant.id
    assert messages.first_id == messages.data[0].id and messages.last_id == messages.data[1].id
    assert messages.has_more is False

    steps = alice.beta.threads.runs.steps.list(run_id=run.id, thread_id=thread.id, order="asc")
    assert [s.type for s in steps.data] == ["tool_calls", "message_creation"]
    calls = steps.data[0].step_details.tool_calls
    assert {c.function.name for c in calls} == {"analyze_portfolio", "calculate_risk_metrics"}
    assert all(c.type == "function" and json.loads(c.function.output) for c in calls)
    assert steps.data[1].step_details.message_creation.message_id == messages.data[1].id
    one = alice.beta.threads.runs.steps.retrieve(steps.data[0].id, thread_id=thread.id, run_id=run.id)
    assert one.id == steps.data[0].id


def test_create_and_poll_and_followup(alice, assistant):
    thread = alice.beta.threads.create(metadata=META)
    alice.beta.threads.messages.create(thread.id, role="user", content="What is the risk of my portfolio?")
    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed"
    first = answer_of(alice, thread.id)
    alice.beta.threads.messages.create(thread.id, role="user", content="Give me momentum signals for IT stocks")
    run2 = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   additional_instructions="Be brief.", metadata={"turn": "2"})
    assert run2.status == "completed" and run2.metadata == {"turn": "2"}
    second = answer_of(alice, thread.id)
    assert second.conversation_context.message_id != first.conversation_context.message_id
    runs = alice.beta.threads.runs.list(thread_id=thread.id)
    assert [r.id for r in runs.data] == [run2.id, run.id]  # newest first by default


def test_stream_helper_events(alice, assistant):
    thread = alice.beta.threads.create(metadata=META)
    alice.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    with alice.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id) as stream:
        events = [event.event for event in stream]
        final = stream.get_final_run()
        messages = stream.get_final_messages()
    assert final.status == "completed"
    expected = ["thread.run.created", "thread.run.queued", "thread.run.in_progress", "thread.run.step.created",
                "thread.run.step.completed", "thread.message.created", "thread.message.delta",
                "thread.message.completed", "thread.run.completed"]
    positions = [events.index(e) for e in expected]
    assert positions == sorted(positions), events
    assert events[-1] == "thread.run.completed"
    assert TradingResponse.model_validate(json.loads(messages[0].content[0].text.value))


def test_raw_sse_ends_with_done(live, alice, assistant):
    import httpx

    thread = alice.beta.threads.create(metadata=META)
    alice.beta.threads.messages.create(thread.id, role="user", content="Signals for TCS")
    with httpx.stream("POST", f"{live.base_url}/threads/{thread.id}/runs", timeout=30,
                      headers={"Authorization": f"Bearer {alice.api_key}", "OpenAI-Beta": "assistants=v2"},
                      json={"assistant_id": assistant.id, "stream": True}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = "".join(response.iter_text())
    blocks = [b for b in body.split("\n\n") if b.strip()]
    assert blocks[-1] == "event: done\ndata: [DONE]"
    assert blocks[0].startswith("event: thread.run.created\ndata: {")


def test_create_thread_and_run(alice, assistant):
    run = alice.beta.threads.create_and_run_poll(
        assistant_id=assistant.id,
        thread={"metadata": META, "messages": [{"role": "user", "content": [{"type": "text", "text": "Review my portfolio"}]}]})
    assert run.status == "completed"
    assert alice.beta.threads.retrieve(run.thread_id).metadata == META
    assert answer_of(alice, run.thread_id).overall_score is not None


def test_async_client_flow(live, assistant):
    async def flow():
        client = live.async_client(key=assistant_key(live))
        thread = await client.beta.threads.create(metadata=META)
        await client.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
        run = await client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
        messages = await client.beta.threads.messages.list(thread_id=thread.id)
        async with client.beta.threads.runs.stream(thread_id=thread.id, assistant_id=assistant.id,
                                                   additional_messages=[{"role": "user", "content": "And my risk?"}]) as s:
            await s.until_done()
            streamed = await s.get_final_run()
        await client.close()
        return run, messages, streamed

    run, messages, streamed = asyncio.run(flow())
    assert run.status == "completed" and streamed.status == "completed"
    assert TradingResponse.model_validate(json.loads(messages.data[0].content[0].text.value))


def assistant_key(live) -> str:
    """The fixture assistant belongs to alice's key user; a second key for alice sees it too."""
    return live.key("alice")


def test_update_retrieve_delete_and_pagination(alice):
    ids = [alice.beta.assistants.create(model="gpt-4o", name=f"a{i}", metadata={"i": str(i)}).id for i in range(5)]
    updated = alice.beta.assistants.update(ids[0], name="renamed", metadata={"k": "v"})
    assert updated.name == "renamed" and updated.metadata == {"k": "v"}
    assert alice.beta.assistants.retrieve(ids[0]).name == "renamed"
    page = alice.beta.assistants.list(limit=2, order="asc", after=ids[0])
    assert [a.id for a in page.data] == ids[1:3] and page.has_more
    collected = [a.id for a in alice.beta.assistants.list(limit=2, order="asc")]  # auto-pagination
    assert collected[-5:] == ids
    back = alice.beta.assistants.list(limit=2, order="asc", before=ids[3])
    assert [a.id for a in back.data] == ids[1:3]
    deleted = alice.beta.assistants.delete(ids[4])
    assert deleted.deleted and deleted.id == ids[4]
    with pytest.raises(openai.NotFoundError):
        alice.beta.assistants.retrieve(ids[4])

    thread = alice.beta.threads.create()
    for i in range(5):
        alice.beta.threads.messages.create(thread.id, role="user", content=f"m{i}")
    page = alice.beta.threads.messages.list(thread.id, limit=2, order="asc")
    texts = [m.content[0].text.value for m in page.data]
    assert texts == ["m0", "m1"] and page.has_more
    nxt = page.get_next_page()
    assert [m.content[0].text.value for m in nxt.data] == ["m2", "m3"]
    assert alice.beta.threads.update(thread.id, metadata={"risk_profile": "high"}).metadata == {"risk_profile": "high"}
    assert alice.beta.threads.delete(thread.id).deleted
    with pytest.raises(openai.NotFoundError):
        alice.beta.threads.retrieve(thread.id)


def test_errors_use_openai_envelope(live, alice, assistant):
    import httpx

    with pytest.raises(openai.AuthenticationError) as exc:
        live.client(key="qlw-not-a-real-key").beta.assistants.list()
    assert exc.value.status_code == 401 and exc.value.code == "invalid_api_key"
    r = httpx.get(f"{live.base_url}/assistants")
    assert r.status_code == 401 and set(r.json()["error"]) == {"message", "type", "param", "code"}

    with pytest.raises(openai.NotFoundError) as exc:
        alice.beta.threads.retrieve("thread_doesnotexist")
    assert exc.value.body["type"] == "invalid_request_error" and exc.value.code == "not_found"

    with pytest.raises(openai.BadRequestError) as exc:
        alice.beta.threads.messages.create("thread_x", role="system", content="hi")
    assert exc.value.status_code == 400 and exc.value.param == "role"

    thread = alice.beta.threads.create()
    with pytest.raises(openai.BadRequestError):
        alice.beta.threads.messages.list(thread.id, limit=1000)
    with pytest.raises(openai.BadRequestError):
        alice.beta.threads.messages.list(thread.id, after="msg_not_in_this_thread")
    with pytest.raises(openai.BadRequestError):  # image_url content is refused clearly, never a 500
        alice.beta.threads.messages.create(thread.id, role="user",
                                           content=[{"type": "image_url", "image_url": {"url": "http://x/y.png"}}])
    r = httpx.post(f"{live.base_url}/threads", content=b"{not json", headers={
        "Authorization": f"Bearer {alice.api_key}", "content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


def test_cancel_after_completion_is_400(live, assistant):
    client = live.client("alice", max_retries=0)
    thread = client.beta.threads.create(metadata=META)
    client.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    with pytest.raises(openai.BadRequestError) as exc:
        client.beta.threads.runs.cancel(run.id, thread_id=thread.id)
    assert exc.value.code == "run_ended"
