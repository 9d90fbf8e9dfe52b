"""Composing the offline engine's answers from tool outputs.

Rules: every figure is copied from a tool output of this run or an earlier run in the thread
(fractions may be shown as percentages with two decimals); nothing is invented. A tool error is
reported with its fix rather than hidden.
"""

from __future__ import annotations

import re

from ... import formatting as F
from ...market.base import source_label
from .compose_strategy import signal_agreement as _agreement, strategy_answer
from .advice_guard import guard
from .compose_risk_cut import compose_cut_risk
from .intent import Intent

CAPABILITIES = [
    "Review your portfolio: health score (0-10), risk level, concentration, sector exposure vs NIFTY 50 "
    "and rebalancing ideas (try: 'Analyze my portfolio').",
    "Look at a sector: your holdings in it and signals for its stocks (try: 'What about the technology sector?').",
    "Build and backtest a strategy: momentum or mean reversion on a sector or symbols "
    "(try: 'Generate a strategy for tech stocks').",
    "Measure risk: volatility, Sharpe, Sortino, max drawdown, beta, VaR and CVaR (try: 'What is my risk?').",
    "Signals and prices for symbols (try: 'Signals for RELIANCE and TCS').",
]
ORDER_REQUEST = re.compile(r"\b(?:place|put|execute|submit|send)\b.{0,20}\border|\b(?:buy|sell)\b.{0,40}"
                           r"\b(?:for me|now|right away|immediately|at market)\b|\bshares? of\b.{0,30}\bfor me\b",
                           re.IGNORECASE)
READ_ONLY_NOTE = ("qlwork is read-only on your broker account: it never places, modifies or cancels orders. "
                  "Here is what the tools say instead; place any order yourself in Kite.")
ENGINE_NOTE = "Answered by qlwork's offline rule engine (deterministic rules, not a language model)."


def pct(x) -> str:
    """A fraction as a percentage with two decimals (0.0523 -> '5.23%'), by the one formatter."""
    return F.pct(x)


def _latest(outputs: list[tuple[str, dict, dict]], prior: list[dict], name: str,
            include_prior: bool = True) -> dict | None:
    for tool_name, _, out in reversed(outputs):
        if tool_name == name and "error" not in out:
            return out
    if include_prior:
        for item in reversed(prior):
            out = item.get("output") or {}
            if item.get("name") == name and isinstance(out, dict) and "error" not in out:
                return out
    return None


def _errors(outputs) -> list[str]:
    notes = []
    for name, _, out in outputs:
        err = out.get("error") if isinstance(out, dict) else None
        if err:
            fix = f" Fix: {err['fix']}" if err.get("fix") else ""
            notes.append(f"{name} could not run: {err.get('message')}{fix}")
    return notes


def _error_code(outputs) -> str:
    """The machine-readable code of the first tool error (e.g. ``no_portfolio``), else ``tool_error``."""
    for _, _, out in outputs:
        err = out.get("error") if isinstance(out, dict) else None
        if isinstance(err, dict) and isinstance(err.get("code"), str):
            return err["code"]
    return "tool_error"


def _base(analysis_type: str, outputs) -> dict:
    source = next((o.get("data_source") for _, _, o in outputs if isinstance(o, dict) and o.get("data_source")), None)
    answer = {"analysis_type": analysis_type, "overall_score": None, "risk_level": None, "recommendations": [],
              "insights": [], "risk_metrics": {}}
    if source:
        answer["data_source"] = source_label(source)
    return answer


def _signal_recs(signals: list[dict], held: set[str], min_conf: float = 0.5) -> list[dict]:
    recs = []
    for s in sorted(signals, key=lambda s: (-s["confidence"], s["symbol"])):
        if s["action"] == "hold" or s["confidence"] < min_conf:
            continue
        if s["symbol"] in held:
            action = "add" if s["action"] == "buy" else "reduce"
        else:
            action = s["action"] if s["confidence"] >= 0.65 else "watch"
            action = "watch" if action == "sell" else action  # not held: nothing to sell
        recs.append({"action": action, "symbol": s["symbol"], "reason": "; ".join(s["reasons"][:2]),
                     "confidence": s["confidence"], "agreement": _agreement(s), "timeframe": "1-4 weeks"})
    return recs[:6]


def compose_portfolio(outputs, prior) -> dict:
    a = _latest(outputs, prior, "analyze_portfolio", include_prior=False)
    r = _latest(outputs, prior, "calculate_risk_metrics", include_prior=False)
    answer = _base("portfolio_health", outputs)
    if a is None:
        return answer
    # a compacted output (a small model's prompt, assistant/backends/transcript.py) may lack the lists
    answer.update(overall_score=a["overall_score"], risk_level=a["risk_level"],
                  recommendations=list(a.get("recommendations") or []), insights=list(a.get("insights") or []),
                  risk_metrics=dict(a.get("risk_metrics") or {}))
    if r:
        m = next(iter(r["metrics"].values()))
        answer["risk_metrics"].update({k: v for k, v in m.items() if k not in answer["risk_metrics"]})
        var = next((v for k, v in m.items() if k.startswith("var_") and not k.endswith("parametric")), None)
        cvar = next((v for k, v in m.items() if k.startswith("cvar_")), None)
        answer["insights"].append(
            f"On a bad day (1-day {r['confidence'] * 100:g}% historical VaR) the portfolio loses about "
            f"{pct(-var if var is not None else None)}; the average loss beyond that is {pct(-cvar if cvar is not None else None)}.")
    return answer


def compose_sector(intent: Intent, outputs, prior) -> dict:
    s = _latest(outputs, prior, "generate_trading_signals", include_prior=False)
    a = _latest(outputs, prior, "analyze_portfolio")
    answer = _base("sector_analysis", outputs)
    if s is None:
        return answer
    sector = intent.sector or s.get("sector")
    held = {h["symbol"]: h for h in (a or {}).get("holdings", []) if h.get("sector") == sector}
    if a is not None:
        built_on = "the previous portfolio analysis" if _latest(outputs, [], "analyze_portfolio") is None \
            else "a fresh portfolio analysis"
        answer.update(overall_score=a["overall_score"], risk_level=a["risk_level"])
        weight = a["sector_weights"].get(sector, 0.0)
        active = a.get("active_sector_weights", {}).get(sector)
        if held:
            answer["insights"].append(
                f"Building on {built_on} (score {a['overall_score']}, {a['risk_level']} risk): {sector} is "
                f"{pct(weight)} of your portfolio ({', '.join(sorted(held))})"
                + (f", {F.pp(abs(active), 2)[1:]} {'above' if active >= 0 else 'below'} the NIFTY 50 weight."
                   if active is not None else "."))
            for sym, h in sorted(held.items()):
                answer["insights"].append(f"{sym}: weight {pct(h['weight'])}, unrealised P&L {pct(h['pnl_pct'])}.")
        else:
            answer["insights"].append(f"Building on {built_on}: your portfolio holds no {sector} stocks, so any "
                                      f"{sector} exposure would be new.")
        answer["risk_metrics"] = {"sector_weight": weight, **({"active_sector_weight": active} if active is not None else {})}
    counts = s.get("summary", {})
    answer["insights"].append(
        f"Signals across the {sector} stocks in the universe: {counts.get('buy', 0)} buy, {counts.get('sell', 0)} sell, "
        f"{counts.get('hold', 0)} hold (as of {s['as_of']}).")
    answer["recommendations"] = _signal_recs(s["signals"], set(held))
    return answer


def compose_strategy(intent: Intent, outputs, prior) -> dict:
    s = _latest(outputs, prior, "generate_trading_signals", include_prior=False)
    answer = _base("strategy", outputs)
    if s is None or "backtest" not in s:
        return answer
    return strategy_answer(answer, s, _latest(outputs, prior, "analyze_portfolio"))


def compose_risk(outputs, prior) -> dict:
    r = _latest(outputs, prior, "calculate_risk_metrics", include_prior=False)
    answer = _base("risk_assessment", outputs)
    if r is None:
        return answer
    a = _latest(outputs, prior, "analyze_portfolio")
    if r["subject"] == "portfolio" and a is not None:
        answer.update(overall_score=a["overall_score"], risk_level=a["risk_level"])
    for name, m in r["metrics"].items():
        var = next((v for k, v in m.items() if k.startswith("var_") and not k.endswith("parametric")), None)
        answer["insights"].append(
            f"{name}: volatility {pct(m['volatility'])}, Sharpe {F.ratio(m['sharpe_ratio'])}, max drawdown "
            f"{pct(m['max_drawdown'])}, beta {F.ratio(m['beta'])}, 1-day VaR {pct(var)} over {r['window']['days']} "
            f"trading days ({r['window']['start']} to {r['window']['end']}).")
    if top := (r.get("risk_contributions") or {}).get("holdings", [])[:3]:
        answer["insights"].append("Largest contributors to volatility at today's weights: " + ", ".join(
            f"{h['symbol']} {pct(h['share_of_volatility'])}" for h in top) + " (ask 'What should I sell to cut risk?').")
    if len(r["metrics"]) == 1:
        answer["risk_metrics"] = dict(next(iter(r["metrics"].values())))
    else:
        answer["extra"] = {"per_symbol": r["metrics"]}
    return answer


def compose_signals(outputs, prior) -> dict:
    s = _latest(outputs, prior, "generate_trading_signals", include_prior=False)
    d = _latest(outputs, prior, "get_market_data", include_prior=False)
    a = _latest(outputs, prior, "analyze_portfolio")
    answer = _base("trading_signals" if d is None else "market_data", outputs)
    held = {h["symbol"] for h in (a or {}).get("holdings", [])}
    if d is not None:
        for sym, x in d["data"].items():
            answer["insights"].append(
                f"{sym}: last close {F.inr(x['last_close'])} on {d['window']['end']}, {pct(x['period_return'])} since "
                f"{d['window']['start']}; range {F.inr(x['low'])} to {F.inr(x['high'])}; volatility "
                f"{pct(x['volatility'])}.")
    if s is not None:
        for x in s["signals"]:
            agreed = f"signal agreement {_agreement(x)}" if _agreement(x) else "no signal agreement"
            answer["insights"].append(f"{x['symbol']}: {x['action']} ({agreed}): {'; '.join(x['reasons'][:3])}.")
        answer["recommendations"] = _signal_recs(s["signals"], held, min_conf=0.0)
    return answer


def compose_help(tools: list[str], intent: Intent | None = None) -> dict:
    """The help answer, saying first what was understood (symbols, sector) and what to ask about them."""
    understood = []
    if intent is not None and intent.symbols:
        names = ", ".join(intent.symbols)
        plural = "s" if len(intent.symbols) > 1 else ""
        understood.append(f"I can't answer that with my tools. I understood the symbol{plural} {names}, but that "
                          f"question needs facts my tools do not have (people, news, corporate events). About {names} "
                          f"I can give prices, signals and risk (try: 'Signals for {intent.symbols[0]}').")
    if intent is not None and intent.sector:
        understood.append(f"I understood the sector {intent.sector} (try: 'What about the {intent.sector} sector?').")
    return {"analysis_type": "help", "overall_score": None, "risk_level": None, "recommendations": [],
            "insights": understood + ["I did not recognise a request I can answer with my tools. I can:"]
            + CAPABILITIES, "risk_metrics": {}}


def _not_found(outputs) -> list[str]:
    """An insight per symbol a tool did not find (the known ones were answered)."""
    notes = []
    for _, _, out in outputs:
        for item in (out.get("symbols_not_found") or []) if isinstance(out, dict) else []:
            notes.append(f"Not answered for {item['message']}")
    return list(dict.fromkeys(notes))


def compose_compare(outputs, prior) -> dict:
    answer = compose_portfolio(outputs, prior)
    answer["analysis_type"] = "portfolio_comparison"
    before = _latest([], prior, "analyze_portfolio")
    now = _latest(outputs, [], "analyze_portfolio")
    if before and now:
        answer["insights"].insert(0, (
            f"Since the previous analysis (as of {before['as_of']}): score {before['overall_score']} -> {now['overall_score']}, "
            f"risk {before['risk_level']} -> {now['risk_level']}, value {F.inr(before['total_value'])} -> {F.inr(now['total_value'])}."))
    elif now:
        answer["insights"].insert(0, "There is no earlier analysis in this thread to compare with.")
    return answer


def compose(intent: Intent, text: str, outputs, prior, tools: list[str]) -> dict:
    """The answer for ``intent`` (a dict in TradingResponse shape, without conversation_context)."""
    kind = intent.kind
    if kind == "help":
        answer = compose_help(tools, intent)
    elif kind == "portfolio":
        answer = compose_portfolio(outputs, prior)
    elif kind == "compare":
        answer = compose_compare(outputs, prior)
    elif kind == "sector":
        answer = compose_sector(intent, outputs, prior)
    elif kind == "strategy":
        answer = compose_strategy(intent, outputs, prior)
    elif kind == "risk":
        answer = compose_risk(outputs, prior)
    elif kind == "cut_risk":
        answer = compose_cut_risk(_latest(outputs, prior, "calculate_risk_metrics", include_prior=False),
                                  _base("risk_reduction", outputs))
    else:
        answer = compose_signals(outputs, prior)
    if kind in ("sector", "strategy", "signals", "market_data"):  # buy signals checked against the portfolio
        answer["recommendations"] = guard(answer["recommendations"], _latest(outputs, prior, "analyze_portfolio"),
                                          intent.sector)
    return finish(answer, kind, text, outputs)


def finish(answer: dict, kind: str, text: str, outputs) -> dict:
    """What every offline answer ends with: tool errors with their fixes, symbols not found, the
    read-only note for an order request, and the engine note."""
    errors = _errors(outputs)
    answer["insights"] = _not_found(outputs) + answer["insights"]
    if errors:
        answer["insights"] = errors + answer["insights"]
        if not answer["recommendations"] and answer.get("overall_score") is None and kind != "help":
            answer["analysis_type"] = "error"
            answer.setdefault("extra", {})["error"] = _error_code(outputs)
    if ORDER_REQUEST.search(text or ""):
        answer["insights"].insert(0, READ_ONLY_NOTE)
    answer["insights"].append(ENGINE_NOTE)
    return answer
