"""An explicit exchange prefix is respected by the Kite provider: ``nse:sbin`` is the NSE listing even
when SBIN is held on BSE, ``BSE:SBIN`` the BSE one; a BSE-only symbol is found in Kite's BSE list.
Against the local fake Kite server (real kiteconnect client)."""

from __future__ import annotations

import pytest

from qlwork.errors import InputError
from qlwork.market.ratelimit import RateLimiter

HIST = "/instruments/historical/"


@pytest.fixture
def kite(make_kite, fake_kite):
    fake_kite.holdings = [fake_kite.holding("SBIN", 30, 700.0, exchange="BSE"), fake_kite.holding("TCS", 5, 3300.0)]
    market = make_kite(limiter=RateLimiter({"historical": 100, "quote": 100, "other": 100}))
    market.portfolio()  # reads the holdings: SBIN is routed to BSE
    return market


def test_explicit_nse_is_not_the_bse_holding(kite, fake_kite):
    nse, bse = fake_kite.tokens["SBIN"], fake_kite.bse_tokens["SBIN"]
    assert kite.instrument_tokens(["SBIN"]) == {"SBIN": bse}  # the holding's own listing
    assert kite.instrument_tokens(["nse:sbin"]) == {"SBIN": nse}
    assert kite.instrument_tokens("NSE:SBIN") == {"SBIN": nse}
    assert kite.instrument_tokens(["BSE:SBIN"]) == {"SBIN": bse}
    assert set(kite.ltp(["nse:sbin", "TCS"])) == {"NSE:SBIN", "NSE:TCS"}
    assert set(kite.ltp(["SBIN"])) == {"BSE:SBIN"}
    fake_kite.reset_log()
    kite.close_prices(["nse:sbin"], start="2026-11-02", end="2026-11-20")
    asked = {int(r.path.split("/")[3]) for r in fake_kite.log(HIST)}
    assert asked == {nse}


def test_bse_only_symbol_and_wrong_exchange(kite, fake_kite):
    assert kite.instrument_tokens(["BSE:KAMATHOTEL"]) == {"KAMATHOTEL": fake_kite.bse_tokens["KAMATHOTEL"]}
    with pytest.raises(InputError) as err:
        kite.instrument_tokens(["NSE:KAMATHOTEL"])
    assert "KAMATHOTEL" in err.value.message
    with pytest.raises(InputError) as err:
        kite.instrument_tokens(["BSE:TCS"])  # not in Kite's BSE list here: said, not priced from NSE
    assert "not listed on BSE" in err.value.message


def test_any_kite_index_is_a_benchmark(kite):
    from qlwork.market.base import index_symbols
    from qlwork.tools.registry import ToolContext
    from qlwork.tools.trading import calculate_risk_metrics

    assert {"NIFTY 50", "NIFTY BANK", "NIFTY MIDCAP 150"} <= set(index_symbols(kite))
    ctx = ToolContext(market=kite, portfolio="kite", as_of="2026-11-20", user_id="analyst")
    res = calculate_risk_metrics.tool.run({"lookback_days": 40, "benchmark": "NIFTY BANK"}, ctx)
    assert res.error is None, res.error
    assert res.output["benchmark"] == "NIFTY BANK"
