"""Per-user Kite tokens (``kite_tokens/<user>.json``), through the real kiteconnect client and the fake
Kite server: one user's login is never used for another, and no secret leaks into output or errors."""

from __future__ import annotations

import json
import logging
import shutil
import stat
import traceback

import pytest

from qlwork.cli import main as cli_main
from qlwork.errors import InputError, ProviderError, QlworkError
from qlwork.market import get_provider, kite_auth
from qlwork.market.demo import DemoMarketData
from qlwork.market.kite import KiteMarketData
from qlwork.market.kite_auth import token_path, token_status
from qlwork.market.kite_login import complete_login
from qlwork.market.ratelimit import RateLimiter

RAVI_TOKEN = "PLANTEDRAVITOKEN3J7P"


def _kite(fake, env, **kw):
    opts = dict(root=fake.url, limiter=RateLimiter(), backoff=0.01, backoff_cap=0.05, timeout=2.0,
                clock=lambda: env["now"], cache=False)
    opts.update(kw)
    return KiteMarketData(**opts)


def _texts(exc: BaseException) -> list[str]:
    out = [str(exc), repr(exc), "".join(traceback.format_exception(exc))]
    if isinstance(exc, QlworkError):
        out.append(json.dumps(exc.to_dict(), default=str))
    return out


@pytest.fixture
def two_users(fake_kite, kite_env):
    """asha logs in to Kite account AB1234, ravi to CD5678 (each with their own access token)."""
    complete_login("req_token_ok", user="asha", root=fake_kite.url, now=kite_env["now"])
    fake_kite.user_id, fake_kite.access_token = "CD5678", RAVI_TOKEN
    fake_kite.request_tokens.add("req_token_ravi")
    complete_login("req_token_ravi", user="ravi", root=fake_kite.url, now=kite_env["now"])
    return fake_kite


def test_tokens_are_stored_per_user(two_users, kite_env):
    tokens = kite_env["tokens"]
    assert sorted(p.name for p in tokens.iterdir()) == ["asha.json", "ravi.json"]
    assert stat.S_IMODE(tokens.stat().st_mode) == 0o700
    for user, account, token in (("asha", "AB1234", kite_env["access_token"]), ("ravi", "CD5678", RAVI_TOKEN)):
        path = tokens / f"{user}.json"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and token_path(user) == path
        data = json.loads(path.read_text())
        assert (data["qlwork_user"], data["user_id"], data["access_token"]) == (user, account, token)
        status = token_status(user=user, now=kite_env["now"])
        assert status["valid"] and status["user_id"] == account and status["qlwork_user"] == user
        assert token not in json.dumps(status)
    assert not (kite_env["home"] / "kite_token.json").exists()
    assert token_status(now=kite_env["now"])["reason"] == "missing"  # the default user never logged in


def test_each_provider_uses_its_users_token(two_users, kite_env):
    ravi = _kite(two_users, kite_env, user_id="ravi")
    assert ravi.user_id == "ravi" and ravi.metadata()["user"] == "ravi"
    assert "ITC" in ravi.portfolio().symbols  # profile CD5678 matches ravi's token file
    asha = _kite(two_users, kite_env, user_id="asha")
    # the server says this token is account CD5678 while asha's file records AB1234: refused
    with pytest.raises(ProviderError, match="qlwork kite login --user asha") as info:
        asha.holdings()
    assert info.value.details["reason"] == "mismatch"
    two_users.user_id = "AB1234"
    assert len(_kite(two_users, kite_env, user_id="asha").holdings()) == 6
    # ravi's token stops working; asha's does not, and the error names ravi's login
    two_users.valid_tokens.discard(RAVI_TOKEN)
    with pytest.raises(ProviderError, match="qlwork kite login --user ravi") as info:
        ravi.candles("TCS", start="2026-11-02", end="2026-11-06")
    assert info.value.details["reason"] == "token"
    assert len(_kite(two_users, kite_env, user_id="asha").candles("TCS", start="2026-11-02",
                                                                   end="2026-11-06")["TCS"]) == 5


def test_token_file_of_another_user_is_refused(two_users, kite_env):
    tokens = kite_env["tokens"]
    shutil.copy(tokens / "asha.json", tokens / "bala.json")  # e.g. copied by hand
    with pytest.raises(ProviderError, match=r"written for user 'asha'.*not for 'bala'") as info:
        _kite(two_users, kite_env, user_id="bala")
    assert "qlwork kite login --user bala" in str(info.value)
    assert info.value.details["reason"] == "mismatch"
    status = token_status(user="bala", now=kite_env["now"])
    assert not status["valid"] and status["reason"] == "mismatch"
    with pytest.raises(ProviderError, match="qlwork kite login --user zoe") as info:
        _kite(two_users, kite_env, user_id="zoe")
    assert info.value.details["reason"] == "missing"
    for text in _texts(info.value) + [json.dumps(status)]:
        assert kite_env["access_token"] not in text and RAVI_TOKEN not in text


def test_legacy_single_file_is_read_for_the_default_user_only(fake_kite, kite_env):
    kite_env["home"].mkdir(parents=True, exist_ok=True)
    legacy = {"access_token": kite_env["access_token"], "user_id": "AB1234", "user_name": "Fake User",
              "login_time": "2026-11-20T09:12:33+05:30", "expiry": "2026-11-21T06:00:00+05:30"}
    (kite_env["home"] / "kite_token.json").write_text(json.dumps(legacy))
    status = token_status(now=kite_env["now"])
    assert status["valid"] and status["legacy"] is True and status["qlwork_user"] == "analyst"
    assert len(_kite(fake_kite, kite_env).holdings()) == 6  # default user
    with pytest.raises(ProviderError, match="No Kite access token found for user 'asha'"):
        _kite(fake_kite, kite_env, user_id="asha")
    # once the default user has a per-user file, that one wins
    fake_kite.request_tokens.add("req_token_new")
    complete_login("req_token_new", root=fake_kite.url, now=kite_env["now"])
    assert token_status(now=kite_env["now"])["legacy"] is False


@pytest.mark.parametrize("bad", ["../asha", "a/b", ".hidden", "x" * 70, "two words"])
def test_user_ids_are_safe_file_names(kite_env, bad):
    with pytest.raises(InputError, match="not a valid user id"):
        token_path(bad)


def test_get_provider_passes_user_id(two_users, kite_env):
    two_users.user_id = "AB1234"
    market = get_provider("kite", user_id="asha", root=two_users.url, clock=lambda: kite_env["now"], cache=False)
    assert isinstance(market, KiteMarketData) and market.user_id == "asha"
    assert isinstance(get_provider("demo", user_id="asha"), DemoMarketData)  # ignored by demo


def test_cli_login_and_status_per_user(fake_kite, kite_env, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("KITE_ROOT", fake_kite.url)
    monkeypatch.setattr(kite_auth, "now_ist", lambda: kite_env["now"])
    assert cli_main(["kite", "login", "--user", "asha", "req_token_ok"]) == 0
    assert (kite_env["tokens"] / "asha.json").exists()
    assert cli_main(["kite", "status", "--user", "asha"]) == 0
    assert cli_main(["kite", "status", "--user", "asha", "--json"]) == 0
    assert cli_main(["kite", "status", "--user", "ravi"]) == 1
    assert cli_main(["kite", "status"]) == 1  # the default user (analyst) has no token
    assert cli_main(["kite", "login", "--user", "ravi", "req_token_used_up"]) == 2  # rejected login
    out = capsys.readouterr()
    text = out.out + out.err + caplog.text
    assert "AB1234" in text and "qlwork kite login --user ravi" in text
    assert "for qlwork user asha" in text and "qlwork kite login --user analyst" in text
    for secret in (kite_env["access_token"], kite_env["api_key"], kite_env["api_secret"]):
        assert secret not in text
    assert not (kite_env["tokens"] / "ravi.json").exists()


def test_planted_secrets_never_leak_with_per_user_files(two_users, kite_env, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = [kite_env["api_key"], kite_env["api_secret"], kite_env["access_token"], RAVI_TOKEN]
    texts: list[str] = []
    for user in ("asha", "ravi", "bala", "analyst"):
        texts.append(json.dumps(token_status(user=user, now=kite_env["now"])))
    ravi = _kite(two_users, kite_env, user_id="ravi")
    ravi.portfolio()
    texts.append(repr(ravi) + json.dumps(ravi.metadata()))
    for call in (lambda: _kite(two_users, kite_env, user_id="asha").holdings(),  # account mismatch
                 lambda: _kite(two_users, kite_env, user_id="nobody")):
        with pytest.raises(QlworkError) as info:
            call()
        texts += _texts(info.value)
    for kind in ("html", "token"):
        two_users.fail(kind, "/instruments/historical/", times=10)
        with pytest.raises(QlworkError) as info:
            _kite(two_users, kite_env, user_id="ravi", max_attempts=1).candles("INFY", start="2026-11-02",
                                                                              end="2026-11-06")
        texts += _texts(info.value)
        two_users.faults.clear()
    texts.append(caplog.text)
    for path in kite_env["home"].rglob("*"):
        if path.is_file():
            data = path.read_bytes().decode("latin-1")
            if path.parent.name == "kite_tokens":  # only the user's own token, never key or secret
                assert kite_env["api_key"] not in data and kite_env["api_secret"] not in data
                other = RAVI_TOKEN if path.stem == "asha" else kite_env["access_token"]
                assert other not in data
            else:
                texts.append(data)
    leaks = [(s, t[:200]) for t in texts for s in secrets if s in t]
    assert not leaks
