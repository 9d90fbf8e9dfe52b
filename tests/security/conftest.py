"""A real ``qlwork serve`` subprocess on 127.0.0.1 (its own QLWORK_HOME) for the attack tests, keys made
in its store, and openai SDK clients pointed at it. Users whose AI preferences select ``openai-chat`` on
a scripted fake model (tests/servers/fake_model.py) let a test play a malicious model."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[2]
TEST_KEY_ENV = "QLWORK_SECURITY_TEST_KEY"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """``qlwork serve`` in a subprocess until :meth:`stop`; ``env`` extra environment for it."""

    def __init__(self, home: Path, env: dict | None = None, workers: int = 2) -> None:
        self.home = Path(home)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.base_url = self.url + "/v1"
        # scripted answers here carry figures no tool produced: the flag policy records that without the
        # extra correction turn a script does not expect (tests/conftest.py does the same in process)
        full = {**os.environ, "QLWORK_HOME": str(self.home), "PYTHONPATH": str(ROOT), "QLWORK_GROUNDING": "flag",
                TEST_KEY_ENV: "sk-security-test-0123456789", **(env or {})}
        self.log = open(self.home / "serve.log", "w+b")
        self.proc = subprocess.Popen([sys.executable, "-m", "qlwork.cli", "serve", "--port", str(self.port),
                                      "--threads", str(workers)], env=full, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while not self.healthy(0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"qlwork serve did not start: {self.output()[-2000:]}")
            time.sleep(0.1)

    def healthy(self, timeout: float = 2.0) -> bool:
        try:
            return httpx.get(self.url + "/health", timeout=timeout).status_code == 200
        except httpx.HTTPError:
            return False

    def output(self) -> str:
        self.log.flush()
        return (self.home / "serve.log").read_text(errors="replace")

    def key(self, user: str) -> str:
        from qlwork.assistant.store import Store
        from qlwork.server.keys import KeyStore

        store = Store(self.home / "qlwork.db")
        try:
            return KeyStore(store).create(user)[1]
        finally:
            store.close()

    def client(self, user: str, **kw):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=self.key(user), max_retries=0, **kw)

    def model_user(self, user: str, model) -> "openai.OpenAI":  # noqa: F821
        """A client for ``user`` whose runs go to the fake model ``model`` (openai-chat, no streaming)."""
        from qlwork.assistant.preferences import AIPreferences, save_preferences

        save_preferences(user, AIPreferences(preferred_ai_provider="openai-chat", base_url=model.base_url,
                                             model="fake-model", api_key_env=TEST_KEY_ENV, stream=False,
                                             max_retries=0, timeout=20), root=self.home)
        return self.client(user)

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self.log.close()
        return self.proc.returncode


@pytest.fixture(scope="session")
def served(tmp_path_factory):
    server = Served(tmp_path_factory.mktemp("qlwork_security_home"))
    yield server
    server.stop()


@pytest.fixture()
def fake_model():
    import fake_model

    with fake_model.FakeModel() as model:
        yield model


def run_to_end(client, thread_id: str, assistant_id: str, text: str = "Review my portfolio.", timeout: float = 60):
    """Post ``text`` and create a run, polling until it rests; returns the run."""
    client.beta.threads.messages.create(thread_id, role="user", content=text)
    return client.beta.threads.runs.create_and_poll(thread_id=thread_id, assistant_id=assistant_id,
                                                    poll_interval_ms=50, timeout=timeout)


@pytest.fixture()
def start_server(tmp_path):
    """``start_server(env)``: a fresh ``qlwork serve`` (own home) with extra environment, stopped at the end."""
    started: list[Served] = []

    def start(env: dict | None = None) -> Served:
        home = tmp_path / f"home{len(started)}"
        home.mkdir()
        started.append(Served(home, env=env))
        return started[-1]

    yield start
    for server in started:
        if server.proc.poll() is None or not server.log.closed:
            server.stop()
