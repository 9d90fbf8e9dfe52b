"""Reconciliation of the holdings a trade history implies with a holdings file, each difference named
with its likely causes (bonus or split, transfer in or out, trades outside the tradebook's dates)."""

from __future__ import annotations

from collections.abc import Mapping

SPLIT_RATIOS = (2, 5, 10)
"""Common NSE face-value splits (e.g. INR 10 -> 2 is 5:1)."""


def _explain(implied: int, held: int) -> tuple[str, str]:
    if implied == 0:
        return "not_in_tradebook", ("held but never bought in the tradebook: a transfer-in (off-market or from "
                                    "another broker), an IPO allotment, or bought before the tradebook starts")
    if held == 0:
        return "not_held", ("bought in the tradebook but not held: sold or transferred out elsewhere, or a "
                            "corporate action (merger, delisting)")
    ratio = held / implied
    if held > implied:
        if any(abs(ratio - r) < 1e-9 for r in SPLIT_RATIOS):
            return "split_or_bonus", f"{held} held = {ratio:g} x {implied} bought: a {ratio:g}:1 split or a bonus issue"
        for a in range(1, 6):  # bonus a:b gives held = implied * (1 + a/b)
            for b in range(1, 6):
                if abs(ratio - (1 + a / b)) < 1e-9:
                    return "bonus", f"{held} held = {implied} bought x (1 + {a}/{b}): a {a}:{b} bonus issue"
        return "more_held", (f"{held - implied} more held than the tradebook implies: a transfer-in, bonus "
                             "shares, or trades missing from the tradebook")
    return "fewer_held", (f"{implied - held} fewer held than the tradebook implies: a transfer-out, shares "
                          "sold elsewhere, or trades missing from the tradebook")


def reconcile(implied: Mapping[str, int], held: Mapping[str, int]) -> dict:
    """Compare ``implied`` (symbol -> shares from the tradebook) with ``held`` (symbol -> shares in the
    holdings file): ``{"matched": [symbols], "differences": [{"symbol", "implied", "held", "difference",
    "kind", "explanation"}]}``, differences in symbol order."""
    symbols = sorted(set(implied) | set(held))
    matched, diffs = [], []
    for sym in symbols:
        a, b = int(implied.get(sym, 0)), int(held.get(sym, 0))
        if a == b:
            matched.append(sym)
            continue
        kind, text = _explain(a, b)
        diffs.append({"symbol": sym, "implied": a, "held": b, "difference": b - a, "kind": kind, "explanation": text})
    return {"matched": matched, "differences": diffs}
