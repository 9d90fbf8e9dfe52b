"""Fixtures for the Kite provider tests: a fake Kite server, planted secrets, a logged-in provider."""

from __future__ import annotations

import datetime as dt
import importlib
from zoneinfo import ZoneInfo

import pytest

IST = ZoneInfo("Asia/Kolkata")
NOW = dt.datetime(2026, 11, 20, 14, 0, tzinfo=IST)  # the fake server's "today", during market hours
PLANTED = {"api_key": "PLANTEDKEY7Q2W", "api_secret": "PLANTEDSECRET9X4Z", "access_token": "PLANTEDTOKEN5K8M"}
DEFAULT_USER = "analyst"


@pytest.fixture
def kite_env(tmp_path, monkeypatch):
    """QLWORK_HOME in tmp_path and planted Kite credentials in the environment."""
    home = tmp_path / "qlwork_home"
    monkeypatch.setenv("QLWORK_HOME", str(home))
    monkeypatch.setenv("KITE_API_KEY", PLANTED["api_key"])
    monkeypatch.setenv("KITE_API_SECRET", PLANTED["api_secret"])
    monkeypatch.delenv("KITE_ROOT", raising=False)
    monkeypatch.setenv("LOGNAME", DEFAULT_USER)  # getpass.getuser(): the default Kite login user
    return {"home": home, "now": NOW, "tokens": home / "kite_tokens", "user": DEFAULT_USER, **PLANTED}


@pytest.fixture
def fake_kite(kite_env):
    """A started fake Kite server using the planted key, secret and access token."""
    module = importlib.import_module("fake_kite")
    server = module.FakeKite(api_key=PLANTED["api_key"], api_secret=PLANTED["api_secret"],
                             access_token=PLANTED["access_token"], today=NOW.date())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def logged_in(fake_kite):
    """Run the real login flow against the fake server (writes kite_tokens/analyst.json)."""
    from qlwork.market.kite_login import complete_login

    return complete_login("req_token_ok", root=fake_kite.url, now=NOW)


@pytest.fixture
def make_kite(fake_kite, logged_in):
    """Factory for KiteMarketData on the fake server with a private limiter and fast backoff."""
    from qlwork.market.kite import KiteMarketData
    from qlwork.market.ratelimit import RateLimiter

    def make(**kw):
        opts = dict(root=fake_kite.url, limiter=RateLimiter(), backoff=0.01, backoff_cap=0.05, timeout=2.0,
                    clock=lambda: NOW)
        opts.update(kw)
        return KiteMarketData(**opts)

    return make


@pytest.fixture
def kite(make_kite):
    return make_kite()
