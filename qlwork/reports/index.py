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


def _cell(value) -> str:
    return "" if value is None else escape(str(value))


def _num(text: str, value=None) -> str:
    sign = "" if not isinstance(value, (int, float)) else " qlwork-neg" if value < 0 else " qlwork-pos" if value > 0 else ""
    return f"<td class='num{sign}'>{escape(text)}</td>"


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
             + f'<a href="{escape(e.get("notebook", ""))}">notebook</a>')
    params = e.get("parameters") or {}
    return (f"<tr><td>{_cell(uid)}</td><td>{status}</td>{_num(score)}{_num(change, e.get('score_change'))}"
            f"<td>{escape(risk)}</td>{_num(week, e.get('return_1w'))}{_num(value)}<td>{_cell(params.get('portfolio'))}</td>"
            f"<td>{_cell(params.get('backend'))}</td><td>{links}</td>"
            f"<td class='num'>{volatile('n/a' if dur is None else f'{dur:.1f} s', 'duration_s')}</td>"
            f"<td>{_cell(e.get('error'))}</td></tr>")


def index_html(as_of: str, entries: dict[str, dict], generated_at: str) -> str:
    """The index page; ``generated_at`` is an ISO 8601 time (shown in IST)."""
    synthetic = any(e.get("synthetic") for e in entries.values())
    notice = ('<div class="qlwork-synthetic"><b>SYNTHETIC DATA.</b> Reports marked demo use qlwork\'s generated '
              "prices, not NSE data.</div>") if synthetic else ""
    failed = sum(e.get("status") != "ok" for e in entries.values())
    head = "".join(f"<th>{escape(c)}</th>" for c in COLUMNS)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qlwork weekly reports {escape(as_of)}</title>{STYLE}{PRINT_CSS}</head>
<body class="qlwork-report" style="font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em"><h1>Weekly portfolio reports as of {escape(as_of)}</h1>
<p>{len(entries)} users, {len(entries) - failed} ok, {failed} failed. Generated at
{volatile(F.when(generated_at, seconds=True), 'generated_at')} by qlwork {escape(__version__)}. Score change is
this week's health score minus last week's; the 1W return is the holdings' over the last 7 days.</p>{notice}
<table><thead><tr>{head}</tr></thead><tbody>
{''.join(_row(uid, e) for uid, e in entries.items())}
</tbody></table>
<div class="qlwork-disclaimer"><b>Disclaimer.</b> {escape(DISCLAIMER)} No orders were placed.</div>
</body></html>
"""
