"""``portfolio_review.xlsx``: one user's report as an Excel workbook (openpyxl), for analysts who work
in spreadsheets: Holdings, Sector weights, Returns, Metrics, Recommendations and Audit trail sheets,
built from the review result the notebook emitted (the same numbers as the HTML and PDF).

Numbers are numbers (fractions with a percentage format, INR amounts with the Indian lakh/crore digit
grouping ``##,##,##0.00``), never text; a header row per sheet, frozen. The workbook is reproducible:
its document dates are the report's as-of date and the zip entries carry that date too, so the same
review gives the same bytes.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile

INR = '[>=10000000]##\\,##\\,##\\,##0.00;[>=100000]##\\,##\\,##0.00;##,##0.00'
"""Indian digit grouping (1,23,45,678.00) for positive amounts; Excel formats have at most two
conditions, so negatives use the lakh grouping of the second section via the signed format below."""
INR_SIGNED = '[>=100000]##\\,##\\,##0.00;[<=-100000]-##\\,##\\,##0.00;##,##0.00'
PCT = "0.00%"
RATIO = "0.00"
QTY = "#,##0"


def _sheet(wb, title: str, headers: list[str], rows: list[list], formats: dict[int, str]) -> None:
    from openpyxl.styles import Font

    ws = wb.create_sheet(title)
    ws.append(headers)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    for col, fmt in formats.items():
        for (cell,) in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            if isinstance(cell.value, (int, float)):
                cell.number_format = fmt
    ws.freeze_panes = "A2"
    for i, h in enumerate(headers):
        width = max([len(str(h))] + [len(str(r[i])) for r in rows if i < len(r) and r[i] is not None])
        ws.column_dimensions[ws.cell(1, i + 1).column_letter].width = min(60, max(9, width + 2))


def workbook_bytes(result: dict) -> bytes:
    """The workbook of one review result (the notebook's ``application/vnd.qlwork.review+json``)."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)
    bench = (result.get("parameters") or {}).get("benchmark", "Benchmark")
    holdings = result.get("holdings") or []
    _sheet(wb, "Holdings", ["Symbol", "Sector", "Quantity", "Average price (INR)", "Last price (INR)", "Value (INR)",
                            "Weight", "P&L (INR)", "P&L %"],
           [[h.get("symbol"), h.get("sector"), h.get("quantity"), h.get("average_price"), h.get("last_price"),
             h.get("market_value"), h.get("weight"), h.get("pnl"), h.get("pnl_pct")] for h in holdings]
           + [["Total", None, None, None, None, result.get("total_value"), 1.0 if holdings else None,
               result.get("total_pnl"), None]],
           {2: QTY, 3: INR, 4: INR, 5: INR, 6: PCT, 7: INR_SIGNED, 8: PCT})
    _sheet(wb, "Sector weights", ["Sector", "Portfolio", bench, "Active"],
           [[r["sector"], r["portfolio"], r["benchmark"], r["active"]] for r in result.get("sectors") or []],
           {1: PCT, 2: PCT, 3: PCT})
    returns = result.get("returns") or {}
    _sheet(wb, "Returns", ["Period", "From close of", "Trading days", "Portfolio", bench, "Active"],
           [[p, r["start"], r.get("days"), r["portfolio"], r["benchmark"], r["active"]] if r else [p]
            for p, r in returns.items()], {3: PCT, 4: PCT, 5: PCT})
    metrics = result.get("tearsheet_metrics") or {}
    _sheet(wb, "Metrics", ["Metric", "Portfolio", bench, "Unit"],
           [[k, v[0], v[1], "ratio" if _is_ratio(k) else "fraction"] for k, v in metrics.items()]
           + [[k, v, None, "ratio" if _is_ratio(k) else "fraction"] for k, v in (result.get("risk_metrics") or {}).items()
              if k not in metrics],
           {1: "0.0000", 2: "0.0000"})
    _sheet(wb, "Recommendations", ["Action", "Symbol", "Reason", "Confidence", "Timeframe"],
           [[r.get("action"), r.get("symbol"), r.get("reason"), r.get("confidence"), r.get("timeframe")]
            for r in result.get("recommendations") or []], {3: PCT})
    _sheet(wb, "Audit trail", ["#", "Tool", "Arguments", "Status", "Output fields"],
           [[i, c.get("tool"), c.get("arguments"), c.get("status"), c.get("output_fields")]
            for i, c in enumerate(result.get("audit") or [], 1)], {})
    day = dt.datetime.fromisoformat(str(result.get("as_of") or "2000-01-01"))
    wb.properties.created = wb.properties.modified = day
    wb.properties.creator = "qlwork"
    buf = io.BytesIO()
    wb.save(buf)
    return _fixed_dates(buf.getvalue(), day)


def _is_ratio(key: str) -> bool:
    return key.endswith("_ratio") or key in ("skew", "kurtosis", "beta", "overall_score")


def _fixed_dates(data: bytes, day: dt.datetime) -> bytes:
    """The zip with every entry dated ``day`` (openpyxl stamps the clock), so the bytes are reproducible."""
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            fixed = zipfile.ZipInfo(info.filename, date_time=day.timetuple()[:6])
            fixed.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(fixed, src.read(info.filename))
    return out.getvalue()
