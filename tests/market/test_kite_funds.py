"""Kite's mutual fund holdings (``GET /mf/holdings``) read through the real kiteconnect client from the
local fake Kite server, read-only."""

from __future__ import annotations

import pytest

from qlwork.market.kite_client import ReadOnlyViolation
from qlwork.market.ratelimit import RateLimiter


def test_kite_mf_holdings(make_kite, fake_kite):
    kite = make_kite(limiter=RateLimiter({"historical": 100, "quote": 100, "other": 100}))
    funds = kite.mf_portfolio()
    assert funds.source == "kite:mf" and [f.category for f in funds.funds] == ["equity", "liquid", "index"]
    first = funds.funds[0]
    assert first.isin == "INF879O01027" and first.units == 500.123 and first.value == pytest.approx(500.123 * 88.412, abs=0.01)
    assert first.average_price == pytest.approx(62.35, abs=1e-6) and first.folio == "1234567/89"
    assert fake_kite.count("/mf/holdings") == 1
    with pytest.raises(ReadOnlyViolation):  # read-only: MF orders are refused before anything is sent
        kite._client._ReadOnlyKite__kite.place_mf_order(tradingsymbol="INF879O01027", transaction_type="BUY",
                                                         amount=5000)
    assert fake_kite.count("/mf/orders") == 0
