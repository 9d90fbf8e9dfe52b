"""Look-through exposures, the health rules that use them, and the sizing arithmetic."""

import numpy as np
import pytest

from qlwork.analytics import health, sizing
from qlwork.analytics.lookthrough import CASH, COMMODITIES, exposures
from qlwork.errors import InputError

NIFTY = {"Financial Services": 0.36, "Information Technology": 0.12, "Oil Gas & Consumable Fuels": 0.11,
         "Fast Moving Consumer Goods": 0.08, "Automobile and Auto Components": 0.08, "Healthcare": 0.05,
         "Construction": 0.05, "Telecommunication": 0.05, "Metals & Mining": 0.05, "Power": 0.05}
BANK = {"Financial Services": 1.0}


def test_index_funds_look_through_and_cash_is_no_concentration():
    # all-ETF: NIFTYBEES 40%, BANKBEES 20%, GOLDBEES 15%, LIQUIDBEES 25%
    w = [0.40, 0.20, 0.15, 0.25]
    look = exposures(w, ["x", "x", "x", "x"], ["index_fund", "index_fund", "commodity", "cash"],
                     {0: NIFTY, 1: BANK}, {0: 1 / 50, 1: 1 / 12})
    sw = look["sector_weights"]
    assert sw["Financial Services"] == pytest.approx(0.40 * 0.36 + 0.20)
    assert sw["Information Technology"] == pytest.approx(0.40 * 0.12)
    assert sw[CASH] == pytest.approx(0.25) and sw[COMMODITIES] == pytest.approx(0.15)
    assert sum(sw.values()) == pytest.approx(1.0)
    assert look["single_name"] == 0.0  # no single stock
    assert look["hhi"] == pytest.approx(0.4 ** 2 / 50 + 0.2 ** 2 / 12)
    report = health.assess_health(w, ["x"] * 4, NIFTY, 0.09, -0.08, 0.6, "conservative", lookthrough=look)
    assert report.risk_level == "low" and report.largest_single_name == 0.0
    assert report.outside_sector_weight == pytest.approx(0.40)
    assert report.components["concentration"]["score"] == 10.0
    assert report.overweight_positions == ()


def test_risk_level_follows_measured_risk_with_a_concentration_step():
    # near cash: 85% liquid fund, three 5% stocks; low measured risk -> low, whatever the holding count
    look = exposures([0.85, 0.05, 0.05, 0.05], ["Unclassified", "Financial Services", "Information Technology",
                                                "Fast Moving Consumer Goods"], ["cash", "equity", "equity", "equity"])
    near = health.assess_health([0.85, 0.05, 0.05, 0.05], ["u", "a", "b", "c"], NIFTY, 0.0315, -0.04, 0.14,
                                "conservative", lookthrough=look)
    assert near.risk_level == "low" and near.risk_level_rule["concentration_step"] is False
    assert "rule" in near.risk_level_rule and near.effective_holdings == pytest.approx(1 / (0.85 ** 2 + 3 * 0.0025), rel=1e-3)
    # one stock at 40% with moderate measured risk: one level up
    conc = health.assess_health([0.4, 0.3, 0.3], ["Financial Services"] * 3, NIFTY, 0.15, -0.15, 1.0, "moderate")
    assert conc.risk_level_rule["measured_level"] == "moderate" and conc.risk_level == "high"


def test_trim_targets_meet_position_sector_and_cash_limits():
    w = np.array([0.40, 0.20, 0.20, 0.20])
    stock = np.ones(4, dtype=bool)
    idx = np.array([0, 0, 1, 2])
    caps = np.array([0.30, 0.5, 0.5])
    t, why = sizing.trim_targets(w, stock, idx, caps, np.zeros(3), position_cap=0.25, cash_floor=0.35,
                                 priority=[2, 3, 0, 1])
    assert t.max() <= 0.25 + 1e-12
    assert t[idx == 0].sum() <= 0.30 + 1e-12
    assert 1 - t.sum() == pytest.approx(0.35)  # trims free 30%; the floor takes 5% more from holding 2
    assert t[2] == pytest.approx(0.15)
    assert list(why) == ["position", "sector", "cash_floor", ""]


def test_whole_shares_round_toward_the_limit():
    w, t = np.array([0.5, 0.5]), np.array([0.3, 0.6])
    out = sizing.whole_shares(w, t, 10_000.0, np.array([300.0, 70.0]), np.array([16.0, 70.0]))
    assert out["shares"].tolist() == [-7, 14]  # sell 6.67 -> 7 (below target), buy 14.29 -> 14 (not above)
    assert out["amount"].tolist() == [-2100.0, 980.0]
    assert out["weight_after"][0] <= 0.3 and out["weight_after"][1] <= 0.6
    with pytest.raises(InputError):
        sizing.whole_shares(w, t, 0.0, np.array([1.0, 1.0]), np.array([1.0, 1.0]))
    assert sizing.limits("conservative", 10, 1.0)["cash_floor"] == 0.10
