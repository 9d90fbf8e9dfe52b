"""Fixtures for assistant tests: a tmp store, a throwaway tool registry, scripted answers."""

from __future__ import annotations

import json
import threading

import importlib

import pytest

from qlwork.assistant.store import Store
from qlwork.tools.registry import Registry, ToolContext, tool


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))


@pytest.fixture()
def store(tmp_path):
    s = Store(tmp_path / "test.db")
    yield s
    s.close()


@pytest.fixture()
def store_both(database):
    """A store on SQLite, then on PostgreSQL (the ``database`` fixture)."""
    s = Store(database)
    yield s
    s.close()


class Tools:
    """A registry of test tools plus what they observed."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.contexts: list[ToolContext] = []
        self.barrier = threading.Barrier(2, timeout=5)
        self.started = threading.Event()
        self.release = threading.Event()
        reg = self.registry

        @tool(registry=reg)
        def add(a: int, b: int = 1) -> dict:
            """Add two integers.

            Args:
                a: First number.
                b: Second number.
            """
            return {"sum": a + b}

        @tool(registry=reg)
        def echo(ctx: ToolContext, text: str) -> dict:
            """Echo text and record the context.

            Args:
                text: Anything.
            """
            self.contexts.append(ctx)
            return {"text": text}

        @tool(registry=reg)
        def explode(reason: str = "boom") -> dict:
            """Always raises."""
            raise RuntimeError(reason)

        @tool(registry=reg)
        def meet(who: str) -> dict:
            """Wait until a second call arrives (proves calls overlap).

            Args:
                who: Caller label.
            """
            self.barrier.wait()
            return {"met": who}

        @tool(registry=reg)
        def block() -> dict:
            """Signal start, then wait for the test to release it."""
            self.started.set()
            self.release.wait(10)
            return {"released": True}

    def specs(self, *extra: dict) -> list[dict]:
        return [{"type": "function", "function": t.function_schema()} for t in self.registry] + list(extra)


@pytest.fixture()
def tools():
    return Tools()


@pytest.fixture()
def assistant(store, tools):
    client_fn = {"name": "client_lookup", "description": "Runs on the client.",
                 "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}
    return store.create_assistant(name="Test assistant", instructions="Be terse.",
                                  tools=tools.specs({"type": "function", "function": client_fn}))


@pytest.fixture()
def thread(store, assistant):
    t = store.create_thread({"portfolio_id": "sample:balanced", "risk_profile": "moderate"}, user_id="u1",
                            assistant_id=assistant.id)
    store.add_message(t.id, "user", "Review my portfolio")
    return t


def answer_json(**overrides) -> str:
    data = {"analysis_type": "portfolio_health", "overall_score": 7.5, "risk_level": "moderate",
            "recommendations": [{"action": "rebalance", "symbol": "RELIANCE", "reason": "Overweight",
                                 "confidence": 0.85, "timeframe": "1-3 days"}],
            "insights": ["Diversified across sectors"], "risk_metrics": {"max_drawdown": 0.05, "beta": 0.8}}
    data.update(overrides)
    return json.dumps(data)


@pytest.fixture()
def final_text():
    return answer_json


def assert_no_orphans(store: Store, thread_id: str) -> None:
    """Every tool call of every step in the thread has an output; no step is left in progress
    unless its run is waiting for client outputs."""
    trail = store.audit(thread_id)
    waiting = {r["id"] for r in trail["runs"] if r["status"] == "requires_action"}
    for step in trail["steps"]:
        if step["run_id"] in waiting:
            continue
        assert step["status"] != "in_progress", step
        for call in step["step_details"].get("tool_calls", []):
            assert call["function"]["output"] is not None, call


@pytest.fixture()
def no_orphans():
    return assert_no_orphans


# -- BYOAI: the scripted OpenAI-compatible server and a planted key ------------------------------

PLANTED_KEY = "sk-test-PLANTED-7f3a9c2e4b6d8f0a1c3e5a7b9d"


@pytest.fixture()
def planted_key(monkeypatch):
    """A fake API key in $QLWORK_TEST_KEY; tests assert it never leaks."""
    monkeypatch.setenv("QLWORK_TEST_KEY", PLANTED_KEY)
    return PLANTED_KEY


@pytest.fixture()
def fm():
    """The fake model module (Reply builders: fm.calls, fm.text, fm.error, fm.stall, fm.rule_model)."""
    return importlib.import_module("fake_model")


@pytest.fixture()
def fake_model(fm):
    with fm.FakeModel() as server:
        yield server


def model_backend(name: str, server, **options):
    """A real SDK backend pointed at the fake server, with fast retries."""
    from qlwork.assistant.backends.base import get_backend

    opts = {"base_url": server.base_url, "model": "fake-model", "api_key_env": "QLWORK_TEST_KEY",
            "backoff": 0.01, "max_backoff": 0.05, "timeout": 5, "max_retries": 2, **options}
    return get_backend(name, **opts)
