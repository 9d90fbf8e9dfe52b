"""Holdings and portfolios: load from CSV, JSON, Kite holdings responses or sample names; validate;
value against prices.

Accepted sources for :func:`load_portfolio`:

- ``"sample:<name>"``: a sample shipped in ``qlwork/data/portfolios/`` (see :func:`sample_portfolios`);
- a path to a ``.csv`` file with a header row (Kite holdings columns
  ``tradingsymbol,exchange,quantity,average_price``; aliases ``symbol``, ``qty``, ``avg_price``,
  ``buy_price``, ``ltp`` ... are accepted);
- a path to a ``.json`` file holding a list of holdings, ``{"name": ..., "holdings": [...]}`` or Kite's
  ``{"status": "success", "data": [...]}`` response from ``GET /portfolio/holdings``;
- a list of dicts (same fields), a dict shaped like the JSON forms, or a :class:`Portfolio`.

Every problem raises :class:`~qlwork.errors.InputError` naming the file, the row (CSV rows are
spreadsheet rows: the header is row 1; JSON rows are 1-based list positions) and the field, with the fix.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import InputError
from .model import Portfolio
from .sheets import csv_rows, detect_format, find_header, xlsx_rows
from .validation import (
    ALIASES,
    EXPECTED_HEADER,
    REQUIRED_FIELDS,
    RowProblems,
    build_portfolio,
    canonical_record,
    normalise_header,
)

SAMPLES_DIR = Path(__file__).resolve().parents[1] / "data" / "portfolios"


def sample_portfolios() -> dict[str, Path]:
    """``{name: path}`` of the sample portfolios shipped with qlwork."""
    return {p.stem: p for p in sorted(SAMPLES_DIR.glob("*.csv"))}


def _sample_path(name: str) -> Path:
    samples = sample_portfolios()
    key = name.strip().lower()
    if key not in samples:
        raise InputError(f"Unknown sample portfolio {name!r}.",
                         fix=f"Use one of: {', '.join('sample:' + s for s in samples)}.", sample=name)
    return samples[key]


# ---------------------------------------------------------------------------------------------


def _read_text(path: Path, where: str) -> str:
    """The UTF-8 text of ``path``; errors name it as ``where`` (its file name), never its directory."""
    if not path.exists():
        raise InputError(f"Portfolio file {where} does not exist.",
                         fix="Check the path, or use a sample such as sample:diversified.", file=where)
    if path.is_dir():
        raise InputError(f"Portfolio path {where} is a directory, not a file.",
                         fix="Pass the path of a .csv or .json file.", file=where)
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{where} is encoded as UTF-16, not UTF-8.",
                         fix="Save it as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)').", file=where)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(
            f"{where} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}, line {line}); "
            "it was probably saved as Latin-1/Windows-1252 or UTF-16.",
            fix="Save it as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)').", file=where, row=line,
        ) from None
    if "\x00" in text:
        raise InputError(f"{where} contains NUL bytes (UTF-16 without a byte-order mark?).",
                         fix="Save it as UTF-8.", file=where)
    if not text.strip():
        raise InputError(f"Portfolio file {where} is empty.",
                         fix=f"Add a header row ({EXPECTED_HEADER}) and one row per holding.", file=where)
    return text


def portfolio_from_csv_text(text: str, where: str, *, known_symbols, name: str, source: str) -> Portfolio:
    """A portfolio from CSV text (``where`` names it in errors); every bad row is reported at once."""
    return portfolio_from_rows(csv_rows(text, where), where, known_symbols=known_symbols, name=name, source=source,
                               fmt="csv")


def portfolio_from_xlsx(data: bytes, where: str, *, known_symbols, name: str, source: str) -> Portfolio:
    """A portfolio from an XLSX workbook (Zerodha Console's holdings report, or any sheet with a holdings
    header; account lines above the table are skipped). Rows are spreadsheet rows."""
    return portfolio_from_rows(xlsx_rows(data, where), where, known_symbols=known_symbols, name=name,
                               source=source, fmt="xlsx")


def _cell(value) -> str | None:
    return None if value is None else value if isinstance(value, (int, float)) else str(value)


def portfolio_from_rows(rows: list[list], where: str, *, known_symbols, name: str, source: str,
                        fmt: str = "csv") -> Portfolio:
    """A portfolio from table rows: the header row found by its columns (:func:`.sheets.find_header`),
    the broker export it looks like recorded as ``metadata["layout"]``; every bad row reported at once."""
    start = find_header(rows, where)
    header = [str(c) if c is not None else "" for c in rows[start]]
    mapping: dict[int, str] = {}
    origin: dict[str, str] = {}
    for j, col in enumerate(header):
        field = ALIASES.get(normalise_header(col))
        if field is None:
            continue
        if field in origin:
            raise InputError(f"{where} row {start + 1}: columns {origin[field]!r} and {col.strip()!r} both mean "
                             f"{field!r}.", fix="Keep only one of them.", file=where, row=start + 1, field=field)
        origin[field] = col.strip()
        mapping[j] = field
    missing = [f for f in REQUIRED_FIELDS if f not in origin]
    if missing:
        found = ",".join(c.strip() for c in header)
        raise InputError(
            f"{where} is missing required column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
            f"(header row {start + 1} has: {found}).",
            fix=f"Use the header {EXPECTED_HEADER} (aliases: symbol, qty, avg_price, buy_price, ltp; Zerodha's "
                "Kite and Console holdings downloads work as they are).",
            file=where, row=start + 1, missing=missing,
        )
    records: list[tuple[int, dict]] = []
    problems = RowProblems(where)
    for i, r in enumerate(rows[start + 1:], start=start + 2):
        if not any(str(c if c is not None else "").strip() for c in r):
            continue  # blank line
        if fmt == "csv" and len(r) > len(header) and any(c.strip() for c in r[len(header):]):
            problems.add(i, None, f"has {len(r)} values but the header has {len(header)} columns",
                         "Remove extra commas (write 1234.50, not 1,234.50) or quote values that contain commas.")
            continue
        cells = {field: _cell(r[j]) if j < len(r) else None for j, field in mapping.items()}
        if fmt == "xlsx" and not cells.get("quantity") and str(cells.get("tradingsymbol") or "").strip().lower() \
                in ("total", "grand total", ""):
            continue  # a totals line under the table
        records.append((i, cells))
    problems.raise_if_any()
    return build_portfolio(records, where, known_symbols=known_symbols, name=name, source=source,
                           metadata={"format": fmt, "layout": detect_format(header), "path": where,
                                     "rows": len(records)})


def portfolio_from_json(obj: Any, where: str, *, known_symbols, name: str | None, source: str,
                        fmt: str = "json", default_name: str = "portfolio") -> Portfolio:
    """A portfolio from parsed JSON: a list of holdings, ``{"holdings": [...]}`` or a Kite response."""
    items = obj
    found_name = None
    if isinstance(obj, Mapping):
        if "status" in obj and obj.get("status") != "success":
            raise InputError(f"{where} is a Kite error response: {obj.get('message', obj.get('status'))!r}.",
                             fix="Fetch the holdings again after `qlwork kite login`.", file=where)
        if obj.get("status") == "success":
            fmt = "kite"
            items = obj.get("data")
            if isinstance(items, Mapping) and "holdings" in items:
                items = items["holdings"]
        elif "holdings" in obj:
            items = obj["holdings"]
            found_name = obj.get("name")
        else:
            raise InputError(f"{where} does not look like a portfolio (keys: {', '.join(map(str, obj))}).",
                             fix='Use a list of holdings, {"name": ..., "holdings": [...]} or Kite\'s '
                                 '{"status": "success", "data": [...]}.', file=where)
    if not isinstance(items, list):
        raise InputError(f"{where}: holdings must be a list, not {type(items).__name__}.",
                         fix='Use a list of holdings like [{"tradingsymbol": "TCS", "quantity": 10, '
                             '"average_price": 3000}].', file=where)
    records = []
    for i, item in enumerate(items, start=1):
        if not isinstance(item, Mapping):
            raise InputError(f"{where} row {i}: a holding must be an object, not {type(item).__name__}.",
                             fix='Write each holding as {"tradingsymbol": ..., "quantity": ..., '
                                 '"average_price": ...}.', file=where, row=i)
        rec = canonical_record(item, i, where)
        miss = [f for f in REQUIRED_FIELDS if f not in rec]
        if miss:
            raise InputError(f"{where} row {i}: missing field{'s' if len(miss) > 1 else ''} {', '.join(miss)}.",
                             fix=f"Each holding needs {', '.join(REQUIRED_FIELDS)}.", file=where, row=i,
                             field=miss[0])
        records.append((i, rec))
    final_name = name or (str(found_name) if found_name else None) or default_name
    return build_portfolio(records, where, known_symbols=known_symbols, name=final_name, source=source,
                  metadata={"format": fmt, "path": where if fmt != "records" else None, "rows": len(records)})


def load_portfolio(source, *, known_symbols: Iterable[str] | None = None, name: str | None = None,
                   label: str | None = None) -> Portfolio:
    """Load and validate a portfolio from a sample name, a CSV/XLSX/JSON path, records or a Kite response.

    ``known_symbols`` (e.g. ``market.instruments()["tradingsymbol"]``) canonicalises spellings and marks
    the holdings the provider cannot price: each is left out of ``holdings`` and named in
    ``metadata["symbols_without_data"]`` with the reason (and its value at the file's own last price when
    the file has one); only a file with nothing priceable raises. ``name`` overrides the portfolio name
    (default: the sample name, the JSON ``name`` or the file stem). Errors about a file's content name it
    by ``label`` (default: its file name, never the directory it is stored in).
    """
    if isinstance(source, Portfolio):
        if known_symbols is not None:
            return portfolio_from_json(source.to_records(), f"portfolio {source.name!r}", known_symbols=known_symbols,
                                  name=name or source.name, source=source.source, fmt="records")
        return source if name is None else source.model_copy(update={"name": name})
    if isinstance(source, str) and source.strip().lower().startswith("sample:"):
        sample = source.strip()[len("sample:"):].strip()
        path = _sample_path(sample)
        return portfolio_from_csv_text(_read_text(path, path.name), path.name, known_symbols=known_symbols, name=name or path.stem,
                              source=f"sample:{path.stem}")
    if isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and not source.strip():
            raise InputError("Portfolio source is empty.",
                             fix="Pass a CSV/JSON path or a sample such as sample:diversified.")
        path = Path(source).expanduser()
        suffix = path.suffix.lower()
        where = label or path.name
        if suffix == ".xlsx" and path.is_file():
            return portfolio_from_xlsx(path.read_bytes(), where, known_symbols=known_symbols,
                                       name=name or path.stem, source=str(path))
        if suffix not in (".csv", ".json", ".xlsx"):
            if not path.exists():
                raise InputError(f"Portfolio file {where} does not exist.",
                                 fix="Pass a .csv or .json path, or a sample such as sample:diversified "
                                     f"(samples: {', '.join(sample_portfolios())}).", file=where)
            raise InputError(f"{where} is not a .csv, .xlsx or .json file.",
                             fix="Save the holdings as CSV (header " + EXPECTED_HEADER + ") or JSON.",
                             file=where)
        text = _read_text(path, where)
        if suffix == ".csv":
            return portfolio_from_csv_text(text, where, known_symbols=known_symbols, name=name or path.stem,
                                  source=str(path))
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"{where} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                             fix="Correct the JSON syntax at that position (a missing comma or quote is common).",
                             file=where, row=exc.lineno, column=exc.colno) from None
        return portfolio_from_json(obj, where, known_symbols=known_symbols, name=name, source=str(path),
                              default_name=path.stem)
    if isinstance(source, (list, tuple, Mapping)):
        return portfolio_from_json(list(source) if isinstance(source, tuple) else source, "holdings",
                              known_symbols=known_symbols, name=name, source="records", fmt="records")
    raise InputError(f"Cannot load a portfolio from {type(source).__name__}.",
                     fix="Pass a CSV/JSON path, a list of holdings, or a sample such as sample:diversified.")


# ---------------------------------------------------------------------------------------------
# Kite holdings -> positions
#
# Quantities follow Kite Connect's documented holdings attributes (https://kite.trade/docs/connect/v3/
# portfolio/#holdings, the response-attributes table): ``quantity`` is the "net quantity (T+1 +
# realised)", ``t1_quantity`` the quantity bought but not yet delivered ("Quantity on T+1 day after order
# execution"), ``realised_quantity`` the quantity "delivered to Demat", ``used_quantity`` the quantity
# "sold from the net holding quantity", ``collateral_quantity`` the quantity pledged as collateral, and
# ``mtf`` (``quantity``, ``used_quantity``, ``average_price``, ``value``) the shares bought with Kite's
# margin trading facility, which the documented example lists apart from ``quantity`` (``quantity`` 1
# beside ``mtf.quantity`` 1000). So one holding's position is:
#   held   = max(quantity, realised_quantity + t1_quantity) - used_quantity
#            (T1 shares counted once whether or not ``quantity`` already includes them, as documented, or
#             not, as accounts with ``quantity`` 0 and only ``t1_quantity`` show; shares sold today are gone)
#   mtf    = mtf.quantity - mtf.used_quantity
#   total  = held + mtf, at the quantity-weighted average of the two average prices.
# Pledged shares (``collateral_quantity``) stay in the demat account and remain the owner's exposure:
# they are counted (never added on top) and reported as ``pledged``.


def _num(value) -> float:
    try:
        out = float(value or 0)
    except (TypeError, ValueError):
        return 0.0
    return out if math.isfinite(out) else 0.0


def kite_position(holding: Mapping) -> dict:
    """The position of one Kite holding (see the comment above): ``{"quantity", "average_price",
    "t1_quantity", "mtf_quantity", "pledged"}``; ``average_price`` falls back to ``close_price`` /
    ``last_price`` when Kite reports 0 (bonus or transferred-in shares)."""
    fallback = _num(holding.get("close_price")) or _num(holding.get("last_price"))
    held = max(_num(holding.get("quantity")),
               _num(holding.get("realised_quantity")) + _num(holding.get("t1_quantity")))
    held = max(0.0, held - _num(holding.get("used_quantity")))
    mtf = holding.get("mtf") if isinstance(holding.get("mtf"), Mapping) else {}
    mtf_qty = max(0.0, _num(mtf.get("quantity")) - _num(mtf.get("used_quantity")))
    total = held + mtf_qty
    avg = _num(holding.get("average_price")) or fallback
    mtf_avg = _num(mtf.get("average_price")) or avg or fallback
    average = (held * avg + mtf_qty * mtf_avg) / total if total else avg
    return {"quantity": round(total), "average_price": average or None,
            "t1_quantity": int(_num(holding.get("t1_quantity"))), "mtf_quantity": round(mtf_qty),
            "pledged": int(_num(holding.get("collateral_quantity")))}


def kite_records(holdings: Iterable[Mapping]) -> tuple[list[dict], list[str], list[dict], dict[str, dict]]:
    """Kite holdings -> (records for :func:`load_portfolio`, symbols skipped for a zero position,
    holdings left out because they cannot be valued as ``{"symbol", "reason"}``, and
    ``{symbol: {"t1_quantity", "mtf_quantity", "pledged"}}`` for the holdings where any is non-zero)."""
    records, skipped, without, notes = [], [], [], {}
    for h in holdings:
        pos = kite_position(h)
        symbol = str(h.get("tradingsymbol") or "")
        if pos["quantity"] <= 0:
            skipped.append(symbol)
            continue
        if not pos["average_price"]:
            without.append({"symbol": symbol, "reason": "Kite reports no average, close or last price for it"})
            continue
        record = {**dict(h), "quantity": pos["quantity"], "average_price": pos["average_price"]}
        for field in ("last_price", "close_price"):  # 0 means "no trade yet", not a price
            if _num(record.get(field)) <= 0:
                record.pop(field, None)
        records.append(record)
        extra = {k: pos[k] for k in ("t1_quantity", "mtf_quantity", "pledged") if pos[k]}
        if extra:
            notes[symbol] = extra
    return records, skipped, without, notes
