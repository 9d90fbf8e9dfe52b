"""The ``<as_of>/index.html`` page of a report batch: one row per user for triage (status, score and
its change since last week, risk level, 1W return, value), links and duration. Numbers and labels come
from :mod:`qlwork.formatting`; times are shown in India time (IST). Run-specific values are in
``qlwork-volatile`` spans (see :mod:`qlwork.reports`)."""

from __future__ import annotations

from html import escape

from .. import __version__
from .. import formatting as F
from ..review.render import STYLE, volatile
from ..tools.context import DISCLAIMER
from .pdf import PRINT_CSS

COLUMNS = ("User", "Status", "Health score", "Score change", "Risk level", "1W return", F.currency_header("Value"),
           "Portfolio", "Backend", "Links", "Duration", "Error")


INDEX_CSS = """<style>
.qlwork-index{width:100%}
.qlwork-index td{overflow-wrap:anywhere}
@media screen and (max-width: 1000px){
  .qlwork-index thead{display:none}
  .qlwork-index,.qlwork-index tbody,.qlwork-index tr,.qlwork-index td{display:block;width:auto}
  .qlwork-index tr{border:1px solid #ccc;margin:0 0 0.6em;padding:2px 0}
  .qlwork-index td{border:none !important;display:flex;justify-content:space-between;gap:1em;
                   text-align:right !important}
  .qlwork-index td::before{content:attr(data-label);font-weight:bold;text-align:left}
  .qlwork-index td:empty{display:none}
}
</style>"""
"""Below 1000 px wide the table becomes one card per user (a labelled line per column): no sideways
scrolling at 800 px or on a 368 px phone."""


def _cell(value) -> str:
    return "" if value is None else escape(str(value))


def _td(label: str, html: str, cls: str = "") -> str:
    return f"<td data-label='{escape(label)}'" + (f" class='{cls}'" if cls else "") + f">{html}</td>"


def _num(label: str, text: str, value=None) -> str:
    sign = "" if not isinstance(value, (int, float)) else " qlwork-neg" if value < 0 else " qlwork-pos" if value > 0 else ""
    return _td(label, escape(text), f"num{sign}")


def _row(uid: str, e: dict) -> str:
    ok = e.get("status") == "ok"
    status = f'<b style="color:{"#1b6e20" if ok else "#b00000"}">{escape(str(e.get("status")))}</b>'
    missing = "" if not ok else "n/a"
    score = F.ratio(e["overall_score"], 1) if e.get("overall_score") is not None else missing
    change = F.ratio(e["score_change"], 1, signed=True) if e.get("score_change") is not None else missing
    week = F.pct(e["return_1w"], signed=True) if e.get("return_1w") is not None else missing
    value = F.amount(e["total_value"]) if e.get("total_value") is not None else missing
    risk = F.label(e["risk_level"]) if e.get("risk_level") else missing
    dur = e.get("duration_s")
    links = (f'<a href="{escape(e.get("html", ""))}">report</a> · '
             + (f'<a href="{escape(e["pdf"])}">PDF</a> · ' if e.get("pdf") else "")
             + (f'<a href="{escape(e["xlsx"])}">Excel</a> · ' if e.get("xlsx") else "")
             + f'<a href="{escape(e.get("notebook", ""))}">notebook</a>')
    params = e.get("parameters") or {}
    c = COLUMNS
    return ("<tr>" + _td(c[0], _cell(uid)) + _td(c[1], status) + _num(c[2], score)
            + _num(c[3], change, e.get("score_change")) + _td(c[4], escape(risk))
            + _num(c[5], week, e.get("return_1w")) + _num(c[6], value) + _td(c[7], _cell(params.get("portfolio")))
            + _td(c[8], _cell(params.get("backend"))) + _td(c[9], links)
            + _td(c[10], volatile("n/a" if dur is None else f"{dur:.1f} s", "duration_s"), "num")
            + _td(c[11], _cell(e.get("error"))) + "</tr>")


def index_html(as_of: str, entries: dict[str, dict], generated_at: str) -> str:
    """The index page; ``generated_at`` is an ISO 8601 time (shown in IST)."""
    synthetic = any(e.get("synthetic") for e in entries.values())
    notice = ('<div class="qlwork-synthetic"><b>SYNTHETIC DATA.</b> Reports marked demo use qlwork\'s generated '
              "prices, not NSE data.</div>") if synthetic else ""
    failed = sum(e.get("status") != "ok" for e in entries.values())
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qlwork weekly reports {escape(as_of)}</title>{STYLE}{PRINT_CSS}{INDEX_CSS}<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body class="qlwork-report" style="font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1em;overflow-wrap:anywhere"><h1>Weekly portfolio reports as of {escape(as_of)}</h1>
<p>{len(entries)} users, {len(entries) - failed} ok, {failed} failed. Generated at
{volatile(F.when(generated_at, seconds=True), 'generated_at')} by qlwork {escape(__version__)}. Score change is
this week's health score minus last week's; the 1W return is the holdings' over the last 7 days.</p>{notice}
<table class="qlwork-index"><thead><tr>{head}</tr></thead><tbody>
{''.join(_row(uid, e) for uid, e in entries.items())}
</tbody></table>
<div class="qlwork-disclaimer"><b>Disclaimer.</b> {escape(DISCLAIMER)} No orders were placed.</div>
</body></html>
"""
