"""Schemathesis against the server's own OpenAPI spec: no 500, documented statuses and content
types, responses matching their schemas, and the user's data intact afterwards (bounded run)."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings

schemathesis = pytest.importorskip("schemathesis")

MAX_EXAMPLES = 30
SKIP_PATHS = ("/v1/files/{file_id}/content",)  # bytes, not JSON (covered in test_files)


def test_fuzz_openapi(live):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)

    key = live.key("fuzzer")
    client = live.client(key=key)
    seed_thread = client.beta.threads.create(metadata={"keep": "me"})
    seed_msg = client.beta.threads.messages.create(seed_thread.id, role="user", content="do not lose me")

    root = live.base_url.removesuffix("/v1")
    schema = schemathesis.openapi.from_url(f"{root}/openapi.json")
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    headers = {"Authorization": f"Bearer {key}", "OpenAI-Beta": "assistants=v2"}
    tested = []  # bounded by MAX_EXAMPLES per operation, not by the clock
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path in SKIP_PATHS:
            continue

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy())
        def fuzz(case):
            case.call_and_validate(base_url=root, headers=headers, checks=checks, timeout=20)

        fuzz()
        tested.append(f"{operation.method.upper()} {operation.path}")
    assert len(tested) >= 25, tested

    # no data loss: the seeded thread and message are untouched, the server still answers
    assert client.beta.threads.retrieve(seed_thread.id).metadata == {"keep": "me"}
    messages = client.beta.threads.messages.list(seed_thread.id).data
    assert [m.id for m in messages] == [seed_msg.id] and messages[0].content[0].text.value == "do not lose me"
