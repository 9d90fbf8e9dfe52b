"""openai-chat backend: the real openai client against the scripted local server."""

from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from qlwork.assistant.backends.base import get_backend
from qlwork.assistant.backends.transcript import PRIOR_HEADER, REPAIR_PREFIX
from qlwork.assistant.runner import Runner
from qlwork.errors import BackendError

from .conftest import answer_json, model_backend


def run_chat(store, tools, thread, server, **options):
    backend = model_backend("openai-chat", server, **options)
    runner = Runner(store, tools.registry, backend)
    return runner.create_and_run(thread.id), backend


def calls_of(store, run_id):
    return [c for s in store.list_steps(run_id) for c in s.tool_calls]


@pytest.mark.parametrize("stream", [True, False])
def test_tool_call_then_final_answer(store, tools, thread, fake_model, fm, planted_key, no_orphans, stream):
    fake_model.add(fm.calls(("add", {"a": 2, "b": 3}, "call_x1")), fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model, stream=stream)
    assert run.status == "completed" and run.backend == "openai-chat" and run.model == "fake-model"
    assert run.usage.total_tokens > 0 and run.usage.prompt_tokens > 0
    [c] = calls_of(store, run.id)
    assert (c.id, c.function.name, json.loads(c.function.output)) == ("call_x1", "add", {"sum": 5})
    [answer] = store.list_messages(thread.id, order="desc", limit=1)
    assert answer.role == "assistant" and answer.data["conversation_context"]["tools_used"] == ["add"]
    first, second = fake_model.bodies()
    specs = {t["function"]["name"]: t["function"] for t in first["tools"]}
    assert specs["add"]["strict"] is True and specs["add"]["parameters"]["additionalProperties"] is False
    assert set(specs["add"]["parameters"]["required"]) == {"a", "b"} and "client_lookup" in specs
    assert first["response_format"]["type"] == "json_schema" and first["response_format"]["json_schema"]["strict"]
    assert first["messages"][0] == {"role": "system", "content": first["messages"][0]["content"]}
    assert first["messages"][0]["content"].startswith("Be terse.")
    assert first["messages"][-1] == {"role": "user", "content": "Review my portfolio"}
    assert ("stream" in first) is stream
    assistant, tool_msg = second["messages"][-2:]
    assert assistant["tool_calls"][0]["id"] == "call_x1" and tool_msg == {
        "role": "tool", "tool_call_id": "call_x1", "content": '{"sum":5}'}
    for r in fake_model.requests:
        assert planted_key not in r.raw and r.headers["authorization"] == f"Bearer {planted_key}"
    no_orphans(store, thread.id)


def test_parallel_tool_calls(store, tools, thread, fake_model, fm, planted_key, no_orphans):
    fake_model.add(fm.calls(("add", {"a": 1}, "call_p1"), ("echo", {"text": "hi"}, "call_p2")), fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed"
    [step, _] = store.list_steps(run.id)
    assert [json.loads(c.function.output) for c in step.tool_calls] == [{"sum": 2}, {"text": "hi"}]
    sent = fake_model.bodies()[1]["messages"]
    pairs = [(m["tool_calls"][0]["id"], n["tool_call_id"]) for m, n in zip(sent, sent[1:]) if m.get("tool_calls")]
    assert pairs == [("call_p1", "call_p1"), ("call_p2", "call_p2")]
    no_orphans(store, thread.id)


def test_malformed_arguments_and_unknown_tool_go_back_to_the_model(store, tools, thread, fake_model, fm, planted_key,
                                                                    no_orphans):
    fake_model.add(fm.calls(("add", '{"a": 1,', "call_bad"), ("launch_rockets", {}, "call_unknown")),
                   fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed"
    bad, unknown = calls_of(store, run.id)
    assert bad.error["code"] == "invalid_json" and unknown.error["code"] == "unknown_tool"
    sent = fake_model.bodies()[1]["messages"]
    replayed = {m["tool_calls"][0]["id"]: m["tool_calls"][0]["function"]["arguments"] for m in sent if m.get("tool_calls")}
    assert replayed == {"call_bad": "{}", "call_unknown": "{}"}  # broken JSON is never re-sent
    results = {m["tool_call_id"]: m["content"] for m in sent if m["role"] == "tool"}
    assert "not valid JSON" in results["call_bad"] and "Unknown tool 'launch_rockets'" in results["call_unknown"]
    no_orphans(store, thread.id)


def test_schema_break_then_repair(store, tools, thread, fake_model, fm, planted_key):
    broken = '{"analysis_type": "portfolio_health", "overall_score": 42, "recommendations": "none"}'
    fake_model.add(fm.text(broken), fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed" and run.turns == 2
    sent = fake_model.bodies()[1]["messages"]
    assert sent[-2] == {"role": "assistant", "content": broken}
    assert sent[-1]["content"].startswith(REPAIR_PREFIX) and "overall_score" in sent[-1]["content"]


def test_schema_broken_twice_gets_a_composed_answer(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.text("I think you should buy."), fm.text("Still prose."))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed" and len(fake_model.requests) == 2  # one repair turn, then composed
    [answer] = store.list_messages(thread.id, order="desc", limit=1)
    composed = answer.data["composed"]
    assert composed["model_commentary"] == "Still prose." and "not a valid TradingResponse" in composed["reason"]


def test_429_then_success(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.error(429, "slow down", {"retry-after": "0"}), fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed" and len(fake_model.requests) == 2


def test_500_until_retries_exhausted_leaves_thread_intact(store, tools, thread, fake_model, fm, planted_key,
                                                          no_orphans):
    fake_model.add(fm.calls(("add", {"a": 1})), *[fm.error(500, "boom")] * 3)
    run, _ = run_chat(store, tools, thread, fake_model, max_retries=2)
    assert run.status == "failed" and run.last_error.code == "backend_error"
    assert "HTTP 500 after 3 attempts" in run.last_error.message and "max_retries" in run.last_error.message
    assert len(fake_model.requests) == 4
    assert [m.role for m in store.list_messages(thread.id)] == ["user"]
    no_orphans(store, thread.id)
    fake_model.add(fm.text(answer_json()))  # the thread still works
    store.add_message(thread.id, "user", "again")
    run2, _ = run_chat(store, tools, thread, fake_model)
    assert run2.status == "completed"


def test_400_is_not_retried(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.error(401, "bad key"))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "failed" and "api_key_env" in run.last_error.message and "QLWORK_TEST_KEY" in run.last_error.message
    assert len(fake_model.requests) == 1


def test_stalled_stream_hits_timeout(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.stall(5), fm.stall(5))
    start = time.monotonic()
    run, _ = run_chat(store, tools, thread, fake_model, timeout=0.4, max_retries=1)
    assert run.status == "failed" and "timeout" in run.last_error.message and "0.4 s" in run.last_error.message
    assert time.monotonic() - start < 4 and len(fake_model.requests) == 2


def test_stalled_stream_retried_then_answered(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.stall(5), fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model, timeout=0.4, max_retries=1)
    assert run.status == "completed"


def test_looping_model_stops_at_max_turns(store, tools, thread, fake_model, fm, planted_key, no_orphans):
    fake_model.policy = lambda body, path: fm.calls(("add", {"a": 1}))
    backend = model_backend("openai-chat", fake_model)
    run = Runner(store, tools.registry, backend, max_turns=4).create_and_run(thread.id)
    assert run.status == "incomplete" and run.incomplete_details["reason"] == "max_turns"
    assert len(fake_model.requests) == 4 and len(calls_of(store, run.id)) == 4
    last = fake_model.bodies()[-1]["messages"]
    assert sum(1 for m in last if m["role"] == "tool") == 3  # every earlier call paired with its output
    no_orphans(store, thread.id)


def test_server_rejecting_json_schema_falls_back(store, tools, thread, fake_model, fm, planted_key, caplog):
    fake_model.reject_json_schema = True
    fake_model.add(fm.text("```json\n" + answer_json() + "\n```"))
    with caplog.at_level(logging.WARNING):
        run, backend = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed"
    first, second = fake_model.bodies()
    assert first["response_format"]["type"] == "json_schema" and second["response_format"] == {"type": "json_object"}
    assert "TradingResponse" not in second["messages"][0]["content"] or "JSON schema" in second["messages"][0]["content"]
    assert backend.format_mode == "json_object" and "response_format" in caplog.text
    fake_model.add(fm.text(answer_json()))  # the fallback sticks: no second refusal
    store.add_message(thread.id, "user", "again")
    Runner(store, tools.registry, backend).create_and_run(thread.id)
    assert fake_model.bodies()[-1]["response_format"] == {"type": "json_object"} and len(fake_model.requests) == 3


def test_server_without_tools_or_stream_options(store, tools, thread, fake_model, fm, planted_key):
    fake_model.reject_tools = fake_model.reject_stream_options = True
    fake_model.add(fm.text(answer_json()))
    run, backend = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed" and not backend.tools_supported and not backend.stream_usage
    assert "tools" not in fake_model.bodies()[-1] and "stream_options" not in fake_model.bodies()[-1]


def test_tool_call_written_as_text_and_think_blocks(store, tools, thread, fake_model, fm, planted_key):
    fake_model.reject_tools = True  # text calls are read only from a server without native tool calls
    fake_model.add(fm.text('<think>use {tools}</think>{"name": "add", "arguments": {"a": 4, "b": 4}}'),
                   fm.text("<think>done</think>\n" + answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed"
    [c] = calls_of(store, run.id)
    assert json.loads(c.function.output) == {"sum": 8}


def test_context_budget_trims_history_keeps_prior_tool_outputs(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.calls(("echo", {"text": "MARKER-PRIOR"})), fm.text(answer_json()))
    run_chat(store, tools, thread, fake_model)
    for i in range(30):
        store.add_message(thread.id, "user", f"old question {i} " + "x" * 2000)
    store.add_message(thread.id, "user", "latest question")
    fake_model.add(fm.text(answer_json()))
    backend = model_backend("openai-chat", fake_model, context_window=8000, max_output_tokens=1000)
    run = Runner(store, tools.registry, backend).create_and_run(thread.id)
    assert run.status == "completed"
    sent = fake_model.bodies()[-1]["messages"]
    assert sent[0]["role"] == "system" and sent[0]["content"].startswith("Be terse.")
    assert PRIOR_HEADER not in sent[0]["content"] and "MARKER-PRIOR" not in sent[0]["content"]
    assert sent[-1]["role"] == "user" and PRIOR_HEADER in sent[-1]["content"] and "MARKER-PRIOR" in sent[-1]["content"]
    assert sent[-1]["content"].endswith("latest question")
    assert len(json.dumps(sent)) < 8000 * 4 and "old question 0 " not in json.dumps(sent)


def test_cancel_while_streaming(store, tools, thread, fake_model, fm, planted_key):
    fake_model.add(fm.stall(10))
    backend = model_backend("openai-chat", fake_model, timeout=30)
    runner = Runner(store, tools.registry, backend)
    run = runner.create_run(thread.id)
    done = {}
    worker = threading.Thread(target=lambda: done.setdefault("run", runner.execute(run.id)))
    worker.start()
    while not fake_model.requests:
        time.sleep(0.02)
    time.sleep(0.2)
    runner.cancel(run.id)
    worker.join(5)
    assert not worker.is_alive() and done["run"].status == "cancelled"


def test_missing_key_and_unreachable_server(store, tools, thread, monkeypatch, planted_key):
    monkeypatch.delenv("QLWORK_NO_SUCH_KEY", raising=False)
    with pytest.raises(BackendError) as info:
        get_backend("openai-chat", base_url="https://models.example.com/v1", model="m", api_key_env="QLWORK_NO_SUCH_KEY")
    assert "QLWORK_NO_SUCH_KEY" in str(info.value) and "api_key_env" in str(info.value)
    with pytest.raises(BackendError, match="model"):
        get_backend("openai-chat", base_url="http://127.0.0.1:9/v1")
    backend = get_backend("openai-chat", base_url="http://127.0.0.1:9/v1", model="m", max_retries=1, backoff=0.01)
    assert backend.client.api_key == "not-needed"  # loopback server: no key needed
    run = Runner(store, tools.registry, backend).create_and_run(thread.id)
    assert run.status == "failed" and "base_url" in run.last_error.message and "Cannot reach" in run.last_error.message
    assert [m.role for m in store.list_messages(thread.id)] == ["user"]


def test_key_never_leaks(store, tools, thread, fake_model, fm, planted_key, caplog, tmp_path):
    fake_model.add(fm.error(500, f"upstream echoed {planted_key}"), fm.error(401, f"Incorrect API key {planted_key}"))
    with caplog.at_level(logging.DEBUG):
        run, backend = run_chat(store, tools, thread, fake_model)
    assert run.status == "failed"
    audit = json.dumps(store.audit(thread.id))
    store.close()
    db_bytes = b"".join(p.read_bytes() for p in tmp_path.glob("test.db*"))
    for text in (audit, caplog.text, run.last_error.message, repr(backend.__dict__.get("conn"))):
        assert planted_key not in text
    assert planted_key.encode() not in db_bytes


# -- vision input -------------------------------------------------------------------------------

def _image_bytes(fmt: str = "PNG", size: tuple[int, int] = (8, 6)) -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buf, format=fmt)
    return buf.getvalue()


def _data_bytes(url: str, mime: str = "image/png") -> bytes:
    import base64

    head, _, data = url.partition(",")
    assert head == f"data:{mime};base64"
    return base64.b64decode(data)


def test_png_attachment_and_image_part_reach_the_model(store, tools, thread, fake_model, fm, planted_key):
    from qlwork.assistant.objects import text_part
    from qlwork.tools.files import file_store

    fs = file_store()
    png, jpeg = _image_bytes(), _image_bytes("JPEG")
    png_file, jpeg_file = fs.create(png, "chart.png"), fs.create(jpeg, "photo.jpg")
    csv_file = fs.create(b"symbol,qty\nTCS,1\n", "h.csv")
    store.add_message(thread.id, "user", [text_part("What does this chart show?"),
                                          {"type": "image_file", "image_file": {"file_id": jpeg_file.id, "detail": "low"}}],
                      attachments=[{"file_id": png_file.id, "tools": []}, {"file_id": csv_file.id, "tools": []}])
    fake_model.add(fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model, stream=False)
    assert run.status == "completed"
    last = fake_model.bodies()[-1]["messages"][-1]
    assert last["role"] == "user" and isinstance(last["content"], list)
    texts = [p["text"] for p in last["content"] if p["type"] == "text"]
    images = [p["image_url"] for p in last["content"] if p["type"] == "image_url"]
    assert "Review my portfolio" in texts[0] and "What does this chart show?" in texts[1]
    assert f"[attachments: {csv_file.id}]" in texts[1] and png_file.id not in texts[1]  # text note only for non-images
    assert [i["detail"] for i in images] == ["auto", "low"]
    assert _data_bytes(images[0]["url"]) == png and _data_bytes(images[1]["url"], "image/jpeg") == jpeg


def test_unreadable_or_oversized_image_becomes_a_note(store, tools, thread, fake_model, fm, planted_key, monkeypatch):
    from qlwork.tools.files import file_store

    fs = file_store()
    gone, big = fs.create(_image_bytes(), "gone.png"), fs.create(_image_bytes(size=(64, 64)), "big.png")
    fs.delete(gone.id)
    monkeypatch.setattr(fs, "max_bytes", big.bytes - 1)
    store.add_message(thread.id, "user", "Look", attachments=[{"file_id": gone.id, "tools": []},
                                                              {"file_id": big.id, "tools": []}])
    fake_model.add(fm.text(answer_json()))
    run, _ = run_chat(store, tools, thread, fake_model)
    assert run.status == "completed"
    content = fake_model.bodies()[-1]["messages"][-1]["content"]
    assert isinstance(content, str) and "image_url" not in content
    assert f"[file {gone.id} not shown: it could not be read" in content
    assert f"[image {big.id} not shown: big.png is {big.bytes:,} bytes, over the" in content


def test_server_without_vision_gets_a_text_note(store, tools, thread, fm, planted_key):
    from qlwork.tools.files import file_store

    def policy(body, path):
        if "image_url" in json.dumps(body):
            return fm.error(400, "this model does not support image input")
        return fm.text(answer_json())

    png = file_store().create(_image_bytes(), "chart.png")
    store.add_message(thread.id, "user", "What does this chart show?", attachments=[{"file_id": png.id, "tools": []}])
    with fm.FakeModel(policy=policy) as server:
        run, backend = run_chat(store, tools, thread, server)
        assert run.status == "completed" and backend.vision is False and any("image" in f for f in backend.fallbacks)
        first, second = server.bodies()
    assert "image_url" in json.dumps(first) and "image_url" not in json.dumps(second)
    assert f"[attachments: {png.id}]" in second["messages"][-1]["content"]
