"""Portfolio-aware signal recommendations for the offline engine's sector, strategy and signal answers.

A buy signal is not an instruction to add: with a portfolio analysis in the thread, an ``add``/``buy``
on a position at or above the profile's position cap, or in a sector above its benchmark weight, becomes
a ``hold`` (held) or ``watch`` (not held) whose reason says so, with the figures copied from the
analysis (its ``limits``: position cap, sector caps = benchmark + the profile's active cap). The same
rule the run-time advice check (:mod:`qlwork.assistant.advice`) applies.
"""

from __future__ import annotations


def _pct(x: float) -> str:
    return f"{x * 100:.2f}%"


def guard(recs: list[dict], analysis: dict | None, sector: str | None = None) -> list[dict]:
    """``recs`` with adds/buys into overweight positions or sectors turned into hold/watch; ``sector`` is
    the sector of symbols the portfolio does not hold (a sector question), if known."""
    if not analysis or not isinstance(analysis.get("limits"), dict):
        return recs
    limits = analysis["limits"]
    held = {h["symbol"]: h for h in analysis.get("holdings", [])}
    caps, active_cap = limits.get("sector_caps") or {}, limits.get("sector_active_cap")
    out = []
    for rec in recs:
        if rec.get("action") not in ("add", "buy"):
            out.append(rec)
            continue
        h = held.get(rec["symbol"])
        sec = (h or {}).get("sector") or sector
        weight = analysis.get("sector_weights", {}).get(sec) if sec else None
        bench = caps[sec] - active_cap if sec in caps and active_cap is not None else None
        why = None
        if h is not None and h["weight"] >= limits.get("position_cap", 1.0):
            why = f"the position is already {_pct(h['weight'])} vs the {_pct(limits['position_cap'])} position cap"
        elif weight is not None and bench is not None and weight > bench:
            why = f"{sec} is already {_pct(weight)} of the portfolio vs {_pct(bench)} in the benchmark"
        if why is None:
            out.append(rec)
            continue
        out.append({**rec, "action": "hold" if h is not None else "watch",
                    "reason": f"{rec['reason']}; not adding: {why} (overweight)"})
    return out
