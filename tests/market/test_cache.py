"""CandleCache on its own, and the Kite provider's use of it against the fake Kite server."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest

from qlwork.market.cache import CandleCache

D = dt.date
HIST = "/instruments/historical/"


def _frame(stamps, close0=100.0):
    dates = pd.DatetimeIndex(pd.to_datetime(stamps)).tz_localize("Asia/Kolkata")
    n = len(dates)
    return pd.DataFrame({"date": dates, "open": [close0] * n, "high": [close0 + 1] * n, "low": [close0 - 1] * n,
                         "close": [close0 + i for i in range(n)], "volume": [1000 + i for i in range(n)]})


def test_missing_runs_and_coverage(tmp_path):
    cache = CandleCache(tmp_path / "c.sqlite")
    assert cache.missing("kite", 1, "day", D(2026, 1, 1), D(2026, 1, 10)) == [(D(2026, 1, 1), D(2026, 1, 10))]
    cache.store("kite", 1, "day", D(2026, 1, 3), D(2026, 1, 6), _frame(["2026-01-05", "2026-01-06"]),
                complete_through=D(2026, 1, 5))
    assert cache.missing("kite", 1, "day", D(2026, 1, 1), D(2026, 1, 10)) == [
        (D(2026, 1, 1), D(2026, 1, 2)), (D(2026, 1, 6), D(2026, 1, 10))]  # the 6th is "today": not covered
    assert cache.missing("kite", 1, "day", D(2026, 1, 3), D(2026, 1, 5)) == []
    assert cache.missing("kite", 2, "day", D(2026, 1, 3), D(2026, 1, 5)) != []  # keyed by token
    assert cache.missing("kite", 1, "minute", D(2026, 1, 3), D(2026, 1, 5)) != []  # and interval
    assert cache.missing("demo", 1, "day", D(2026, 1, 3), D(2026, 1, 5)) != []  # and provider


def test_store_load_roundtrip_and_replace(tmp_path):
    cache = CandleCache(tmp_path / "c.sqlite")
    bars = _frame(["2026-01-05 09:15", "2026-01-05 09:16", "2026-01-06 09:15", "2026-01-09 09:15"])
    n = cache.store("kite", 7, "minute", D(2026, 1, 5), D(2026, 1, 6), bars, complete_through=D(2026, 1, 6))
    assert n == 3  # the bar outside the stored day range is ignored
    got = cache.load("kite", 7, "minute", D(2026, 1, 1), D(2026, 1, 31))
    assert list(got.columns) == ["date", "open", "high", "low", "close", "volume"]
    assert str(got["date"].dt.tz) == "Asia/Kolkata"
    assert list(got["date"]) == list(bars["date"][:3])
    assert got["close"].tolist() == [100.0, 101.0, 102.0]
    # re-storing a day replaces its bars (a refreshed partial bar, or a bar that went away)
    cache.store("kite", 7, "minute", D(2026, 1, 6), D(2026, 1, 6), _frame(["2026-01-06 09:15"], 200.0),
                complete_through=D(2026, 1, 6))
    got = cache.load("kite", 7, "minute", D(2026, 1, 5), D(2026, 1, 6))
    assert got["close"].tolist() == [100.0, 101.0, 200.0]
    assert cache.summary()["bars"] == 3
    cache.clear("kite")
    assert cache.summary() == {"bars": 0, "covered_days": 0, "path": str(tmp_path / "c.sqlite")}
    assert cache.load("kite", 7, "minute", D(2026, 1, 5), D(2026, 1, 6)).empty


def test_unusable_cache_file_is_a_clear_error(tmp_path):
    from qlwork.errors import ProviderError

    path = tmp_path / "bad.sqlite"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(ProviderError, match="Delete"):
        CandleCache(path)


def test_rerun_makes_zero_historical_requests(make_kite, fake_kite, kite_env):
    symbols = ["TCS", "INFY", "NIFTY 50"]
    first = make_kite().candles(symbols, start="2024-01-01", end="2026-11-19")
    n_first = fake_kite.count(HIST)
    assert n_first == 3
    fake_kite.reset_log()
    again = make_kite().candles(symbols, start="2024-01-01", end="2026-11-19")  # fresh provider, same day
    assert fake_kite.count("/") == 0  # no historical requests, and the instruments dump came from disk
    for s in symbols:
        pd.testing.assert_frame_equal(first[s], again[s], check_dtype=False)
    # a wider window fetches only the missing days
    make_kite().candles(["TCS"], start="2023-06-01", end="2026-11-19")
    assert [(r.query["from"][0], r.query["to"][0]) for r in fake_kite.log(HIST)] == [
        ("2023-06-01 00:00:00", "2023-12-31 23:59:59")]
    assert (kite_env["home"] / "cache" / "candles.sqlite").exists()


def test_todays_partial_bar_is_always_refreshed(make_kite, fake_kite):
    kite = make_kite()
    one = kite.candles(["TCS"], start="2026-10-01")["TCS"]  # end defaults to today (2026-11-20)
    fake_kite.reset_log()
    two = make_kite().candles(["TCS"], start="2026-10-01")["TCS"]
    assert [(r.query["from"][0], r.query["to"][0]) for r in fake_kite.log(HIST)] == [
        ("2026-11-20 00:00:00", "2026-11-20 23:59:59")]
    assert one["date"].iloc[-1].date() == two["date"].iloc[-1].date() == D(2026, 11, 20)
    assert two["close"].iloc[-1] == pytest.approx(one["close"].iloc[-1] + 0.05)  # the moved partial bar
    pd.testing.assert_frame_equal(one.iloc[:-1], two.iloc[:-1], check_dtype=False)
    assert len(two) == len(one) and two["date"].is_unique


def test_cache_disabled_writes_nothing(make_kite, fake_kite, kite_env):
    kite = make_kite(cache=False)
    kite.candles(["TCS"], start="2026-11-01", end="2026-11-19")
    kite.candles(["TCS"], start="2026-11-01", end="2026-11-19")
    assert fake_kite.count(HIST) == 2
    assert not (kite_env["home"] / "cache" / "candles.sqlite").exists()
