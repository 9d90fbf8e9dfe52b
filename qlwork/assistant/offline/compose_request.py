"""Answers for the structured request's own tasks: compare with a benchmark over a period, rank by a
metric, explain a symbol (and say plainly that sizing is beyond the tools).

Every figure is copied from this run's tool outputs (fractions shown as percentages with two
decimals). Each answer records the symbols it was about in ``extra.entities`` for follow-ups.
"""

from __future__ import annotations

from .compose import _base, _latest, _signal_recs, pct
from .intent import Intent

RATIO_METRICS = ("beta", "sharpe_ratio")
NO_SIZING = ("no position-sizing tool: the tools give signals, weights and risk, not how many shares to buy")


def phrase(label: str) -> str:
    """"over 1 year", "year to date", "since 2026-03-01"."""
    return label if label.startswith(("since", "year to")) else f"over {label}"


def _shown(metric: str, value) -> str:
    if value is None:
        return "n/a"
    return f"{value}" if metric in RATIO_METRICS else pct(value)


def compose_benchmark(intent: Intent, outputs, prior) -> dict:
    c = _latest(outputs, prior, "compare_with_benchmark", include_prior=False)
    answer = _base("benchmark_comparison", outputs)
    if c is None:
        return answer
    w, bench, label = c["window"], c["benchmark"], c["period_label"]
    span = f"{phrase(label)} ({w['start']} to {w['end']}, {w['days']} trading days)"
    if c["subject"] == "portfolio":
        answer["insights"].append(
            f"Your portfolio returned {pct(c['portfolio_return'])} {span} against {pct(c['benchmark_return'])} for "
            f"{bench}: an active return of {c['active_return_pp']} percentage points.")
        if c.get("best"):
            best, worst = c["returns"][c["best"]], c["returns"][c["worst"]]
            answer["insights"].append(f"Best holding {c['best']} {pct(best['return'])}, weakest {c['worst']} "
                                      f"{pct(worst['return'])} over the same window.")
        answer["risk_metrics"] = {"portfolio_return": c["portfolio_return"], "benchmark_return": c["benchmark_return"],
                                  "active_return": c["active_return"]}
    else:
        req = intent.request
        about = f"{' and '.join(req.sectors)} stocks in the universe against " if req and req.sectors and not \
            req.resolved else ""
        answer["insights"].append(f"{about}{bench}: the index returned {pct(c['benchmark_return'])} {span}.")
        answer["risk_metrics"] = {"benchmark_return": c["benchmark_return"]}
    ordered = sorted(c["returns"], key=lambda s: -(c["returns"][s]["return"] if c["returns"][s]["return"] is not None
                                                     else float("-inf")))
    if c["subject"] == "symbols":
        for sym in ordered:
            r = c["returns"][sym]
            answer["insights"].append(f"{sym}: {pct(r['return'])}, an active return of {pct(r['active'])} against "
                                      f"{bench} ({'ahead' if (r['active'] or 0) >= 0 else 'behind'}).")
    answer["extra"] = {"comparison": {"period": c["period"], "benchmark": bench, "window": w},
                       "entities": {"symbols": ordered}}
    return answer


def compose_rank(intent: Intent, outputs, prior) -> dict:
    r = _latest(outputs, prior, "rank_holdings", include_prior=False)
    answer = _base("ranking", outputs)
    if r is None:
        return answer
    m, w, ranking = r["metric"], r["window"], r["ranking"]
    if not ranking:
        return answer
    top = ranking[0]
    what = {"volatility": "highest volatility", "beta": "highest beta", "max_drawdown": "deepest drawdown",
            "var_95": "largest 1-day 95% VaR", "return": "best return", "sharpe_ratio": "best Sharpe ratio",
            "weight": "largest weight"}[m] if r["order"] == ("asc" if m in ("max_drawdown", "var_95") else "desc") \
        else f"lowest {m.replace('_', ' ')}"
    answer["insights"].append(f"{top['symbol']} has the {what} {phrase(r['period_label'])} ({w['start']} to {w['end']}): "
                              f"{m.replace('_', ' ')} {_shown(m, top['value'])}.")
    answer["insights"].append("Ranked by " + m.replace("_", " ") + ": " + ", ".join(
        f"{x['rank']}. {x['symbol']} {_shown(m, x['value'])}" for x in ranking[:10]) + f". {r['definition']}")
    answer["extra"] = {"ranking": {"metric": m, "order": r["order"], "period": r["period"], "window": w,
                                   "symbols": [x["symbol"] for x in ranking]},
                       "entities": {"symbols": [x["symbol"] for x in ranking]}}
    return answer


def compose_explain(intent: Intent, outputs, prior) -> dict:
    s = _latest(outputs, prior, "generate_trading_signals", include_prior=False)
    a = _latest(outputs, prior, "analyze_portfolio")
    answer = _base("symbol_explanation", outputs)
    req = intent.request
    held = {h["symbol"]: h for h in (a or {}).get("holdings", [])}
    for x in (s or {}).get("signals", []):
        answer["insights"].append(f"Why {x['symbol']}: the signal is {x['action']} (confidence {x['confidence']}) "
                                  f"because {'; '.join(x['reasons'][:3]) or 'no rule fired'}.")
        h = held.get(x["symbol"])
        if h:
            answer["insights"].append(f"You already hold {x['symbol']}: {h['quantity']} shares, weight {pct(h['weight'])} "
                                      f"of INR {a['total_value']}, unrealised P&L {pct(h['pnl_pct'])}.")
        elif a is not None:
            answer["insights"].append(f"You do not hold {x['symbol']} yet; your largest position is "
                                      f"{max(a['holdings'], key=lambda h: h['weight'])['symbol']} of "
                                      f"{len(a['holdings'])} holdings.")
    if req is not None and req.sizing:
        answer["insights"].append(f"How much to buy: I can't answer that with my tools ({NO_SIZING}). Size it yourself "
                                  "against your profile's single-name limit and the weights above.")
        answer.setdefault("extra", {})["not_done"] = [{"part": "sizing", "why": NO_SIZING}]
    answer["recommendations"] = _signal_recs((s or {}).get("signals", []), set(held), min_conf=0.0)
    answer.setdefault("extra", {})["entities"] = {"symbols": [x["symbol"] for x in (s or {}).get("signals", [])]}
    return answer


REQUEST_KINDS = {"benchmark": compose_benchmark, "rank": compose_rank, "explain": compose_explain}
