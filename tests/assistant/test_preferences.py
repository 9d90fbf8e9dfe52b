"""BYOAI preferences: validation, the backend they select, persistence without secrets."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from qlwork.assistant.offline.engine import OfflineBackend
from qlwork.assistant.preferences import (AIPreferences, backend_from_preferences, load_preferences,
                                          save_preferences, session_from_preferences)
from qlwork.errors import BackendError

from .conftest import answer_json


def test_defaults_select_the_offline_engine():
    prefs = AIPreferences()
    assert prefs.preferred_ai_provider == "offline" and prefs.tools_enabled and prefs.conversation_history
    assert isinstance(backend_from_preferences(prefs), OfflineBackend)


def test_local_server_needs_no_key(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    prefs = AIPreferences(preferred_ai_provider="openai-chat", model="qwen3", base_url="http://127.0.0.1:11434/v1/")
    backend = backend_from_preferences(prefs)
    assert (backend.name, backend.model, backend.base_url) == ("openai-chat", "qwen3", "http://127.0.0.1:11434/v1")
    assert backend.client.api_key == "not-needed"


def test_missing_key_names_the_setting(monkeypatch):
    monkeypatch.delenv("MY_LLM_KEY", raising=False)
    prefs = AIPreferences(preferred_ai_provider="openai-chat", model="m", base_url="https://llm.example.com/v1",
                          api_key_env="MY_LLM_KEY")
    with pytest.raises(BackendError) as info:
        backend_from_preferences(prefs)
    assert "MY_LLM_KEY" in str(info.value) and "api_key_env" in str(info.value)
    assert backend_from_preferences(prefs.model_copy(update={"allow_no_key": True})).client.api_key == "not-needed"


def test_key_in_place_of_env_name_is_refused_without_echo(planted_key):
    with pytest.raises(ValidationError) as info:
        AIPreferences(api_key_env=planted_key)
    assert planted_key not in str(info.value) and "NAME of an environment variable" in str(info.value)
    with pytest.raises(ValidationError):
        AIPreferences(base_url="127.0.0.1:11434")
    with pytest.raises(ValidationError):
        AIPreferences(preferred_ai_provider="claude-direct")


def test_options_follow_preferences(planted_key):
    prefs = AIPreferences(preferred_ai_provider="openai", model="gpt-x", api_key_env="QLWORK_TEST_KEY", timeout=12,
                          max_retries=5, tools_enabled=False, conversation_history=False, stream=False)
    backend = backend_from_preferences(prefs)
    assert (backend.conn.timeout, backend.conn.max_retries, backend.tools_supported, backend.history,
            backend.stream) == (12, 5, False, False, False)
    assert backend.client.api_key == planted_key and planted_key not in repr(backend.conn)


def test_save_and_load_round_trip_without_secrets(tmp_path, planted_key):
    prefs = AIPreferences(preferred_ai_provider="openai-chat", model="qwen3", base_url="http://localhost:11434/v1",
                          api_key_env="QLWORK_TEST_KEY", thread_id="thread_abc", auto_analysis=True)
    path = save_preferences("alice", prefs, root=tmp_path)
    assert load_preferences("alice", root=tmp_path) == prefs
    assert planted_key not in path.read_text() and json.loads(path.read_text())["api_key_env"] == "QLWORK_TEST_KEY"
    assert load_preferences("bob", root=tmp_path) == AIPreferences()


def test_session_from_preferences_end_to_end(store, tools, fake_model, fm, planted_key):
    fake_model.add(fm.calls(("add", {"a": 1, "b": 2})), fm.text(answer_json()))
    prefs = AIPreferences(preferred_ai_provider="openai-chat", model="fake-model", base_url=fake_model.base_url,
                          api_key_env="QLWORK_TEST_KEY", backoff=0.01)
    session = session_from_preferences("erin", prefs, store=store, registry=tools.registry, market="demo")
    answer = session.ask("Review my portfolio")
    assert answer.run.status == "completed" and answer.run.backend == "openai-chat"
    assert [c.function.name for c in answer.tool_calls] == ["add"]
    assert fake_model.requests[0].headers["authorization"] == f"Bearer {planted_key}"
    again = session_from_preferences("erin", prefs.model_copy(update={"thread_id": session.thread_id}),
                                     store=store, registry=tools.registry)
    assert again.thread_id == session.thread_id
