"""Bad input answers 400 in OpenAI's envelope (never 500): typed tool_resources, reserved metadata
keys; createAndRun's top-level tool_resources reach the new thread."""

from __future__ import annotations

import io
from pathlib import Path

import openai
import pytest

import qlwork
from qlwork.server.wire import TOOL_RESOURCES

NOTE = Path(qlwork.__file__).parent / "data" / "research" / "it_sector_outlook.md"
CSV = b"symbol,quantity,avg_price\nTCS,10,3500\n"


def _bad_request(call, param_prefix: str):
    with pytest.raises(openai.BadRequestError) as exc:
        call()
    err = exc.value
    assert err.status_code == 400 and err.type == "invalid_request_error", err.body
    assert err.code == "invalid_request" and (err.param or "").startswith(param_prefix), err.body
    return err


@pytest.mark.parametrize("resources", [{"file_search": "x"}, {"file_search": {"vector_store_ids": 5}},
                                       {"code_interpreter": {"file_ids": "file_x"}}, {"code_interpreter": 3},
                                       {"file_search": {"vector_stores": [{"file_ids": 7}]}}])
def test_bad_tool_resources_are_400(alice, assistant, resources):
    _bad_request(lambda: alice.beta.threads.create(tool_resources=resources), "tool_resources")
    thread = alice.beta.threads.create()
    _bad_request(lambda: alice.beta.threads.update(thread.id, tool_resources=resources), "tool_resources")
    _bad_request(lambda: alice.beta.assistants.create(model="gpt-4o", tool_resources=resources), "tool_resources")
    _bad_request(lambda: alice.beta.assistants.update(assistant.id, tool_resources=resources), "tool_resources")
    _bad_request(lambda: alice.beta.threads.create_and_run(assistant_id=assistant.id, tool_resources=resources),
                 "tool_resources")
    _bad_request(lambda: alice.beta.threads.create_and_run(assistant_id=assistant.id,
                                                           thread={"tool_resources": resources}),
                 "thread.tool_resources")
    assert alice.beta.threads.retrieve(thread.id).tool_resources.file_search is None  # unchanged


def test_reserved_metadata_keys_are_refused(live, alice, assistant):
    bad = {TOOL_RESOURCES: "x"}
    thread = alice.beta.threads.create(metadata={"keep": "me"})
    msg = alice.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    calls = [lambda: alice.beta.assistants.create(model="gpt-4o", metadata=bad),
             lambda: alice.beta.assistants.update(assistant.id, metadata=bad),
             lambda: alice.beta.threads.create(metadata=bad),
             lambda: alice.beta.threads.update(thread.id, metadata={"_qlwork_anything": "1"}),
             lambda: alice.beta.threads.messages.create(thread.id, role="user", content="x", metadata=bad),
             lambda: alice.beta.threads.messages.update(msg.id, thread_id=thread.id, metadata=bad),
             lambda: alice.beta.threads.runs.create(thread.id, assistant_id=assistant.id, metadata=bad)]
    for call in calls:
        err = _bad_request(call, "metadata")
        assert "_qlwork" in err.message
    # nothing was corrupted: the thread runs
    assert alice.beta.threads.retrieve(thread.id).metadata == {"keep": "me"}
    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    err = _bad_request(lambda: alice.beta.threads.runs.update(run.id, thread_id=thread.id, metadata=bad), "metadata")
    assert err.status_code == 400


def test_garbage_stored_tool_resources_do_not_break_runs(live, alice, assistant):
    """Rows written before validation (e.g. through the old metadata hole) are read as empty."""
    thread = alice.beta.threads.create()
    alice.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    live.store.update_thread_metadata(thread.id, {TOOL_RESOURCES: "x"})
    assert alice.beta.threads.retrieve(thread.id).tool_resources.file_search is None
    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error


def test_create_and_run_keeps_top_level_tool_resources(alice, bob, assistant):
    note = alice.files.create(file=("outlook.md", io.BytesIO(NOTE.read_bytes())), purpose="assistants")
    data = alice.files.create(file=("holdings.csv", io.BytesIO(CSV)), purpose="assistants")
    vs = alice.vector_stores.create(name="research", file_ids=[note.id])
    run = alice.beta.threads.create_and_run_poll(
        assistant_id=assistant.id, tool_resources={"file_search": {"vector_store_ids": [vs.id]}},
        thread={"messages": [{"role": "user", "content": "Review my portfolio"}],
                "tool_resources": {"code_interpreter": {"file_ids": [data.id]}}})
    assert run.status == "completed", run.last_error
    resources = alice.beta.threads.retrieve(run.thread_id).tool_resources
    assert resources.file_search.vector_store_ids == [vs.id]
    assert resources.code_interpreter.file_ids == [data.id]
    with pytest.raises(openai.NotFoundError):  # ownership-checked like the thread's own
        bob.beta.threads.create_and_run(assistant_id=assistant.id,
                                        tool_resources={"file_search": {"vector_store_ids": [vs.id]}})


def test_inline_vector_stores_become_the_users(alice, bob):
    note = alice.files.create(file=("outlook.md", io.BytesIO(NOTE.read_bytes())), purpose="assistants")
    thread = alice.beta.threads.create(tool_resources={"file_search": {"vector_stores": [{"file_ids": [note.id]}]}})
    (vs_id,) = thread.tool_resources.file_search.vector_store_ids
    assert [f.id for f in alice.vector_stores.files.list(vs_id).data] == [note.id]
    with pytest.raises(openai.NotFoundError):
        bob.vector_stores.retrieve(vs_id)
    with pytest.raises(openai.NotFoundError):  # another user's file cannot go into an inline store
        bob.beta.threads.create(tool_resources={"file_search": {"vector_stores": [{"file_ids": [note.id]}]}})
