"""Object shapes, ids and the run status table."""

import re

import pytest
from pydantic import ValidationError

from qlwork.assistant.objects import (ACTIVE_STATUSES, ALLOWED_TRANSITIONS, TERMINAL_STATUSES, Message, Run,
                                      RunStep, Thread, ToolCallsDetails, Usage, new_id)


@pytest.mark.parametrize("prefix", ["asst", "thread", "msg", "run", "step", "call", "file"])
def test_ids_are_prefixed_and_random(prefix):
    ids = {new_id(prefix) for _ in range(500)}
    assert len(ids) == 500
    assert all(re.fullmatch(rf"{prefix}_[0-9a-f]{{24}}", i) for i in ids)


def test_unknown_prefix_refused():
    with pytest.raises(ValueError, match="prefix"):
        new_id("bogus")


def test_object_fields_and_defaults():
    thread = Thread(user_id="u1", metadata={"risk_profile": "high"})
    assert thread.object == "thread" and thread.id.startswith("thread_") and isinstance(thread.created_at, int)
    run = Run(thread_id=thread.id, assistant_id="asst_x")
    assert (run.object, run.status, run.max_turns, run.usage) == ("thread.run", "queued", 10, None)
    with pytest.raises(ValidationError):
        Run(thread_id="t", assistant_id="a", status="running")


def test_message_content_parts():
    msg = Message(thread_id="thread_x", role="assistant", content=[
        {"type": "json", "json": {"analysis_type": "x"}},
        {"type": "text", "text": {"value": "hello"}},
        {"type": "image_file", "image_file": {"file_id": "file_1"}},
        {"type": "file", "file": {"file_id": "file_2", "filename": "p.csv"}}],
        attachments=[{"file_id": "file_2", "tools": [{"type": "file_search"}]}])
    assert msg.text == "hello"
    assert msg.data == {"analysis_type": "x"}
    assert [p.type for p in msg.content] == ["json", "text", "image_file", "file"]
    assert msg.model_dump()["content"][0] == {"type": "json", "json": {"analysis_type": "x"}}
    with pytest.raises(ValidationError):
        Message(thread_id="t", role="system", content=[])
    with pytest.raises(ValidationError):
        Message(thread_id="t", role="user", content=[{"type": "video", "video": {}}])


def test_step_details_are_typed():
    step = RunStep(run_id="run_1", thread_id="thread_1", type="tool_calls", step_details={
        "type": "tool_calls", "tool_calls": [{"id": "call_1", "function": {"name": "add", "arguments": "{}"}}]})
    assert isinstance(step.step_details, ToolCallsDetails)
    assert step.tool_calls[0].function.output is None and step.tool_calls[0].type == "function"
    creation = RunStep(run_id="run_1", thread_id="thread_1", type="message_creation",
                       step_details={"type": "message_creation", "message_creation": {"message_id": "msg_1"}})
    assert creation.tool_calls == []


def test_usage_sums():
    usage = Usage().plus({"prompt_tokens": 10, "completion_tokens": 5}).plus({"total_tokens": 7, "prompt_tokens": 7})
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (17, 5, 22)
    assert Usage().plus(None) == Usage()


def test_transition_table_is_complete_and_terminal_states_are_final():
    statuses = set(Run.model_fields["status"].annotation.__args__)
    assert set(ALLOWED_TRANSITIONS) == statuses
    assert ACTIVE_STATUSES | TERMINAL_STATUSES == statuses
    for status in TERMINAL_STATUSES:
        assert ALLOWED_TRANSITIONS[status] == frozenset()
    assert "completed" not in ALLOWED_TRANSITIONS["cancelling"]
    assert "in_progress" in ALLOWED_TRANSITIONS["requires_action"]
