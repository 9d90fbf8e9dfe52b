"""Capability negotiation: the real openai SDK (openai-chat and openai backends) against the scripted
server refusing features the way local servers do. Each refusal is read from the server's answer
(the field it names), dropped once, remembered for the process per server and model, and recorded on
the run's steps; a refusal naming nothing qlwork sent is an error with a fix, never retried blindly."""

from __future__ import annotations

import json

import pytest

from qlwork.assistant.backends import capabilities
from qlwork.assistant.backends.capabilities import refused_feature
from qlwork.assistant.backends.transcript import TOOL_PROTOCOL
from qlwork.assistant.model_turns import MODEL_KEY, public
from qlwork.assistant.runner import Runner

from .conftest import answer_json, model_backend


def run_on(store, tools, thread, server, name="openai-chat", **options):
    backend = model_backend(name, server, **options)
    return Runner(store, tools.registry, backend).create_and_run(thread.id), backend


def turn_records(store, run_id):
    return [s.metadata[MODEL_KEY] for s in store.list_steps(run_id)]


def test_llama_cpp_style_500_for_json_schema_steps_down_without_retrying(store, tools, thread, fake_model, fm,
                                                                         planted_key):
    fake_model.reject_json_schema, fake_model.refusal_status = True, 500
    fake_model.add(fm.calls(("add", {"a": 2, "b": 3})), fm.text(answer_json()))
    run, backend = run_on(store, tools, thread, fake_model, max_retries=2)
    assert run.status == "completed"
    formats = [(b.get("response_format") or {}).get("type") for b in fake_model.bodies()]
    assert formats == ["json_schema", "json_object", "json_object"]  # one refusal, no blind retries of the 500
    assert "JSON schema" in fake_model.bodies()[1]["messages"][0]["content"]  # the schema went into the prompt
    records = turn_records(store, run.id)
    assert [r["capabilities"]["structured_output"] for r in records] == ["json_object", "json_object"]
    assert records[0]["capabilities"]["refused"] == ["json_schema"]
    assert all(r["latency_ms"] >= 0 and r["usage"]["total_tokens"] > 0 for r in records)
    [step] = [s for s in store.list_steps(run.id) if s.type == "tool_calls"]
    assert step.usage.total_tokens == records[0]["usage"]["total_tokens"]
    assert "structured_output=json_object" in public(step.metadata)["qlwork_capabilities"]
    # remembered for the process: a new backend for the same server and model starts at json_object
    fake_model.add(fm.text(answer_json()))
    store.add_message(thread.id, "user", "again")
    _, second = run_on(store, tools, thread, fake_model)
    assert second is not backend and (fake_model.bodies()[-1].get("response_format") or {}).get("type") == "json_object"
    assert len(fake_model.requests) == 4


def test_json_object_refused_too_leaves_instructions_only(store, tools, thread, fake_model, fm, planted_key):
    def policy(body, path):
        fmt = (body.get("response_format") or {}).get("type")
        if fmt:
            return fm.error(422, f"response_format: Input should be 'text' [type=literal_error, input_value='{fmt}']")
        return fm.text(answer_json())

    fake_model.policy = policy
    run, backend = run_on(store, tools, thread, fake_model)
    assert run.status == "completed" and backend.format_mode == "text"
    assert "response_format" not in fake_model.bodies()[-1] and len(fake_model.requests) == 3
    [record] = turn_records(store, run.id)
    assert record["capabilities"]["structured_output"] == "instructions"
    assert record["capabilities"]["refused"] == ["json_schema", "json_object"]


def test_tools_refused_become_the_text_protocol(store, tools, thread, fake_model, fm, planted_key):
    fake_model.reject_tools = True
    fake_model.add(fm.text('{"name": "add", "arguments": {"a": 20, "b": 22}}'), fm.text(answer_json()))
    run, backend = run_on(store, tools, thread, fake_model)
    assert run.status == "completed" and not backend.tools_supported
    first_refused, *rest = fake_model.bodies()
    assert "tools" in first_refused and all("tools" not in b for b in rest)
    system = rest[0]["messages"][0]["content"]
    assert TOOL_PROTOCOL in system and "- add(a, b): Add two integers" in system
    [call] = [c for s in store.list_steps(run.id) for c in s.tool_calls]
    assert json.loads(call.function.output) == {"sum": 42}
    assert "Tool add returned" in rest[-1]["messages"][-1]["content"]  # the output went back as text
    assert [r["capabilities"]["tools"] for r in turn_records(store, run.id)] == ["text", "text"]


@pytest.mark.parametrize("name", ["openai-chat", "openai"])
def test_streaming_refused_answers_arrive_whole(store, tools, thread, fake_model, fm, planted_key, name):
    fake_model.reject_stream = True
    fake_model.add(fm.text(answer_json()))
    run, backend = run_on(store, tools, thread, fake_model, name=name)
    assert run.status == "completed" and backend.stream is False
    first, second = fake_model.bodies()
    assert first.get("stream") is True and "stream" not in second
    [record] = turn_records(store, run.id)
    assert record["capabilities"]["streaming"] is False and record["capabilities"]["refused"] == ["stream"]


def test_refusal_naming_nothing_sent_is_an_error_with_a_fix(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.error(500, "1 validation error for Request: logit_bias Input should be a valid dictionary"))
    run, _ = run_on(store, tools, thread, fake_model, max_retries=2)
    assert run.status == "failed" and run.last_error.code == "backend_error"
    assert len(fake_model.requests) == 1  # not retried: a validation message is no crash
    assert "refused the request (HTTP 500)" in run.last_error.message and "not retried" in run.last_error.message
    assert "tools_enabled=false" in run.last_error.message  # the fix names the settings


def test_error_after_a_fallback_names_what_was_refused(store, tools, thread, fake_model, fm, planted_key):
    fake_model.reject_json_schema = True
    fake_model.add(fm.error(401, "bad key"))
    run, _ = run_on(store, tools, thread, fake_model)
    assert run.status == "failed" and "The server had already refused: json_schema" in run.last_error.message


def test_refused_feature_reads_the_field_named():
    sent = {"response_format": True, "tools": True, "temperature": True, "stream": True, "stream_options": True}
    assert refused_feature(422, "body.temperature: Extra inputs are not permitted", sent) == "temperature"
    assert refused_feature(400, "Unrecognized request argument supplied: stream_options", sent) == "stream_options"
    assert refused_feature(500, "Input should be 'text' or 'json_object'", sent) == "response_format"
    assert refused_feature(500, "CUDA out of memory in tools kernel", sent) is None  # a crash: retried, not dropped
    assert refused_feature(400, "This model's maximum context length is 4096 tokens", sent) is None
    assert refused_feature(400, "temperature: invalid", {"tools": True}) is None  # not sent: nothing to drop
    assert refused_feature(401, "tools not allowed", sent) is None


def test_capabilities_are_per_server_and_model():
    a = capabilities.for_server("openai-chat", "http://127.0.0.1:1/v1/", "m1")
    assert a is capabilities.for_server("openai-chat", "http://127.0.0.1:1/v1", "m1")
    assert a is not capabilities.for_server("openai-chat", "http://127.0.0.1:1/v1", "m2")
    a.refuse("response_format", 400, "json_schema unsupported")
    assert capabilities.for_server("openai-chat", "http://127.0.0.1:1/v1", "m1").structured_output == "json_object"
    assert "refused by the server: json_schema" in a.summary()
