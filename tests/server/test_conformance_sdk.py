"""The openai SDK's helpers for the operations qlwork lacked: vector-store files and batches, search,
message delete, include[] for file_search content, run options echoed as sent, pagination."""

from __future__ import annotations

import io

import openai
import pytest


@pytest.fixture()
def live(served_live):
    """This module's flows run against a real ``qlwork serve`` subprocess."""
    return served_live


NOTES = [("nifty.txt", b"NIFTY 50 support sits near 22000 with resistance at 22800 according to the desk.\n"),
         ("it.txt", b"IT sector momentum is strong: TCS and INFY lead on rising deal wins.\n"),
         ("banks.txt", b"Private banks lag; HDFCBANK margins compress as deposit costs rise.\n")]


def test_vector_store_files_batches_and_search(live):
    client = live.client("conf-a")
    vs = client.vector_stores.create(name="desk notes", metadata={"team": "research"})
    assert vs.name == "desk notes" and vs.metadata == {"team": "research"}
    batch = client.vector_stores.file_batches.upload_and_poll(
        vs.id, files=[(name, io.BytesIO(data)) for name, data in NOTES])
    assert batch.object == "vector_store.files_batch" and batch.status == "completed"
    assert batch.file_counts.completed == 3 and batch.file_counts.total == 3
    assert client.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id).id == batch.id
    assert client.vector_stores.file_batches.cancel(batch.id, vector_store_id=vs.id).status == "completed"
    listed = client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id, limit=2)
    assert len(listed.data) == 2 and listed.has_more
    assert len([f for f in client.vector_stores.file_batches.list_files(batch.id, vector_store_id=vs.id)
                ]) == 3

    extra = client.files.create(file=("gold.txt", io.BytesIO(b"Gold hedges equity drawdowns in INR terms.\n")),
                                purpose="assistants")
    assert client.files.wait_for_processing(extra.id, poll_interval=0.01, max_wait_seconds=5).status == "processed"
    added = client.vector_stores.files.create_and_poll(file_id=extra.id, vector_store_id=vs.id,
                                                       attributes={"year": 2026, "desk": "macro"})
    assert added.status == "completed" and added.attributes == {"year": 2026, "desk": "macro"}
    uploaded = client.vector_stores.files.upload_and_poll(vector_store_id=vs.id,
                                                          file=("fx.txt", io.BytesIO(b"The rupee weakens past 84.\n")))
    assert uploaded.status == "completed"

    updated = client.vector_stores.files.update(extra.id, vector_store_id=vs.id, attributes={"desk": "rates"})
    assert updated.attributes == {"desk": "rates"}
    assert client.vector_stores.files.retrieve(extra.id, vector_store_id=vs.id).attributes == {"desk": "rates"}
    content = list(client.vector_stores.files.content(extra.id, vector_store_id=vs.id))
    assert "Gold hedges equity drawdowns" in content[0].text

    found = client.vector_stores.search(vs.id, query="IT momentum TCS", max_num_results=2)
    hits = list(found)
    assert hits and hits[0].filename == "it.txt" and hits[0].score == 1.0
    assert all(0 <= h.score <= 1 for h in hits) and "deal wins" in hits[0].content[0].text
    filtered = list(client.vector_stores.search(vs.id, query="gold drawdowns",
                                                filters={"type": "eq", "key": "desk", "value": "rates"}))
    assert [h.file_id for h in filtered] == [extra.id]

    renamed = client.vector_stores.update(vs.id, name="renamed", metadata={"team": "macro"})
    assert renamed.name == "renamed" and renamed.metadata == {"team": "macro"}
    gone = client.vector_stores.files.delete(extra.id, vector_store_id=vs.id)
    assert gone.deleted and gone.object == "vector_store.file.deleted"
    with pytest.raises(openai.NotFoundError):
        client.vector_stores.files.retrieve(extra.id, vector_store_id=vs.id)
    assert client.files.retrieve(extra.id).id == extra.id  # the file itself stays
    assert client.vector_stores.retrieve(vs.id).file_counts.total == 4

    other = live.client("conf-b")  # another user's ids answer 404 everywhere
    for call in (lambda: other.vector_stores.file_batches.retrieve(batch.id, vector_store_id=vs.id),
                 lambda: other.vector_stores.search(vs.id, query="IT"),
                 lambda: other.vector_stores.files.content(uploaded.id, vector_store_id=vs.id),
                 lambda: other.vector_stores.update(vs.id, name="mine")):
        with pytest.raises(openai.NotFoundError):
            call()


def test_file_search_results_with_include_content(live):
    client = live.client("conf-c")
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "file_search"}])
    note = client.files.create(file=NOTES[1], purpose="assistants")
    thread = client.beta.threads.create()
    client.beta.threads.messages.create(thread.id, role="user", content="What does the attached research note say "
                                        "about IT momentum?", attachments=[{"file_id": note.id,
                                                                             "tools": [{"type": "file_search"}]}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed", run.last_error
    include = ["step_details.tool_calls[*].file_search.results[*].content"]
    plain = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data[0]
    rich = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc", include=include).data[0]
    (call,) = [c for c in rich.step_details.tool_calls if c.type == "file_search"]
    (bare,) = [c for c in plain.step_details.tool_calls if c.type == "file_search"]
    assert call.file_search.results and call.file_search.results[0].file_name == "it.txt"
    assert "deal wins" in call.file_search.results[0].content[0].text
    assert bare.file_search.results[0].content is None  # only when asked for
    one = client.beta.threads.runs.steps.retrieve(rich.id, thread_id=thread.id, run_id=run.id, include=include)
    assert one.step_details.tool_calls[0].file_search.results[0].content


def test_run_options_echoed_and_pagination(live):
    client = live.client("conf-d")
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[{"type": "function", "function": {"name": "f"}}])
    fn = assistant.tools[0].function
    assert fn.name == "f" and fn.description is None and fn.parameters is None  # absent, not null
    thread = client.beta.threads.create(messages=[{"role": "user", "content": f"note {i}"} for i in range(5)])
    run = client.beta.threads.runs.create_and_poll(
        thread_id=thread.id, assistant_id=assistant.id, parallel_tool_calls=False, temperature=0.2,
        truncation_strategy={"type": "last_messages", "last_messages": 3}, tool_choice="none")
    assert run.parallel_tool_calls is False and run.temperature == 0.2 and run.tool_choice == "none"
    assert run.truncation_strategy.type == "last_messages" and run.truncation_strategy.last_messages == 3
    assert run.instructions == "" and run.metadata == {}  # a string, never null; internal keys hidden
    again = client.beta.threads.runs.retrieve(run.id, thread_id=thread.id)
    assert again.parallel_tool_calls is False and again.truncation_strategy.last_messages == 3

    ids = [m.id for m in client.beta.threads.messages.list(thread.id, order="asc", limit=2)]
    assert len(ids) == 6 and len(set(ids)) == 6  # five notes and the answer, two at a time
    empty = client.beta.threads.messages.list(client.beta.threads.create().id)
    assert empty.data == [] and empty.has_more is False and empty.first_id == ""

    deleted = client.beta.threads.messages.delete(ids[0], thread_id=thread.id)
    assert deleted.deleted and deleted.object == "thread.message.deleted"
    with pytest.raises(openai.NotFoundError):
        client.beta.threads.messages.retrieve(ids[0], thread_id=thread.id)
    with pytest.raises(openai.NotFoundError):
        live.client("conf-e").beta.threads.messages.delete(ids[1], thread_id=thread.id)
    latest = client.beta.threads.messages.list(thread.id, limit=1).data[0]
    assert latest.role == "assistant" and "only answers portfolio" in latest.content[0].text.value
