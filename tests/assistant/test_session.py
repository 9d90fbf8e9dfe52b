"""Session, Answer, open_session and the backend factory."""

import asyncio
import json

import pytest

import qlwork
from qlwork.assistant.backends import base as backends_base
from qlwork.assistant.backends.base import Backend, FinalMessage, ToolCalls, get_backend
from qlwork.assistant.backends.scripted import ScriptedBackend, call
from qlwork.assistant.session import Answer, Session
from qlwork.assistant.store import Store
from qlwork.errors import BackendError, InputError, ModelBehaviorError

MARKET = object()


def session(store, tools, steps, **kw):
    kw.setdefault("market", MARKET)
    if "assistant_id" not in kw:
        found = [a for a in store.list_assistants(limit=100) if a.name == "Session test"]
        kw["assistant_id"] = (found[0] if found else store.create_assistant(name="Session test",
                                                                           tools=tools.specs())).id
    return Session("alice", backend=ScriptedBackend(steps), store=store, registry=tools.registry,
                   portfolio="sample:balanced", risk_profile="high", horizon="long", as_of="2026-11-20", **kw)


def test_ask_returns_answer(store, tools, final_text):
    s = session(store, tools, [ToolCalls([call("echo", {"text": "hi"})]), FinalMessage(final_text())])
    assert s.thread.metadata == {"user_id": "alice", "portfolio_id": "sample:balanced", "risk_profile": "high",
                                 "investment_horizon": "long"}
    answer = s.ask("Review my portfolio")
    assert isinstance(answer, Answer) and answer.run.status == "completed"
    assert answer.response.overall_score == 7.5
    assert answer.response.conversation_context.message_id == answer.message.id
    assert answer.response.conversation_context.tools_used == ["echo"]
    assert "REBALANCE RELIANCE" in answer.text
    assert [st.type for st in answer.steps] == ["tool_calls", "message_creation"]
    assert [c.function.name for c in answer.tool_calls] == ["echo"]
    data = answer.to_dict()
    json.dumps(data)
    assert data["response"]["risk_level"] == "moderate" and data["message_id"] == answer.message.id
    [ctx] = tools.contexts
    assert (ctx.market, ctx.portfolio, ctx.risk_profile, ctx.as_of, ctx.user_id, ctx.thread_id) == (
        MARKET, "sample:balanced", "high", "2026-11-20", "alice", s.thread_id)
    assert ctx.extra["investment_horizon"] == "long"
    assert [m.role for m in s.history()] == ["user", "assistant"]
    trail = s.audit()
    assert len(trail["messages"]) == 2 and len(trail["runs"]) == 1 and len(trail["steps"]) == 2


def test_the_thread_persists_across_sessions(tmp_path, tools, final_text):
    path = tmp_path / "p.db"
    first = session(Store(path), tools, [FinalMessage(final_text())])
    first.ask("hello")
    again = session(Store(path), tools, [])
    assert again.thread_id == first.thread_id and len(again.history()) == 2
    fresh = session(Store(path), tools, [], new_thread=True)
    assert fresh.thread_id != first.thread_id
    assert [t.id for t in fresh.threads()] == [fresh.thread_id, first.thread_id]
    latest = session(Store(path), tools, [])
    # the newest thread is still empty (a start that asked nothing): the latest with a question reopens
    assert latest.thread_id == first.thread_id
    fresh_again = session(Store(path), tools, [FinalMessage(final_text())], thread_id=fresh.thread_id)
    fresh_again.ask("hello again")
    assert session(Store(path), tools, []).thread_id == fresh.thread_id  # asked in: now it is the latest
    assert latest.switch(first.thread_id).id == first.thread_id and latest.thread_id == first.thread_id
    other = Session("bob", backend=ScriptedBackend([]), store=Store(path), market=MARKET)
    assert other.thread_id not in (first.thread_id, fresh.thread_id)
    with pytest.raises(InputError):
        other.switch(first.thread_id)
    assert other.new_thread().id == other.thread_id


def test_failed_run_raises_after_it_is_stored(store, tools, final_text):
    s = session(store, tools, [ModelBehaviorError("the model refused", code="refusal")])
    with pytest.raises(ModelBehaviorError, match="model_behavior") as info:
        s.ask("Review")
    [run] = store.list_runs(s.thread_id)
    assert run.status == "failed" and info.value.details["run_id"] == run.id
    assert run.last_error.message in str(info.value)
    s2 = session(store, tools, [BackendError("server down")], new_thread=True)
    with pytest.raises(BackendError, match="server down"):
        s2.ask("Review")
    assert [m.text for m in s2.history()] == ["Review"]


def test_incomplete_run_gives_answer_without_response(store, tools):
    s = session(store, tools, [lambda inp: ToolCalls([call("add", {"a": 1})])] * 3, max_turns=2)
    answer = s.ask("loop")
    assert answer.response is None and answer.message is None and answer.run.status == "incomplete"
    assert "incomplete" in answer.text and "max_turns" in answer.text


def test_busy_thread_refuses_and_leaves_no_question(store, tools):
    s = session(store, tools, [])
    s.runner.create_run(s.thread_id)
    with pytest.raises(InputError) as info:
        s.ask("second question")
    assert info.value.details["code"] == "run_active"
    assert s.history() == []
    with pytest.raises(InputError):
        s.ask("   ")


def test_aask(store, tools, final_text):
    s = session(store, tools, [FinalMessage(final_text())])
    answer = asyncio.run(s.aask("Review"))
    assert answer.run.status == "completed"


def test_open_session(store, tools, final_text):
    s = qlwork.open_session("carol", backend=ScriptedBackend([FinalMessage(final_text())]), store=store,
                            registry=tools.registry, market=MARKET)
    assert isinstance(s, Session) and s.user_id == "carol"
    assert store.get_assistant(s.assistant_id).name == "Quantum Leap Trading Assistant"
    assert s.ask("hi").response.analysis_type == "portfolio_health"
    assert qlwork.__version__


def test_get_backend(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(BackendError, match="OPENAI_API_KEY"):
        get_backend("openai")
    with pytest.raises(BackendError, match="api_key_env"):
        get_backend("openai-chat", base_url="https://models.example.com/v1", model="m")
    with pytest.raises(BackendError, match="Unknown backend"):
        get_backend("gpt-42")
    scripted = get_backend("scripted", steps=[])
    assert isinstance(scripted, Backend) and scripted.name == "scripted"
    monkeypatch.setitem(backends_base.BACKENDS, "offline", "qlwork.assistant.backends.not_written_yet:Offline")
    with pytest.raises(BackendError, match="not_written_yet"):
        get_backend("offline")


def test_scripted_backend_records_and_runs_out():
    from qlwork.assistant.backends.base import ModelInput
    from qlwork.assistant.objects import Assistant, Thread

    backend = ScriptedBackend([FinalMessage("x"), lambda inp: FinalMessage(f"turn {inp.turn}")])
    inp = ModelInput(assistant=Assistant(), thread=Thread(), messages=[], turn=1)
    assert backend.next_step(inp).text == "x"
    inp.turn = 2
    assert backend.next_step(inp).text == "turn 2"
    assert [i.turn for i in backend.inputs] == [1, 2]
    with pytest.raises(BackendError, match="ran out"):
        backend.next_step(inp)


def test_switching_threads_uses_that_threads_portfolio(store, tools, final_text):
    s = Session("dev", backend=ScriptedBackend([]), store=store, registry=tools.registry, market=MARKET,
                portfolio="sample:it_heavy", new_thread=True)
    first = s.thread_id
    s.portfolio = "sample:near_cash"
    s.new_thread()
    assert s._context(s.thread).portfolio == "sample:near_cash"
    s.switch(first)
    assert s._context(s.thread).portfolio == "sample:it_heavy"
    assert s.backend_label == ("scripted", "scripted")
    def on_delta(fragment):
        pass

    s.on_delta = on_delta
    assert s.runner.on_delta is on_delta
