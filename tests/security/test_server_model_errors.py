"""Issue 13 partial item: model errors name the server the request really went to.

Before the fix every error said ``https://api.openai.com/v1`` when no base_url was configured, even
with ``OPENAI_BASE_URL`` (which the openai SDK follows) pointing elsewhere, sending operators to the
wrong server. Now the message names the configured base_url, else $OPENAI_BASE_URL.
"""

from __future__ import annotations

import socket

import fake_model as fm
import pytest

from qlwork.assistant.backends.base import ModelInput, get_backend
from qlwork.assistant.objects import Assistant, Message, Thread, text_part
from qlwork.errors import BackendError


def _input() -> ModelInput:
    thread = Thread()
    return ModelInput(assistant=Assistant(), thread=thread,
                      messages=[Message(thread_id=thread.id, role="user", content=[text_part("hi")])])


def test_errors_name_openai_base_url(monkeypatch, fake_model):
    monkeypatch.setenv("OPENAI_BASE_URL", fake_model.base_url)
    monkeypatch.setenv("QLWORK_SECURITY_TEST_KEY", "sk-test-0123456789")
    fake_model.add(fm.error(500, "model exploded"))
    backend = get_backend("openai-chat", model="fake-model", api_key_env="QLWORK_SECURITY_TEST_KEY",
                          max_retries=0, stream=False)
    with pytest.raises(BackendError) as caught:
        backend.next_step(_input())
    assert fake_model.base_url in caught.value.message and "api.openai.com" not in caught.value.message
    assert len(fake_model.requests) == 1  # the request really went there

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{s.getsockname()[1]}/v1"
    monkeypatch.setenv("OPENAI_BASE_URL", closed)
    backend = get_backend("openai-chat", model="fake-model", max_retries=0, stream=False, timeout=3)
    with pytest.raises(BackendError) as caught:  # no key needed: $OPENAI_BASE_URL is loopback
        backend.next_step(_input())
    assert closed in caught.value.message and "api.openai.com" not in caught.value.message


def test_run_error_on_the_server_names_the_configured_base_url(served, fake_model):
    client = served.model_user("errs", fake_model)
    fake_model.add(fm.error(500, "model exploded"))
    assistant = client.beta.assistants.create(model="fake-model")
    thread = client.beta.threads.create(messages=[{"role": "user", "content": "hi"}])
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   poll_interval_ms=50, timeout=60)
    assert run.status == "failed"
    assert fake_model.base_url in run.last_error.message and "api.openai.com" not in run.last_error.message
    assert "sk-security" not in run.last_error.message
    assert served.healthy()
