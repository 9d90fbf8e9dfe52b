import numpy as np
import pandas as pd
import pytest

talib = pytest.importorskip("talib")

from qlwork.analytics import _compiled, atr, bbands, ema, macd, indicators, rsi, sma
from qlwork.errors import InputError

TOL = 1e-9


@pytest.fixture(autouse=True, params=["compiled", "numpy"])
def kernel(request, monkeypatch):
    """Run every test on both the numba kernel and the pure-NumPy path."""
    if request.param == "compiled" and _compiled.rsi_wilder is None:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(indicators, "USE_COMPILED", request.param == "compiled")
    return request.param


def per_column(fn, *arrays):
    """Run a TA-Lib function column by column; tuples are stacked per output."""
    cols = [fn(*(np.ascontiguousarray(a[:, j]) for a in arrays)) for j in range(arrays[0].shape[1])]
    if isinstance(cols[0], tuple):
        return tuple(np.column_stack([c[i] for c in cols]) for i in range(len(cols[0])))
    return np.column_stack(cols)


def assert_matches(ours, ref):
    ours, ref = np.asarray(ours), np.asarray(ref)
    assert ours.shape == ref.shape
    np.testing.assert_array_equal(np.isnan(ours), np.isnan(ref))  # same warm-up
    assert np.any(~np.isnan(ref))
    assert np.nanmax(np.abs(ours - ref)) <= TOL


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_1d_random_walks_match_talib(make_walk, seed):
    x = make_walk(700, seed=seed)
    assert_matches(sma(x, 20), talib.SMA(x, 20))
    assert_matches(sma(x, 200), talib.SMA(x, 200))
    assert_matches(ema(x, 10), talib.EMA(x, 10))
    assert_matches(rsi(x, 14), talib.RSI(x, 14))
    assert_matches(rsi(x, 2), talib.RSI(x, 2))
    for ours, ref in zip(macd(x), talib.MACD(x, 12, 26, 9)):
        assert_matches(ours, ref)
    for ours, ref in zip(bbands(x, 20, 2.0), talib.BBANDS(x, 20, 2.0, 2.0, 0)):
        assert_matches(ours, ref)


def test_2d_forty_symbols_match_talib(walk_2d, ohlc_2d):
    x = walk_2d
    assert_matches(sma(x, 50), per_column(lambda c: talib.SMA(c, 50), x))
    assert_matches(ema(x, 26), per_column(lambda c: talib.EMA(c, 26), x))
    assert_matches(rsi(x), per_column(lambda c: talib.RSI(c, 14), x))
    for ours, ref in zip(macd(x), per_column(talib.MACD, x)):
        assert_matches(ours, ref)
    for ours, ref in zip(bbands(x), per_column(lambda c: talib.BBANDS(c, 20, 2.0, 2.0, 0), x)):
        assert_matches(ours, ref)
    high, low, close = ohlc_2d
    assert_matches(atr(high, low, close), per_column(lambda h, l, c: talib.ATR(h, l, c, 14), high, low, close))


def test_warmup_positions_follow_talib(make_walk):
    x = make_walk(100)
    assert np.isnan(rsi(x)[:14]).all() and not np.isnan(rsi(x)[14])
    line, sig, hist = macd(x)
    assert np.isnan(hist[:33]).all() and not np.isnan(hist[33:]).any()
    assert np.isnan(ema(x, 10)[:9]).all() and not np.isnan(ema(x, 10)[9])


def test_constant_series_rsi_is_zero_like_talib():
    x = np.full(40, 50.0)
    np.testing.assert_array_equal(rsi(x)[14:], talib.RSI(x, 14)[14:])
    assert np.all(rsi(x)[14:] == 0.0)


def test_leading_nan_column_warms_up_from_first_valid(walk_2d, ohlc_2d):
    x = walk_2d.copy()
    x[:60, 5] = np.nan  # symbol listed on day 60
    late = walk_2d[60:, 5]
    assert_matches(rsi(x)[60:, 5], talib.RSI(late, 14))
    assert_matches(ema(x, 12)[60:, 5], talib.EMA(late, 12))
    assert_matches(sma(x, 30)[60:, 5], talib.SMA(late, 30))
    for ours, ref in zip(macd(x), talib.MACD(late)):
        assert_matches(ours[60:, 5], ref)
    for ours, ref in zip(bbands(x), talib.BBANDS(late, 20, 2.0, 2.0, 0)):
        assert_matches(ours[60:, 5], ref)
    assert np.isnan(rsi(x)[:60, 5]).all()
    # the other columns are unaffected by the late listing
    np.testing.assert_allclose(np.delete(rsi(x), 5, axis=1), np.delete(rsi(walk_2d), 5, axis=1), atol=TOL)
    high, low, close = (a.copy() for a in ohlc_2d)
    close[:30, 0] = np.nan
    assert_matches(atr(high, low, close)[30:, 0], talib.ATR(high[30:, 0], low[30:, 0], ohlc_2d[2][30:, 0], 14))


def test_interior_gap_policy_carry_forward_and_nan_on_gap_day(make_walk):
    x = make_walk(300, seed=3)
    gapped = x.copy()
    gapped[150:153] = np.nan
    carried = x.copy()
    carried[150:153] = x[149]  # policy: last price carried forward for the calculation
    for fn in (lambda a: rsi(a), lambda a: ema(a, 20), lambda a: sma(a, 20), lambda a: macd(a)[2]):
        ours, ref = fn(gapped), fn(carried)
        assert np.isnan(ours[150:153]).all()  # NaN on the gap days
        assert np.isfinite(ours[153:]).all()  # the gap does not poison the rest
        np.testing.assert_allclose(ours[153:], ref[153:], atol=TOL)
    assert_matches(rsi(carried), talib.RSI(carried, 14))


def test_pandas_inputs_and_shapes(walk_2d):
    df = pd.DataFrame(walk_2d[:, :3], columns=["A", "B", "C"])
    assert rsi(df).shape == (500, 3)
    assert rsi(df["A"]).shape == (500,)
    np.testing.assert_allclose(rsi(df["A"]), rsi(walk_2d[:, 0]), equal_nan=True)


@pytest.mark.parametrize(
    "call",
    [
        lambda: rsi(np.ones((3, 3, 3))),  # wrong ndim
        lambda: rsi(np.arange(10.0)),  # too short for n=14
        lambda: sma(np.full(50, np.nan), 5),  # nothing finite
        lambda: ema(np.arange(50.0), 0),  # bad period
        lambda: macd(np.arange(100.0), fast=26, slow=12),  # fast >= slow
        lambda: atr(np.ones(30), np.ones(30), np.ones((30, 2))),  # shape mismatch
        lambda: rsi(["a", "b"]),  # not numeric
    ],
)
def test_bad_input_raises_input_error(call):
    with pytest.raises(InputError):
        call()
