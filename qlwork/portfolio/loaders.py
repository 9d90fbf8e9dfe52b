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

import csv
import io
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any


from ..errors import InputError
from .model import Portfolio
from .validation import (ALIASES, EXPECTED_HEADER, REQUIRED_FIELDS, RowProblems, build_portfolio, canonical_record,
                         normalise_header)

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


def _read_text(path: Path) -> str:
    if not path.exists():
        raise InputError(f"Portfolio file {path} does not exist.",
                         fix="Check the path, or use a sample such as sample:diversified.", file=str(path))
    if path.is_dir():
        raise InputError(f"Portfolio path {path} is a directory, not a file.",
                         fix="Pass the path of a .csv or .json file.", file=str(path))
    data = path.read_bytes()
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{path} is encoded as UTF-16, not UTF-8.",
                         fix="Save it as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)').", file=str(path))
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(
            f"{path} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}, line {line}); "
            "it was probably saved as Latin-1/Windows-1252 or UTF-16.",
            fix="Save it as UTF-8 (in Excel: 'CSV UTF-8 (Comma delimited)').", file=str(path), row=line,
        ) from None
    if "\x00" in text:
        raise InputError(f"{path} contains NUL bytes (UTF-16 without a byte-order mark?).",
                         fix="Save it as UTF-8.", file=str(path))
    if not text.strip():
        raise InputError(f"Portfolio file {path} is empty.",
                         fix=f"Add a header row ({EXPECTED_HEADER}) and one row per holding.", file=str(path))
    return text


def portfolio_from_csv_text(text: str, where: str, *, known_symbols, name: str, source: str) -> Portfolio:
    """A portfolio from CSV text (``where`` names it in errors); every bad row is reported at once."""
    reader = csv.reader(io.StringIO(text))
    try:
        rows = list(reader)
    except csv.Error as exc:
        raise InputError(f"{where} is not a readable CSV file (line {reader.line_num}: {exc}).",
                         fix="Save it as a comma-separated CSV file.", file=where, row=reader.line_num) from None
    # header: first non-blank row
    start = next((i for i, r in enumerate(rows) if any(c.strip() for c in r)), None)
    if start is None:
        raise InputError(f"Portfolio file {where} is empty.",
                         fix=f"Add a header row ({EXPECTED_HEADER}) and one row per holding.", file=where)
    header = rows[start]
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
            fix=f"Use the header {EXPECTED_HEADER} (aliases: symbol, qty, avg_price, buy_price, ltp).",
            file=where, row=start + 1, missing=missing,
        )
    records: list[tuple[int, dict]] = []
    problems = RowProblems(where)
    for i, r in enumerate(rows[start + 1:], start=start + 2):
        if not any(c.strip() for c in r):
            continue  # blank line
        if len(r) > len(header) and any(c.strip() for c in r[len(header):]):
            problems.add(i, None, f"has {len(r)} values but the header has {len(header)} columns",
                         "Remove extra commas (write 1234.50, not 1,234.50) or quote values that contain commas.")
            continue
        records.append((i, {field: (r[j] if j < len(r) else None) for j, field in mapping.items()}))
    problems.raise_if_any()
    return build_portfolio(records, where, known_symbols=known_symbols, name=name, source=source,
                  metadata={"format": "csv", "path": where, "rows": len(records)})


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


def load_portfolio(source, *, known_symbols: Iterable[str] | None = None, name: str | None = None) -> Portfolio:
    """Load and validate a portfolio from a sample name, a CSV/JSON path, records or a Kite response.

    ``known_symbols`` (e.g. ``market.instruments()["tradingsymbol"]``) enables the unknown-symbol check
    (with close-match suggestions) and canonicalises spellings. ``name`` overrides the portfolio name
    (default: the sample name, the JSON ``name`` or the file stem).
    """
    if isinstance(source, Portfolio):
        if known_symbols is not None:
            return portfolio_from_json(source.to_records(), f"portfolio {source.name!r}", known_symbols=known_symbols,
                                  name=name or source.name, source=source.source, fmt="records")
        return source if name is None else source.model_copy(update={"name": name})
    if isinstance(source, str) and source.strip().lower().startswith("sample:"):
        sample = source.strip()[len("sample:"):].strip()
        path = _sample_path(sample)
        return portfolio_from_csv_text(_read_text(path), path.name, known_symbols=known_symbols, name=name or path.stem,
                              source=f"sample:{path.stem}")
    if isinstance(source, (str, os.PathLike)):
        if isinstance(source, str) and not source.strip():
            raise InputError("Portfolio source is empty.",
                             fix="Pass a CSV/JSON path or a sample such as sample:diversified.")
        path = Path(source).expanduser()
        suffix = path.suffix.lower()
        if suffix not in (".csv", ".json"):
            if not path.exists():
                raise InputError(f"Portfolio file {path} does not exist.",
                                 fix="Pass a .csv or .json path, or a sample such as sample:diversified "
                                     f"(samples: {', '.join(sample_portfolios())}).", file=str(path))
            raise InputError(f"{path} is not a .csv or .json file.",
                             fix="Save the holdings as CSV (header " + EXPECTED_HEADER + ") or JSON.",
                             file=str(path))
        text = _read_text(path)
        where = str(path)
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
