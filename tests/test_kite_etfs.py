"""ETFs from a Kite instrument dump (the local fake Kite server, the real kiteconnect client): classified
by the shipped table and by Kite's instrument names, looked through in analyze_portfolio."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from zoneinfo import ZoneInfo

import pytest

from qlwork.market import kite_auth, ratelimit
from qlwork.market.kite import KiteMarketData
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio

IST = ZoneInfo("Asia/Kolkata")
NOW = dt.datetime(2026, 11, 20, 14, 0, tzinfo=IST)
KEYS = {"api_key": "PLANTEDETFKEY7Q2", "api_secret": "PLANTEDETFSECRET3W8", "access_token": "PLANTEDETFTOKEN5K1"}


@pytest.fixture
def kite(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / "kite_tokens").mkdir(parents=True, mode=0o700)
    monkeypatch.setenv("QLWORK_HOME", str(home))
    monkeypatch.setenv("KITE_API_KEY", KEYS["api_key"])
    monkeypatch.setenv("KITE_API_SECRET", KEYS["api_secret"])
    token = home / "kite_tokens" / "etf.json"
    token.write_text(json.dumps({"access_token": KEYS["access_token"], "qlwork_user": "etf", "user_id": "AB1234",
                                 "user_name": "Fake User", "login_time": NOW.isoformat(),
                                 "expiry": kite_auth.next_expiry(NOW).isoformat()}))
    token.chmod(0o600)
    fake = importlib.import_module("fake_kite").FakeKite(**KEYS, today=NOW.date())
    fake.add_instrument("NIFTYBEES", "NIPPON INDIA ETF NIFTY BEES", "NIFTY 50", 0.011)
    fake.add_instrument("AXISGOLD", "AXIS GOLD ETF", "LIQUIDBEES", 0.09)
    fake.add_instrument("MON100", "MOTILAL OSWAL NASDAQ 100 ETF", "INFY", 0.1)
    fake.start()
    monkeypatch.setattr(kite_auth, "now_ist", lambda: NOW)
    monkeypatch.setattr(ratelimit, "_SHARED", ratelimit.RateLimiter({"historical": 50, "quote": 50, "other": 50}))
    yield KiteMarketData(root=fake.url, user_id="etf", backoff=0.01, backoff_cap=0.05, timeout=5.0, clock=lambda: NOW)
    fake.stop()


def test_etfs_from_kite_are_classified_and_looked_through(kite, tmp_path):
    path = tmp_path / "etfs.csv"
    path.write_text("tradingsymbol,exchange,quantity,average_price\nNIFTYBEES,NSE,1000,250\nAXISGOLD,NSE,1000,80\n"
                    "MON100,NSE,100,150\nLIQUIDBEES,NSE,100,1000\nTCS,NSE,20,3000\n")
    out = analyze_portfolio.tool.run({}, ToolContext(market=kite, portfolio=str(path), risk_profile="moderate")).output
    assert "error" not in out, out
    classes = {h["symbol"]: h["asset_class"] for h in out["holdings"]}
    assert classes == {"NIFTYBEES": "index_fund", "AXISGOLD": "commodity", "MON100": "fund", "LIQUIDBEES": "cash",
                       "TCS": "equity"}
    sectors = {h["symbol"]: h["sector"] for h in out["holdings"]}
    assert sectors["NIFTYBEES"] == "Index fund (NIFTY 50)" and sectors["MON100"] == "Unclassified fund"
    w = {h["symbol"]: h["weight"] for h in out["holdings"]}
    bench = kite.benchmark_sector_weights()
    fin = out["sector_weights"]["Financial Services"]  # only NIFTYBEES holds banks: its look-through share
    assert fin == pytest.approx(w["NIFTYBEES"] * bench["Financial Services"] / sum(bench.values()), abs=2e-4)
    assert out["concentration"]["largest_single_stock"] == pytest.approx(w["TCS"], abs=1e-4)
    assert not [r for r in out["recommendations"] if r["symbol"] in ("NIFTYBEES", "AXISGOLD", "MON100", "LIQUIDBEES")
                and r["action"] == "reduce" and "position cap" in r["reason"]]  # funds are not single stocks
