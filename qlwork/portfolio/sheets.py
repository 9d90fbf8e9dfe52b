"""Holdings tables as brokers export them: rows from CSV text or an XLSX workbook, the header row found
by its columns (a preamble of account lines above it is skipped), and the broker the header looks like.

Column sets recognised (aliases in :data:`qlwork.portfolio.validation.ALIASES`):

- Zerodha Kite holdings download: ``Instrument,Qty.,Avg. cost,LTP,Cur. val,P&L,Net chg.,Day chg.``;
- Zerodha Console holdings report (XLSX/CSV, with account lines above the table): ``Symbol, ISIN, Sector,
  Quantity Available, ..., Average Price, Previous Closing Price, Unrealized P&L, ...``;
- Kite Connect / qlwork's own: ``tradingsymbol,exchange,quantity,average_price[,last_price]``;
- other brokers and aggregators: ``Symbol/Scrip/Stock Symbol``, ``Qty/Quantity/Shares/Units``,
  ``Avg Price/Average Cost Price/Avg. Buy Price/Buy Price``, ``LTP/CMP/Current Price/Closing Price``.
"""

from __future__ import annotations

import csv
import io

from ..errors import InputError
from .validation import ALIASES, EXPECTED_HEADER, normalise_header

HEADER_SCAN_ROWS = 40
"""How many rows from the top are searched for the header row."""
MAX_XLSX_BYTES = 10 * 1024 * 1024

FORMATS = (
    ("zerodha-kite", {"instrument", "qty.", "avg._cost"}),
    ("zerodha-console", {"symbol", "quantity_available", "average_price"}),
    ("kite-connect", {"tradingsymbol", "quantity", "average_price"}),
)


def header_fields(row: list) -> dict[int, str]:
    """``{column index: canonical field}`` of the recognised columns of one row."""
    out = {}
    for j, col in enumerate(row):
        field = ALIASES.get(normalise_header(col if col is not None else ""))
        if field is not None and field not in out.values():
            out[j] = field
    return out


def find_header(rows: list[list], where: str) -> int:
    """Index of the header row: the first of the top :data:`HEADER_SCAN_ROWS` rows naming both a symbol
    and a quantity column; else the first non-blank row (its missing columns are reported later)."""
    first = None
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        if not any(str(c or "").strip() for c in row):
            continue
        first = i if first is None else first
        fields = set(header_fields(row).values())
        if {"tradingsymbol", "quantity"} <= fields:
            return i
    if first is None:
        raise InputError(f"Portfolio file {where} is empty.",
                         fix=f"Add a header row ({EXPECTED_HEADER}) and one row per holding.", file=where)
    return first


def detect_format(header: list) -> str:
    """The export a header row looks like (``"zerodha-kite"``, ``"zerodha-console"``, ``"kite-connect"``),
    else ``"csv"``."""
    keys = {normalise_header(c or "") for c in header}
    for name, needed in FORMATS:
        if needed <= keys:
            return name
    return "csv"


def csv_rows(text: str, where: str) -> list[list[str]]:
    """All rows of CSV text; InputError naming the line when it is not CSV."""
    reader = csv.reader(io.StringIO(text))
    try:
        return list(reader)
    except csv.Error as exc:
        raise InputError(f"{where} is not a readable CSV file (line {reader.line_num}: {exc}).",
                         fix="Save it as a comma-separated CSV file.", file=where, row=reader.line_num) from None


def xlsx_rows(data: bytes, where: str) -> list[list]:
    """The rows of the workbook's first sheet that has a holdings header (else the first sheet), cell
    values as read by openpyxl (numbers stay numbers; None for empty cells)."""
    import zipfile

    from openpyxl import load_workbook

    if len(data) > MAX_XLSX_BYTES:
        raise InputError(f"{where} is larger than {MAX_XLSX_BYTES // (1024 * 1024)} MB.",
                         fix="Export only the holdings sheet.", file=where)
    try:
        book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise InputError(f"{where} is not a readable .xlsx workbook ({type(exc).__name__}).",
                         fix="Download the holdings again from Console as XLSX, or save the sheet as CSV.",
                         file=where) from None
    try:
        sheets = []
        for sheet in book.worksheets:
            rows = [list(r) for r in sheet.iter_rows(values_only=True)]
            sheets.append(rows)
            top = rows[:HEADER_SCAN_ROWS]
            if any({"tradingsymbol", "quantity"} <= set(header_fields(r).values()) for r in top):
                return rows
        return sheets[0] if sheets else []
    finally:
        book.close()
