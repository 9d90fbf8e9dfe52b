"""Real Kite accounts: documented quantity semantics, each holding priced on its own exchange, holdings that
cannot be priced left out and named, quote times in IST. Against the local fake Kite server."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from qlwork.errors import InputError
from qlwork.portfolio.loaders import kite_position
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio, calculate_risk_metrics

HIST = "/instruments/historical/"


@pytest.fixture
def kite(make_kite):
    """Kite on the fake server with a generous private limiter (the limits have their own tests)."""
    from qlwork.market.ratelimit import RateLimiter

    return make_kite(limiter=RateLimiter({"historical": 100, "quote": 100, "other": 100}))


def _qty(port) -> dict:
    return dict(zip(port.symbols, port.quantities.tolist()))


def _avg(port) -> dict:
    return dict(zip(port.symbols, port.average_prices.tolist()))


@pytest.mark.parametrize("fields, expected", [
    # T1 only, as accounts show it (quantity excludes the undelivered shares)
    ({"quantity": 0, "t1_quantity": 50, "realised_quantity": 0}, 50),
    # T1 as documented ("net quantity (T+1 + realised)"): not counted twice
    ({"quantity": 50, "t1_quantity": 20, "realised_quantity": 30}, 50),
    ({"quantity": 30, "t1_quantity": 20, "realised_quantity": 30}, 50),
    # pledged shares are still held: counted, never added on top
    ({"quantity": 20, "realised_quantity": 20, "collateral_quantity": 20}, 20),
    # shares sold today (used_quantity) are gone
    ({"quantity": 15, "realised_quantity": 15, "used_quantity": 5}, 10),
    ({"quantity": 0, "realised_quantity": 0}, 0),
])
def test_position_quantities(fields, expected):
    pos = kite_position({"average_price": 100.0, **fields})
    assert pos["quantity"] == expected
    assert pos["pledged"] == fields.get("collateral_quantity", 0)


def test_mtf_position_is_added_at_its_own_average_price():
    only = kite_position({"quantity": 0, "average_price": 0, "close_price": 290.0,
                          "mtf": {"quantity": 20, "used_quantity": 0, "average_price": 300.0, "value": 6000}})
    assert only["quantity"] == 20 and only["average_price"] == pytest.approx(300.0) and only["mtf_quantity"] == 20
    both = kite_position({"quantity": 10, "realised_quantity": 10, "average_price": 1400.0,
                          "mtf": {"quantity": 12, "used_quantity": 2, "average_price": 1500.0}})
    assert both["quantity"] == 20 and both["average_price"] == pytest.approx(1450.0)


def _account(fake):
    fake.holdings = [
        fake.holding("RELIANCE", 10, 1400.0),                                     # plain NSE
        fake.holding("ITC", 0, 400.0, t1=50),                                      # T1 only
        fake.holding("TCS", 0, 0.0, realised_quantity=0,                          # MTF only
                     mtf={"quantity": 4, "used_quantity": 0, "average_price": 3200.0, "value": 12800}),
        fake.holding("HDFCBANK", 20, 900.0, collateral_quantity=20, collateral_type="margin"),  # pledged
        fake.holding("SBIN", 30, 700.0, exchange="BSE"),                           # on BSE, also listed on NSE
        fake.holding("KAMATHOTEL", 100, 150.0, exchange="BSE"),                    # BSE-only
        fake.holding("INFY", 0, 1500.0),                                           # zero: skipped
        {**fake.holding("WIPRO", 5, 250.0), "exchange": "BSE", "instrument_token": None},  # cannot be priced
    ]


def test_account_quantities_and_exchanges(kite, fake_kite):
    _account(fake_kite)
    port = kite.portfolio()
    assert _qty(port) == {"RELIANCE": 10, "ITC": 50, "TCS": 4, "HDFCBANK": 20, "SBIN": 30, "KAMATHOTEL": 100}
    assert _avg(port)["TCS"] == pytest.approx(3200.0)
    meta = port.metadata
    assert meta["skipped"] == ["INFY"]
    assert meta["exchanges"] == {"SBIN": "BSE", "KAMATHOTEL": "BSE"}
    assert meta["quantities"]["HDFCBANK"] == {"pledged": 20}
    assert meta["quantities"]["TCS"] == {"mtf_quantity": 4} and meta["quantities"]["ITC"] == {"t1_quantity": 50}
    [gone] = meta["symbols_without_data"]
    assert gone["symbol"] == "WIPRO" and "no BSE instrument" in gone["reason"]
    # each holding priced with its own exchange's instrument
    tokens = kite.instrument_tokens(port.symbols)
    assert tokens["SBIN"] == fake_kite.bse_tokens["SBIN"] != fake_kite.tokens["SBIN"]
    assert tokens["KAMATHOTEL"] == fake_kite.bse_tokens["KAMATHOTEL"]
    assert tokens["RELIANCE"] == fake_kite.tokens["RELIANCE"]
    fake_kite.reset_log()
    close = kite.close_prices(port.symbols, start="2026-11-02", end="2026-11-20")
    asked = {int(r.path.split("/")[3]) for r in fake_kite.log(HIST)}
    assert fake_kite.bse_tokens["SBIN"] in asked and fake_kite.tokens["SBIN"] not in asked
    assert list(close.columns) == port.symbols and close.notna().all().all()
    quotes = kite.ltp(["SBIN", "KAMATHOTEL", "TCS"])
    assert set(quotes) == {"BSE:SBIN", "BSE:KAMATHOTEL", "NSE:TCS"}


def test_analysis_of_a_mixed_account_names_what_it_left_out(kite, fake_kite):
    _account(fake_kite)
    ctx = ToolContext(market=kite, portfolio="kite", as_of="2026-11-20", risk_profile="moderate", user_id="analyst")
    res = analyze_portfolio.tool.run({"lookback_days": 60}, ctx)
    assert res.error is None, res.error
    out = res.output
    json.dumps(out, allow_nan=False)
    held = {h["symbol"]: h["quantity"] for h in out["holdings"]}
    assert held == {"RELIANCE": 10, "ITC": 50, "TCS": 4, "HDFCBANK": 20, "SBIN": 30, "KAMATHOTEL": 100}
    assert [d["symbol"] for d in out["symbols_without_data"]] == ["WIPRO"]
    risk = calculate_risk_metrics.tool.run({"lookback_days": 60}, ctx)
    assert risk.error is None and [d["symbol"] for d in risk.output["symbols_without_data"]] == ["WIPRO"]


def test_bse_candle_failure_drops_only_that_holding(kite, fake_kite):
    _account(fake_kite)
    fake_kite.fail("input", f"{HIST}{fake_kite.bse_tokens['KAMATHOTEL']}/", times=100)
    ctx = ToolContext(market=kite, portfolio="kite", as_of="2026-11-20", user_id="analyst")
    out = analyze_portfolio.tool.run({"lookback_days": 60}, ctx).output
    assert {d["symbol"] for d in out["symbols_without_data"]} == {"WIPRO", "KAMATHOTEL"}
    assert len(out["holdings"]) == 5


def test_account_with_nothing_to_value_is_a_clear_error(kite, fake_kite):
    fake_kite.holdings = [fake_kite.holding("INFY", 0, 1500.0),
                          {**fake_kite.holding("WIPRO", 5, 250.0), "exchange": "BSE", "instrument_token": 0}]
    with pytest.raises(InputError, match="no holdings qlwork can value: WIPRO") as info:
        kite.portfolio()
    assert info.value.fix


def test_quote_times_are_ist(kite):
    quote = kite.quote(["TCS"])["NSE:TCS"]
    for field in ("timestamp", "last_trade_time"):
        stamp = quote[field]
        assert stamp.tzinfo is not None and stamp.utcoffset() == dt.timedelta(hours=5, minutes=30)
        assert (stamp.hour, stamp.minute) == (14, 0)
