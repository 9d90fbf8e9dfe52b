"""The offline answer to "what should I sell (trim) to cut risk?": holdings ranked by their
contribution to portfolio volatility (``calculate_risk_metrics``' ``risk_contributions``), with the
volatility before and after the proposed trim. Every figure is copied from that tool output."""

from __future__ import annotations


def _pct(x) -> str:
    return "n/a" if x is None else f"{x * 100:.2f}%"


def compose_cut_risk(risk: dict | None, answer: dict) -> dict:
    """Fill ``answer`` (a TradingResponse dict) from a portfolio ``calculate_risk_metrics`` output."""
    table = (risk or {}).get("risk_contributions")
    if not table:
        if risk is not None:
            answer["insights"].append("Risk contributions need a portfolio: measure the portfolio, not single symbols.")
        return answer
    trim = table["trim_proposal"]
    rows = {r["symbol"]: r for r in table["holdings"]}
    answer["insights"].append(
        f"Ranked by contribution to the portfolio's {_pct(table['volatility'])} volatility at today's weights: "
        + ", ".join(f"{r['symbol']} {_pct(r['share_of_volatility'])}" for r in table["holdings"][:5]) + ".")
    if trim["symbols"]:
        answer["insights"].append(
            f"Proposed trim: halve {', '.join(trim['symbols'])} ({_pct(trim['cash_raised_weight'])} of value to cash); "
            f"volatility {_pct(trim['volatility_before'])} before, {_pct(trim['volatility_after'])} after.")
    for sym in trim["symbols"]:
        r = rows[sym]
        rec = {"action": "reduce", "symbol": sym, "confidence": None, "agreement": "risk contribution rule",
               "timeframe": "1-2 weeks",
               "reason": (f"{_pct(r['share_of_volatility'])} of portfolio volatility from a {_pct(r['weight'])} weight; "
                          f"halving it alone takes volatility from {_pct(table['volatility'])} to "
                          f"{_pct(r['volatility_after_halving'])}"),
               "weight": r["weight"]}
        if "trim_shares" in r:
            rec.update(shares=r["trim_shares"], amount_inr=r["trim_amount_inr"], last_price=r["last_price"],
                       target_weight=r["weight_after_trim"])
        if "sector_weight_after_trim" in r:
            rec.update(sector=r["sector"], sector_weight_after=r["sector_weight_after_trim"])
        answer["recommendations"].append(rec)
    m = next(iter(risk["metrics"].values()), {})
    answer["risk_metrics"] = {k: m[k] for k in ("volatility", "max_drawdown", "beta", "var_95") if m.get(k) is not None}
    answer["extra"] = {"volatility_at_current_weights": table["volatility"],
                       "volatility_after_trim": trim["volatility_after"], "method": table["method"]}
    return answer
