"""Kite login / token storage, through the real kiteconnect client against the fake Kite server."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import stat
import traceback
from zoneinfo import ZoneInfo

import pytest

from qlwork.errors import InputError, ProviderError, QlworkError
from qlwork.market import kite_auth, kite_login
from qlwork.market.kite_auth import load_token, next_expiry, token_status
from qlwork.market.kite_login import complete_login, parse_request_token

IST = ZoneInfo("Asia/Kolkata")


def test_login_from_redirect_url_writes_private_token_file(fake_kite, kite_env):
    url = "https://example.com/cb?action=login&type=login&status=success&request_token=req_token_ok"
    status = complete_login(url, root=fake_kite.url, now=kite_env["now"])
    path = kite_env["tokens"] / "analyst.json"  # the default user is the OS user name
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    data = json.loads(path.read_text())
    assert data["access_token"] == kite_env["access_token"]
    assert data["user_id"] == "AB1234" and data["qlwork_user"] == "analyst"
    assert data["expiry"] == "2026-11-21T06:00:00+05:30"
    assert data["login_time"] == "2026-11-20T09:12:33+05:30"
    assert status["valid"] and status["reason"] == "ok" and status["user_id"] == "AB1234"
    assert kite_env["access_token"] not in json.dumps(status)
    assert [p.name for p in kite_env["home"].iterdir()] == ["kite_tokens"]
    assert [p.name for p in kite_env["tokens"].iterdir()] == ["analyst.json"]  # no temp file left
    assert fake_kite.log("/session/token")[0].method == "POST"


def test_second_login_replaces_file_atomically_and_keeps_mode(fake_kite, kite_env, logged_in):
    fake_kite.request_tokens.add("req_token_two")
    complete_login("req_token_two", root=fake_kite.url, now=kite_env["now"])
    path = kite_env["tokens"] / "analyst.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in kite_env["tokens"].iterdir()) == ["analyst.json"]


@pytest.mark.parametrize("login, expiry", [
    ("2026-11-20 09:12:33", "2026-11-21 06:00"),
    ("2026-11-20 05:59:59", "2026-11-20 06:00"),
    ("2026-11-20 06:00:00", "2026-11-21 06:00"),
    ("2026-11-20 23:30:00", "2026-11-21 06:00"),
])
def test_expiry_is_next_six_am_ist(login, expiry):
    assert next_expiry(login).strftime("%Y-%m-%d %H:%M") == expiry
    assert next_expiry(login).utcoffset() == dt.timedelta(hours=5, minutes=30)


def test_parse_request_token_accepts_token_or_url():
    assert parse_request_token("  abcDEF123  ") == "abcDEF123"
    assert parse_request_token("http://127.0.0.1/x?status=success&request_token=tok987") == "tok987"
    with pytest.raises(InputError, match="did not succeed"):
        parse_request_token("http://127.0.0.1/x?status=cancelled&request_token=tok987")
    with pytest.raises(InputError, match="no request_token"):
        parse_request_token("http://127.0.0.1/x?status=success")
    with pytest.raises(InputError):
        parse_request_token("not a token!")
    with pytest.raises(InputError):
        parse_request_token("")


def test_expired_token_gives_login_error(fake_kite, kite_env, logged_in):
    later = dt.datetime(2026, 11, 21, 7, 0, tzinfo=IST)
    status = token_status(now=later)
    assert status["valid"] is False and status["reason"] == "expired"
    assert "qlwork kite login" in status["message"]
    with pytest.raises(ProviderError, match="qlwork kite login") as info:
        load_token(now=later)
    assert info.value.details["reason"] == "expired"
    from qlwork.market.kite import KiteMarketData

    with pytest.raises(ProviderError, match="expired.*qlwork kite login"):
        KiteMarketData(root=fake_kite.url, clock=lambda: later)


def test_missing_or_corrupt_token_file(kite_env):
    assert token_status()["reason"] == "missing"
    with pytest.raises(ProviderError, match="qlwork kite login"):
        load_token()
    kite_env["tokens"].mkdir(parents=True, exist_ok=True)
    (kite_env["tokens"] / "analyst.json").write_text("{not json")
    assert token_status()["reason"] == "corrupt"
    with pytest.raises(ProviderError, match="unreadable"):
        load_token()


def test_token_rejected_by_server_gives_login_error(make_kite, fake_kite):
    kite = make_kite()
    fake_kite.expire_tokens()  # as after 06:00 IST: the stored token no longer works
    with pytest.raises(ProviderError, match="qlwork kite login") as info:
        kite.candles(["TCS", "INFY"], start="2026-11-01", end="2026-11-19")
    assert info.value.details["reason"] == "token"


def test_bad_request_token_and_missing_env(fake_kite, kite_env, monkeypatch):
    with pytest.raises(ProviderError, match="rejected the login"):
        complete_login("req_token_wrong", root=fake_kite.url)
    assert not (kite_env["tokens"] / "analyst.json").exists()
    monkeypatch.delenv("KITE_API_SECRET")
    with pytest.raises(ProviderError, match="KITE_API_SECRET is not set"):
        complete_login("req_token_ok", root=fake_kite.url)


def test_login_url_uses_env_key(kite_env):
    url = kite_login.login_url()
    assert url.startswith("https://kite.zerodha.com/connect/login?api_key=")


def _texts(exc: BaseException) -> list[str]:
    out = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, QlworkError):
        out.append(json.dumps(exc.to_dict(), default=str))
    return out


def test_planted_secrets_never_leak(fake_kite, kite_env, make_kite, caplog):
    """Key, secret and token never reach logs, exception text or files other than the token file."""
    caplog.set_level(logging.DEBUG)
    secrets = [kite_env["api_key"], kite_env["api_secret"], kite_env["access_token"]]
    texts: list[str] = []
    # a failed login and a good one
    with pytest.raises(QlworkError) as info:
        complete_login("req_token_bad", root=fake_kite.url)
    texts += _texts(info.value)
    fake_kite.request_tokens.add("req_token_ok")  # the fixture's login used it up
    status = complete_login("req_token_ok", root=fake_kite.url, now=kite_env["now"])
    texts.append(json.dumps(status))
    kite = make_kite()
    # a full read workflow
    kite.portfolio()
    kite.candles(["TCS", "NIFTY 50"], start="2026-10-01")
    kite.quote(["TCS"])
    texts.append(repr(kite) + json.dumps(kite.metadata()))
    # every kind of failure, including an HTML error page that echoes the Authorization header
    for kind in ("html", "500", "input", "permission", "429", "drop", "token"):
        fake_kite.fail(kind, "/instruments/historical/", times=10)
        with pytest.raises(QlworkError) as info:
            make_kite(max_attempts=2, cache=False).candles("INFY", start="2026-11-01", end="2026-11-10")
        texts += _texts(info.value)
        fake_kite.faults.clear()
    assert any("Bad Gateway" in t for t in texts)  # the HTML page text did come through, scrubbed
    texts.append(caplog.text)
    for path in kite_env["home"].rglob("*"):
        if path.is_file():
            data = path.read_bytes().decode("latin-1")
            if path.parent.name == "kite_tokens":
                assert kite_env["api_key"] not in data and kite_env["api_secret"] not in data
            else:
                texts.append(data)
    leaks = [(s, t[:200]) for t in texts for s in secrets if s in t]
    assert not leaks
    assert os.environ["KITE_API_KEY"] == kite_env["api_key"]  # the test really planted them
