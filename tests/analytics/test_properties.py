import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from qlwork.analytics import bbands, drawdown, hhi, max_drawdown, rsi, sector_weights
from qlwork.analytics.health import assess_health

finite_returns = st.floats(-0.99, 2.0, allow_nan=False)
prices = arrays(np.float64, st.integers(16, 80), elements=st.floats(0.5, 1e4, allow_nan=False))


@settings(max_examples=60, deadline=None)
@given(prices)
def test_rsi_in_0_100(p):
    out = rsi(p)
    vals = out[~np.isnan(out)]
    assert vals.size == p.size - 14
    assert np.all((vals >= 0) & (vals <= 100))


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 60), st.integers(1, 4)), elements=finite_returns))
def test_drawdown_in_minus_one_zero(r):
    dd = drawdown(r)
    assert dd.shape == r.shape
    assert np.all((dd >= -1) & (dd <= 0))
    np.testing.assert_allclose(max_drawdown(r), dd.min(axis=0), atol=1e-12)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(20, 80), elements=st.floats(1.0, 1e4, allow_nan=False)),
       st.floats(0.0, 4.0))
def test_bbands_ordered(p, k):
    upper, mid, lower = bbands(p, 20, k)
    ok = ~np.isnan(mid)
    assert ok.sum() == p.size - 19
    tol = 1e-9 * np.abs(mid[ok])
    assert np.all(upper[ok] >= mid[ok] - tol) and np.all(mid[ok] >= lower[ok] - tol)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 30), elements=st.floats(0.0, 1e6, allow_nan=False)).filter(lambda w: w.sum() > 1e-6),
       st.floats(1e-3, 1e3))
def test_health_weights_are_normalised(w, scale):
    sectors = [f"S{i % 3}" for i in range(w.size)]
    secs = sector_weights(w, sectors)
    assert abs(sum(secs.values()) - 1.0) < 1e-9
    h = hhi(w)
    assert 1.0 / w.size - 1e-12 <= h <= 1.0 + 1e-12
    assert abs(hhi(w * scale) - h) < 1e-12  # scale-free: weights are normalised
    rep = assess_health(w, sectors, {"S0": 0.5, "S1": 0.5}, 0.2, -0.1, 1.0)
    assert abs(sum(rep.sector_weights.values()) - 1.0) < 1e-5
    assert 0.0 <= rep.overall_score <= 10.0
