"""The offline engine's strategy answer, from a ``generate_trading_signals`` backtest output.

What it says, in order: the rule and its costs; whether the strategy beat or lost to equal-weight
buy-and-hold of the same stocks and the benchmark index (first, so a losing strategy is never
presented as a win); the stated window and the warm-up left out of it; the strategy's and both
comparisons' metrics over that window; the out-of-sample check (parameters chosen on the first part,
reported on the second). Every figure is copied from the tool output.

Recommendations for the rule's current picks follow the signals and the portfolio: ``buy``/``add`` only
when the symbol's own signal is a buy and the strategy beat buy-and-hold; otherwise ``watch`` with the
reason; a held position above its target weight (the health report's rule) gets ``hold``, never ``add``;
a buy or add into a sector the portfolio already holds above its NIFTY 50 weight says so.
"""

from __future__ import annotations

from ...analytics.health import target_weight
from ...formatting import label, pct, ratio

BUY_AND_HOLD = "equal-weight buy-and-hold"


def signal_agreement(signal: dict) -> str | None:
    """"3 of 4 signal rules" from a signal's agreement (None for a hold or an older output without it)."""
    a = signal.get("agreement") or {}
    return f"{a['agree']} of {a['rules']} signal rules" if a.get("rules") and signal.get("action") != "hold" else None


def _rule(s: dict, p: dict, universe: str) -> str:
    if s["strategy"] == "momentum":
        return (f"hold the top {p['top_n']} {universe} stocks by {p['lookback']}-day return, skipping the last "
                f"{p['skip']} days, rebalanced every {p['rebalance_every']} trading days")
    return (f"buy {universe} stocks whose price falls {abs(p['entry_z']):g} standard deviations below the "
            f"{p['window']}-day mean, exit at the mean")


def _book_line(name: str, m: dict, trading: bool) -> str:
    text = (f"{name}: total return {pct(m['total_return'])}, CAGR {pct(m['cagr'])}, volatility "
            f"{pct(m['volatility'])}, Sharpe {ratio(m['sharpe_ratio'])}, Sortino {ratio(m['sortino_ratio'])}, max "
            f"drawdown {pct(m['max_drawdown'])}, Calmar {ratio(m['calmar_ratio'])}, hit rate {pct(m['hit_rate'])}")
    if trading:
        text += (f"; {m['trades']} trades, turnover {ratio(m['turnover'])} times the book, costs {pct(m['total_costs'])} "
                 f"of capital, invested on {m['days_invested']} of {m['days']} days")
    return text + "."


def _verdict_line(what: str, metrics: dict, verdict: dict, bench: str) -> str:
    s, b, i = (metrics[k] for k in ("strategy", "buy_and_hold", "benchmark"))
    figures = (f"total return {pct(s['total_return'])} vs {pct(b['total_return'])} (buy-and-hold) and "
               f"{pct(i['total_return'])} ({bench}); CAGR {pct(s['cagr'])} vs {pct(b['cagr'])} and {pct(i['cagr'])}")
    beat_b, beat_i = verdict["beats_buy_and_hold"], verdict["beats_benchmark"]
    what = f"{what} the strategy" if what else "the strategy"
    if not beat_b and not beat_i:
        head = f"{what} LOST to both {BUY_AND_HOLD} of the same stocks and the {bench}"
    elif not beat_b:
        head = f"{what} beat the {bench} but LOST to {BUY_AND_HOLD} of the same stocks"
    elif not beat_i:
        head = f"{what} beat {BUY_AND_HOLD} but LOST to the {bench}"
    else:
        head = f"{what} beat both {BUY_AND_HOLD} of the same stocks and the {bench}"
    return f"{head}: {figures}."


def _params_text(s: dict, chosen: dict) -> str:
    if s["strategy"] == "momentum":
        return f"lookback {chosen['lookback']} days, rebalanced every {chosen['rebalance_every']} days"
    return f"{chosen['window']}-day window, entry at z {chosen['entry_z']:g}"


def _oos_line(s: dict, o: dict, bench: str) -> str:
    if not o or o.get("method") is None:
        return (o or {}).get("note") or "No out-of-sample check was run."
    tr, te = o["train"], o["test"]
    head = (f"Out of sample (train/test split): parameters chosen on {tr['start']} to {tr['end']} (best "
            f"{label(o['criterion'])} of {o['combinations']} combinations: {_params_text(s, o['chosen'])}), "
            f"then run on {te['start']} to {te['end']} only:")
    return head + " " + _verdict_line("", o["metrics"], o["verdict"], bench)


def _overweight(a: dict | None) -> dict[str, float]:
    """Held symbols above the portfolio's target weight (health.target_weight) -> their weight."""
    holdings = (a or {}).get("holdings") or []
    if not holdings:
        return {}
    target = target_weight(len(holdings), a.get("risk_profile") or "moderate")
    return {h["symbol"]: h["weight"] for h in holdings if h["weight"] > target + 1e-12}


def _sector_flag(sym: str, s: dict, a: dict | None) -> str:
    """A note when buying ``sym`` adds to a sector the portfolio already holds above its NIFTY 50 weight."""
    if not a:
        return ""
    sector = next((h.get("sector") for h in a.get("holdings", []) if h["symbol"] == sym), None) or s.get("sector")
    active = (a.get("active_sector_weights") or {}).get(sector)
    if active is None or active <= 0:
        return ""
    return (f"; {sector} is already {pct(active)} above its NIFTY 50 weight in your portfolio (overweight "
            "sector): keep any new position small")


def _recommendations(s: dict, b: dict, a: dict | None, style: str) -> list[dict]:
    sig = {x["symbol"]: x for x in s["signals"]}
    held = {h["symbol"] for h in (a or {}).get("holdings", [])}
    over = _overweight(a)
    profile = (a or {}).get("risk_profile") or "moderate"
    beats = b["verdict"]["beats_buy_and_hold"]
    recs = []
    for sym in b.get("final_holdings") or []:
        x = sig.get(sym)
        signal = x["action"] if x else None
        why = f"; signal: {x['reasons'][0]}" if x and x["reasons"] else ""
        base = f"Currently selected by the {style} rule"
        if signal != "buy":
            action, why = "watch", ""
            said = f" ({x['reasons'][0]})" if x and x["reasons"] else ""
            reason = (f"{base}, but its own indicator signal is {signal or 'not available'}{said}"
                      f"{'; the rule and the signal disagree' if signal == 'sell' else ''}; wait for a buy signal")
        elif not beats:
            action = "watch"
            reason = (f"{base} with a buy signal, but the strategy lost to {BUY_AND_HOLD} over the backtest, so the "
                      "backtest is no reason to buy it")
        elif sym in over:
            action = "hold"
            reason = (f"{base} with a buy signal, but it is already {pct(over[sym])} of your portfolio, above its "
                      f"target weight for a {profile} profile (overweight): hold, do not add")
        elif sym in held:
            action, reason = "add", f"{base} with a buy signal; held and within its target weight"
        else:
            action = "buy"
            reason = base + " with a buy signal" + ("" if a else "; no portfolio analysis in this thread, so check "
                                                                 "what you already hold before sizing it")
        if action in ("buy", "add"):
            reason += _sector_flag(sym, s, a)
        recs.append({"action": action, "symbol": sym, "reason": reason + why,
                     "confidence": x["confidence"] if x and x["action"] != "hold" else None,
                     "agreement": signal_agreement(x) if x else None,
                     "timeframe": f"{b['parameters'].get('rebalance_every', 21)} trading days"})
    return recs


def strategy_answer(answer: dict, s: dict, a: dict | None) -> dict:
    """Fill ``answer`` (a TradingResponse dict) from the signals-and-backtest output ``s`` and, when the
    thread has one, the portfolio analysis ``a``."""
    b = s["backtest"]
    p, w, warm, m = b["parameters"], b["window"], b["warmup"], b["metrics"]
    bench = b.get("benchmark") or "benchmark"
    universe = s.get("sector") or ", ".join(s["symbols"])
    style = "Momentum" if s["strategy"] == "momentum" else "Mean-reversion"
    insights = [
        f"{style} strategy: {_rule(s, p, universe)}; costs {p['cost_bps']:g} bps of turnover, charged alike to the "
        f"strategy, {BUY_AND_HOLD} and the {bench}; decisions use the previous close only.",
        _verdict_line(f"Over {w['start']} to {w['end']}", m, b["verdict"], bench),
        f"Window {w['start']} to {w['end']} ({w['days']} trading days); every figure covers it exactly. The "
        f"{warm['days']} trading days before it ({warm['start']} to {warm['end']}) only warm up the first signals "
        "and are in no figure.",
        _book_line("Strategy", m["strategy"], True),
        _book_line("Equal-weight buy-and-hold of the same stocks", m["buy_and_hold"], False),
        _book_line(bench, m["benchmark"], False),
        _oos_line(s, b.get("out_of_sample"), bench),
    ]
    if not b["verdict"]["beats_buy_and_hold"]:
        insights.append("On this evidence the rule did not add value over simply holding the same stocks; its "
                        "current picks below are marked watch, not buy.")
    answer["insights"] = insights
    answer["risk_metrics"] = {k: m["strategy"][k] for k in ("max_drawdown", "sharpe_ratio", "sortino_ratio",
                                                             "volatility", "cagr") if m["strategy"].get(k) is not None}
    answer["recommendations"] = _recommendations(s, b, a, style.lower())
    if a is not None:
        held = {h["symbol"] for h in a.get("holdings", [])}
        overlap = sorted(held & set(s["symbols"]))
        insights.append("From the earlier portfolio analysis: you already hold "
                        + (", ".join(overlap) if overlap else f"none of these {universe} stocks")
                        + "; size any new position against your current weights.")
    o = b.get("out_of_sample") or {}
    answer["extra"] = {"strategy": s["strategy"], "parameters": p, "backtest_window": w, "warmup": warm,
                       "benchmark": bench, "verdict": b["verdict"],
                       "out_of_sample": {k: o[k] for k in ("method", "train", "test", "chosen", "verdict") if k in o}}
    return answer
