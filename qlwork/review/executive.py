"""The report's first page and its appendix, for a :class:`~qlwork.review.Review`.

The first page reads top-down as a portfolio manager's page: title, the synthetic-data notice, then
the executive summary (value; 1W/1M/YTD/1Y returns against the benchmark with the active return; the
health score with what it is made of; the risk level; the top three actions). The appendix at the end
holds the run details (thread, run, version, times in IST) and the audit trail of tool calls.

Conventions as everywhere in reports (:mod:`qlwork.formatting`): returns in %, the active return
(portfolio minus benchmark) and weight changes in percentage points, amounts with Indian digit
grouping and the currency in the column header. Run-specific values sit in volatile spans.
"""

from __future__ import annotations

from html import escape

from .. import __version__
from .. import formatting as F
from ..assistant.render import cap_text, score_breakdown
from ..assistant.response import agreement_label, size_label
from .render import STYLE, _sign_class, audit_html, table, volatile
from .series import PERIODS

PERIOD_NAMES = {"1W": "1 week", "1M": "1 month", "YTD": "Year to date", "1Y": "1 year"}
TOP_ACTIONS = 3


def top_actions(recommendations: list[dict], n: int = TOP_ACTIONS) -> list[dict]:
    """The first ``n`` recommendations that ask for a change, in the assistant's order (a "hold" only
    when nothing else is recommended)."""
    recs = [r for r in recommendations or [] if isinstance(r, dict)]
    moves = [r for r in recs if str(r.get("action", "")).lower() != "hold"]
    return (moves or recs)[:n]


def _lede(review) -> str:
    p = review.params
    src = (review.analysis.get("data_source") or {}).get("provider") or p.get("provider")
    return (f'<p class="qlwork-lede">As of {escape(p["as_of"])} (ISO week {escape(review.week)}) · portfolio '
            f'{escape(str(p["portfolio"]))} · {escape(p["risk_profile"])} risk profile, {escape(p["horizon"])} horizon'
            f' · benchmark {escape(p["benchmark"])} · data: {escape(str(src))}</p>')


def _headline(review) -> str:
    a, r = review.analysis, review.response
    ch = review.change()
    score_change = "n/a (first review)" if ch is None else F.ratio(ch["score"]["delta"], 1, signed=True)
    week = (review.returns or {}).get("1W") or {}
    return table([F.currency_header("Value"), F.currency_header("Unrealised P&L"), "1W return",
                  f"{F.label('overall_score')} (0-10)", "Score change vs last week", "Risk level"],
                 [[F.amount(a.get("total_value")), F.amount(a.get("total_pnl"), signed=True),
                   F.pct(week.get("portfolio"), signed=True), F.ratio(r.get("overall_score"), 1), score_change,
                   F.label(r.get("risk_level") or "n/a")]], numeric={0, 1, 2, 3, 4},
                 classes=[["", _sign_class(a.get("total_pnl")), _sign_class(week.get("portfolio")), "", "", ""]])


def returns_html(review) -> str:
    """1W/1M/YTD/1Y returns of the holdings and the benchmark, and the active return in points."""
    bench = review.params["benchmark"]
    rows, classes = [], []
    for p in PERIODS:
        ret = (review.returns or {}).get(p)
        if not ret:
            rows.append([PERIOD_NAMES[p], "n/a", "n/a", "n/a", "n/a"])
            classes.append([""] * 5)
            continue
        name = PERIOD_NAMES[p] + (f" ({ret['days']} trading days)" if p == "1Y" else "")
        rows.append([name, ret["start"], F.pct(ret["portfolio"], signed=True),
                     F.pct(ret["benchmark"], signed=True), F.pp(ret["active"], 2)])
        classes.append(["", "", _sign_class(ret["portfolio"]), _sign_class(ret["benchmark"]), _sign_class(ret["active"])])
    end = review.params.get("prices_as_of") or review.params["as_of"]
    note = (f"<p>Returns of today's holdings held through each period (from the close on the date shown to "
            f"{escape(end)}); the active return is the portfolio's minus {escape(bench)}'s, "
            "in percentage points. Every return in this report compounds one daily series: the 1-year row is the "
            "analysis window of the risk metrics, the score and the equity chart.</p>" + (f"<p>{escape(review.params['as_of_note'])}</p>"
                                         if review.params.get("as_of_note") else ""))
    return "<h4>Returns</h4>" + table(["Period", "From close of", "Portfolio", bench, "Active return"], rows,
                                      numeric={2, 3, 4}, classes=classes) + note


def score_html(review) -> str:
    """The health score's components (score, weight, what was measured) and any cap, from the
    ``analyze_portfolio`` output the report is built on."""
    breakdown = score_breakdown([{"name": "analyze_portfolio", "output": review.analysis}])
    given = review.response.get("overall_score")
    head = (f"<h4>{escape(F.label('overall_score'))} {escape(F.ratio(given, 1))}/10: what it is made of</h4>"
            "<p>A weighted mean of the components below (each scored 0-10 against the "
            f"{escape(review.params['risk_profile'])} risk profile), not a quality rating.</p>")
    if not breakdown:
        return head + "<p>No score breakdown in the analysis.</p>"
    rows = [[c["label"], F.ratio(c["score"], 1), F.pct(c["weight"], 0), c["value"], c["rule"]]
            for c in breakdown["components"]]
    body = table(["Component", "Score (0-10)", "Weight", "Measured", "Scoring rule"], rows, numeric={1, 2})
    body += "".join(f'<p class="qlwork-cap">{escape(cap_text(cap))}</p>' for cap in breakdown["caps"])
    if breakdown.get("risk_level_rule"):
        body += f'<p class="qlwork-risk-rule">{escape(breakdown["risk_level_rule"])}</p>'
    tool = review.analysis.get("overall_score")
    if isinstance(given, (int, float)) and isinstance(tool, (int, float)) and round(given, 1) != round(tool, 1):
        body += (f"<p>The answer's score ({F.ratio(given, 1)}) differs from the analysis tool's "
                 f"({F.ratio(tool, 1)}); the components are the tool's.</p>")
    return head + body


def actions_html(review) -> str:
    """The top three actions of the recommendations, as a numbered list."""
    picks = top_actions(review.response.get("recommendations") or [])
    if not picks:
        return "<h4>Top actions</h4><p>No actions recommended this week.</p>"
    items = "".join(
        f"<li><b>{escape(F.label(str(r.get('action') or '')))} {escape(str(r.get('symbol') or ''))}</b>: "
        f"{escape(str(r.get('reason') or ''))}" + (f"; {escape(size_label(r))}" if size_label(r) else "")
        + f" ({escape(agreement_label(r))}"
        + (f", {escape(str(r['timeframe']))}" if r.get("timeframe") else "") + ")</li>" for r in picks)
    return f"<h4>Top actions</h4><ol>{items}</ol>"


def header_html(review) -> str:
    """Title, synthetic-data notice and the executive summary."""
    notice = ""
    if review.synthetic:
        notice = ('<div class="qlwork-synthetic"><b>SYNTHETIC DATA.</b> Prices come from qlwork\'s deterministic '
                  'demo generator, not from NSE. Figures illustrate the method only.</div>')
    summary = (f'<h3>Executive summary</h3>{_headline(review)}{returns_html(review)}{score_html(review)}'
               f'{actions_html(review)}<p>Details follow; run details and the audit trail are in the appendix.</p>')
    return (f'<div class="qlwork-report qlwork-summary">{STYLE}<h2>Weekly portfolio review: '
            f'{escape(review.params["user_id"])}</h2>{notice}{_lede(review)}{summary}</div>')


def appendix_html(review) -> str:
    """Run details (the real thread and run ids, version, generation time in IST) and the audit trail."""
    p = review.params
    src = review.analysis.get("data_source") or {}
    backend = f"{p['backend']}" + (f" / model {review.model}" if review.model else "")
    if p["backend"] == "offline":
        backend += " (deterministic rule engine, not a language model)"
    rows = [["User", p["user_id"]], ["As of", f"{p['as_of']} (ISO week {review.week})"],
            ["Portfolio", p["portfolio"]], ["Risk profile / horizon", f"{p['risk_profile']} / {p['horizon']}"],
            ["Benchmark", p["benchmark"]],
            ["Data source", f"{src.get('provider')}: {src.get('description') or ''}".strip()],
            ["Assistant backend", backend],
            ["Generated at", (volatile(F.when(review.generated_at, seconds=True), "generated_at"),)],
            ["Thread", (volatile(review.thread_id, "thread_id"),)], ["Run", (volatile(review.run_id, "run_id"),)],
            ["qlwork version", __version__]]
    return (f'<div class="qlwork-report qlwork-appendix"><h2>Appendix: run details and audit trail</h2>'
            f'<h3>Run details</h3>{table(["Field", "Value"], rows)}{audit_html(review)}</div>')
