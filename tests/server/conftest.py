"""A real qlwork server on 127.0.0.1 (uvicorn in a thread, free port, tmp QLWORK_HOME; or, for the SDK
flow modules, a `qlwork serve` subprocess on the same home) and real
openai SDK clients pointed at it."""

from __future__ import annotations

import os
import socket
import threading
import time
import warnings

import pytest

warnings.filterwarnings("ignore", category=DeprecationWarning)


SCRIPTED_KEY = "sk-test-server-0123456789abcdef"
"""The API key variable of scripted-model users (QLWORK_TEST_KEY), known to both kinds of server."""


class LiveServer:
    """uvicorn serving ``create_app`` on a free loopback port until ``stop()``."""

    def __init__(self, home, **options) -> None:
        import uvicorn

        from qlwork.assistant.store import Store
        from qlwork.server.app import create_app

        self.store = Store(os.path.join(home, "qlwork.db"))
        self.app = create_app(self.store, **options)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        config = uvicorn.Config(self.app, log_level="warning", lifespan="on", timeout_keep_alive=30)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 15
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("qlwork server did not start")
            time.sleep(0.01)

    def key(self, user: str) -> str:
        from qlwork.server.keys import KeyStore

        return KeyStore(self.store).create(user)[1]

    def client(self, user: str | None = None, key: str | None = None, **kw):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=key or self.key(user), **kw)

    def async_client(self, user: str | None = None, key: str | None = None, **kw):
        import openai

        return openai.AsyncOpenAI(base_url=self.base_url, api_key=key or self.key(user), **kw)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
        self.store.close()


@pytest.fixture(scope="session")
def server_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("qlwork_server_home")
    old = os.environ.get("QLWORK_HOME")
    os.environ["QLWORK_HOME"] = str(home)
    yield home
    if old is None:
        os.environ.pop("QLWORK_HOME", None)
    else:
        os.environ["QLWORK_HOME"] = old


@pytest.fixture(scope="session")
def live(server_home):
    server = LiveServer(str(server_home), workers=4)
    yield server
    server.stop()


class ServedLive(LiveServer):
    """The same interface over a real ``qlwork serve`` subprocess on the session's home: keys are created
    in the shared store from this process, clients speak HTTP to the other process."""

    def __init__(self, home) -> None:  # noqa: D107 - LiveServer's threads are not started
        from served import Served

        from qlwork.assistant.store import Store

        # the server's own environment: the scripted-model users' key variable, and the grounding policy
        # every test runs under (set per test in this process, after a session fixture starts)
        self.served = Served(home, "--threads", "4", env={"QLWORK_TEST_KEY": SCRIPTED_KEY, "QLWORK_GROUNDING": "flag"})
        self.store = Store(os.path.join(home, "qlwork.db"))
        self.port = self.served.port
        self.base_url = f"{self.served.base}/v1"

    def stop(self) -> None:
        assert self.served.stop() == 0  # a clean graceful stop
        self.store.close()


@pytest.fixture(scope="session")
def served_live(server_home):
    """``qlwork serve`` as a subprocess: for the tests that show OpenAI's SDK flows run unchanged
    against the real command (a module opts in by overriding ``live`` with it)."""
    server = ServedLive(server_home)
    yield server
    server.stop()


@pytest.fixture()
def alice(live):
    return live.client("alice")


@pytest.fixture()
def bob(live):
    return live.client("bob")


@pytest.fixture()
def assistant(alice):
    return alice.beta.assistants.create(name="Platform trading assistant", model="gpt-4o",
                                        instructions="Answer as TradingResponse JSON.")


def load_fake_model():
    """tests/servers/fake_model.py (loaded by path: tests are not a package)."""
    import importlib.util
    import sys
    from pathlib import Path

    name = "qlwork_tests_fake_model"
    if name not in sys.modules:
        path = Path(__file__).resolve().parents[1] / "servers" / "fake_model.py"
        spec = importlib.util.spec_from_file_location(name, path)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture()
def fm():
    return load_fake_model()


def scripted_model_user(fm, monkeypatch, stream: bool = False):
    """A new user whose preferences select openai-chat on a scripted fake model: yields (user, model)."""
    from qlwork.assistant.preferences import AIPreferences, save_preferences

    monkeypatch.setenv("QLWORK_TEST_KEY", SCRIPTED_KEY)
    user = f"carol{time.monotonic_ns() % 10**9}"
    with fm.FakeModel() as model:
        save_preferences(user, AIPreferences(preferred_ai_provider="openai-chat", base_url=model.base_url,
                                             model="fake-model", api_key_env="QLWORK_TEST_KEY", stream=stream,
                                             max_retries=0, timeout=10))
        yield user, model


@pytest.fixture()
def byoai_user(live, fm, monkeypatch):
    """A user whose preferences select openai-chat on a scripted fake model: (client, fake model)."""
    for user, model in scripted_model_user(fm, monkeypatch):
        yield live.client(user, max_retries=0), model


@pytest.fixture()
def streaming_user(live, fm, monkeypatch):
    """Like byoai_user, with the model streaming its answers: (client, fake model)."""
    for user, model in scripted_model_user(fm, monkeypatch, stream=True):
        yield live.client(user, max_retries=0), model


@pytest.fixture()
def live_server():
    """A factory of LiveServers with their own home and options, stopped at the end of the test."""
    servers = []

    def make(home, **options) -> LiveServer:
        servers.append(LiveServer(str(home), **options))
        return servers[-1]

    yield make
    for server in servers:
        server.stop()
