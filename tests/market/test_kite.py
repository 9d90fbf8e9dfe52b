"""KiteMarketData through the real kiteconnect client against the local fake Kite server."""

from __future__ import annotations

import datetime as dt
import threading
import time

import pandas as pd
import pytest

from qlwork.errors import InputError, ProviderError
from qlwork.market import get_provider
from qlwork.market import kite as kite_mod
from qlwork.market.base import MarketData
from qlwork.market.demo import DemoMarketData
from qlwork.market.kite import KiteMarketData, chunk_ranges
from qlwork.market.kite_client import ReadOnlyViolation
from qlwork.market.ratelimit import RateLimiter

HIST = "/instruments/historical/"
D = dt.date


def _ranges(fake, prefix=HIST):
    """The (from, to) of each historical request, sorted: chunks are fetched concurrently."""
    return sorted((r.query["from"][0], r.query["to"][0]) for r in fake.log(prefix))


def test_chunk_ranges_respect_caps():
    assert chunk_ranges(D(2021, 11, 21), D(2026, 11, 20), "day") == [(D(2021, 11, 21), D(2026, 11, 20))]
    assert chunk_ranges(D(2015, 1, 1), D(2025, 12, 31), "day") == [
        (D(2015, 1, 1), D(2020, 6, 22)), (D(2020, 6, 23), D(2025, 12, 13)), (D(2025, 12, 14), D(2025, 12, 31))]
    assert chunk_ranges(D(2026, 8, 13), D(2026, 11, 20), "minute") == [
        (D(2026, 8, 13), D(2026, 10, 11)), (D(2026, 10, 12), D(2026, 11, 20))]
    for interval, cap in kite_mod.MAX_DAYS.items():
        chunks = chunk_ranges(D(2020, 1, 1), D(2026, 1, 1), interval)
        assert all((b - a).days + 1 <= cap for a, b in chunks)
        assert chunks[0][0] == D(2020, 1, 1) and chunks[-1][1] == D(2026, 1, 1)
        assert all((nxt[0] - prev[1]).days == 1 for prev, nxt in zip(chunks, chunks[1:]))


def test_provider_basics(kite):
    assert isinstance(kite, MarketData)
    assert kite.name == "kite" and kite.synthetic is False
    meta = kite.metadata()
    assert meta["synthetic"] is False and meta["currency"] == "INR" and meta["timezone"] == "Asia/Kolkata"
    inst = kite.instruments()
    assert inst.attrs["provider"] == "kite" and inst.attrs["synthetic"] is False
    assert kite.instrument_tokens(["nifty50", "NSE:TCS"]) == {"NIFTY 50": 256265, "TCS": 384001}
    assert kite.sectors(["TCS", "ZOMATO", "RELINFRA", "NIFTY 50"]) == {
        "TCS": "Information Technology", "ZOMATO": "Consumer Services", "RELINFRA": "Unclassified", "NIFTY 50": "Index"}
    assert kite.last_date() == D(2026, 11, 20)


def test_five_year_daily_is_one_request_and_eleven_years_three(kite, fake_kite):
    res = kite.candles("TCS", start="2021-11-21", end="2026-11-20")
    assert _ranges(fake_kite) == [("2021-11-21 00:00:00", "2026-11-20 23:59:59")]
    fake_kite.reset_log()
    frame = kite.candles("INFY", start="2015-01-01", end="2025-12-31", interval="day")["INFY"]
    assert _ranges(fake_kite) == [("2015-01-01 00:00:00", "2020-06-22 23:59:59"),
                                  ("2020-06-23 00:00:00", "2025-12-13 23:59:59"),
                                  ("2025-12-14 00:00:00", "2025-12-31 23:59:59")]
    demo = DemoMarketData().candles("INFY", start="2015-01-01", end="2025-12-31")["INFY"]
    assert frame["date"].is_unique and frame["date"].is_monotonic_increasing
    assert list(frame["date"].dt.date) == list(demo["date"].dt.date)
    assert str(frame["date"].dt.tz) == "Asia/Kolkata" and (frame["date"].dt.hour == 0).all()
    assert list(frame.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert frame["close"].to_numpy() == pytest.approx(demo["close"].to_numpy())
    assert len(res["TCS"]) > 1200


def test_hundred_day_minute_request_is_two_chunks(make_kite, fake_kite):
    kite = make_kite(timeout=15.0)  # 15,000 minute bars per chunk: slow to generate on a loaded machine
    frame = kite.candles(["INFY"], "minute", start="2026-08-13", end="2026-11-20")["INFY"]
    assert _ranges(fake_kite) == [("2026-08-13 00:00:00", "2026-10-11 23:59:59"),
                                  ("2026-10-12 00:00:00", "2026-11-20 23:59:59")]
    days = DemoMarketData().trading_days("2026-08-13", "2026-11-20")
    assert frame["date"].is_unique and frame["date"].is_monotonic_increasing
    assert len(frame) == 375 * len(days)
    assert frame["date"].iloc[0] == pd.Timestamp("2026-08-13 09:15", tz="Asia/Kolkata")
    assert frame["date"].iloc[-1] == pd.Timestamp("2026-11-20 15:29", tz="Asia/Kolkata")


def test_rate_limit_holds_across_four_threads(make_kite, fake_kite):
    shared = RateLimiter()
    providers = [make_kite(limiter=shared, cache=False) for _ in range(2)]
    symbols = ["TCS", "INFY", "WIPRO", "SBIN", "ITC", "LT", "TITAN", "CIPLA", "ONGC"]
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            mine = symbols[i::4]
            providers[i % 2].candles(mine, start="2026-11-01", end="2026-11-19")
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    started = time.monotonic()
    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    elapsed = time.monotonic() - started
    assert not errors
    assert fake_kite.count(HIST) == 9
    assert fake_kite.max_in_window(HIST, 1.0) <= 3  # measured on the server's clock
    assert elapsed >= 2.0  # 9 requests at 3/s: the third window opens after two full seconds
    # quotes: 1 request per second
    providers[0].ltp(["TCS"])
    providers[1].ohlc(["INFY"])
    assert fake_kite.max_in_window("/quote", 1.0) == 1


def test_quote_ltp_ohlc_batched(make_kite, fake_kite, monkeypatch):
    kite = make_kite(limiter=RateLimiter({"quote": 100, "historical": 3, "other": 10}))
    symbols = list(kite.instruments()["tradingsymbol"])  # 60 symbols including NIFTY 50
    monkeypatch.setitem(kite_mod.BATCH, "quote", 25)
    monkeypatch.setitem(kite_mod.BATCH, "ltp", 50)
    quotes = kite.quote(symbols)
    assert len(quotes) == len(symbols) and not quotes.failures
    assert [len(r.query["i"]) for r in fake_kite.log("/quote") if r.path == "/quote"] == [25, 25, len(symbols) - 50]
    q = quotes["NSE:TCS"]
    assert {"instrument_token", "last_price", "ohlc", "volume", "net_change", "timestamp"} <= set(q)
    assert kite.ltp(symbols)["NSE:NIFTY 50"]["instrument_token"] == 256265
    assert [len(r.query["i"]) for r in fake_kite.log("/quote/ltp")] == [50, len(symbols) - 50]
    assert set(kite.ohlc(["TCS", "NIFTY 50"])) == {"NSE:TCS", "NSE:NIFTY 50"}
    assert [len(r.query["i"]) for r in fake_kite.log("/quote/ohlc")] == [2]


def test_429_then_success(kite, fake_kite):
    fake_kite.fail("429", HIST, times=2)
    frame = kite.candles("TCS", start="2026-11-01", end="2026-11-19")["TCS"]
    assert len(frame) > 5
    assert [r.status for r in fake_kite.log(HIST)] == [429, 429, 200]


def test_429_gives_up_after_bounded_attempts(make_kite, fake_kite):
    fake_kite.fail("429", HIST, times=50)
    with pytest.raises(ProviderError, match="429") as info:
        make_kite(max_attempts=3).candles("TCS", start="2026-11-01", end="2026-11-19")
    assert fake_kite.count(HIST) == 3
    assert "retry" in info.value.fix.lower()


@pytest.mark.parametrize("kind, error, pattern", [
    ("500", ProviderError, "HTTP 500"),
    ("html", ProviderError, "could not read"),
    ("drop", ProviderError, "Could not reach Kite"),
    ("permission", ProviderError, "denied permission"),
    ("input", InputError, "refused the request"),
    ("token", ProviderError, "qlwork kite login"),
])
def test_errors_are_mapped(kite, fake_kite, kind, error, pattern):
    fake_kite.fail(kind, HIST, times=5)
    with pytest.raises(error, match=pattern) as info:
        kite.candles("TCS", start="2026-11-01", end="2026-11-19")
    assert info.value.fix
    assert info.value.__context__ is None and info.value.__cause__ is None


def test_timeout_and_refused_connection(make_kite, fake_kite):
    fake_kite.fail("slow", HIST, times=4, delay=0.8)
    with pytest.raises(ProviderError, match="did not answer in time") as info:
        make_kite(timeout=0.2).candles("TCS", start="2026-11-01", end="2026-11-19")
    assert fake_kite.count(HIST) == 4 and info.value.details["attempts"] == 4  # timeouts are retried
    dead = make_kite(root="http://127.0.0.1:9", cache=False)  # instruments come from the day's CSV cache
    with pytest.raises(ProviderError, match="Could not reach Kite"):
        dead.candles("TCS", start="2026-11-01", end="2026-11-19")


def test_partial_failure_keeps_good_symbols(kite, fake_kite):
    bad = kite.instrument_tokens("INFY")["INFY"]
    fake_kite.fail("500", f"{HIST}{bad}/", times=5)
    res = kite.candles(["TCS", "INFY", "RELIANCE"], start="2026-11-01", end="2026-11-19")
    assert set(res) == {"TCS", "RELIANCE"}
    assert set(res.failures) == {"INFY"} and res.failures["INFY"]["type"] == "ProviderError"
    fake_kite.fail("500", f"{HIST}{bad}/", times=5)
    wide = kite.close_prices(["TCS", "INFY"], start="2026-11-01", end="2026-11-19")
    assert list(wide.columns) == ["TCS"] and set(wide.attrs["failures"]) == {"INFY"}
    fake_kite.fail("500", HIST, times=10)
    with pytest.raises(ProviderError, match="failed for all 2 symbols") as info:
        kite.candles(["WIPRO", "SBIN"], start="2026-11-01", end="2026-11-19")
    assert set(info.value.details["failures"]) == {"WIPRO", "SBIN"}


def test_unknown_symbol_suggestions(kite):
    with pytest.raises(InputError, match="RELIANCE") as info:
        kite.candles(["RELIANC", "TCS"])
    assert "RELIANCE" in info.value.details["suggestions"]["RELIANC"]
    with pytest.raises(InputError, match="not a known NSE symbol"):
        kite.quote("HDFCBNK")


def test_holdings_to_portfolio(kite, fake_kite, kite_env):
    port = kite.portfolio(name="my-kite")
    assert port.name == "my-kite" and port.source == "kite:holdings"
    assert port.symbols == ["RELIANCE", "TCS", "HDFCBANK", "INFY", "ZOMATO", "ITC"]
    assert dict(zip(port.symbols, port.quantities))["ITC"] == 50  # T1 shares count
    val = port.valuation(sectors=kite.sectors(port.symbols))
    assert val["weight"].sum() == pytest.approx(1.0)
    assert val.set_index("symbol").loc["ZOMATO", "sector"] == "Consumer Services"  # NSE industry, not in the demo
    dump = kite_env["home"] / "cache" / "kite" / "instruments-2026-11-20.csv"
    assert dump.exists() and fake_kite.count("/instruments/NSE") == 1
    make = type(kite)  # a new provider the same day reads the dump from disk
    make(root=fake_kite.url, clock=lambda: kite_env["now"]).instruments()
    assert fake_kite.count("/instruments/NSE") == 1


def test_read_only_across_full_workflow(fake_kite, kite_env, make_kite):
    from qlwork.market.kite_auth import token_status

    kite = make_kite()
    kite.profile(), kite.holdings(), kite.portfolio(), kite.instruments(), kite.last_date()
    kite.candles(["TCS", "NIFTY 50"], "15minute", start="2026-11-10")
    kite.close_prices(["TCS", "INFY"], start="2026-01-01"), kite.ohlcv(["TCS"], start="2026-10-01")
    kite.quote(["TCS"]), kite.ltp(["TCS"]), kite.ohlc(["TCS"]), kite.sectors(["TCS"]), token_status()
    # a programming error reaching the private client is refused before anything is sent
    raw = kite._client._ReadOnlyKite__kite
    before = fake_kite.count("/")
    with pytest.raises(ReadOnlyViolation):
        raw.place_order(variety="regular", exchange="NSE", tradingsymbol="TCS", transaction_type="BUY",
                        quantity=1, product="CNC", order_type="MARKET")
    with pytest.raises(ReadOnlyViolation):
        raw.get_gtts()
    assert fake_kite.count("/") == before
    paths = {(r.method, r.path) for r in fake_kite.log("/")}
    forbidden = ("/orders", "/gtt", "/funds", "/margins", "/portfolio/positions", "/mf", "/trades", "/alerts")
    assert not [p for p in paths if p[1].startswith(forbidden)]
    assert {m for m, p in paths if p != "/session/token"} == {"GET"}
    public = [n for n in dir(kite) if not n.startswith("_")]
    assert not [n for n in public if any(w in n.lower() for w in ("order", "gtt", "fund", "margin", "transfer"))]
    from kiteconnect import KiteConnect

    assert not [n for n in public if isinstance(getattr(kite, n, None), KiteConnect)]
    assert not [n for n in dir(kite._client) if not n.startswith("_")
                and isinstance(getattr(kite._client, n), KiteConnect)]


def test_get_provider_kite(fake_kite, logged_in, kite_env):
    market = get_provider("kite", root=fake_kite.url, clock=lambda: kite_env["now"], cache=False)
    assert isinstance(market, KiteMarketData)
    assert market.close_prices(["TCS"], start="2026-11-16", end="2026-11-19").shape == (4, 1)


def test_rate_limiter_counts_in_flight_requests():
    limiter = RateLimiter({"x": 2, "other": 10}, per=0.2)
    starts: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            with limiter.slot("x"):
                with lock:
                    starts.append(time.monotonic())
                time.sleep(0.01)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    starts.sort()
    assert len(starts) == 9
    assert all(b - a >= 0.2 for a, b in zip(starts, starts[2:]))  # any 3 consecutive span >= per
    assert limiter.stats()["taken"]["x"] == 9
