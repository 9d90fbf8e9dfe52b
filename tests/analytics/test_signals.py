import json

import numpy as np
import pandas as pd
import pytest

from qlwork.analytics import generate_signals, rsi
from qlwork.errors import InputError


@pytest.fixture
def prices():
    rng = np.random.default_rng(2)
    up = 100 * np.exp(np.cumsum(rng.normal(0.004, 0.01, 260)))  # strong uptrend
    down = 300 * np.exp(np.cumsum(rng.normal(-0.004, 0.01, 260)))  # strong downtrend
    noise = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 260)))
    crash = np.concatenate([100 * np.exp(np.cumsum(rng.normal(0, 0.005, 240))), np.zeros(20)])
    crash[240:] = crash[239] * 0.97 ** np.arange(1, 21)  # 20-day slide
    crash[-1] *= 0.9  # capitulation day: below the lower band
    return np.column_stack([up, down, noise, crash])


def test_one_signal_per_symbol_with_contract(prices):
    out = generate_signals(prices, symbols=["UP", "DOWN", "NOISE", "CRASH"])
    assert [s["symbol"] for s in out] == ["UP", "DOWN", "NOISE", "CRASH"]
    keys = {"close", "rsi", "macd", "macd_signal", "macd_hist", "sma_50", "sma_200", "bb_position", "atr_pct"}
    for s in out:
        assert s["action"] in {"buy", "sell", "hold"}
        assert 0.0 <= s["confidence"] <= 1.0
        assert s["reasons"] and all(isinstance(r, str) for r in s["reasons"])
        assert keys <= set(s["indicators"])
        assert all(v is None or type(v) is float for v in s["indicators"].values())
    json.dumps(out)  # plain JSON types only


def test_rules_drive_actions(prices):
    up, down, _, crash = generate_signals(prices)
    assert up["votes"]["trend"] == 1 and any("Uptrend" in r for r in up["reasons"])
    assert down["votes"]["trend"] == -1 and any("Downtrend" in r for r in down["reasons"])
    assert crash["votes"]["mean_reversion"] == 1 and any("oversold" in r for r in crash["reasons"])
    assert crash["votes"]["bands"] == 1 and crash["indicators"]["bb_position"] < 0.05
    assert up["indicators"]["rsi"] == round(float(rsi(prices[:, 0])[-1]), 4)
    # aligned bullish rules give a buy
    rising = 100 * 1.002 ** np.arange(300) * (1 + 0.02 * np.sin(np.arange(300) / 2.0))
    rising[-10:] *= np.linspace(1.0, 1.03, 10)  # accelerating: positive MACD histogram
    s = generate_signals(rising)[0]
    assert s["votes"]["trend"] == 1 and s["votes"]["momentum"] == 1 and s["action"] == "buy"


def test_score_action_and_confidence_follow_the_documented_rules(make_walk):
    weights = {"trend": 0.35, "momentum": 0.25, "mean_reversion": 0.25, "bands": 0.15}
    out = generate_signals(make_walk(400, 60, seed=9, vol=0.02))
    assert {s["action"] for s in out} >= {"buy", "sell", "hold"}
    for s in out:
        ind, votes = s["indicators"], s["votes"]
        score = sum(weights[k] * v for k, v in votes.items())
        assert s["score"] == pytest.approx(score, abs=1e-4)
        assert s["action"] == ("buy" if score >= 0.3 else "sell" if score <= -0.3 else "hold")
        rsi_vote = 1 if ind["rsi"] < 30 else -1 if ind["rsi"] > 70 else 0
        assert votes["mean_reversion"] == rsi_vote
        assert votes["momentum"] == int(np.sign(ind["macd_hist"]))
        # signal agreement: rules voting in the action's direction, of 4; a hold has none
        direction = {"buy": 1, "sell": -1, "hold": 0}[s["action"]]
        agree = sum(v == direction for v in votes.values()) if direction else 0
        assert s["agreement"] == {"agree": agree, "rules": 4}
        assert s["confidence"] == agree / 4
        if s["action"] != "hold":
            assert agree >= 1


def test_deterministic_and_dataframe_symbols(prices):
    df = pd.DataFrame(prices, columns=["A", "B", "C", "D"])
    assert generate_signals(df) == generate_signals(df)
    assert [s["symbol"] for s in generate_signals(df)] == ["A", "B", "C", "D"]


def test_short_history_and_missing_last_price(prices):
    p = prices[:120].copy()
    p[-1, 2] = np.nan
    out = generate_signals(p)
    assert out[0]["indicators"]["sma_200"] is None  # < 200 days: trend uses SMA50 only
    assert out[2]["action"] == "hold" and out[2]["confidence"] == 0.0
    with pytest.raises(InputError):
        generate_signals(prices[:20])
    with pytest.raises(InputError):
        generate_signals(prices, symbols=["only-one"])
