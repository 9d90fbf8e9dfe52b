"""The weekly review on Kite: run_review(provider="kite", portfolio="kite") and the papermill batch against
the local fake Kite server through the real kiteconnect client, with a planted per-user token."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from qlwork.review import executive as ex, render as rr
from qlwork.assistant.store import Store
from qlwork.errors import ProviderError
from qlwork.market import kite_auth, ratelimit
from qlwork.market.demo import DEMO_END
from qlwork.review import run_review

IST = ZoneInfo("Asia/Kolkata")
NOW = dt.datetime(2026, 11, 20, 14, 0, tzinfo=IST)
PLANTED = {"api_key": "PLANTEDREVIEWKEY8V1", "api_secret": "PLANTEDREVIEWSECRET2N6",
           "access_token": "PLANTEDREVIEWTOKEN4T9"}
KITE_HOLDINGS = {"RELIANCE": 10, "TCS": 5, "HDFCBANK": 20, "INFY": 15, "ZOMATO": 100, "ITC": 50}  # ITC: T1 only


def _plant_token(home: Path, user: str, now: dt.datetime) -> Path:
    """A token file as `qlwork kite login --user USER` writes it (Kite account AB1234)."""
    path = home / "kite_tokens" / f"{user}.json"
    path.parent.mkdir(parents=True, mode=0o700, exist_ok=True)
    path.write_text(json.dumps({"access_token": PLANTED["access_token"], "qlwork_user": user, "user_id": "AB1234",
                                "user_name": "Fake User", "login_time": now.isoformat(),
                                "expiry": kite_auth.next_expiry(now).isoformat()}))
    path.chmod(0o600)
    return path


def _start_fake(today: dt.date):
    fake = importlib.import_module("fake_kite").FakeKite(
        api_key=PLANTED["api_key"], api_secret=PLANTED["api_secret"], access_token=PLANTED["access_token"],
        today=today)
    return fake.start()


@pytest.fixture
def kite_home(tmp_path, monkeypatch):
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("QLWORK_HOME", str(home))
    monkeypatch.setenv("KITE_API_KEY", PLANTED["api_key"])
    monkeypatch.setenv("KITE_API_SECRET", PLANTED["api_secret"])
    return home


@pytest.fixture
def fake(kite_home, monkeypatch):
    server = _start_fake(NOW.date())
    monkeypatch.setenv("KITE_ROOT", server.url)
    monkeypatch.setattr(kite_auth, "now_ist", lambda: NOW)  # the provider's clock and the token expiry check
    # a private, generous limiter: the fake does not enforce Kite's limits in this test
    monkeypatch.setattr(ratelimit, "_SHARED", ratelimit.RateLimiter({"historical": 50, "quote": 50, "other": 50}))
    yield server
    server.stop()


def _leaks(home: Path, texts: list[str]) -> list:
    for path in home.rglob("*"):
        if path.is_file() and path.parent.name != "kite_tokens":
            texts.append(path.read_bytes().decode("latin-1"))
    return [(s, t[:120]) for t in texts for s in PLANTED.values() if s in t]


def test_review_of_kite_holdings(fake, kite_home):
    _plant_token(kite_home, "asha", NOW)
    store = Store(kite_home / "qlwork.db")
    try:
        review = run_review("asha", "2026-11-20", portfolio="kite", provider="kite", backend="offline",
                            store=store, lookback_days=120)
        summary = review.summary()
        held = {h["symbol"]: h["quantity"] for h in review.analysis["holdings"]}
        assert held == KITE_HOLDINGS
        assert summary["status"] == "ok" and summary["synthetic"] is False and review.synthetic is False
        assert summary["data_source"]["provider"] == "kite" and "Kite" in summary["data_source"]["description"]
        assert summary["parameters"]["portfolio"] == "kite" and summary["parameters"]["provider"] == "kite"
        assert "SYNTHETIC DATA" not in ex.header_html(review)
        assert fake.count("/portfolio/holdings") >= 1 and fake.count("/user/profile") >= 1
        texts = [json.dumps(summary, default=str), json.dumps(review.volatile_metadata(), default=str),
                 json.dumps(review.analysis, default=str), json.dumps(review.response, default=str),
                 json.dumps(review.calls, default=str), ex.header_html(review), rr.holdings_html(review),
                 ex.appendix_html(review)]
    finally:
        store.close()
    assert not _leaks(kite_home, texts)


def test_review_without_own_token_never_uses_another_users(fake, kite_home):
    _plant_token(kite_home, "asha", NOW)
    store = Store(kite_home / "qlwork.db")
    try:
        with pytest.raises(ProviderError, match="qlwork kite login --user ravi") as info:
            run_review("ravi", "2026-11-20", portfolio="kite", provider="kite", store=store)
    finally:
        store.close()
    assert fake.count("/portfolio/holdings") == 0
    assert not _leaks(kite_home, [str(info.value), json.dumps(info.value.to_dict())])


def test_review_survives_one_holdings_candles_failing(fake, kite_home):
    _plant_token(kite_home, "asha", NOW)
    fake.fail("500", f"/instruments/historical/{fake.tokens['INFY']}/", times=1000)
    store = Store(kite_home / "qlwork.db")
    try:
        review = run_review("asha", "2026-11-20", portfolio="kite", provider="kite", store=store,
                            lookback_days=120)
    finally:
        store.close()
    assert "INFY" not in {h["symbol"] for h in review.analysis["holdings"]}
    assert [m["symbol"] for m in review.analysis["symbols_without_data"]] == ["INFY"]
    assert review.summary()["status"] == "ok"


def test_batch_for_a_kite_user(kite_home, tmp_path, monkeypatch):
    """The papermill batch for one kite user: the kernel reads asha's own token and the fake server."""
    from qlwork.reports import run_batch

    today = dt.datetime.now(IST)
    if today.date() > DEMO_END + dt.timedelta(days=10):
        pytest.skip("the fake Kite server's data (the demo universe) ends before today's last two weeks")
    server = _start_fake(min(today.date(), DEMO_END))
    try:
        monkeypatch.setenv("KITE_ROOT", server.url)  # the kernel inherits the environment (never a parameter)
        _plant_token(kite_home, "asha", today)
        config = tmp_path / "users.toml"
        config.write_text('[[users]]\nuser_id = "asha"\nportfolio = "kite"\nprovider = "kite"\n', encoding="utf-8")
        result = run_batch("2026-11-20", workers=1, config=str(config), output_dir=tmp_path / "reports",
                           progress=False, timeout=120)
    finally:
        server.stop()
    entry = result.entries["asha"]
    assert entry["status"] == "ok", entry.get("error")
    assert entry["synthetic"] is False and entry["total_value"] > 0
    notebook = (result.directory / entry["notebook"]).read_text()
    html = (result.directory / entry["html"]).read_text()
    for sym in KITE_HOLDINGS:
        assert sym in html
    texts = [notebook, html, (result.directory / "manifest.json").read_text()]
    texts += [p.read_bytes().decode("latin-1") for p in (tmp_path / "reports").rglob("*") if p.is_file()]
    assert not _leaks(kite_home, texts)
