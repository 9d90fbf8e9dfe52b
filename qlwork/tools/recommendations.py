"""The recommendations ``analyze_portfolio`` gives, from a portfolio view (one plan, not symbol by symbol).

1. Trims the profile's limits require (:mod:`qlwork.analytics.sizing`): stocks above the position cap,
   sectors above benchmark + the profile's active cap, and (conservative) cash below its floor, taken
   from the largest risk contributors.
2. Held stocks with a sell signal that at least :data:`MIN_AGREE` of the signal rules agree on: trimmed
   by ``SELL_CUT * agree / rules`` (a quarter at 2 of 4 rules, half at 4 of 4).
3. Held stocks with a buy signal of the same agreement: added only where the stock stays within the
   position cap and its sector (look-through) within its benchmark weight, funded by the trims and by
   cash above the floor (the cash fund is reduced by what is used). A blocked add is a ``hold`` whose
   reason names the overweight; an unfunded one a ``watch``.

Every add/reduce carries ``weight``, ``target_weight``, ``amount_inr`` (signed: negative = sell),
``shares`` (whole shares at ``last_price``), ``sector`` and ``sector_weight_after`` (the sector's
look-through weight after the whole plan). ``confidence`` is the share of signal rules agreeing with a
signal-driven action (``agreement`` says "3 of 4 signal rules"); limit trims and holds have none.
Weights are fractions of market value; amounts INR.
"""

from __future__ import annotations

import numpy as np

from ..analytics import health, sizing
from ..analytics.lookthrough import OUTSIDE_SECTORS
from ..config import BENCHMARK
from ..formatting import inr, pct
from .context import rnd

REC_FIELDS = ("action", "symbol", "reason", "confidence", "timeframe", "agreement", "weight", "target_weight",
              "amount_inr", "shares", "last_price", "sector", "sector_weight_after")
"""Every recommendation has these keys (None where they do not apply), as TradingResponse's Recommendation."""
MIN_AGREE = 2
"""Signal rules (of 4) that must agree before a signal moves money."""
SELL_CUT = 0.5
"""A sell signal trims ``SELL_CUT * agree / rules`` of the position (2 of 4 rules: a quarter; 4 of 4: half)."""


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


def _agreement(signal: dict | None) -> tuple[int, int]:
    a = (signal or {}).get("agreement") or {}
    return int(a.get("agree", 0)), int(a.get("rules", 4) or 4)


def plan(val, classes: list[str], look: dict, bench: dict, signals: dict, profile: str, priority=None) -> dict:
    """The recommendations and the limits behind them: ``{"recommendations", "limits", "sector_caps"}``."""
    sym = val["symbol"].tolist()
    w = val["weight"].to_numpy(dtype=float)
    price = val["last_price"].to_numpy(dtype=float)
    qty = val["quantity"].to_numpy(dtype=float)
    own_sector = val["sector"].tolist()
    total = float(val["market_value"].sum())
    cls = np.asarray(classes)
    stock = cls == "equity"
    defensive = float(w[np.isin(cls, ("cash", "commodity"))].sum())
    lim = sizing.limits(profile, int(stock.sum()), float(w[stock].sum()))
    sectors = [s for s in look["sector_weights"] if s not in OUTSIDE_SECTORS and s != health.UNCLASSIFIED]
    col = {s: j for j, s in enumerate(sectors)}
    idx = np.array([col.get(s, -1) if st else -1 for s, st in zip(own_sector, stock)])
    direct = np.bincount(idx[idx >= 0], weights=w[idx >= 0], minlength=len(sectors)) if sectors else np.zeros(0)
    fixed = np.array([look["sector_weights"][s] for s in sectors]) - direct
    caps = sizing.sector_caps(sectors, bench, lim["sector_active_cap"])
    sec_before = fixed + direct
    t, why = sizing.trim_targets(w, stock, idx, caps, fixed, lim["position_cap"], lim["cash_floor"], defensive,
                                 priority)
    notes = {i: "" for i in range(len(sym))}
    for i in np.flatnonzero(stock & (why == "")):
        s = signals.get(sym[i]) or {}
        agree, rules = _agreement(s)
        if s.get("action") == "sell" and agree >= MIN_AGREE:
            t[i], why[i] = w[i] * (1.0 - SELL_CUT * agree / rules), "signal"
    # adds: funded by trims and spare cash, into room under the position cap and the sector's benchmark weight
    sec_now = fixed + np.bincount(idx[idx >= 0], weights=t[idx >= 0], minlength=len(sectors)) if sectors else fixed
    budget = max(0.0, float(np.sum(w - t)) - max(0.0, lim["cash_floor"] - defensive))  # proceeds above the floor
    cash_idx = [i for i in np.flatnonzero(cls == "cash")]
    spare = max(0.0, defensive - lim["cash_floor"]) if cash_idx else 0.0
    blocked: list[tuple[int, str]] = []
    buys = [i for i in np.flatnonzero(stock & (why == "")) if (signals.get(sym[i]) or {}).get("action") == "buy"
            and _agreement(signals.get(sym[i]))[0] >= MIN_AGREE]
    for i in sorted(buys, key=lambda i: (-_agreement(signals.get(sym[i]))[0], sym[i])):
        j = idx[i]
        bench_w = float(bench.get(sectors[j], 0.0)) if j >= 0 else 0.0
        room_pos = lim["position_cap"] - t[i]
        room_sec = bench_w - sec_now[j] if j >= 0 else 0.0
        if room_pos <= 1e-9:
            blocked.append((i, f"already at {pct(w[i])} vs the {pct(lim['position_cap'])} position cap (overweight)"))
            continue
        if room_sec <= 1e-9:
            label = own_sector[i]
            blocked.append((i, f"{label} is already {pct(sec_now[j])} of the portfolio vs {pct(bench_w)} in "
                               "the benchmark (overweight sector)"))
            continue
        size = min(room_pos, room_sec, budget + spare)
        if size <= 1e-9:
            blocked.append((i, "no trim proceeds or cash above the floor fund it in this plan"))
            continue
        from_spare = max(0.0, size - budget)
        budget, spare = max(0.0, budget - size), spare - from_spare
        t[i], why[i], notes[i] = t[i] + size, "add", from_spare
        sec_now[j] += size
        for c in cash_idx:  # the cash funds pay for what the trims do not
            take = min(from_spare, t[c])
            t[c], from_spare = t[c] - take, from_spare - take
            why[c] = why[c] or "fund"
    trades = sizing.whole_shares(w, t, total, price, qty)
    after = trades["weight_after"]
    sec_after = fixed + (np.bincount(idx[idx >= 0], weights=after[idx >= 0], minlength=len(sectors))
                         if sectors else 0.0)
    cash_after = float(after[np.isin(cls, ("cash", "commodity"))].sum()) + float(-np.sum(trades["amount"])) / total
    recs = []
    order = sorted(range(len(sym)), key=lambda i: (trades["amount"][i] > 0, -abs(trades["amount"][i]), sym[i]))
    for i in order:
        n = int(trades["shares"][i])
        if n == 0:
            continue
        j = idx[i]
        sector = own_sector[i]
        sector_after = float(sec_after[j]) if j >= 0 else (cash_after if cls[i] in ("cash", "commodity") else None)
        agree, rules = _agreement(signals.get(sym[i]))
        reason = _reason(why[i], sym[i], w[i], after[i], lim, sector, j, sec_before, caps, bench, agree, rules,
                         signals.get(sym[i]))
        signal_led = why[i] in ("signal", "add")
        recs.append({
            "action": "add" if n > 0 else "reduce", "symbol": sym[i], "reason": reason,
            "confidence": rnd(agree / rules, 2) if signal_led else None,
            "agreement": f"{agree} of {rules} signal rules" if signal_led else "portfolio limit rule",
            "timeframe": "1-4 weeks" if signal_led else "1-2 weeks",
            "weight": rnd(float(w[i])), "target_weight": rnd(float(after[i])), "amount_inr": rnd(float(trades["amount"][i]), 2),
            "shares": n, "last_price": rnd(float(price[i]), 2), "sector": sector,
            **({"sector_weight_after": rnd(sector_after)} if sector_after is not None else {}),
        })
    for i, why_not in blocked:
        agree, rules = _agreement(signals.get(sym[i]))
        action = "watch" if why_not.startswith("no trim") else "hold"
        recs.append({"action": action, "symbol": sym[i], "confidence": None,
                     "agreement": f"{agree} of {rules} signal rules", "timeframe": "1-4 weeks",
                     "reason": f"Buy signal ({agree} of {rules} rules agree), but not adding: {why_not}",
                     "weight": rnd(float(w[i])), "sector": own_sector[i]})
    if not recs:
        top = int(np.argmax(w))
        recs.append({"action": "hold", "symbol": sym[top], "confidence": None, "agreement": "no action",
                     "reason": (f"No stock above the {pct(lim['position_cap'])} position cap or its sector cap, and "
                                f"no signal with {MIN_AGREE} or more of 4 rules agreeing"),
                     "timeframe": "1 month", "weight": rnd(float(w[top])), "sector": own_sector[top]})
    limits = {k: rnd(v) for k, v in lim.items()}
    recs = [{k: r.get(k) for k in REC_FIELDS} for r in recs[:10]]
    return {"recommendations": recs, "limits": limits,
            "sector_caps": {s: rnd(float(c)) for s, c in zip(sectors, caps)},
            "plan": {"sold_inr": rnd(abs(float(trades["amount"][trades["amount"] < 0].sum())), 2),
                     "bought_inr": rnd(float(trades["amount"][trades["amount"] > 0].sum()), 2),
                     "defensive_weight_after": rnd(cash_after)},
            "summary": _summary(trades["amount"], total, cash_after, bench, look, sectors)}


def _summary(amount, total: float, cash_after: float, bench: dict, look: dict, sectors: list[str]) -> str:
    sold, bought = abs(float(amount[amount < 0].sum())), float(amount[amount > 0].sum())
    if sold == 0 and bought == 0:
        return "No trade is needed to meet the profile's limits."
    under = sorted(((float(look["sector_weights"].get(s, 0.0)) - v, s) for s, v in bench.items()))[:2]
    text = (f"The plan sells {inr(sold)} and buys {inr(bought)} in whole shares at the last prices; cash and "
            f"defensive holdings after it: {pct(cash_after)} of value.")
    if sold > bought and under and under[0][0] < 0:
        text += (" The most underweight sectors vs the benchmark, where proceeds could go: "
                 + ", ".join(f"{s} ({-gap * 100:.2f} pp below)" for gap, s in under if gap < 0) + ".")
    return text


def _reason(why, symbol, w, t, lim, sector, j, sector_over, caps, bench, agree, rules, signal) -> str:
    sector_text = (f"{sector} is {pct(float(sector_over[j]))} of the portfolio, above its sector cap "
                   f"({pct(float(caps[j]))}: {pct(float(bench.get(sector, 0.0)))} in the benchmark + "
                   f"{pct(lim['sector_active_cap'])})") if j >= 0 and sector_over[j] > caps[j] + 1e-9 else ""
    if why == "position":
        return (f"Overweight position ({pct(w)} vs the {pct(lim['position_cap'])} position cap)"
                + (f" and {sector_text}" if sector_text else "") + f": trim to {pct(t)}")
    if why == "sector":
        return f"{sector_text}: trim pro rata with the sector's other stocks to {pct(t)}"
    if why == "cash_floor":
        return (f"Raise cash to the {pct(lim['cash_floor'])} floor of the conservative profile: trim the largest "
                "risk contributor first")
    if why == "signal":
        text = "; ".join((signal or {}).get("reasons", [])[:2])
        return f"Sell signal ({agree} of {rules} rules agree: {text}): trim by {pct(SELL_CUT * agree / rules, 1)}"
    if why == "add":
        text = "; ".join((signal or {}).get("reasons", [])[:2])
        bench_w = float(bench.get(sector, 0.0))
        return (f"Buy signal ({agree} of {rules} rules agree: {text}); {sector} stays at or below its "
                f"{pct(bench_w)} benchmark weight and the stock within the {pct(lim['position_cap'])} position cap; "
                "funded by the trims and cash above the floor")
    if why == "fund":
        return f"Use cash above the {pct(lim['cash_floor'])} floor to fund the adds in this plan"
    return f"Rebalance {symbol} to {pct(t)}"


def size_text(rec: dict) -> str:
    """``"sell 12 shares (INR 18,720.00) to 8.00%"`` for a sized recommendation, else empty."""
    if rec.get("shares") is None or rec.get("amount_inr") is None:
        return ""
    verb = "buy" if rec["shares"] > 0 else "sell"
    return f"{verb} {abs(rec['shares'])} shares ({inr(abs(rec['amount_inr']))}) to {pct(rec['target_weight'])}"
