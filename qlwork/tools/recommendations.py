"""The recommendations ``analyze_portfolio`` gives: position weights against the profile's target,
then strong technical signals of held stocks. Weights are fractions of market value."""

from __future__ import annotations

from ..analytics import health
from ..config import BENCHMARK
from ..formatting import pct
from .context import rnd


def benchmark_sector_weights(market, index: str = BENCHMARK) -> dict[str, float]:
    """Sector -> weight (fractions summing to 1) of the benchmark ``index``, from the provider when it
    knows them, else the equal-count mix of its stocks."""
    weights = getattr(market, "benchmark_sector_weights", None)
    if callable(weights):
        return weights() if index == BENCHMARK else weights(index)
    inst = market.instruments()
    stocks = inst[inst["instrument_type"] == "EQ"]
    counts = stocks["sector"].value_counts(normalize=True)
    return {k: float(v) for k, v in counts.items()}


def recommendations(val, report, signals: dict, profile: str) -> list[dict]:
    """Rebalance overweight positions, then act on strong signals for held stocks."""
    n = len(val)
    target = health.target_weight(n, profile)
    recs = []
    for row in val.sort_values("weight", ascending=False).itertuples():
        if row.weight > target * 1.5:
            excess = min(1.0, (row.weight - target) / max(row.weight, 1e-9))
            recs.append({"action": "rebalance" if row.weight < 2 * target else "reduce", "symbol": row.symbol,
                         "reason": f"Overweight position ({pct(row.weight, 1)} vs {pct(target, 1)} target)",
                         "confidence": rnd(0.6 + 0.35 * excess, 2), "timeframe": "1-2 weeks"})
    held = {r["symbol"] for r in recs}
    for sym, s in signals.items():
        if sym in held or s["action"] == "hold" or s["confidence"] < 0.6:
            continue
        action = "add" if s["action"] == "buy" else "reduce"
        recs.append({"action": action, "symbol": sym, "reason": "; ".join(s["reasons"][:2]),
                     "confidence": rnd(s["confidence"], 2), "timeframe": "1-4 weeks"})
    if not recs:
        top = val.sort_values("weight", ascending=False).iloc[0]
        recs.append({"action": "hold", "symbol": top["symbol"],
                     "reason": "No position breaches its target weight and no strong signal",
                     "confidence": 0.6, "timeframe": "1 month"})
    return recs[:8]
