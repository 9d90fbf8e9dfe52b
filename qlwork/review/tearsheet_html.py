"""The tearsheet section of a report: the quantstats-style metrics of the portfolio and its benchmark
side by side (with each definition), calendar-year returns, the ten worst drawdowns and the figures,
all from the ``portfolio_tearsheet`` tool output listed in the audit trail (see
:mod:`qlwork.review.tearsheet`). Returns and drawdowns in %, ratios plain, active returns in points."""

from __future__ import annotations

from html import escape

from .. import formatting as F
from .render import _sign_class, table

# (key in the output's "metrics", label, kind): kind "pct" = a fraction shown in %, "ratio" = plain
METRIC_ROWS = (
    ("total_return", "Cumulative return", "pct"), ("cagr", "CAGR", "pct"), ("volatility", "Volatility (ann.)", "pct"),
    ("sharpe_ratio", "Sharpe", "ratio"), ("sortino_ratio", "Sortino", "ratio"), ("max_drawdown", "Max drawdown", "pct"),
    ("calmar_ratio", "Calmar", "ratio"), ("omega_ratio", "Omega", "ratio"), ("best_day", "Best day", "pct"),
    ("worst_day", "Worst day", "pct"), ("best_month", "Best month", "pct"), ("worst_month", "Worst month", "pct"),
    ("best_year", "Best year", "pct"), ("worst_year", "Worst year", "pct"), ("win_rate_days", "Win rate (days)", "pct"),
    ("win_rate_months", "Win rate (months)", "pct"), ("skew", "Skew", "ratio"), ("kurtosis", "Kurtosis (excess)", "ratio"),
    ("tail_ratio", "Tail ratio", "ratio"), ("alpha", "Alpha (ann.)", "pct"), ("beta", "Beta", "ratio"),
    ("information_ratio", "Information ratio (daily)", "ratio"),
)
LABELS = {key: label for key, label, _ in METRIC_ROWS}
DEFINITION_OF = {"worst_day": "best_day", "best_month": "best_day", "worst_month": "best_day", "best_year": "best_day",
                 "worst_year": "best_day", "win_rate_months": "win_rate_days"}


def _wrap(title: str, body: str) -> str:
    return f'<div class="qlwork-report qlwork-tearsheet"><h3>{escape(title)}</h3>{body}</div>'


def _tearsheet_output(review) -> tuple[dict | None, str | None]:
    call = next((c for c in review.report_calls if c["name"] == "portfolio_tearsheet"), None)
    if call is None:
        return None, "not computed"
    return call.get("output"), call.get("error")


def _value(kind: str, v) -> str:
    return F.pct(v, signed=True) if kind == "pct" else F.ratio(v, 2)


def metrics_table(out: dict) -> str:
    m, notes = out.get("metrics") or {}, out.get("metric_definitions") or {}
    rows = []
    for key, label, kind in METRIC_ROWS:
        if key in m:
            p, b = m[key]
            same = DEFINITION_OF.get(key)
            rows.append([label, _value(kind, p), _value(kind, b),
                         f"as {LABELS[same].lower()}" if same else notes.get(key, "")])
    return table(["Metric", "Portfolio", out.get("benchmark", "Benchmark"), "Definition"], rows, numeric={1, 2})


def eoy_table(out: dict) -> str:
    rows, classes = [], []
    for r in out.get("eoy_returns") or []:
        active = None if r["portfolio"] is None or r["benchmark"] is None else r["portfolio"] - r["benchmark"]
        rows.append([str(r["year"]), F.pct(r["portfolio"], signed=True), F.pct(r["benchmark"], signed=True),
                     F.pp(active, 2), "yes" if (active or 0) > 0 else "no"])
        classes.append(["", _sign_class(r["portfolio"]), _sign_class(r["benchmark"]), _sign_class(active), ""])
    return table(["Year", "Portfolio", out.get("benchmark", "Benchmark"), "Active", "Beat the benchmark"], rows,
                 numeric={1, 2, 3}, classes=classes)


def drawdowns_table(out: dict) -> str:
    rows = [[str(i), d["start"], d["valley"], d["end"] + ("" if d["recovered"] else " (not recovered)"), str(d["days"]),
             F.pct(d["max_drawdown"])] for i, d in enumerate(out.get("drawdowns") or [], 1)]
    return table(["#", "Started", "Valley", "Last day under water", "Days", "Max drawdown"], rows, numeric={4, 5})


MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _heat(v, lim: float) -> str:
    """Background colour of a return cell: red losses, green gains, paler towards 0 (``lim`` = full colour)."""
    if v is None:
        return ""
    t = max(-1.0, min(1.0, v / lim)) if lim > 0 else 0.0
    end = (215, 48, 39) if t < 0 else (26, 152, 80)
    r, g, b = (round(255 + (c - 255) * abs(t) * 0.85) for c in end)
    return f"background:#{r:02x}{g:02x}{b:02x};color:#1a1a1a"


def heatmap_table(out: dict) -> str:
    """Monthly returns (%) as a years x months table with each year's return, for the portfolio and the
    benchmark (one block each), cells coloured by sign and size: the quantstats heatmap as a table."""
    t = out.get("monthly_table") or {}
    years = t.get("years") or []
    if not years:
        return "<p>No monthly returns.</p>"
    bench = out.get("benchmark", "Benchmark")
    cells = [v for key in ("portfolio", "benchmark") for row in t[key] for v in row if v is not None]
    lim = max([abs(v) for v in cells] or [0.0])
    head = "<tr><th></th><th>Year</th>" + "".join(f"<th>{m}</th>" for m in MONTHS) + "<th>Year return</th></tr>"
    body = []
    for key, label in (("portfolio", "Portfolio"), ("benchmark", bench)):
        for i, y in enumerate(years):
            row = t[key][i]
            yr = t[f"{key}_year"][i]
            cols = "".join(f'<td class="num" style="{_heat(v, lim)}">{"" if v is None else f"{v * 100:+.1f}"}</td>'
                           for v in row)
            first = f'<th rowspan="{len(years)}">{escape(label)}</th>' if i == 0 else ""
            body.append(f"<tr>{first}<td>{y}</td>{cols}<td class=\"num\" style=\"{_heat(yr, lim)}\"><b>"
                        f"{'' if yr is None else f'{yr * 100:+.1f}'}</b></td></tr>")
    return f'<table class="qlwork-heatmap"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>'


def tearsheet_html(review) -> str:
    """The tearsheet's heading, window, VaR/CVaR, metrics, calendar years and worst drawdowns."""
    out, error = _tearsheet_output(review)
    if out is None:
        return _wrap("Tearsheet", f"<p>Not available: {escape(str(error))}</p>")
    w = out.get("window") or {}
    level = f"{round(float(out.get('confidence') or 0.95) * 100, 1):g}"
    rows = [["Window", f"{w.get('start')} to {w.get('end')} ({w.get('days')} trading days)"],
            [f"1-day {level}% VaR (historical)", F.pct(out.get(f"var_{level}"))],
            [f"1-day {level}% CVaR (historical)", F.pct(out.get(f"cvar_{level}"))]]
    intro = ("<p>Every figure below is drawn from the output of the <code>portfolio_tearsheet</code> tool call "
             f"listed in the audit trail. {escape(out.get('conventions', ''))}</p>")
    return _wrap("Tearsheet", intro + table(["Item", "Value"], rows, {1})
                 + f"<h4>Key metrics vs {escape(out.get('benchmark', ''))}</h4>" + metrics_table(out)
                 + f"<h4>Monthly returns (%), portfolio and {escape(out.get('benchmark', ''))}</h4>" + heatmap_table(out)
                 + "<h4>Calendar-year returns (the first and last years are partial)</h4>" + eoy_table(out)
                 + "<h4>Worst 10 drawdowns of the portfolio</h4>" + drawdowns_table(out))


def tearsheet_figures(review) -> list:
    """``[(name, Figure)]`` of the tearsheet, from the tool output (empty when it failed)."""
    from ..charts.tearsheet import (contributions_figure, returns_distribution_figure, rolling_figure,
                                    underwater_figure)

    out, _ = _tearsheet_output(review)
    if out is None:
        return []
    syn = bool((out.get("data_source") or {}).get("synthetic"))
    # the monthly heatmap and the calendar years are tables (tearsheet_html): sharper in print, and drawing
    # them in matplotlib cost more CPU than the rest of the report (charts.tearsheet still has both figures)
    return [("underwater plot", underwater_figure(out, syn)),
            ("rolling volatility, Sharpe and beta", rolling_figure(out, syn)),
            ("daily returns, VaR and CVaR", returns_distribution_figure(out, syn)),
            ("contributors and detractors", contributions_figure(out, syn))]
