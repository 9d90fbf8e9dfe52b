"""The run loop with a scripted backend and throwaway tools."""

import json
import threading

import pytest

from qlwork.assistant.backends.base import FinalMessage, ToolCallRequest, ToolCalls
from qlwork.assistant.backends.scripted import ScriptedBackend, call
from qlwork.assistant.objects import Message
from qlwork.assistant.response import TradingResponse
from qlwork.assistant.runner import Runner, trim_history
from qlwork.redaction import redact
from qlwork.errors import BackendError, InputError
from qlwork.tools.registry import ToolContext


def make_runner(store, tools, steps, **kw):
    backend = ScriptedBackend(steps)
    return Runner(store, tools.registry, backend, **kw), backend


def outputs(store, run_id):
    return {c.id: json.loads(c.function.output) for s in store.list_steps(run_id) for c in s.tool_calls}


def test_tool_call_then_answer(store, tools, thread, final_text, no_orphans):
    runner, backend = make_runner(store, tools, [
        ToolCalls([call("add", {"a": 2, "b": 3}, id="call_a")], usage={"prompt_tokens": 10, "completion_tokens": 2}),
        FinalMessage(final_text(), usage={"prompt_tokens": 20, "completion_tokens": 30, "total_tokens": 50})])
    run = runner.create_and_run(thread.id)
    assert run.status == "completed" and run.completed_at and run.started_at
    assert run.usage.model_dump() == {"prompt_tokens": 30, "completion_tokens": 32, "total_tokens": 62}
    assert run.turns == 2 and run.backend == "scripted" and run.instructions == "Be terse."
    tool_step, message_step = store.list_steps(run.id)
    assert tool_step.type == "tool_calls" and tool_step.status == "completed"
    [c] = tool_step.tool_calls
    assert (c.id, c.function.name, json.loads(c.function.output), c.error) == ("call_a", "add", {"sum": 5}, None)
    assert c.duration_ms >= 0
    assert message_step.status == "completed"
    reply = store.get_message(message_step.step_details.message_creation.message_id)
    assert reply.role == "assistant" and reply.run_id == run.id and reply.assistant_id == run.assistant_id
    response = TradingResponse.model_validate(reply.data)
    assert response.overall_score == 7.5 and "REBALANCE RELIANCE" in reply.text
    # the backend saw the history and, on turn 2, the tool output of turn 1
    first, second = backend.inputs
    assert first.turn == 1 and [m.text for m in first.messages] == ["Review my portfolio"]
    assert {t.name for t in first.tools} == {"add", "echo", "explode", "meet", "block"}
    assert [t["name"] for t in first.client_tools] == ["client_lookup"]
    assert second.run_items == [(ToolCallRequest("call_a", "add", '{"a": 2, "b": 3}'), '{"sum": 5}')]
    no_orphans(store, thread.id)


@pytest.mark.parametrize("name, arguments, fragment", [
    ("add", "{not json", "not valid JSON"),
    ("nope", "{}", "Unknown tool 'nope'"),
    ("add", "{}", "a: Field required"),
    ("add", '{"a": 1, "zzz": 2}', "zzz: Extra inputs are not permitted"),
    ("add", '{"a": "many"}', "a: Input should be a valid integer"),
    ("add", "[1]", "must be a JSON object"),
    ("explode", '{"reason": "kaput"}', "explode failed: kaput"),
])
def test_bad_calls_become_tool_output(store, tools, thread, final_text, no_orphans, name, arguments, fragment):
    runner, backend = make_runner(store, tools, [
        ToolCalls([ToolCallRequest("call_bad", name, arguments), call("add", {"a": 1}, id="call_ok")]),
        FinalMessage(final_text())])
    run = runner.create_and_run(thread.id)
    assert run.status == "completed"
    out = outputs(store, run.id)
    assert fragment in out["call_bad"]["error"]["message"]
    assert out["call_ok"] == {"sum": 2}
    [step] = [s for s in store.list_steps(run.id) if s.type == "tool_calls"]
    assert step.tool_calls[0].error["message"] == out["call_bad"]["error"]["message"]
    seen = dict(backend.inputs[1].run_items)
    assert fragment in json.loads(seen[ToolCallRequest("call_bad", name, arguments)])["error"]["message"]
    no_orphans(store, thread.id)


def test_calls_run_concurrently(store, tools, thread, final_text):
    runner, _ = make_runner(store, tools, [
        ToolCalls([call("meet", {"who": "x"}), call("meet", {"who": "y"})]), FinalMessage(final_text())])
    run = runner.create_and_run(thread.id)
    # with sequential execution the barrier would time out and both outputs would be errors
    assert sorted(o.get("met") for o in outputs(store, run.id).values()) == ["x", "y"]


def test_duplicate_or_missing_call_ids_get_fresh_ones(store, tools, thread, final_text):
    runner, _ = make_runner(store, tools, [
        ToolCalls([ToolCallRequest("dup", "add", '{"a": 1}'), ToolCallRequest("dup", "add", '{"a": 2}'),
                   ToolCallRequest("", "add", '{"a": 3}')]), FinalMessage(final_text())])
    run = runner.create_and_run(thread.id)
    ids = list(outputs(store, run.id))
    assert len(set(ids)) == 3 and ids[0] == "dup"


def test_max_turns_gives_incomplete(store, tools, thread, no_orphans):
    loop = lambda inp: ToolCalls([call("add", {"a": inp.turn})])  # noqa: E731
    runner, backend = make_runner(store, tools, [loop] * 10, max_turns=3)
    run = runner.create_and_run(thread.id)
    assert run.status == "incomplete"
    assert run.incomplete_details["reason"] == "max_turns" and "3" in run.incomplete_details["message"]
    assert len(backend.inputs) == 3 and len(store.list_steps(run.id)) == 3
    assert store.list_messages(thread.id, run_id=run.id) == []
    no_orphans(store, thread.id)


def test_invalid_answer_is_repaired_once(store, tools, thread, final_text):
    bad = final_text(risk_metrics={"max_drawdown": "5%"})
    runner, backend = make_runner(store, tools, [FinalMessage(bad), FinalMessage(final_text())])
    run = runner.create_and_run(thread.id)
    assert run.status == "completed"
    assert backend.inputs[0].repair is None
    assert "risk_metrics.max_drawdown" in backend.inputs[1].repair


def test_failed_repair_gets_a_composed_answer(store, tools, thread, final_text, no_orphans):
    runner, backend = make_runner(store, tools, [
        FinalMessage("not json at all"), FinalMessage(final_text(overall_score=42))])
    run = runner.create_and_run(thread.id)
    assert run.status == "completed" and run.last_error is None  # the user gets an answer (assistant/fallback.py)
    assert "not valid JSON" in backend.inputs[1].repair
    [answer] = store.list_messages(thread.id, run_id=run.id)
    composed = answer.data["composed"]
    assert "overall_score" in composed["reason"] and '"overall_score": 42' in composed["model_commentary"]
    assert answer.data["overall_score"] != 42  # the model's invalid figure is commentary, not the answer
    no_orphans(store, thread.id)


def test_runner_fills_conversation_context(store, tools, thread, final_text):
    lie = final_text(conversation_context={"thread_id": "thread_fake", "message_id": "msg_fake",
                                           "tools_used": ["analyze_portfolio"]})
    runner, _ = make_runner(store, tools, [
        ToolCalls([call("echo", {"text": "a"}), call("add", {"a": 1}), call("nope")]),
        ToolCalls([call("add", {"a": 2})]), FinalMessage(lie)])
    run = runner.create_and_run(thread.id)
    [reply] = store.list_messages(thread.id, run_id=run.id)
    assert reply.data["conversation_context"] == {"thread_id": thread.id, "message_id": reply.id,
                                                  "tools_used": ["echo", "add"]}


def test_tools_get_the_context(store, tools, thread, final_text):
    ctx = ToolContext(portfolio="sample:x", risk_profile="high", as_of="2026-11-20")
    runner, _ = make_runner(store, tools, [ToolCalls([call("echo", {"text": "a"})]), FinalMessage(final_text())],
                            context_factory=lambda t: ctx)
    runner.create_and_run(thread.id)
    [seen] = tools.contexts
    assert seen is ctx and seen.thread_id == thread.id and seen.user_id == "u1" and seen.portfolio == "sample:x"


def test_prior_tool_outputs_come_from_earlier_runs(store, tools, thread, final_text):
    runner, backend = make_runner(store, tools, [
        ToolCalls([call("add", {"a": 40, "b": 2})]), FinalMessage(final_text()), FinalMessage(final_text())])
    first = runner.create_and_run(thread.id)
    store.add_message(thread.id, "user", "And the risk?")
    runner.create_and_run(thread.id)
    latest = backend.inputs[-1]
    assert latest.prior_tool_outputs == [{"run_id": first.id, "name": "add", "arguments": {"a": 40, "b": 2},
                                          "output": {"sum": 42}}]
    assert [m.role for m in latest.messages] == ["user", "assistant", "user"]


def test_requires_action_round_trip(store, tools, thread, final_text, no_orphans):
    runner, backend = make_runner(store, tools, [
        ToolCalls([call("add", {"a": 1}, id="call_srv"), call("client_lookup", {"q": "x"}, id="call_cli")]),
        FinalMessage(final_text())])
    run = runner.create_and_run(thread.id)
    assert run.status == "requires_action"
    pending = run.required_action["submit_tool_outputs"]["tool_calls"]
    assert [(c["id"], c["function"]["name"]) for c in pending] == [("call_cli", "client_lookup")]
    assert "output" not in pending[0]["function"]
    assert store.get_run(run.id).required_action == run.required_action
    assert outputs_partial(store, run.id) == {"call_srv": '{"sum": 2}', "call_cli": None}
    no_orphans(store, thread.id)

    for bad in ([], [{"tool_call_id": "call_zzz", "output": "1"}],
                [{"tool_call_id": "call_cli", "output": "1"}, {"tool_call_id": "call_cli", "output": "2"}],
                [{"tool_call_id": "call_cli", "output": "1"}, {"tool_call_id": "call_srv", "output": "2"}]):
        with pytest.raises(InputError) as info:
            runner.submit_tool_outputs(run.id, bad)
        assert info.value.details["code"] == "invalid_tool_outputs"
        assert store.get_run(run.id).status == "requires_action"

    done = runner.submit_tool_outputs(run.id, [{"tool_call_id": "call_cli", "output": {"answer": 7}}])
    assert done.status == "completed" and done.required_action is None and done.turns == 2
    assert dict(backend.inputs[-1].run_items)[ToolCallRequest("call_cli", "client_lookup", '{"q": "x"}')] == \
        '{"answer": 7}'
    [reply] = store.list_messages(thread.id, run_id=run.id)
    assert reply.data["conversation_context"]["tools_used"] == ["add", "client_lookup"]
    with pytest.raises(InputError) as info:
        runner.submit_tool_outputs(run.id, [{"tool_call_id": "call_cli", "output": "1"}])
    assert info.value.details["code"] == "run_not_waiting"
    no_orphans(store, thread.id)


def outputs_partial(store, run_id):
    return {c.id: c.function.output for s in store.list_steps(run_id) for c in s.tool_calls}


def test_cancel_a_waiting_run_closes_its_calls(store, tools, thread, no_orphans):
    runner, _ = make_runner(store, tools, [ToolCalls([call("client_lookup", {"q": "x"}, id="call_cli")])])
    run = runner.create_and_run(thread.id)
    cancelled = runner.cancel(run.id)
    assert cancelled.status == "cancelled" and cancelled.cancelled_at and cancelled.required_action is None
    [step] = store.list_steps(run.id)
    assert step.status == "cancelled" and "error" in json.loads(step.tool_calls[0].function.output)
    with pytest.raises(InputError):
        runner.cancel(run.id)
    no_orphans(store, thread.id)


def test_cancel_from_another_thread(store, tools, thread, final_text, no_orphans):
    runner, backend = make_runner(store, tools, [ToolCalls([call("block")]), FinalMessage(final_text())])
    run = runner.create_run(thread.id)
    result = {}
    worker = threading.Thread(target=lambda: result.setdefault("run", runner.execute(run.id)))
    worker.start()
    assert tools.started.wait(5)
    assert runner.cancel(run.id).status == "cancelling"
    tools.release.set()
    worker.join(5)
    final = result["run"]
    assert final.status == "cancelled" and final.cancelled_at
    assert len(backend.inputs) == 1  # no model call after the cancel
    assert store.list_messages(thread.id, run_id=run.id) == []
    assert store.active_run(thread.id) is None
    no_orphans(store, thread.id)


def test_cancel_before_start(store, tools, thread):
    runner, backend = make_runner(store, tools, [])
    run = runner.create_run(thread.id)
    runner.cancel(run.id)
    assert runner.execute(run.id).status == "cancelled" and backend.inputs == []
    other = runner.create_run(store.create_thread(assistant_id=thread.assistant_id).id)
    store.transition(other.id, "in_progress")
    with pytest.raises(InputError) as info:  # someone else is executing it
        runner.execute(other.id)
    assert info.value.details["code"] == "run_not_queued"


def test_backend_error_fails_run_and_keeps_thread(store, tools, thread, final_text, monkeypatch, no_orphans):
    monkeypatch.setenv("MY_PROVIDER_API_KEY", "verysecretvalue123")
    err = BackendError("HTTP 401 for key sk-abcdefghijklmnopqrstuv and verysecretvalue123; Authorization: "
                       "Bearer abcdefghijklmnop")
    runner, _ = make_runner(store, tools, [ToolCalls([call("add", {"a": 1})]), err, FinalMessage(final_text())])
    run = runner.create_and_run(thread.id)
    assert run.status == "failed" and run.last_error.code == "backend_error"
    assert "HTTP 401" in run.last_error.message
    for secret in ("sk-abcdef", "verysecretvalue123", "abcdefghijklmnop"):
        assert secret not in run.last_error.message
    assert [m.text for m in store.list_messages(thread.id)] == ["Review my portfolio"]
    assert store.active_run(thread.id) is None
    assert runner.create_and_run(thread.id).status == "completed"  # the thread still works
    no_orphans(store, thread.id)


def test_second_run_on_busy_thread_refused(store, tools, thread):
    runner, _ = make_runner(store, tools, [])
    runner.create_run(thread.id)
    with pytest.raises(InputError) as info:
        runner.create_run(thread.id)
    assert info.value.details["code"] == "run_active"


def test_internal_bug_fails_run_and_raises(store, tools, thread):
    def broken(inp):
        raise ZeroDivisionError("oops")
    runner, _ = make_runner(store, tools, [broken])
    with pytest.raises(ZeroDivisionError):
        runner.create_and_run(thread.id)
    [run] = store.list_runs(thread.id)
    assert run.status == "failed" and run.last_error.code == "internal_error"


def test_redact():
    assert redact("key=abc123 token: xyz sk-1234567890abc ok") == "[redacted] [redacted] [redacted] ok"


def _msg(role, text):
    return Message(thread_id="thread_x", role=role, content=[{"type": "text", "text": {"value": text}}])


def test_trim_history_keeps_newest_and_latest_user():
    msgs = [_msg("user", "a" * 50), _msg("assistant", "b" * 50), _msg("user", "c" * 50), _msg("assistant", "d" * 10)]
    assert trim_history(msgs, max_chars=1000) == msgs
    assert trim_history(msgs, max_chars=110) == msgs[1:]
    assert trim_history(msgs, max_chars=60) == msgs[2:]
    assert trim_history(msgs, max_chars=5) == [msgs[2]]  # the latest user message always stays
    huge = [_msg("user", "x" * 10), _msg("user", "y" * 500)]
    assert trim_history(huge, max_chars=100) == [huge[1]]
    assert trim_history([], max_chars=10) == []
    json_msg = Message(thread_id="t", role="assistant", content=[{"type": "json", "json": {"k": "v" * 100}}])
    assert trim_history([msgs[0], json_msg, msgs[2]], max_chars=120) == [msgs[2]]


def test_one_runner_completes_runs_on_many_threads(store, tools, thread, final_text):
    # correctness only: speed is measured by bench/runner.py, not asserted in tests
    steps = []
    for _ in range(20):
        steps += [ToolCalls([call("add", {"a": 1})]), FinalMessage(final_text())]
    runner, _ = make_runner(store, tools, steps)
    for _ in range(20):
        t = store.create_thread(user_id="bench", assistant_id=thread.assistant_id)
        store.add_message(t.id, "user", "q")
        assert runner.create_and_run(t.id).status == "completed"
