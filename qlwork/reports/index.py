"""The ``<as_of>/index.html`` page of a report batch: one row per user with status, headline figures,
links and duration. Run-specific values are in ``qlwork-volatile`` spans (see :mod:`qlwork.reports`)."""

from __future__ import annotations

from html import escape

from .. import __version__
from ..review.render import STYLE, volatile
from ..tools.context import DISCLAIMER


def _cell(value) -> str:
    return "" if value is None else escape(str(value))


def index_html(as_of: str, entries: dict[str, dict], generated_at: str) -> str:
    rows = []
    for uid, e in entries.items():
        ok = e.get("status") == "ok"
        status = f'<b style="color:{"#1b6e20" if ok else "#b00000"}">{escape(str(e.get("status")))}</b>'
        score = "" if e.get("overall_score") is None else f"{e['overall_score']:.1f}"
        value = "" if e.get("total_value") is None else f"INR {e['total_value']:,.2f}"
        dur = e.get("duration_s")
        links = (f'<a href="{escape(e.get("html", ""))}">report</a> · '
                 + (f'<a href="{escape(e["pdf"])}">PDF</a> · ' if e.get("pdf") else "")
                 + f'<a href="{escape(e.get("notebook", ""))}">notebook</a>')
        params = e.get("parameters") or {}
        rows.append(
            f"<tr><td>{_cell(uid)}</td><td>{status}</td><td class='num'>{score}</td><td>{_cell(e.get('risk_level'))}</td>"
            f"<td class='num'>{value}</td><td>{_cell(params.get('portfolio'))}</td><td>{_cell(params.get('backend'))}</td>"
            f"<td>{links}</td><td class='num'>{volatile('n/a' if dur is None else f'{dur:.1f} s', 'duration_s')}</td>"
            f"<td>{_cell(e.get('error'))}</td></tr>")
    synthetic = any(e.get("synthetic") for e in entries.values())
    notice = ('<div class="qlwork-synthetic"><b>SYNTHETIC DATA.</b> Reports marked demo use qlwork\'s generated '
              "prices, not NSE data.</div>") if synthetic else ""
    failed = sum(e.get("status") != "ok" for e in entries.values())
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>qlwork weekly reports {escape(as_of)}</title>{STYLE}</head>
<body class="qlwork-report" style="font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:1.5em"><h1>Weekly portfolio reports as of {escape(as_of)}</h1>
<p>{len(entries)} users, {len(entries) - failed} ok, {failed} failed. Generated at
{volatile(generated_at, 'generated_at')} by qlwork {escape(__version__)}.</p>{notice}
<table><thead><tr><th>User</th><th>Status</th><th>Score</th><th>Risk level</th><th>Value</th><th>Portfolio</th>
<th>Backend</th><th>Links</th><th>Duration</th><th>Error</th></tr></thead><tbody>
{''.join(rows)}
</tbody></table>
<div class="qlwork-disclaimer"><b>Disclaimer.</b> {escape(DISCLAIMER)} No orders were placed.</div>
</body></html>
"""
