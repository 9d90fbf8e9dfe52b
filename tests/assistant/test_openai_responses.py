"""openai backend (Responses API): the real openai client against the scripted local server."""

from __future__ import annotations

import json
import logging

import pytest

from qlwork.assistant.runner import Runner
from qlwork.assistant.session import Session

from .conftest import answer_json, model_backend


def run_responses(store, tools, thread, server, **options):
    backend = model_backend("openai", server, **options)
    return Runner(store, tools.registry, backend).create_and_run(thread.id), backend


def calls_of(store, run_id):
    return [c for s in store.list_steps(run_id) for c in s.tool_calls]


@pytest.mark.parametrize("stream", [True, False])
def test_parallel_calls_then_structured_answer(store, tools, thread, fake_model, fm, planted_key, no_orphans, stream):
    fake_model.add(fm.calls(("add", {"a": 2, "b": 3}, "call_r1"), ("echo", {"text": "x"}, "call_r2")),
                   fm.text(answer_json()))
    run, _ = run_responses(store, tools, thread, fake_model, stream=stream)
    assert run.status == "completed" and run.backend == "openai" and run.usage.total_tokens > 0
    assert [(c.id, json.loads(c.function.output)) for c in calls_of(store, run.id)] == [
        ("call_r1", {"sum": 5}), ("call_r2", {"text": "x"})]
    first, second = fake_model.bodies("/responses")
    assert first["store"] is False and first["parallel_tool_calls"] is True and first["instructions"].startswith("Be terse.")
    add = next(t for t in first["tools"] if t["name"] == "add")
    assert add["type"] == "function" and add["strict"] is True and add["parameters"]["additionalProperties"] is False
    fmt = first["text"]["format"]
    assert fmt["type"] == "json_schema" and fmt["strict"] is True and fmt["name"] == "TradingResponse"
    assert fmt["schema"]["additionalProperties"] is False and set(fmt["schema"]["required"]) == set(fmt["schema"]["properties"])
    assert first["input"] == [{"role": "user", "content": "Review my portfolio"}]
    items = second["input"][1:]
    assert [(i["type"], i["call_id"]) for i in items] == [
        ("function_call", "call_r1"), ("function_call_output", "call_r1"),
        ("function_call", "call_r2"), ("function_call_output", "call_r2")]
    assert json.loads(items[1]["output"]) == {"sum": 5}
    assert all(planted_key not in r.raw for r in fake_model.requests)
    no_orphans(store, thread.id)


def test_streamed_deltas_reach_the_session(store, tools, fake_model, fm, planted_key):
    fake_model.add(fm.text(answer_json()))
    pieces: list[str] = []
    session = Session("dora", backend=model_backend("openai", fake_model), store=store, registry=tools.registry,
                      on_delta=pieces.append, market="demo")
    answer = session.ask("Review my portfolio")
    assert answer.run.status == "completed" and len(pieces) > 1
    assert json.loads("".join(pieces)) == json.loads(answer_json())
    assert answer.run.usage.total_tokens == answer.run.usage.prompt_tokens + answer.run.usage.completion_tokens


def test_malformed_arguments_sent_back_as_error_output(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.calls(("add", "{not json", "call_m")), fm.text(answer_json()))
    run, _ = run_responses(store, tools, thread, fake_model)
    assert run.status == "completed"
    [c] = calls_of(store, run.id)
    assert c.error["code"] == "invalid_json"
    call_item, output_item = fake_model.bodies()[1]["input"][1:]
    assert call_item["arguments"] == "{}" and "not valid JSON" in output_item["output"]


def test_repair_turn_sees_rejected_answer(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.text('{"analysis_type": "x", "risk_level": "extreme"}'), fm.text(answer_json()))
    run, _ = run_responses(store, tools, thread, fake_model)
    assert run.status == "completed"
    rejected, request = fake_model.bodies()[1]["input"][-2:]
    assert rejected["role"] == "assistant" and "extreme" in rejected["content"] and "risk_level" in request["content"]


def test_retries_429_then_fails_on_persistent_500(store, tools, thread, fake_model, fm, planted_key, caplog):
    fake_model.add(fm.error(429, "rate", {"retry-after-ms": "1"}), fm.text(answer_json()))
    with caplog.at_level(logging.WARNING):
        run, _ = run_responses(store, tools, thread, fake_model)
    assert run.status == "completed" and "retry 1/2" in caplog.text
    store.add_message(thread.id, "user", "again")
    fake_model.add(*[fm.error(503, "overloaded")] * 2)
    run, _ = run_responses(store, tools, thread, fake_model, max_retries=1)
    assert run.status == "failed" and "HTTP 503 after 2 attempts" in run.last_error.message


def test_json_schema_refused_falls_back(store, tools, thread, fake_model, fm, planted_key):
    fake_model.reject_json_schema = True
    fake_model.add(fm.text(answer_json()))
    run, backend = run_responses(store, tools, thread, fake_model)
    assert run.status == "completed" and backend.format_mode == "json_object"
    last = fake_model.bodies()[-1]
    assert last["text"]["format"] == {"type": "json_object"} and "JSON schema" in last["instructions"]


def test_stalled_stream_times_out(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.stall(5))
    run, _ = run_responses(store, tools, thread, fake_model, timeout=0.3, max_retries=0)
    assert run.status == "failed" and "timeout" in run.last_error.message


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 6), (30, 30, 200)).save(buf, format="PNG")
    return buf.getvalue()


@pytest.mark.parametrize("stream", [True, False])
def test_png_attachment_sent_as_input_image(store, tools, thread, fake_model, fm, planted_key, stream):
    import base64

    from qlwork.tools.files import file_store

    png = _png()
    fs = file_store()
    image, notes = fs.create(png, "chart.png"), fs.create(b"# notes\nsupport at 25,400\n", "notes.txt")
    store.add_message(thread.id, "user", "What does this chart show?",
                      attachments=[{"file_id": image.id, "tools": []}, {"file_id": notes.id, "tools": []}])
    fake_model.add(fm.calls(("add", {"a": 1}, "call_v1")), fm.text(answer_json()))
    run, _ = run_responses(store, tools, thread, fake_model, stream=stream)
    assert run.status == "completed"
    for body in fake_model.bodies("/responses"):  # every turn of the run carries the image
        first, latest = [i for i in body["input"] if i.get("role") == "user"]
        assert first == {"role": "user", "content": "Review my portfolio"}  # text-only turns stay plain
        text, part = latest["content"]
        assert text["type"] == "input_text" and text["text"].startswith("What does this chart show?")
        assert f"[attachments: {notes.id}]" in text["text"] and image.id not in text["text"]
        assert part["type"] == "input_image" and part["detail"] == "auto"
        head, _, data = part["image_url"].partition(",")
        assert head == "data:image/png;base64" and base64.b64decode(data) == png
