"""HTML fragments and figures for a :class:`~qlwork.review.Review` (one per report section).

Values that differ between two runs of the same inputs (ids, the clock, tool timings) are wrapped in
``<span class="qlwork-volatile" data-field="...">``: the declared non-deterministic parts of a report.
Everything else is a pure function of the review's data.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from html import escape

import numpy as np

from .. import formatting as F
from ..assistant.advice import describe as describe_advice
from ..assistant.grounding import describe
from ..assistant.response import agreement_label, size_label
from ..charts import allocation_figure, equity_drawdown_figure, indicator_figure, sector_figure
from ..charts.style import DARK_CHART_CSS
from ..tools.context import DISCLAIMER
from ..tools.trading import METRIC_DEFINITIONS

VOLATILE_CLASS = "qlwork-volatile"
EXTRA_DEFINITIONS = {
    "total_return": "Simple return of the value curve over the window.",
    "alpha": "Annualised return not explained by beta to NIFTY 50.",
}
STYLE = """<style>
.qlwork-report table{border-collapse:collapse;margin:0.4em 0;font-size:0.92em}
.qlwork-report th,.qlwork-report td{border:1px solid #ccc;padding:3px 8px;text-align:left !important}
.qlwork-report th{background:#f0f3f7}
.qlwork-report td.num{text-align:right !important;font-variant-numeric:tabular-nums}
.qlwork-synthetic{background:#fff4ce;border:1px solid #e0b100;padding:6px 10px;margin:6px 0}
.qlwork-disclaimer{background:#f4f4f4;border-left:4px solid #888;padding:6px 10px}
.qlwork-neg{color:#b00000}.qlwork-pos{color:#1b6e20}
.qlwork-lede{color:#444;margin:0.2em 0 0.6em}.qlwork-cap{font-weight:bold;color:#8a5a00}
.qlwork-report td,.qlwork-report th{vertical-align:top}.qlwork-report td.num{white-space:nowrap}
.jp-RenderedSVG img,.jp-RenderedImage img{max-width:100% !important;height:auto}
.qlwork-report{max-width:100%;overflow-wrap:break-word}
.qlwork-synthetic,.qlwork-disclaimer{color:#1a1a1a}
body[data-jp-theme-light='false'] .qlwork-report th{background:var(--jp-layout-color2,#333)}
body[data-jp-theme-light='false'] .qlwork-neg{color:#ff8a80}body[data-jp-theme-light='false'] .qlwork-pos{color:#81c784}
</style>""" + DARK_CHART_CSS


def volatile(value, field: str) -> str:
    """A run-specific value, marked so comparisons can mask it."""
    return f'<span class="{VOLATILE_CLASS}" data-field="{escape(field)}">{escape(str(value))}</span>'


def _wrap(title: str, body: str) -> str:
    return f'<div class="qlwork-report"><h3>{escape(title)}</h3>{body}</div>'


def _sign_class(x) -> str:
    return "" if x is None else (" qlwork-neg" if x < 0 else " qlwork-pos" if x > 0 else "")


def table(headers: list[str], rows: list[list], numeric: set[int] = frozenset(), classes: list | None = None) -> str:
    """An HTML table; cells are already-formatted strings (escaped here unless marked raw)."""
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = []
    for r, row in enumerate(rows):
        cells = []
        for i, cell in enumerate(row):
            raw = isinstance(cell, tuple)
            text = cell[0] if raw else escape("" if cell is None else str(cell))
            cls = ("num" if i in numeric else "") + ((classes[r][i] if classes else "") or "")
            cells.append(f'<td class="{cls.strip()}">{text}</td>' if cls.strip() else f"<td>{text}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


# -- sections ------------------------------------------------------------------------------------

def holdings_html(review) -> str:
    """Holdings with amounts in INR (currency in the headers, Indian digit grouping) and sector weights."""
    a, cur = review.analysis, F.currency_header
    rows, classes = [], []
    for h in sorted(a.get("holdings", []), key=lambda h: (-h["weight"], h["symbol"])):
        rows.append([h["symbol"], h.get("sector"), F.quantity(h["quantity"]), F.amount(h.get("average_price")),
                     F.amount(h.get("last_price")), F.amount(h.get("market_value")), F.pct(h["weight"]),
                     F.amount(h.get("pnl"), signed=True), F.pct(h.get("pnl_pct"), signed=True)])
        classes.append([""] * 7 + [_sign_class(h.get("pnl"))] * 2)
    rows.append(["Total", "", "", "", "", F.amount(a.get("total_value")), F.pct(1.0),
                 F.amount(a.get("total_pnl"), signed=True), ""])
    classes.append([""] * 7 + [_sign_class(a.get("total_pnl")), ""])
    body = table(["Symbol", "Sector", "Qty", cur("Avg price"), cur("Last price"), cur("Value"), "Weight",
                  cur("P&L"), "P&L %"], rows, numeric={2, 3, 4, 5, 6, 7, 8}, classes=classes)
    if review.sectors:
        bench = escape(review.params["benchmark"])
        srows = [[r["sector"], F.pct(r["portfolio"]), F.pct(r["benchmark"]), F.pp(r["active"], 2)] for r in review.sectors]
        classes = [["", "", "", _sign_class(round(r["active"], 4))] for r in review.sectors]
        body += (f"<h4>Sector weights vs {bench}</h4>" + table(["Sector", "Portfolio", "Benchmark", "Active (pp)"], srows,
                                                                numeric={1, 2, 3}, classes=classes)
                 + f"<p>Shares of the whole portfolio and of the whole {bench}; active = portfolio minus benchmark, "
                   "in percentage points (the active column sums to zero). Cash-like holdings (liquid ETFs) and "
                   "holdings without a known sector are rows of their own. The health score's sector balance "
                   "compares the classified part only (see the score breakdown).</p>")
    return _wrap(f"Holdings ({len(a.get('holdings', []))})", body)


def assessment_html(review) -> str:
    r = review.response
    s = review.series.summary()
    head = table([f"{F.label('overall_score')} (0-10)", "Risk level", "Window", "Portfolio return",
                  f"{review.params['benchmark']} return"],
                 [[F.ratio(r.get("overall_score"), 1), F.label(r.get("risk_level") or "n/a"),
                   f"{s['start']} to {s['end']} ({s['days']} days)", F.pct(s["portfolio_return"], signed=True),
                   F.pct(s["benchmark_return"], signed=True)]])
    defs = {**METRIC_DEFINITIONS, **EXTRA_DEFINITIONS}
    metrics = r.get("risk_metrics") or review.analysis.get("risk_metrics") or {}
    rows = [[F.label(k), F.metric(k, v), defs.get(k, "")] for k, v in metrics.items()]
    return _wrap("Score, risk level and risk metrics", head + table(["Metric", "Value", "Definition"], rows, {1}))


def recommendations_html(review) -> str:
    recs = review.response.get("recommendations") or []
    if not recs:
        return _wrap("Recommendations", "<p>No recommendations this week.</p>")
    rows = [[F.label(x.get("action") or ""), x.get("symbol"), x.get("reason"), size_label(x), agreement_label(x),
             x.get("timeframe")] for x in recs]
    return _wrap("Recommendations", table(["Action", "Symbol", "Reason", "Size", "Signal agreement", "Timeframe"],
                                          rows, set()))


def insights_html(review) -> str:
    items = "".join(f"<li>{escape(i)}</li>" for i in review.response.get("insights") or [])
    return _wrap("Insights", f"<ul>{items}</ul>" if items else "<p>No insights.</p>")


def change_html(review) -> str:
    """Last week's and this week's figures side by side; changes of fractions in percentage points."""
    ch = review.change()
    if ch is None:
        return _wrap("Change since last week", "<p>No previous weekly review for this user: this is the baseline "
                     "that next week's report compares against.</p>")
    sc, rl, tv = ch["score"], ch["risk_level"], ch["total_value"]
    rows = [[f"{F.label('overall_score')} (0-10)", F.ratio(sc["previous"], 1), F.ratio(sc["current"], 1),
             F.ratio(sc["delta"], 1, signed=True)],
            ["Risk level", F.label(rl["previous"] or "n/a"), F.label(rl["current"] or "n/a"),
             "changed" if rl["changed"] else "unchanged"],
            [F.currency_header("Value"), F.amount(tv["previous"]), F.amount(tv["current"]),
             F.amount(tv["delta"], signed=True)]]
    rows += [[F.label(k), F.metric(k, m["previous"]), F.metric(k, m["current"]), F.metric_change(k, m["delta"])]
             for k, m in ch["risk_metrics"].items()]
    body = f"<p>Compared with the review as of {escape(str(ch['previous_as_of']))} " \
           f"(thread {volatile((review.previous or {}).get('thread_id'), 'previous_thread_id')}).</p>"
    body += table(["Item", "Last week", "This week", "Change"], rows, {1, 2, 3})
    lines = []
    if ch["added"] or ch["removed"]:
        lines.append(f"Holdings added: {', '.join(ch['added']) or 'none'}; removed: {', '.join(ch['removed']) or 'none'}.")
    if ch["weight_changes"]:
        lines.append("Weight changes of 0.5 points or more: " + ", ".join(
            f"{s} {F.pp(d)}" for s, d in ch["weight_changes"].items()) + ".")
    for key, label in (("new_recommendations", "New recommendations"), ("dropped_recommendations", "Dropped")):
        if ch[key]:
            lines.append(f"{label}: " + ", ".join(f"{a} {s}" for a, s in ch[key]) + ".")
    body += "<ul>" + "".join(f"<li>{escape(x)}</li>" for x in lines) + "</ul>" if lines else ""
    return _wrap("Change since last week", body)


def _short(value, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def audit_rows(calls: list[dict], report_calls: list[dict]) -> list[dict]:
    """The tool calls behind the answer and the report without ids or timings, for the emitted result
    and the workbook: ``{tool, arguments (JSON text), status, output_fields}``."""
    rows = []
    for c in [*calls, *report_calls]:
        args, out = c.get("arguments") or {}, c.get("output")
        rows.append({"tool": c.get("name"), "arguments": args if isinstance(args, str) else json.dumps(args, sort_keys=True),
                     "status": "ok" if not c.get("error") else "error",
                     "output_fields": ", ".join(sorted(out)[:12]) if isinstance(out, dict) else ""})
    return rows


def audit_html(review) -> str:
    """The tool calls behind the answer and the report (a part of the appendix)."""
    rows = []
    for i, c in enumerate(review.calls, 1):
        out = c.get("output")
        keys = ", ".join(sorted(out)[:8]) if isinstance(out, dict) else _short(out, 80)
        err = c.get("error")
        status = "ok" if not err else f"error: {err.get('message') if isinstance(err, dict) else err}"
        ms = c.get("duration_ms")
        args = c.get("arguments") or "{}"
        args = args if isinstance(args, str) else json.dumps(args, sort_keys=True)
        shown = f"<code>{escape(_short(args))}</code>" + (" (thread defaults)" if args.strip() in ("{}", "") else "")
        rows.append([i, c.get("id"), c.get("name"), (shown,),
                     (volatile(f"{ms:.1f} ms" if isinstance(ms, (int, float)) else "n/a", "duration_ms"),),
                     status, keys])
    if review.direct_analysis:
        rows.append([len(rows) + 1, "(report)", "analyze_portfolio", ("<code>{}</code>",), "n/a", "ok",
                     "called by the report itself because the assistant did not call it"])
    for c in review.report_calls:
        out = c.get("output")
        rows.append([len(rows) + 1, "(report)", c["name"],
                     (f"<code>{escape(json.dumps(c.get('arguments') or {}, sort_keys=True))}</code>",),
                     (volatile(f"{c.get('duration_ms', 0):.1f} ms", "duration_ms"),),
                     "ok" if not c.get("error") else f"error: {c['error']}",
                     ", ".join(sorted(out)[:8]) + " (the tearsheet figures)" if isinstance(out, dict) else ""])
    grounded = describe((review.response or {}).get("grounding"))  # "n of m figures traced to tool outputs"
    advised = describe_advice((review.response or {}).get("advice"))  # the advice check, beside it
    intro = (f"<p>Run {volatile(review.run_id, 'run_id')} on thread {volatile(review.thread_id, 'thread_id')}; "
             f"backend {escape(review.params['backend'])}, model {escape(str(review.model))}. "
             + (f'<span class="qlwork-grounding">{escape(grounded)}</span>' if grounded else
                "Every figure in the answer comes from these tool outputs.")
             + (f' <span class="qlwork-advice">{escape(advised)}.</span>' if advised else "")
             + f" Full trail: <code>qlwork threads show {volatile(review.thread_id, 'thread_id')}</code>.</p>")
    return "<h3>Audit trail: tool calls</h3>" + intro + table(
        ["#", "Call id", "Tool", "Arguments", "Duration", "Status", "Output fields"], rows)


def disclaimer_html(review) -> str:
    extra = " Demo prices are synthetic." if review.synthetic else ""
    return (f'<div class="qlwork-report qlwork-disclaimer"><b>Disclaimer.</b> {escape(DISCLAIMER)} '
            f"No orders were placed.{extra}</div>")


# -- figures -------------------------------------------------------------------------------------

def figure(review, name: str):
    a, s = review.analysis, review.series
    if name == "allocation":
        return allocation_figure(a.get("holdings", []), synthetic=review.synthetic,
                                 benchmark_weights=getattr(review, "benchmark_weights", None) or {},
                                 benchmark=review.params["benchmark"])
    if name == "sectors":
        rows = review.sectors
        return sector_figure({r["sector"]: r["portfolio"] for r in rows if r["portfolio"] > 0},
                             {r["sector"]: r["benchmark"] for r in rows if r["benchmark"] > 0}, synthetic=review.synthetic,
                             benchmark=review.params["benchmark"])
    if name == "equity":
        return equity_drawdown_figure(s.dates, s.equity, s.benchmark, synthetic=review.synthetic,
                                      benchmark=s.benchmark_name,
                                      title=f"Holdings value vs {s.benchmark_name} and drawdown", projected=True)
    raise ValueError(f"unknown chart {name!r}; use allocation, sectors or equity")


_PANEL_SVG: OrderedDict = OrderedDict()
"""Indicator panel images by a digest of everything drawn (symbol, dates, every value, the synthetic
mark): a pure function of market data, so one batch kernel draws a symbol's panel once and users who
hold the same stock on the same day get the identical image. Content-addressed: an entry is only ever
returned for inputs that would draw exactly the same bytes, so it tells no user anything about another."""
PANEL_CACHE_SIZE = 64


def indicator_image(review, panel):
    """The panel as a :class:`~qlwork.charts.VectorImage`, drawn once per distinct content."""
    import hashlib

    from ..charts import VectorImage

    h = hashlib.sha256(f"{panel.symbol}|{review.synthetic}|{','.join(panel.dates)}".encode())
    for values in (panel.close, panel.rsi, panel.macd, panel.signal, panel.hist, panel.sma50, panel.sma200,
                   panel.volume):
        h.update(b"-" if values is None else np.ascontiguousarray(values, dtype=float).tobytes())
    key = h.hexdigest()
    hit = _PANEL_SVG.get(key)
    if hit is None:
        alt = f"Chart: {panel.symbol} price, SMA50/200, volume, RSI, MACD"
        hit = _PANEL_SVG[key] = VectorImage(indicator(review, panel), alt=alt)
        while len(_PANEL_SVG) > PANEL_CACHE_SIZE:
            _PANEL_SVG.popitem(last=False)
    else:
        _PANEL_SVG.move_to_end(key)
    return hit


def indicator(review, panel):
    return indicator_figure(panel.dates, panel.close, panel.rsi, panel.macd, panel.signal, panel.hist,
                            panel.symbol, synthetic=review.synthetic, volume=panel.volume, sma50=panel.sma50,
                            sma200=panel.sma200)
