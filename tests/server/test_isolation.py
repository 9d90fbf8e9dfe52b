"""Every object belongs to its key's user: another user's ids answer 404, bad keys 401."""

from __future__ import annotations

import httpx
import openai
import pytest

from qlwork.server.keys import KeyStore, digest


@pytest.fixture()
def alices_thread(alice, assistant):
    thread = alice.beta.threads.create(metadata={"user_id": "a-1", "portfolio_id": "sample:diversified"})
    message = alice.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    step = alice.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data[0]
    return thread, message, run, step


def test_other_user_cannot_touch_thread(bob, alice, assistant, alices_thread):
    thread, message, run, step = alices_thread
    b = bob.beta.threads
    attempts = [
        lambda: b.retrieve(thread.id),
        lambda: b.update(thread.id, metadata={"x": "y"}),
        lambda: b.delete(thread.id),
        lambda: b.messages.list(thread.id),
        lambda: b.messages.retrieve(message.id, thread_id=thread.id),
        lambda: b.messages.create(thread.id, role="user", content="let me in"),
        lambda: b.runs.list(thread_id=thread.id),
        lambda: b.runs.retrieve(run.id, thread_id=thread.id),
        lambda: b.runs.cancel(run.id, thread_id=thread.id),
        lambda: b.runs.steps.list(run.id, thread_id=thread.id),
        lambda: b.runs.steps.retrieve(step.id, thread_id=thread.id, run_id=run.id),
        lambda: b.runs.create(thread_id=thread.id, assistant_id=assistant.id),
        lambda: bob.beta.assistants.retrieve(assistant.id),
        lambda: bob.beta.assistants.update(assistant.id, name="mine now"),
        lambda: bob.beta.assistants.delete(assistant.id),
    ]
    for attempt in attempts:
        with pytest.raises(openai.NotFoundError):
            attempt()
    own = bob.beta.threads.create()
    with pytest.raises(openai.NotFoundError):  # nor run alice's assistant on his own thread
        b.runs.create(thread_id=own.id, assistant_id=assistant.id)
    with pytest.raises(openai.NotFoundError):  # nor attach a file he does not own
        b.messages.create(own.id, role="user", content="x", attachments=[{"file_id": "file_alice", "tools": []}])
    with pytest.raises(openai.BadRequestError):  # a cursor from alice's thread is not in his list
        b.messages.list(own.id, after=message.id)
    assert assistant.id not in [a.id for a in bob.beta.assistants.list()]
    # alice still sees everything, unchanged
    assert alice.beta.threads.retrieve(thread.id).metadata == {"user_id": "a-1", "portfolio_id": "sample:diversified"}
    assert len(alice.beta.threads.messages.list(thread.id).data) == 2
    assert alice.beta.assistants.retrieve(assistant.id).name == assistant.name


def test_missing_bad_and_revoked_keys(live):
    store = live.store
    keys = KeyStore(store)
    info, secret = keys.create("dave")
    row = store._conn().execute("SELECT digest FROM server_keys WHERE id = ?", (info.id,)).fetchone()
    assert row[0] == digest(secret) and secret not in row[0]  # only the SHA-256 is stored
    dump = "\n".join(store._conn().iterdump())
    assert secret not in dump

    url = f"{live.base_url}/assistants"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Bearer nope"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": "Basic abc"}).status_code == 401
    assert httpx.get(url, headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    keys.revoke(info.id)
    r = httpx.get(url, headers={"Authorization": f"Bearer {secret}"})
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"


def test_default_assistant_is_shared_read_only(alice, bob):
    shared = [a for a in bob.beta.assistants.list() if a.name == "Quantum Leap Trading Assistant"]
    assert len(shared) == 1
    with pytest.raises(openai.PermissionDeniedError):
        bob.beta.assistants.update(shared[0].id, name="hijacked")
    with pytest.raises(openai.PermissionDeniedError):
        bob.beta.assistants.delete(shared[0].id)
    thread = bob.beta.threads.create(metadata={"portfolio_id": "sample:diversified"})
    bob.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    run = bob.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=shared[0].id)
    assert run.status == "completed"


def test_portfolio_id_never_reads_server_paths(alice, assistant):
    thread = alice.beta.threads.create(metadata={"portfolio_id": "/etc/passwd"})
    alice.beta.threads.messages.create(thread.id, role="user", content="Review my portfolio")
    run = alice.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    steps = alice.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    outputs = " ".join(c.function.output or "" for s in steps if s.type == "tool_calls"
                       for c in s.step_details.tool_calls)
    assert "root:" not in outputs and "/etc/passwd" not in outputs
