"""The deterministic synthetic demo provider and the shared market helpers."""

import datetime as dt
import hashlib
import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from qlwork.errors import InputError, ProviderError
from qlwork.market import DEMO_AS_OF, DemoMarketData, MarketData, get_provider
from qlwork.market.base import (
    CANDLE_COLUMNS,
    INSTRUMENT_COLUMNS,
    Candles,
    parse_date,
)
from qlwork.symbols import resolve_symbols
from qlwork.market.demo import _generate, nse_holidays
from qlwork.market.sectors import bundled_industries

ROOT = Path(__file__).resolve().parents[2]


def close_hash(market: DemoMarketData) -> str:
    u = market._u
    h = hashlib.sha256()
    for arr in (u.open, u.high, u.low, u.close, u.volume):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


@pytest.fixture(scope="module")
def market():
    return DemoMarketData()


@pytest.fixture(scope="module")
def symbols(market):
    return market.instruments()["tradingsymbol"].tolist()


@pytest.fixture(scope="module")
def panel(market, symbols):
    return market.ohlcv(symbols)


# -- determinism and speed -------------------------------------------------------------------

def test_two_fresh_generations_are_identical(market):
    first = close_hash(market)
    _generate.cache_clear()
    second = close_hash(DemoMarketData())
    assert first == second
    assert close_hash(DemoMarketData(seed=1)) != first


def test_hash_matches_a_fresh_process(market):
    code = ("from qlwork.market.demo import DemoMarketData\n"
            "import hashlib, numpy as np\n"
            "u = DemoMarketData()._u\n"
            "h = hashlib.sha256()\n"
            "for a in (u.open, u.high, u.low, u.close, u.volume): h.update(np.ascontiguousarray(a).tobytes())\n"
            "print(h.hexdigest())\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == close_hash(market)


# -- universe ---------------------------------------------------------------------------------

def test_protocol_and_metadata(market):
    assert isinstance(market, MarketData)
    assert market.name == "demo" and market.synthetic is True
    meta = market.metadata()
    assert meta["provider"] == "demo" and meta["synthetic"] is True
    assert meta["currency"] == "INR" and meta["timezone"] == "Asia/Kolkata"
    assert "synthetic" in meta["description"].lower()
    assert market.default_as_of == DEMO_AS_OF == dt.date(2026, 11, 20)


def test_universe_size_and_sectors(market):
    inst = market.instruments()
    assert list(inst.columns[: len(INSTRUMENT_COLUMNS)]) == INSTRUMENT_COLUMNS
    eq = inst[(inst["instrument_type"] == "EQ") & (inst["sector"] != "Unclassified")]
    assert len(eq) >= 40
    assert eq["sector"].nunique() >= 8
    assert inst["tradingsymbol"].is_unique and inst["instrument_token"].is_unique
    # NSE's industry names (the bundled NIFTY 500 list), the same vocabulary as live Kite data
    for sym, sector in {"TCS": "Information Technology", "HDFCBANK": "Financial Services",
                        "RELIANCE": "Oil Gas & Consumable Fuels", "ITC": "Fast Moving Consumer Goods",
                        "MARUTI": "Automobile and Auto Components", "SUNPHARMA": "Healthcare",
                        "TATASTEEL": "Metals & Mining", "BAJFINANCE": "Financial Services",
                        "BHARTIARTL": "Telecommunication", "NTPC": "Power", "SUZLON": "Capital Goods"}.items():
        assert market.sectors([sym]) == {sym: sector}
    table = bundled_industries()["symbol"]
    assert all(table[s] == sec for s, sec in zip(eq["tradingsymbol"], eq["sector"]))
    assert set(inst.loc[inst["sector"] == "Unclassified", "tradingsymbol"]) == {"LIQUIDBEES"}


def test_nifty_is_an_index_instrument(market):
    inst = market.instruments().set_index("tradingsymbol")
    row = inst.loc["NIFTY 50"]
    assert (row["instrument_type"], row["segment"], row["exchange"], row["sector"]) == \
        ("INDEX", "INDICES", "NSE", "Index")
    level = market.close_prices(["NIFTY 50"], end=DEMO_AS_OF).iloc[-1, 0]
    assert 24_000 <= level <= 26_000
    weights = market.benchmark_sector_weights()
    assert abs(sum(weights.values()) - 1) < 1e-12 and max(weights, key=weights.get) == "Financial Services"


def test_nifty_tracks_its_large_cap_basket(market):
    inst = market.instruments()
    large = inst.loc[inst["cap"] == "large", "tradingsymbol"].tolist()
    close = market.close_prices(large + ["NIFTY 50"])
    rets = close.pct_change().iloc[1:]
    basket = rets[large].mean(axis=1)
    assert np.corrcoef(basket, rets["NIFTY 50"])[0, 1] > 0.9


def test_liquid_etf_is_near_cash(market):
    inst = market.instruments().set_index("tradingsymbol")
    assert inst.loc["LIQUIDBEES", "instrument_type"] == "EQ"
    assert inst.loc["LIQUIDBEES", "sector"] == "Unclassified"  # an ETF has no NSE industry
    close = market.close_prices(["LIQUIDBEES", "SUZLON", "HDFCBANK"])
    assert close["LIQUIDBEES"].between(990, 1010).all()
    vol = close.pct_change().std() * np.sqrt(252)
    assert vol["LIQUIDBEES"] < 0.01
    assert vol["SUZLON"] > 1.5 * vol["HDFCBANK"]


def test_price_levels_are_plausible(market):
    last = market.close_prices(["TCS", "RELIANCE", "HDFCBANK", "MARUTI", "ITC"], end=DEMO_AS_OF).iloc[-1]
    assert 2500 < last["TCS"] < 4000
    assert 1200 < last["RELIANCE"] < 1800
    assert 800 < last["HDFCBANK"] < 1200
    assert 12000 < last["MARUTI"] < 20000
    assert 300 < last["ITC"] < 500


# -- calendar ---------------------------------------------------------------------------------

def test_more_than_ten_years_of_trading_days(market):
    days = market.trading_days()
    assert days[0] <= dt.date(2014, 1, 3) and days[-1] == dt.date(2026, 12, 31)
    assert (days[-1] - days[0]).days > 3650
    assert len(days) > 2500
    assert market.last_date() == dt.date(2026, 12, 31)
    assert DEMO_AS_OF in days and DEMO_AS_OF.weekday() == 4


def test_no_weekends_or_holidays(market):
    days = market.trading_days()
    assert all(d.weekday() < 5 for d in days)
    holidays = set().union(*(nse_holidays(y) for y in range(2014, 2027)))
    assert not holidays.intersection(days)
    for fixed in (dt.date(2024, 1, 26), dt.date(2023, 5, 1), dt.date(2022, 8, 15), dt.date(2023, 10, 2),
                  dt.date(2024, 12, 25), dt.date(2024, 3, 29)):  # 2024-03-29 Good Friday
        assert fixed.weekday() < 5 and fixed not in days
    assert len(set(days)) == len(days) and days == sorted(days)
    # a few extra holidays a year beyond the fixed five
    for year in range(2014, 2027):
        weekdays = [d for d in nse_holidays(year) if d.weekday() < 5]
        assert len(weekdays) >= 4


# -- bars -------------------------------------------------------------------------------------

def test_ohlc_consistency_over_all_bars(panel):
    o, h, lo, c, v = (panel[k].to_numpy() for k in ("open", "high", "low", "close", "volume"))
    assert o.shape[1] >= 45 and not np.isnan(c).any()
    assert (lo <= np.minimum(o, c)).all()
    assert (np.maximum(o, c) <= h).all()
    assert (lo > 0).all()
    for arr in (o, h, lo, c):
        ticks = arr * 20
        assert np.abs(ticks - np.round(ticks)).max() < 1e-6


def test_volume_positive_integers_and_higher_when_stressed(market, panel):
    vol = panel["volume"]
    assert all(np.issubdtype(t, np.integer) for t in vol.dtypes)
    assert (vol.to_numpy() > 0).all()
    regimes = market.regimes()
    assert set(regimes) == {"calm", "stressed"}
    stressed = (regimes == "stressed").to_numpy()
    rel = vol["HDFCBANK"].to_numpy()
    assert np.median(rel[stressed]) > np.median(rel[~stressed])
    market_abs = np.abs(panel["close"]["NIFTY 50"].pct_change().to_numpy()[1:])
    assert market_abs[stressed[1:]].mean() > 1.5 * market_abs[~stressed[1:]].mean()


def test_overnight_gaps_exist(panel):
    gap = (panel["open"] / panel["close"].shift(1) - 1).iloc[1:]
    assert (gap.abs() > 0).to_numpy().mean() > 0.5
    assert (gap["SUZLON"].abs() > 0.05).sum() >= 10
    assert (gap.drop(columns=["LIQUIDBEES"]).abs() > 0.03).to_numpy().sum() > 100


def test_sector_correlation_within_higher_than_across(market):
    inst = market.instruments()
    stocks = inst[inst["cap"] == "large"]
    close = market.close_prices(stocks["tradingsymbol"].tolist())
    corr = close.pct_change().iloc[1:].corr().to_numpy()
    sector = stocks["sector"].to_numpy()
    within, across = [], []
    for i, j in itertools.combinations(range(len(sector)), 2):
        (within if sector[i] == sector[j] else across).append(corr[i, j])
    assert np.mean(within) > np.mean(across) + 0.1
    assert np.mean(across) > 0.1  # the shared market factor


def test_every_frame_is_marked_synthetic(market):
    frames = [market.instruments(), market.close_prices(["TCS"]), *market.ohlcv(["TCS"]).values(),
              *market.candles(["TCS", "NIFTY 50"]).values()]
    for frame in frames:
        assert frame.attrs["synthetic"] is True and frame.attrs["provider"] == "demo"


def test_candles_are_kite_shaped_and_filter_inclusively(market):
    frames = market.candles(["INFY", "NIFTY 50"], "day", "2026-11-16", DEMO_AS_OF)
    assert Candles == CANDLE_COLUMNS == ["date", "open", "high", "low", "close", "volume"]
    frame = frames["INFY"]
    assert list(frame.columns) == CANDLE_COLUMNS
    assert str(frame["date"].dt.tz) == "Asia/Kolkata"
    assert [d.date() for d in frame["date"]] == [dt.date(2026, 11, d) for d in (16, 17, 18, 19, 20)]
    one = market.candles("INFY", start=DEMO_AS_OF, end=DEMO_AS_OF)["INFY"]
    assert len(one) == 1 and one["date"].iloc[0].date() == DEMO_AS_OF
    full = market.candles(["INFY"])["INFY"]
    assert full["date"].iloc[-1].date() == market.last_date()


def test_wide_frames_line_up(market):
    close = market.close_prices(["TCS", "INFY"], start="2025-01-01", end="2025-12-31")
    assert list(close.columns) == ["TCS", "INFY"]
    assert close.index.name == "date" and str(close.index.tz) == "Asia/Kolkata"
    assert close.index[0].date() >= dt.date(2025, 1, 1) and close.index[-1].date() <= dt.date(2025, 12, 31)
    panel = market.ohlcv(["TCS", "INFY"], start="2025-01-01", end="2025-12-31")
    assert set(panel) == {"open", "high", "low", "close", "volume"}
    pd.testing.assert_frame_equal(panel["close"], close)
    candles = market.candles(["TCS"], start="2025-01-01", end="2025-12-31")["TCS"]
    assert np.array_equal(candles["close"].to_numpy(), close["TCS"].to_numpy())


def test_returned_frames_do_not_alias_the_cache(market):
    close = market.close_prices(["TCS"])
    close.iloc[:, 0] = -1.0
    assert (market.close_prices(["TCS"]).to_numpy() > 0).all()


def test_quote_is_kite_shaped(market):
    quotes = market.quote(["tcs", "NSE:NIFTY 50"])
    assert set(quotes) == {"NSE:TCS", "NSE:NIFTY 50"}
    q = quotes["NSE:TCS"]
    close = market.close_prices(["TCS"], end=DEMO_AS_OF)["TCS"]
    assert q["last_price"] == close.iloc[-1]
    assert q["ohlc"]["close"] == close.iloc[-2]
    assert q["net_change"] == pytest.approx(close.iloc[-1] - close.iloc[-2])
    assert set(q["ohlc"]) == {"open", "high", "low", "close"}
    assert q["instrument_token"] == int(market.instruments().set_index("tradingsymbol").loc["TCS", "instrument_token"])
    assert q["timestamp"].date() == DEMO_AS_OF and q["volume"] > 0
    sunday = market.quote(["TCS"], as_of="2026-11-22")["NSE:TCS"]
    assert sunday["last_price"] == q["last_price"]
    earlier = market.quote(["TCS"], as_of=dt.date(2025, 6, 2))["NSE:TCS"]
    assert earlier["timestamp"].date() == dt.date(2025, 6, 2)
    with pytest.raises(InputError, match="outside"):
        market.quote(["TCS"], as_of="2030-01-01")


# -- errors -----------------------------------------------------------------------------------

def test_unknown_symbol_suggests_close_matches(market):
    with pytest.raises(InputError) as err:
        market.close_prices(["RELAINCE", "TCS"])
    assert "RELAINCE" in str(err.value) and "RELIANCE" in str(err.value)
    assert err.value.fix and "NSE" in err.value.fix
    assert err.value.details["suggestions"]["RELAINCE"][0] == "RELIANCE"
    with pytest.raises(InputError, match="INFY"):
        market.candles(["INFOSIS"])


def test_resolve_symbols_normalises(symbols):
    assert resolve_symbols([" nse:reliance ", "tcs", "TCS", "nifty50", "m&m"], symbols) == \
        ["RELIANCE", "TCS", "NIFTY 50", "M&M"]
    assert resolve_symbols("infy, wipro", symbols) == ["INFY", "WIPRO"]
    with pytest.raises(InputError):
        resolve_symbols([], symbols)
    with pytest.raises(InputError, match="XYZQ"):
        resolve_symbols(["TCS", "XYZQ"], symbols)


def test_intraday_interval_is_refused(market):
    with pytest.raises(InputError) as err:
        market.candles(["TCS"], interval="minute")
    assert '"day"' in str(err.value) and "demo" in str(err.value)


def test_bad_dates(market):
    for bad in ("2026-13-01", "05/11/2026", "31/02/2026", "yesterday", "", 20261120):  # 20/11/2026 is read
        with pytest.raises(InputError) as err:
            parse_date(bad, field="start")
        assert "start" in str(err.value) and "YYYY-MM-DD" in str(err.value)
    with pytest.raises(InputError, match="end"):
        market.close_prices(["TCS"], end="2026-02-30")
    with pytest.raises(InputError, match="after end"):
        market.close_prices(["TCS"], start="2026-06-01", end="2026-01-01")


def test_parse_date_accepts_common_forms():
    day = dt.date(2026, 11, 20)
    assert parse_date(day) == day
    assert parse_date(dt.datetime(2026, 11, 20, 9, 15)) == day
    assert parse_date("2026-11-20") == day and parse_date(" 2026-11-20 ") == day
    assert parse_date("2026-11-20T00:00:00+05:30") == day
    assert parse_date(pd.Timestamp("2026-11-19T20:00:00Z")) == day  # 01:30 IST next day
    assert parse_date(np.datetime64("2026-11-20")) == day


def test_get_provider(monkeypatch, tmp_path):
    assert isinstance(get_provider(), DemoMarketData)
    assert isinstance(get_provider("DEMO"), DemoMarketData)
    monkeypatch.delenv("KITE_API_KEY", raising=False)
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path))
    with pytest.raises(ProviderError, match="qlwork kite login"):
        get_provider("kite")
    with pytest.raises(InputError, match="demo"):
        get_provider("bloomberg")
