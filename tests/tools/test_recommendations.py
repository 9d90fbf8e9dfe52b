"""analyze_portfolio's advice on every sample portfolio and purpose-built ones: no add to an overweight
position or sector, sizes within the profile's caps and consistent with each other, near-cash rated Low."""

import json

import numpy as np
import pytest

from qlwork.market import get_provider
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio, calculate_risk_metrics

MARKET = get_provider("demo")
SAMPLES = ["diversified", "concentrated", "it_heavy", "near_cash", "smallcap_highvol"]
TWELVE = """tradingsymbol,exchange,quantity,average_price
HDFCBANK,NSE,150,900
ICICIBANK,NSE,90,1100
RELIANCE,NSE,80,1400
INFY,NSE,90,1300
TCS,NSE,30,3000
TECHM,NSE,40,1300
ITC,NSE,250,400
LT,NSE,25,3500
SUNPHARMA,NSE,50,1500
MARUTI,NSE,5,12000
BHARTIARTL,NSE,45,1800
TATASTEEL,NSE,400,150
"""
ONE_AT_40 = "tradingsymbol,exchange,quantity,average_price\nRELIANCE,NSE,400,1400\nTCS,NSE,50,3000\nITC,NSE,500,400\n" \
            "SUNPHARMA,NSE,80,1500\nLT,NSE,40,3500\n"


def analyze(portfolio, profile="moderate"):
    ctx = ToolContext(market=MARKET, portfolio=portfolio, risk_profile=profile)
    result = analyze_portfolio.tool.run({}, ctx)
    json.dumps(result.output, allow_nan=False)
    assert "error" not in result.output, result.output
    return result.output


def check_plan(out):
    """The invariants every plan keeps, recomputed from the holdings."""
    holdings = {h["symbol"]: h for h in out["holdings"]}
    total = out["total_value"]
    bench_active = out["active_sector_weights"]
    limits = out["limits"]
    qty = {s: h["quantity"] for s, h in holdings.items()}
    value_after = {s: h["market_value"] for s, h in holdings.items()}
    sized = [r for r in out["recommendations"] if r["action"] in ("add", "reduce")]
    for r in sized:
        h = holdings[r["symbol"]]
        assert r["amount_inr"] == pytest.approx(r["shares"] * h["last_price"], abs=0.01)
        assert -r["shares"] <= h["quantity"]  # never sell what is not held
        value_after[r["symbol"]] += r["amount_inr"]
        assert r["target_weight"] == pytest.approx(value_after[r["symbol"]] / total, abs=1e-4)
        assert r["weight"] == h["weight"]
        qty[r["symbol"]] += r["shares"]
    sector_after: dict = {}
    for s, v in value_after.items():
        sector_after[holdings[s]["sector"]] = sector_after.get(holdings[s]["sector"], 0.0) + v / total
    for r in sized:
        if holdings[r["symbol"]]["asset_class"] == "equity":
            assert r["sector_weight_after"] == pytest.approx(sector_after[r["sector"]], abs=2e-4)
    adds = {r["symbol"] for r in sized if r["action"] == "add"}
    reduces = {r["symbol"] for r in sized if r["action"] == "reduce"}
    assert not adds & reduces
    trimmed_sectors = {r["sector"] for r in sized if r["action"] == "reduce" and "above its sector cap" in r["reason"]}
    for s in adds:
        h = holdings[s]
        assert h["sector"] not in trimmed_sectors
        assert value_after[s] / total <= limits["position_cap"] + 1e-4
        assert bench_active.get(h["sector"], 0.0) <= 1e-4 or "overweight" in next(
            r["reason"] for r in sized if r["symbol"] == s)
    bought = sum(r["amount_inr"] for r in sized if r["action"] == "add" and holdings[r["symbol"]]["asset_class"] == "equity")
    sold = -sum(r["amount_inr"] for r in sized if r["action"] == "reduce")
    cash = sum(h["market_value"] for h in holdings.values() if h["asset_class"] in ("cash", "commodity"))
    assert bought <= sold + cash + 0.01  # adds are funded by trims and cash
    return sized


@pytest.mark.parametrize("profile", ["conservative", "moderate", "aggressive"])
@pytest.mark.parametrize("name", SAMPLES)
def test_every_sample_gets_a_consistent_plan_within_caps(name, profile):
    out = analyze(f"sample:{name}", profile)
    sized = check_plan(out)
    total = out["total_value"]
    after = {h["symbol"]: h["market_value"] / total for h in out["holdings"]}
    for r in sized:
        after[r["symbol"]] = r["target_weight"]
    stocks = [h["symbol"] for h in out["holdings"] if h["asset_class"] == "equity"]
    assert max(after[s] for s in stocks) <= out["limits"]["position_cap"] + 1e-4  # caps met after the plan
    for sector, cap in out["limits"]["sector_caps"].items():
        weight = sum(v for s, v in after.items() if next(h for h in out["holdings"] if h["symbol"] == s)["sector"] == sector)
        assert weight <= cap + 1e-3, (sector, weight, cap)
    if profile == "conservative":
        assert out["limits"]["plan"]["defensive_weight_after"] >= out["limits"]["cash_floor"] - 1e-4


def test_it_heavy_is_trimmed_and_never_told_to_add_it():
    out = analyze("sample:it_heavy")
    assert out["sector_weights"]["Information Technology"] > 0.8
    recs = out["recommendations"]
    assert not [r for r in recs if r["action"] in ("add", "buy") and r.get("sector") == "Information Technology"]
    trims = [r for r in recs if r["action"] == "reduce" and r["sector"] == "Information Technology"]
    assert {"TCS", "INFY"} <= {r["symbol"] for r in trims}
    assert all(r["sector_weight_after"] <= out["limits"]["sector_caps"]["Information Technology"] for r in trims)
    assert all(r["confidence"] is None and r["agreement"] == "portfolio limit rule" for r in trims)


def test_twelve_stock_csv_adds_nothing_to_overweight_it(tmp_path):
    path = tmp_path / "twelve.csv"
    path.write_text(TWELVE)
    out = analyze(str(path))
    assert out["active_sector_weights"]["Information Technology"] > 0.05
    check_plan(out)
    for r in out["recommendations"]:
        if r["symbol"] in ("INFY", "TCS", "TECHM"):
            assert r["action"] not in ("add", "buy")


def test_one_position_at_40_percent_conservative_trims_more_than_aggressive(tmp_path):
    path = tmp_path / "forty.csv"
    path.write_text(ONE_AT_40)
    cons, aggr = analyze(str(path), "conservative"), analyze(str(path), "aggressive")
    w = next(h["weight"] for h in cons["holdings"] if h["symbol"] == "RELIANCE")
    assert w > 0.35
    cut = {o["risk_profile"]: next(r for r in o["recommendations"] if r["symbol"] == "RELIANCE") for o in (cons, aggr)}
    assert cut["conservative"]["target_weight"] <= cons["limits"]["position_cap"] + 1e-4
    assert cut["conservative"]["shares"] < cut["aggressive"]["shares"] < 0
    assert cons["limits"]["plan"]["defensive_weight_after"] >= 0.10 - 1e-4  # the conservative cash floor


def test_near_cash_is_low_risk_and_cash_is_not_an_overweight_position():
    out = analyze("sample:near_cash", "conservative")
    liquid = next(h for h in out["holdings"] if h["symbol"] == "LIQUIDBEES")
    assert liquid["asset_class"] == "cash" and liquid["sector"] == "Cash & equivalents"
    assert out["risk_level"] == "low"
    assert out["overall_score"] >= 6.0
    assert not [r for r in out["recommendations"] if r["symbol"] == "LIQUIDBEES" and r["action"] == "reduce"]
    assert "Unclassified" not in out["sector_weights"]
    assert out["risk_level_rule"]["bands"] == {"volatility": 0, "drawdown": 0, "beta": 0}


def test_risk_contributions_in_both_tools_sum_to_the_volatility():
    out = analyze("sample:diversified")
    rc = out["risk_contributions"]
    assert sum(h["volatility_contribution"] for h in rc["holdings"]) == pytest.approx(rc["volatility"], abs=1e-5)
    shares = [h["share_of_volatility"] for h in rc["holdings"]]
    assert shares == sorted(shares, reverse=True)
    ctx = ToolContext(market=MARKET, portfolio="sample:diversified")
    risk = calculate_risk_metrics.tool.run({}, ctx).output["risk_contributions"]
    assert risk["volatility"] == rc["volatility"]
    # independent: today's weights on the window's daily returns, numpy covariance
    symbols = [h["symbol"] for h in out["holdings"]]
    close = MARKET.close_prices(symbols + ["NIFTY 50"], end=out["as_of"]).iloc[-253:][symbols].ffill()
    w = np.array([h["market_value"] for h in out["holdings"]]) / out["total_value"]
    rets = np.nan_to_num(close.pct_change().to_numpy()[1:])
    assert rc["volatility"] == pytest.approx(float(np.sqrt(w @ np.cov(rets, rowvar=False) @ w * 252)), abs=1e-6)
    trim = rc["trim_proposal"]
    assert trim["symbols"] == [h["symbol"] for h in rc["holdings"][:3]]
    assert trim["volatility_after"] < trim["volatility_before"]


def test_an_all_fund_portfolio_is_cash_not_a_concentrated_stock(tmp_path):
    path = tmp_path / "cash.csv"
    path.write_text("tradingsymbol,exchange,quantity,average_price\nLIQUIDBEES,NSE,500,999.5\n")
    out = analyze(str(path), "conservative")
    assert out["asset_classes"] == {"cash": 1.0} and out["sector_weights"] == {"Cash & equivalents": 1.0}
    assert out["risk_level"] == "low" and out["concentration"]["largest_single_stock"] == 0.0
    assert "sector_balance" not in out["score_components"]  # nothing classified to balance
    assert out["score_components"]["concentration"]["score"] == 10.0
    assert [r["action"] for r in out["recommendations"]] == ["hold"]
    assert out["recommendations"][0]["confidence"] is None
