"""HTML rendering for the assistant widget: pure functions from answers, steps and errors to HTML.

Every value that comes from a user, a model or a tool is escaped. Works on plain dicts (or pydantic
models, which are dumped first) so notebooks, the widget and exports can share it. Styling is inline
and uses JupyterLab's CSS variables (with fallbacks) so it reads well in light and dark themes.
"""

from __future__ import annotations

import html
import re
from typing import Any

from .. import formatting as F
from ..assistant.grounding import describe
from ..assistant.render import cap_text
from ..assistant.response import agreement_label, size_label
from .checks import advice_html
from .records import answer_code_html, coverage_html

__all__ = [
    "answer_html",
    "breakdown_html",
    "cancelled_html",
    "describe_error",
    "error_html",
    "esc",
    "format_metric",
    "advice_html",
    "grounding_html",
    "header_html",
    "holdings_html",
    "notice_html",
    "pending_html",
    "user_html",
]

_CARD = ("border:1px solid var(--jp-border-color2,#ddd);border-radius:6px;padding:8px 10px;margin:4px 0;"
         "font-size:var(--jp-content-font-size1,13px);line-height:1.45;")
_TABLE = "border-collapse:collapse;margin:4px 0;width:100%;"
_TH = ("text-align:left;padding:3px 6px;border-bottom:1px solid var(--jp-border-color1,#bbb);"
       "font-weight:600;white-space:nowrap;")
_FIT = "contain:inline-size;overflow-x:auto;"  # wide tables scroll inside the card instead of widening the panel
_TH_WRAP = _TH.replace("white-space:nowrap;", "")  # headers that may wrap in a narrow (368 px) panel
_SNUG = "padding-left:4px;padding-right:4px;"  # narrower cell padding for a four-column table in a 368 px panel
_TD = "padding:3px 6px;border-bottom:1px solid var(--jp-border-color3,#eee);vertical-align:top;"
_MUTED = "color:var(--jp-ui-font-color2,#666);font-size:0.92em;"
WARN = ("border-left:3px solid var(--jp-warn-color1,#f57c00);background:var(--jp-warn-color3,rgba(245,124,0,0.08));"
         "padding:3px 8px;margin:3px 0;")
_RISK_COLOURS = {"low": "#2e7d32", "moderate": "#b26a00", "high": "#c62828", "very_high": "#8e0000"}
_ACTION_COLOURS = {"buy": "#2e7d32", "add": "#2e7d32", "sell": "#c62828", "reduce": "#c62828",
                   "rebalance": "#1565c0", "hold": "#555", "watch": "#6a1b9a"}


def esc(value: Any) -> str:
    """``value`` as escaped HTML text (None becomes an empty string)."""
    return "" if value is None else html.escape(str(value), quote=True)


def _as_dict(obj: Any) -> dict | None:
    if obj is None or isinstance(obj, dict):
        return obj
    dump = getattr(obj, "model_dump", None)
    return dump(mode="json") if callable(dump) else dict(obj)


def _badge(text: str, colour: str, css_class: str) -> str:
    return (f'<span class="{css_class}" style="display:inline-block;padding:1px 8px;margin-right:6px;border-radius:10px;'
            f'background:{colour};color:#fff;font-weight:600;font-size:0.92em">{esc(text)}</span>')


def format_metric(key: str, value: Any) -> str:
    """A risk metric for display (``qlwork.formatting.metric``): fractions as percentages, ratios to 2 decimals."""
    return F.metric(key, value)


def breakdown_html(breakdown: dict | None) -> str:
    """What the health score is made of (``assistant.render.score_breakdown``): one row per component with
    its score, weight and the value it was computed from, then any cap with its reason."""
    if not breakdown:
        return ""
    rows = "".join(
        f'<tr class="qlwork-score-component"><td style="{_TD}">{esc(c["label"])}</td>'
        f'<td style="{_TD}text-align:right;white-space:nowrap">{esc(_score(c["score"]))}</td>'
        f'<td style="{_TD}text-align:right;white-space:nowrap">{esc(F.pct(c["weight"], 0))}</td>'
        f'<td style="{_TD}" title="{esc(c["rule"])}">{esc(c["value"])}</td></tr>' for c in breakdown["components"])
    head = "".join(f'<th style="{_TH_WRAP}">{h}</th>' for h in ("Component", "Score /10", "Weight", "Based on"))
    caps = "".join(f'<div class="qlwork-score-cap" style="{WARN}">⚠ {esc(cap_text(c))}</div>'
                   for c in breakdown["caps"])
    return (f'<details class="qlwork-score-breakdown" open style="margin:2px 0 6px 0"><summary style="cursor:pointer;'
            f'{_MUTED}">What the score is made of (a weighted mean of components, not a quality rating)</summary>'
            f'<table style="{_TABLE}max-width:520px"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'
            f"{caps}" + (f'<div class="qlwork-risk-rule" style="{_MUTED}">{esc(breakdown["risk_level_rule"])}</div>'
                         if breakdown.get("risk_level_rule") else "") + "</details>")


def _score(x: Any) -> str:
    return f"{x:.1f}" if isinstance(x, (int, float)) else str(x)


def holdings_html(analysis: dict | None) -> str:
    """The holdings of an ``analyze_portfolio`` output as a table: Indian digit grouping, the currency in the
    headers (cells never wrap), weights and P&L in %; scrolls sideways in a narrow panel."""
    holdings = (analysis or {}).get("holdings") or []
    if not holdings:
        return ""
    # weight and P&L first after the symbol: in a narrow panel they are what stays in view
    cols = [("symbol", "Symbol", str), ("weight", "Weight", F.pct), ("pnl_pct", "P&L %", F.pct),
            ("quantity", "Qty", F.quantity), ("last_price", F.currency_header("Last"), F.amount),
            ("market_value", F.currency_header("Value"), F.amount), ("pnl", F.currency_header("P&L"), F.amount),
            ("sector", "Sector", str)]
    head = "".join(f'<th style="{_TH}">{esc(h)}</th>' for _, h, _ in cols)
    body = "".join("<tr>" + "".join(
        f'<td style="{_TD}white-space:nowrap;{"" if fmt is str else "text-align:right"}">'
        f'{esc(fmt(h.get(k)) if h.get(k) is not None else "")}</td>' for k, _, fmt in cols) + "</tr>"
        for h in holdings if isinstance(h, dict))
    return (f'<div style="font-weight:600;margin-top:6px">Holdings</div><div style="overflow-x:auto">'
            f'<table class="qlwork-holdings" style="{_TABLE}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody>'
            '</table></div><div class="qlwork-scroll-hint" style="' + _MUTED + '">Scroll the table sideways '
            "for all columns.</div>")


_MARK = ('<mark class="qlwork-untraced" title="not found in any tool output of this conversation" '
         'style="background:rgba(255,193,7,0.35);color:inherit;padding:0 2px;border-radius:3px;'
         'box-shadow:0 0 0 2px #f9a825">')


def _untraced(data: dict) -> dict[str, list[str]]:
    """Untraceable figures of an answer by where they appear (from its ``grounding``)."""
    out: dict[str, list[str]] = {}
    for item in ((data.get("grounding") or {}).get("untraceable") or []):
        if isinstance(item, dict) and item.get("where") and item.get("figure") is not None:
            out.setdefault(str(item["where"]), []).append(str(item["figure"]))
    return out


def _marked_text(text: Any, figures: list[str]) -> str:
    """``text`` escaped, each of ``figures`` wrapped in a <mark> (whole figures only, not digits of others)."""
    out = esc(text)
    if not figures:
        return out
    options = "|".join(re.escape(esc(f)) for f in sorted(set(figures), key=len, reverse=True))
    pattern = re.compile(r"(?<![\w.])(?:" + options + r")(?![\w]|\.\d)")  # one pass: never inside a mark
    return pattern.sub(lambda m: f"{_MARK}{m.group(0)}</mark>", out)


def _marked(html_text: str, untraced: bool) -> str:
    return f"{_MARK}{html_text}</mark>" if untraced else html_text


def grounding_html(grounding: Any) -> str:
    """The answer's grounding line ("n of m figures traced to tool outputs", any correction turn, what
    was not traced or is at odds with the tools). Empty for answers stored without a record."""
    g = _as_dict(grounding)
    line = describe(g)
    if not line:
        return ""
    flagged = g.get("status") == "flagged"
    return (f'<div class="qlwork-grounding" data-status="{esc(g.get("status"))}" style="{_MUTED}margin-top:4px;'
            f'color:{"#b26a00" if flagged else "#2e7d32"}">{"⚠" if flagged else "✓"} {esc(line)}</div>')


def _title(analysis_type: str | None) -> str:
    return (analysis_type or "answer").replace("_", " ").capitalize()


def answer_html(response: Any, text: str | None = None, breakdown: dict | None = None,
                analysis: dict | None = None) -> str:
    """A TradingResponse (model or dict) as an HTML card: score (with its ``breakdown`` from
    ``assistant.render.score_breakdown``), risk level, recommendations, insights, risk metrics, the
    holdings of an ``analyze_portfolio`` output (``analysis``) and data source. With no response, ``text``
    is shown as is."""
    data = _as_dict(response)
    if not data:
        body = esc(text or "(no answer)")
        return f'<div class="qlwork-answer-body" style="{_CARD}white-space:pre-wrap">{body}</div>'
    untraced = _untraced(data)
    out = [f'<div class="qlwork-answer-body" style="{_CARD}{_FIT}">',
           f'<div style="font-weight:600;font-size:1.08em;margin-bottom:4px">{esc(_title(data.get("analysis_type")))}'
           f'</div><div style="margin-bottom:6px">']
    score = data.get("overall_score")
    if score is not None:
        label = f"Score {score:g}/10" if isinstance(score, (int, float)) else f"Score {score}/10"
        out.append(_marked(_badge(label, "#37474f", "qlwork-score"), "overall_score" in untraced))
    risk = data.get("risk_level")
    if risk:
        out.append(_badge(f"Risk: {F.label(str(risk))}", _RISK_COLOURS.get(str(risk), "#555"), "qlwork-risk"))
    out.append("</div>")
    if score is not None:
        out.append(breakdown_html(breakdown))
    recs = data.get("recommendations") or []
    if recs:  # the reason gets its own full-width row, so it wraps under the symbol in a narrow panel;
        # "Time&shy;frame" may hyphenate, so the four columns fit a 368 px panel with the longest symbols
        out.append(f'<div style="font-weight:600;margin-top:6px">Recommendations</div>'
                   f'<table class="qlwork-recommendations" style="{_TABLE}"><thead><tr>'
                   + "".join(f'<th style="{_TH_WRAP}{_SNUG}">{h}</th>'
                             for h in ("Action", "Symbol", "Signal agreement", "Time&shy;frame"))
                   + "</tr></thead><tbody>")
        for i, rec in enumerate(recs):
            action = str(rec.get("action") or "")
            conf_text = _marked(esc(agreement_label(rec)), f"recommendations[{i}].confidence" in untraced)
            reason = _marked_text(rec.get("reason"), untraced.get(f"recommendations[{i}].reason", []))
            if size := size_label(rec):
                reason += f'<div class="qlwork-rec-size" style="{_MUTED}">{esc(size)}</div>'
            out.append(f'<tr class="qlwork-rec"><td style="{_TD}{_SNUG}border-bottom:none;'
                       f'color:{_ACTION_COLOURS.get(action, "#555")};font-weight:600">{esc(action.upper())}</td>'
                       f'<td style="{_TD}{_SNUG}border-bottom:none;font-weight:600">{esc(rec.get("symbol"))}</td>'
                       f'<td style="{_TD}{_SNUG}border-bottom:none">{conf_text}</td>'
                       f'<td style="{_TD}{_SNUG}border-bottom:none">{esc(rec.get("timeframe"))}</td></tr>'
                       f'<tr class="qlwork-rec-reason"><td colspan="4" style="{_TD}padding-left:14px">'
                       f'{reason}</td></tr>')
        out.append("</tbody></table>")
    insights = data.get("insights") or []
    if insights:
        out.append('<div style="font-weight:600;margin-top:6px">Insights</div>'
                   '<ul class="qlwork-insights" style="margin:2px 0 4px 18px;padding:0">'
                   + "".join(f"<li>{_marked_text(x, untraced.get(f'insights[{i}]', []))}</li>"
                             for i, x in enumerate(insights)) + "</ul>")
    metrics = data.get("risk_metrics") or {}
    if metrics:
        cells = "".join(f'<tr><td style="{_TD}">{esc(F.label(k))}</td>'
                        f'<td style="{_TD}text-align:right;font-family:var(--jp-code-font-family,monospace)">'
                        f"{_marked(esc(format_metric(k, v)), f'risk_metrics.{k}' in untraced)}</td></tr>"
                        for k, v in metrics.items())
        out.append('<div style="font-weight:600;margin-top:6px">Risk metrics</div>'
                   f'<table class="qlwork-metrics" style="{_TABLE}max-width:360px"><tbody>{cells}</tbody></table>')
    out.append(holdings_html(analysis))
    if data.get("data_source"):
        out.append(f'<div style="{_MUTED}margin-top:4px">Data (as the answer states it): '
                   f'{esc(data["data_source"])}</div>')
    if data.get("disclaimer"):
        out.append(f'<div style="{_MUTED}">{esc(data["disclaimer"])}</div>')
    if c := data.get("composed"):  # the model's answer was unusable (assistant/fallback.py): whose part is whose
        said = f" <b>Model commentary (from the model, unverified):</b> {esc(c.get('model_commentary'))}"
        out.append(f'<div class="qlwork-composed" style="{_MUTED}margin-top:4px">Composed by {esc(c.get("by"))} from '
                   f'the tools ({esc(", ".join(c.get("from_tools") or []))}): the model\'s answer could not be used.'
                   f'{said if c.get("model_commentary") else ""}</div>')
    out += [answer_code_html(data.get("extra")), grounding_html(data.get("grounding")), advice_html(data.get("advice")),
            coverage_html(data.get("coverage"))]
    out.append("</div>")
    return "".join(out)


def user_html(text: str, attachments: list[str] | None = None) -> str:
    """The user's turn (with the names of attached files)."""
    files = "".join(f'<div style="{_MUTED}">Attached: {esc(n)}</div>' for n in attachments or [])
    return (f'<div class="qlwork-user-text" style="{_CARD}background:var(--jp-layout-color2,#f3f6fa);'
            f'margin-left:15%;white-space:pre-wrap"><b>You:</b> {esc(text)}{files}</div>')


SPINNER = '<i class="fa fa-spinner fa-spin qlwork-spinner" aria-hidden="true"></i>'
"""JupyterLab's own spinner (Font Awesome, which ipywidgets loads for button icons): no missing glyphs."""


def pending_html(tools: list[str] | tuple = (), draft: list[str] | tuple = (), status: str = "Working…") -> str:
    """The answer being produced: a spinner and status, one line per tool call (running with its timer,
    or done / failed), then the answer's text fields as they complete (never raw JSON)."""
    steps = "".join(f'<div class="qlwork-progress-line">{esc(line)}</div>' for line in tools)
    drafted = ("".join(f'<div class="qlwork-draft-line">{esc(line)}</div>' for line in draft))
    drafted = (f'<div class="qlwork-stream" style="white-space:pre-wrap;margin-top:4px">'
               f'<div style="{_MUTED}">Drafting the answer:</div>{drafted}</div>') if draft else ""
    return (f'<div class="qlwork-pending" style="{_CARD}border-style:dashed">'
            f'<span style="{_MUTED}">{SPINNER} {esc(status)}</span>'
            f'<div class="qlwork-progress" style="{_MUTED}margin-top:2px">{steps}</div>{drafted}</div>')


def notice_html(text: str) -> str:
    """A neutral one-line notice in the conversation."""
    return f'<div class="qlwork-notice" style="{_CARD}{_MUTED}">{esc(text)}</div>'


def cancelled_html(run: Any = None) -> str:
    """Notice for a run that ended without an answer (cancelled, expired, incomplete)."""
    run = _as_dict(run) or {}
    status = run.get("status") or "cancelled"
    detail = (run.get("incomplete_details") or {}).get("message") or ""
    return notice_html(f"No answer: the run was {status}. {detail}".strip())


def describe_error(exc: BaseException) -> tuple[str, str, str | None]:
    """(title, message, fix) for an exception, without a traceback."""
    message = getattr(exc, "message", None)
    if isinstance(message, str) and message:
        code = (getattr(exc, "details", None) or {}).get("code")
        titles = {"BackendError": "The model backend failed", "InputError": "That input was not accepted",
                  "ModelBehaviorError": "The model gave an unusable answer",
                  "ProviderError": "Market data is unavailable"}
        title = titles.get(type(exc).__name__, "The assistant could not answer")
        if code == "cancelled":
            title = "Cancelled"
        return title, message, getattr(exc, "fix", None)
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return "Unexpected error", f"{type(exc).__name__}: {text}".rstrip(": "), None


def error_html(title: str, message: str, fix: str | None = None) -> str:
    """A readable error card (never a traceback)."""
    fix_html = f'<div style="margin-top:3px"><b>Fix:</b> {esc(fix)}</div>' if fix else ""
    return (f'<div class="qlwork-error" style="{_CARD}border-color:#c62828;background:rgba(198,40,40,0.06)">'
            f'<b style="color:#c62828">{esc(title)}</b><div style="white-space:pre-wrap">{esc(message)}</div>'
            f"{fix_html}</div>")


def header_html(user_id: str, thread_id: str, backend: str | None, model: str | None,
                data_source: str | None, portfolio: str | None = None) -> str:
    """The widget's header line: user, thread, backend/model, portfolio and data source."""
    items = [("User", user_id), ("Thread", thread_id), ("Backend", backend or "?"),
             ("Model", "offline rule engine" if backend == "offline" else model or "(known after the first answer)")]
    if portfolio:
        items.append(("Portfolio", portfolio))
    items.append(("Data", data_source or "(known after the first answer)"))
    # each item stays on one line (items wrap between themselves, never inside); a long thread id is
    # cut with an ellipsis at narrow widths, its full text kept for copying (title, user-select: all)
    cells = " · ".join(
        f'<span class="qlwork-header-item" style="display:inline-block;max-width:100%;white-space:nowrap;'
        f'overflow:hidden;text-overflow:ellipsis;vertical-align:bottom"><span style="{_MUTED}">{k}:</span> '
        + (f'<code title="{esc(v)}" style="user-select:all;font-size:0.95em">{esc(v)}</code>' if k == "Thread"
           else esc(v)) + "</span>"
        for k, v in items)
    return (f'<div class="qlwork-header-body" style="padding:4px 2px;border-bottom:2px solid '
            f'var(--jp-brand-color1,#1976d2);margin-bottom:4px"><b style="font-size:1.1em">qlwork assistant</b>'
            f'<div style="font-size:0.95em">{cells}</div></div>')

