"""The demo provider's wider universe: the rest of the bundled NIFTY 500 list and the benchmark indices,
generated from a separate seeded stream so the 56 core stocks and NIFTY 50 stay byte-identical."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from qlwork.config import BENCHMARK
from qlwork.market import DemoMarketData, priceable_symbols
from qlwork.market.demo import DEMO_AS_OF, DEMO_SEED, PROVIDER, TICK, _generate
from qlwork.market.demo_nifty500 import INDICES, _extended, nifty500_list

CORE_SHA256 = "a0820cf90ca5fa885438f95ebf973eff194ec9bfbb988441bdba25b299ab8ecc"
"""sha256 of the core universe's open, high, low, close, volume and regime arrays as generated before the
NIFTY 500 extension (main at 35fcee6): every stored notebook output and other test depends on them."""
CORE_INSTRUMENTS_SHA256 = "4191ff86224560268e92615d28f3645a2057af4da75b0be73917d331fd36edad"


@pytest.fixture(scope="module")
def market():
    return DemoMarketData()


def test_core_series_and_instruments_are_unchanged(market):
    u = _generate(DEMO_SEED)
    digest = hashlib.sha256()
    for arr in (u.open, u.high, u.low, u.close, u.volume, u.regime):
        digest.update(arr.tobytes())
    assert digest.hexdigest() == CORE_SHA256
    assert hashlib.sha256(market.instruments().to_csv().encode()).hexdigest() == CORE_INSTRUMENTS_SHA256
    # and the wider universe carries the core columns unchanged
    x = market._x
    for sym in (*u.symbols,):
        assert np.array_equal(x.close[:, x.col[sym]], u.close[:, u.col[sym]])
        assert np.array_equal(x.volume[:, x.col[sym]], u.volume[:, u.col[sym]])
    assert market.close_prices(["TCS", BENCHMARK]).equals(market.close_prices(["TCS", "DMART", BENCHMARK])[["TCS", BENCHMARK]])


def test_every_listed_symbol_and_index_is_priced_and_synthetic(market):
    listed = [s.symbol for s in nifty500_list()]
    known = priceable_symbols(market)
    assert set(listed) <= known and {BENCHMARK, *INDICES} <= known
    close = market.close_prices(listed + list(INDICES), end=DEMO_AS_OF)
    assert close.attrs["synthetic"] is True and close.attrs["provider"] == PROVIDER
    assert close.notna().all().all() and (close.to_numpy() > 0).all()
    inst = market.all_instruments().set_index("tradingsymbol")
    assert np.allclose(close.iloc[-1].to_numpy(), inst.loc[close.columns, "last_price"].to_numpy())
    for name, (level, _) in INDICES.items():
        assert close[name].iloc[-1] == pytest.approx(level, abs=0.05)
    assert set(inst.loc[listed, "cap"]) == {"large", "mid", "small"}
    assert inst.loc["DMART", "sector"] == "Consumer Services"  # NSE's industry from the list
    # ohlc sane and ticks clean
    o = market.ohlcv(["DMART", "PERSISTENT", "NIFTY BANK"])
    for sym in ("DMART", "PERSISTENT"):
        hi, lo = o["high"][sym], o["low"][sym]
        assert (hi >= o["open"][sym]).all() and (hi >= o["close"][sym]).all() and (lo <= o["close"][sym]).all()
        assert np.allclose(np.round(o["close"][sym] / TICK) * TICK, o["close"][sym])


def test_indices_move_with_their_sectors(market):
    close = market.close_prices(["NIFTY 50", "NIFTY 500", "NIFTY BANK", "NIFTY IT", "HDFCBANK", "TCS", "INFY"],
                                start="2022-01-01", end=DEMO_AS_OF)
    r = close.pct_change().dropna()
    c = r.corr()
    assert c.loc["NIFTY 500", "NIFTY 50"] > 0.85
    assert c.loc["NIFTY BANK", "HDFCBANK"] > c.loc["NIFTY BANK", "TCS"]
    assert c.loc["NIFTY IT", "INFY"] > c.loc["NIFTY IT", "HDFCBANK"]
    vol = r.std() * np.sqrt(252)
    assert 0.08 < vol["NIFTY 500"] < 0.35


def test_generation_is_reproducible_and_independent_of_the_core_stream():
    core = _generate(DEMO_SEED)
    a = _extended(core, DEMO_SEED, DEMO_AS_OF, TICK, PROVIDER)
    b = _extended(core, DEMO_SEED, DEMO_AS_OF, TICK, PROVIDER)
    assert np.array_equal(a.close, b.close) and np.array_equal(a.volume, b.volume)
    other = _extended(core, DEMO_SEED + 1, DEMO_AS_OF, TICK, PROVIDER)
    col = a.col["DMART"]
    assert not np.array_equal(a.close[:, col], other.close[:, col])


def test_quotes_keep_the_exchange_asked_for(market):
    q = market.quote(["nse:dmart", "BSE:TCS", "NIFTY BANK"])
    assert set(q) == {"NSE:DMART", "BSE:TCS", "NSE:NIFTY BANK"}
    assert q["BSE:TCS"]["last_price"] == 3150.0 and q["NSE:DMART"]["synthetic"] is True
    assert market.sectors(["NIFTY IT"]) == {"NIFTY IT": "Index"}
    meta = market.metadata()
    assert meta["listed_symbols"] == len(priceable_symbols(market)) and "NIFTY BANK" in meta["indices"]
