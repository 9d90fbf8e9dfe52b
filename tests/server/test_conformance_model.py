"""`qlwork serve --backend openai-chat --model M`: the default assistant runs on M; without a model a
run is refused with a 400 naming the setting and the flag."""

from __future__ import annotations

import subprocess
import sys

import openai
import pytest

ANSWER = {"analysis_type": "help", "insights": ["hello"], "recommendations": [], "risk_metrics": {}}


@pytest.fixture()
def server_class(live):
    return type(live)  # conftest's LiveServer (tests are not a package)


@pytest.fixture()
def model_server(fm, monkeypatch, tmp_path):
    with fm.FakeModel() as model:
        monkeypatch.setenv("OPENAI_BASE_URL", model.base_url)
        monkeypatch.setenv("OPENAI_API_KEY", "sk-test-serve-model-0123456789")
        yield model


def _default_assistant(client):
    return next(a for a in client.beta.assistants.list().data if a.metadata.get("default") == "true")


def test_serve_model_flag_sets_the_default_assistant_model(model_server, fm, server_home, server_class):
    server = server_class(str(server_home), backend="openai-chat", model="fake-model-7")
    try:
        client = server.client("model-a", max_retries=0)
        thread = client.beta.threads.create()
        client.beta.threads.messages.create(thread.id, role="user", content="hello")
        model_server.add(fm.text(ANSWER))
        run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=_default_assistant(client).id)
        assert run.status == "completed", run.last_error
        assert run.model == "fake-model-7"
        assert model_server.bodies("/chat/completions")[-1]["model"] == "fake-model-7"
    finally:
        server.stop()


def test_missing_model_is_a_400_naming_the_setting_and_flag(model_server, server_home, server_class):
    server = server_class(str(server_home), backend="openai-chat")
    try:
        client = server.client("model-b", max_retries=0)
        thread = client.beta.threads.create()
        with pytest.raises(openai.BadRequestError) as exc:
            client.beta.threads.runs.create(thread_id=thread.id, assistant_id=_default_assistant(client).id)
        assert exc.value.code == "model_not_set" and exc.value.param == "model"
        assert "--model" in exc.value.message and "preference `model`" in exc.value.message
        assert client.beta.threads.runs.list(thread.id).data == []  # nothing stored
    finally:
        server.stop()


def test_cli_help_names_the_model_flag():
    out = subprocess.run([sys.executable, "-m", "qlwork.cli", "serve", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert "--model" in out.stdout, out.stderr


def test_qlwork_serve_subprocess_with_model_flag(fm, tmp_path):
    """The real command: `qlwork serve --backend openai-chat --model M` in its own process."""
    import os
    import socket
    import time

    import httpx

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    with fm.FakeModel() as model:
        env = {**os.environ, "QLWORK_HOME": str(tmp_path), "OPENAI_BASE_URL": model.base_url,
               "OPENAI_API_KEY": "sk-test-subprocess-0123456789"}
        from qlwork.assistant.store import Store
        from qlwork.server.keys import KeyStore

        store = Store(tmp_path / "qlwork.db")  # the server's store (QLWORK_HOME)
        key = KeyStore(store).create("platform")[1]
        store.close()
        server = subprocess.Popen([sys.executable, "-m", "qlwork.cli", "serve", "--port", str(port), "--backend", "openai-chat", "--model",
                                   "fake-model-9", "--workers", "2"], env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                assert server.poll() is None and time.monotonic() < deadline, server.stderr.read() if server.poll() else ""
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key=key, max_retries=0)
            default = _default_assistant(client)
            model.add(fm.text(ANSWER))
            run = client.beta.threads.create_and_run_poll(
                assistant_id=default.id, thread={"messages": [{"role": "user", "content": "hello"}]})
            assert run.status == "completed", run.last_error
            assert run.model == "fake-model-9" and model.bodies("/chat/completions")[-1]["model"] == "fake-model-9"
        finally:
            server.terminate()
            server.wait(15)
