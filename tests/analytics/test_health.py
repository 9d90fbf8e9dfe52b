import numpy as np
import pandas as pd
import pytest

from qlwork.analytics import assess_health, effective_holdings, hhi, sector_weights, target_weight
from qlwork.errors import InputError

BENCH = {"IT": 0.15, "Banks": 0.35, "Energy": 0.12, "FMCG": 0.10, "Auto": 0.28}


def test_hhi_and_effective_holdings():
    assert hhi([1, 1, 1, 1]) == pytest.approx(0.25)
    assert effective_holdings([5, 5, 5, 5]) == pytest.approx(4.0)
    assert hhi([50, 30, 20]) == pytest.approx(0.5**2 + 0.3**2 + 0.2**2)
    assert hhi([1.0]) == 1.0


def test_sector_weights_sum_and_order():
    s = sector_weights([10, 20, 30, 40], ["IT", "Banks", "IT", "Energy"])
    assert s == pytest.approx({"IT": 0.4, "Energy": 0.4, "Banks": 0.2})
    assert list(s) == ["Energy", "IT", "Banks"]  # largest first, ties by name


def test_report_contract_and_overweights():
    w = pd.Series([10, 20, 30, 5, 5], index=["TCS", "INFY", "HDFCBANK", "RELIANCE", "ITC"])
    rep = assess_health(w, ["IT", "IT", "Banks", "Energy", "FMCG"], BENCH, 0.22, -0.18, 1.05)
    d = rep.to_dict()
    assert set(d) >= {"overall_score", "risk_level", "hhi", "effective_holdings", "sector_weights",
                      "active_sector_weights", "overweight_positions", "components"}
    assert 0 <= d["overall_score"] <= 10 and d["overall_score"] == round(d["overall_score"], 1)
    assert d["risk_level"] in {"low", "moderate", "high", "very_high"}
    assert [p["symbol"] for p in d["overweight_positions"]] == ["HDFCBANK", "INFY"]
    assert d["active_sector_weights"]["Auto"] == pytest.approx(-0.28)
    assert d["active_sector_weights"]["IT"] == pytest.approx(30 / 70 - 0.15, abs=1e-6)
    total_w = sum(c["weight"] for c in d["components"].values())
    assert total_w == pytest.approx(1.0, abs=1e-3)
    score = sum(c["weight"] * c["score"] for c in d["components"].values())
    assert d["overall_score"] == pytest.approx(score, abs=0.06)  # the breakdown explains the score
    with pytest.raises(Exception):
        rep.overall_score = 1.0  # frozen


def test_more_concentration_lowers_diversification_score():
    sectors = ["A", "B", "C", "D", "E", "F", "G", "H", "I", "J"]
    scores = []
    for top in (0.1, 0.3, 0.5, 0.7, 0.9):
        w = np.full(10, (1 - top) / 9)
        w[0] = top
        rep = assess_health(w, sectors, {}, 0.15, -0.1, 0.9)
        scores.append((rep.components["diversification"]["score"], rep.overall_score))
    div = [s[0] for s in scores]
    assert div == sorted(div, reverse=True) and div[0] > div[-1]
    overall = [s[1] for s in scores]
    assert overall == sorted(overall, reverse=True)


def test_risk_level_and_profile():
    w, sec = np.ones(20), [f"S{i % 8}" for i in range(20)]
    calm = assess_health(w, sec, {}, 0.08, -0.05, 0.6)
    wild = assess_health(w, sec, {}, 0.45, -0.5, 1.6)
    assert calm.risk_level == "low" and wild.risk_level == "very_high"
    assert wild.overall_score < calm.overall_score
    vol = 0.22  # fine for aggressive, too much for conservative
    assert assess_health(w, sec, {}, vol, -0.1, 1.0, "aggressive").components["volatility"]["score"] == 10
    assert assess_health(w, sec, {}, vol, -0.1, 1.0, "conservative").components["volatility"]["score"] < 5
    no_beta = assess_health(w, sec, {}, 0.15, -0.1, None)
    assert "beta" not in no_beta.components and any("Beta unknown" in n for n in no_beta.notes)


def test_target_weight():
    assert target_weight(20, "moderate") == pytest.approx(0.075)
    assert target_weight(4, "moderate") == pytest.approx(0.25)  # equal weight is never overweight
    assert target_weight(5, "conservative") == pytest.approx(0.2)


@pytest.mark.parametrize(
    "args",
    [
        ([1, -1], ["A", "B"], {}, 0.1, -0.1, 1.0),
        ([0, 0], ["A", "B"], {}, 0.1, -0.1, 1.0),
        ([1, 1], ["A"], {}, 0.1, -0.1, 1.0),
        ([1, 1], ["A", "B"], {}, float("nan"), -0.1, 1.0),
    ],
)
def test_bad_inputs(args):
    with pytest.raises(InputError):
        assess_health(*args)
    with pytest.raises(InputError):
        assess_health([1, 1], ["A", "B"], {}, 0.1, -0.1, 1.0, risk_profile="yolo")


def test_a_concentrated_losing_portfolio_cannot_score_above_the_middle():
    w = [0.38, 0.2, 0.14, 0.14, 0.14]  # one stock at 38%: above twice the moderate 15% cap
    sectors = ["IT", "Banks", "Energy", "FMCG", "Auto"]
    losing = assess_health(w, sectors, BENCH, 0.10, -0.06, 0.8, period_return=-0.159)
    assert losing.overall_score <= 5.0
    (cap,) = losing.caps
    assert cap["cap"] == 5.0 and cap["weighted_score"] > 5.0  # the cap is what holds it down, and it says so
    assert "concentrated" in cap["reason"] and "-15.9%" in cap["reason"]
    gaining = assess_health(w, sectors, BENCH, 0.10, -0.06, 0.8, period_return=0.12)
    assert gaining.caps == () and gaining.overall_score > 5.0
    assert losing.to_dict()["caps"][0]["reason"] == cap["reason"]


def test_trend_and_concentration_components_explain_the_score():
    w, sec = np.ones(10), [f"S{i}" for i in range(10)]
    scores = [assess_health(w, sec, {}, 0.15, -0.1, 1.0, period_return=r).components["trend"]["score"]
              for r in (-0.3, -0.1, 0.0, 0.1, 0.3)]
    assert scores == [0.0, 2.5, 5.0, 7.5, 10.0]
    skipped = assess_health(w, sec, {}, 0.15, -0.1, 1.0)
    assert "trend" not in skipped.components
    assert sum(c["weight"] for c in skipped.components.values()) == pytest.approx(1.0, abs=1e-3)
    heavy = assess_health([0.45, 0.55 / 3, 0.55 / 3, 0.55 / 3], ["A", "B", "C", "D"], {}, 0.15, -0.1, 1.0)
    assert heavy.components["concentration"]["score"] == 0.0  # 45% = three times the 15% cap
    assert heavy.components["concentration"]["value"] == pytest.approx(0.45)
