"""All 44 operations of OpenAI's Assistants v2 spec (../shared/openai/assistants-v2-openapi.yaml, a subset
of OpenAI's official OpenAPI document) against a live server, with schemathesis checking every
response against the spec's schemas: one valid request per operation on real objects, then a few
generated requests per operation (bounded). Zero schema violations, zero 5xx."""

from __future__ import annotations

import io
import os
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

SPEC = Path(os.environ.get("QLWORK_OPENAI_SPEC", Path(__file__).resolve().parents[3] / "shared" / "openai" /
                           "assistants-v2-openapi.yaml"))
GENERATED_EXAMPLES = 2
NOTE = b"Research note: NIFTY 50 support near 22000; IT sector momentum is strong; banks lag.\n" * 3


@pytest.fixture(scope="module")
def spec():
    if not SPEC.is_file():
        pytest.skip(f"the OpenAI spec is not at {SPEC} (set QLWORK_OPENAI_SPEC to its path)")
    return schemathesis.openapi.from_path(str(SPEC))


class World:
    """Real objects of one user, and fresh ones for each destructive operation."""

    def __init__(self, live) -> None:
        self.key = live.key("conformance")
        self.client = c = live.client(key=self.key)
        self.assistant = c.beta.assistants.create(model="gpt-4o", name="conformance", instructions="Be brief.")
        self.thread = c.beta.threads.create(metadata={"portfolio_id": "sample:diversified"})
        self.message = c.beta.threads.messages.create(self.thread.id, role="user", content="Analyze my portfolio")
        self.run = c.beta.threads.runs.create_and_poll(thread_id=self.thread.id, assistant_id=self.assistant.id)
        assert self.run.status == "completed"
        self.step = c.beta.threads.runs.steps.list(self.run.id, thread_id=self.thread.id).data[0]
        self.file = self.upload()
        self.vs = c.vector_stores.create(name="notes", file_ids=[self.file.id])
        self.batch = c.vector_stores.file_batches.create(self.vs.id, file_ids=[self.upload().id])

    def upload(self):
        return self.client.files.create(file=("note.txt", io.BytesIO(NOTE)), purpose="assistants")

    def params(self, path: str, fresh: bool = False) -> dict:
        c = self.client
        thread, message, file, vs = self.thread, self.message, self.file, self.vs
        if fresh:  # destructive operations get objects of their own
            thread = c.beta.threads.create()
            message = c.beta.threads.messages.create(thread.id, role="user", content="delete me")
            file = self.upload()
            vs = c.vector_stores.create(name="doomed", file_ids=[file.id])
        return {"assistant_id": c.beta.assistants.create(model="gpt-4o").id if fresh else self.assistant.id,
                "thread_id": thread.id, "message_id": message.id, "run_id": self.run.id, "step_id": self.step.id,
                "file_id": file.id, "vector_store_id": vs.id, "batch_id": self.batch.id}


def valid_request(world: World, method: str, path: str) -> dict:
    """One valid request (query, body) per operation."""
    w = world
    bodies = {
        ("POST", "/assistants"): {"model": "gpt-4o", "name": "x", "tools": [{"type": "function", "function": {
            "name": "lookup"}}], "response_format": {"type": "json_object"}},
        ("POST", "/assistants/{assistant_id}"): {"description": "updated", "metadata": {"k": "v"}},
        ("POST", "/threads"): {"messages": [{"role": "user", "content": "hi"}], "metadata": {"a": "b"}},
        ("POST", "/threads/{thread_id}"): {"metadata": {"b": "c"}},
        ("POST", "/threads/{thread_id}/messages"): {"role": "user", "content": "What about IT?"},
        ("POST", "/threads/{thread_id}/messages/{message_id}"): {"metadata": {"seen": "yes"}},
        ("POST", "/threads/runs"): {"assistant_id": w.assistant.id, "thread": {"messages": [
            {"role": "user", "content": "Signals for TCS"}]}, "truncation_strategy": {"type": "last_messages",
                                                                                     "last_messages": 4},
            "parallel_tool_calls": False},
        ("POST", "/threads/{thread_id}/runs"): {"assistant_id": w.assistant.id, "additional_messages": [
            {"role": "user", "content": "What is my risk?"}], "parallel_tool_calls": False},
        ("POST", "/threads/{thread_id}/runs/{run_id}"): {"metadata": {"m": "1"}},
        ("POST", "/threads/{thread_id}/runs/{run_id}/cancel"): None,
        ("POST", "/threads/{thread_id}/runs/{run_id}/submit_tool_outputs"): {"tool_outputs": [
            {"tool_call_id": "call_x", "output": "{}"}]},
        ("POST", "/vector_stores"): {"name": "v", "metadata": {"x": "y"},
                                     "expires_after": {"anchor": "last_active_at", "days": 7}},
        ("POST", "/vector_stores/{vector_store_id}"): {"name": "renamed", "metadata": {"z": "1"}},
        ("POST", "/vector_stores/{vector_store_id}/files"): {"file_id": w.file.id, "attributes": {"year": 2026}},
        ("POST", "/vector_stores/{vector_store_id}/files/{file_id}"): {"attributes": {"topic": "nifty"}},
        ("POST", "/vector_stores/{vector_store_id}/file_batches"): {"file_ids": [w.file.id]},
        ("POST", "/vector_stores/{vector_store_id}/file_batches/{batch_id}/cancel"): None,
        ("POST", "/vector_stores/{vector_store_id}/search"): {"query": "IT momentum", "max_num_results": 3},
    }
    query = {"include[]": ["step_details.tool_calls[*].file_search.results[*].content"]} \
        if path.endswith(("/steps", "/steps/{step_id}")) else None
    if (method, path) == ("POST", "/files"):
        return {"body": {"file": NOTE, "purpose": "assistants"}, "media_type": "multipart/form-data"}
    body = bodies.get((method, path))
    return {"query": query, **({"body": body, "media_type": "application/json"} if body is not None else {})}


def test_all_44_operations_conform(live, spec):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    world = World(live)
    headers = {"Authorization": f"Bearer {world.key}", "OpenAI-Beta": "assistants=v2"}
    checks = [not_a_server_error, response_schema_conformance]
    operations = [r.ok() for r in spec.get_all_operations()]
    assert len(operations) == 44
    operations.sort(key=lambda op: op.method.upper() == "DELETE")  # deletes last
    started, statuses = time.monotonic(), {}
    for op in operations:
        method = op.method.upper()
        request = valid_request(world, method, op.path)
        case = op.Case(path_parameters={k: v for k, v in world.params(op.path, fresh=method == "DELETE").items()
                                        if "{" + k + "}" in op.path}, **{k: v for k, v in request.items() if v is not None})
        response = case.call_and_validate(base_url=live.base_url, headers=headers, checks=checks, timeout=30)
        statuses[f"{method} {op.path}"] = response.status_code
    wrong = {k: v for k, v in statuses.items() if v != 200 and not k.endswith(("/cancel", "/submit_tool_outputs"))}
    assert not wrong, wrong  # every operation answered its success shape (cancel/submit: run already ended)
    assert {statuses[k] for k in statuses if k.endswith("/runs/{run_id}/cancel")} == {400}  # run completed

    # generated requests (bounded): never a 5xx, every documented response matches its schema
    for op in operations:
        real = {k: v for k, v in world.params(op.path).items() if "{" + k + "}" in op.path}

        @settings(max_examples=GENERATED_EXAMPLES, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        @given(case=op.as_strategy())
        def fuzz(case):
            if op.method.upper() != "DELETE" and case.path_parameters:
                case.path_parameters.update(real)
            case.call_and_validate(base_url=live.base_url, headers=headers, checks=checks, timeout=30)

        fuzz()
    assert time.monotonic() - started < 120
