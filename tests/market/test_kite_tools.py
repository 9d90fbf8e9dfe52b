"""The trading tools on the Kite provider (fake Kite server, real kiteconnect client): portfolio="kite",
partial candle failures, and buy-and-hold returns without look-ahead."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from qlwork.errors import InputError
from qlwork.market import get_provider
from qlwork.market.ratelimit import RateLimiter
from qlwork.tools.context import load_holdings
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import _portfolio_returns, analyze_portfolio, calculate_risk_metrics

HIST = "/instruments/historical/"


@pytest.fixture
def kite(make_kite):
    """A Kite provider with a generous limiter (the fake server does not enforce Kite's limits here)."""
    return make_kite(limiter=RateLimiter({"historical": 100, "quote": 100, "other": 100}))


def _ctx(kite, **kw) -> ToolContext:
    return ToolContext(market=kite, portfolio="kite", as_of="2026-11-20", risk_profile="moderate",
                       user_id="analyst", **kw)


def _fail_symbol(fake, kite, symbol: str) -> None:
    token = kite.instrument_tokens(symbol)[symbol]
    fake.fail("500", f"{HIST}{token}/", times=1000)


def test_load_holdings_kite(kite):
    pf = load_holdings(_ctx(kite), None)
    assert pf.source == "kite:holdings" and dict(zip(pf.symbols, pf.quantities))["ITC"] == 50
    with pytest.raises(InputError, match='provider="kite"') as info:
        load_holdings(ToolContext(market=get_provider("demo"), user_id="asha"), "kite")
    assert "qlwork kite login --user asha" in info.value.fix


def test_analyze_portfolio_on_kite_holdings(kite):
    out = analyze_portfolio.tool.invoke({"lookback_days": 60}, _ctx(kite))
    json.dumps(out, allow_nan=False)
    held = {h["symbol"]: h["quantity"] for h in out["holdings"]}
    assert held == {"RELIANCE": 10, "TCS": 5, "HDFCBANK": 20, "INFY": 15, "ZOMATO": 100, "ITC": 50}
    assert out["data_source"]["provider"] == "kite" and out["data_source"]["synthetic"] is False
    assert "symbols_without_data" not in out


def test_partial_candle_failure_drops_symbol_and_names_it(kite, fake_kite):
    _fail_symbol(fake_kite, kite, "INFY")
    res = analyze_portfolio.tool.run({"lookback_days": 60}, _ctx(kite))
    assert res.error is None, res.error
    out = res.output
    json.dumps(out, allow_nan=False)
    assert "INFY" not in {h["symbol"] for h in out["holdings"]} and len(out["holdings"]) == 5
    assert sum(h["weight"] for h in out["holdings"]) == pytest.approx(1.0, abs=1e-3)
    [missing] = out["symbols_without_data"]
    assert missing["symbol"] == "INFY" and "HTTP 500" in missing["reason"]
    risk = calculate_risk_metrics.tool.run({"lookback_days": 60}, _ctx(kite))
    assert risk.error is None, risk.error
    assert [m["symbol"] for m in risk.output["symbols_without_data"]] == ["INFY"]
    assert risk.output["metrics"]["kite"]["volatility"] > 0
    per = calculate_risk_metrics.tool.run({"symbols": ["TCS", "INFY"], "lookback_days": 60}, _ctx(kite))
    assert per.error is None, per.error
    assert list(per.output["metrics"]) == ["TCS"] and per.output["symbols_without_data"][0]["symbol"] == "INFY"


def test_everything_failing_is_a_clear_error(kite, fake_kite):
    for sym in ("TCS", "INFY"):
        _fail_symbol(fake_kite, kite, sym)
    res = calculate_risk_metrics.tool.run({"symbols": ["TCS", "INFY"], "lookback_days": 60}, _ctx(kite))
    assert res.error["type"] == "ProviderError" and "TCS" in res.error["message"]
    fake_kite.faults.clear()
    _fail_symbol(fake_kite, kite, "NIFTY 50")  # the benchmark is needed for beta
    res = calculate_risk_metrics.tool.run({"symbols": ["TCS"], "lookback_days": 60}, _ctx(kite))
    assert res.error["type"] == "ProviderError" and "NIFTY 50" in res.error["message"]
    assert res.error["symbols_without_data"][0]["symbol"] == "NIFTY 50"


def test_portfolio_returns_have_no_look_ahead():
    days = pd.date_range("2026-11-02", periods=6, freq="B", tz="Asia/Kolkata")
    a = [100.0, 110.0, 99.0, 99.0, 108.9, 108.9]
    b = [np.nan, np.nan, np.nan, 50.0, 55.0, 44.0]  # listed on day 4
    close = pd.DataFrame({"A": a, "B": b}, index=days)
    q = np.array([1.0, 2.0])
    got = _portfolio_returns(close, q)
    # before B's first price only A is held; B's later prices never leak into earlier days
    assert got[:3] == pytest.approx([0.10, -0.10, 0.0])
    # from B's first price on, weights are renormalised over both (value-weighted buy and hold)
    assert got[3] == pytest.approx((108.9 - 99 + 2 * (55 - 50)) / (99 + 2 * 50))
    assert got[4] == pytest.approx((0 + 2 * (44 - 55)) / (108.9 + 2 * 55))
    changed = close.copy()
    changed.loc[days[3]:, "B"] = [500.0, 1.0, 7.0]
    assert _portfolio_returns(changed, q)[:3] == pytest.approx(got[:3])
    # the old bfill version priced B at 50 on days 1-3: its early returns were diluted by look-ahead
    old = close.ffill().bfill().to_numpy() @ q
    assert (old[1:] / old[:-1] - 1.0)[0] != pytest.approx(got[0])
    # a gap after the first price carries the last close; nothing priced yet means a zero return
    gaps = pd.DataFrame({"A": [np.nan, 10.0, np.nan, 12.0], "B": [np.nan, np.nan, 5.0, 5.0]}, index=days[:4])
    assert _portfolio_returns(gaps, np.array([1.0, 1.0])) == pytest.approx([0.0, 0.0, 2.0 / 15.0])
    # with complete data it is the ordinary buy-and-hold return
    full = pd.DataFrame({"A": a, "B": [40.0, 45.0, 48.0, 50.0, 55.0, 44.0]}, index=days)
    v = full.to_numpy() @ q
    assert _portfolio_returns(full, q) == pytest.approx(v[1:] / v[:-1] - 1.0, rel=1e-12)
