"""Uploaded files that hold a portfolio: detection and loading.

A file is a holdings file when its content (not its name) says so: a CSV whose header names a
symbol and a quantity column (``tradingsymbol``/``symbol``, ``quantity``/``qty``, ...), or JSON that is
Kite's ``holdings()`` response (``{"status": "success", "data": [...]}``), a list of holdings, or an
object with a ``holdings`` (or ``positions``) list. Detection never raises; loading validates every
row (:mod:`qlwork.portfolio`) and raises :class:`~qlwork.errors.InputError` naming the fix.

Used by the assistant (an attachment becomes the thread's portfolio) and by the trading tools (a
``portfolio`` argument may be one of the caller's file ids).
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from ..portfolio import Portfolio, normalise_header, portfolio_from_csv_text, portfolio_from_json
from ..portfolio.sheets import find_header
from ..portfolio.validation import ALIASES

MAX_HOLDINGS_BYTES = 5 * 1024 * 1024  # a holdings file is small; bigger files are not read as one
_NEEDED = {"tradingsymbol", "quantity"}


def _fields(keys: Iterable[Any]) -> set[str]:
    return {ALIASES.get(normalise_header(str(k))) for k in keys} - {None}


def _csv_header(text: str) -> list[str]:
    """The header row: the first of the top rows naming a symbol and a quantity column (account lines
    above it, as in Zerodha Console's reports, are skipped), else the first non-blank row."""
    rows = list(csv.reader(io.StringIO(text[:8192])))
    try:
        return rows[find_header(rows, "file")]
    except InputError:
        return []


def _json_items(obj: Any) -> Any:
    """The holdings list inside a parsed JSON document, or None when it is not a holdings document."""
    if isinstance(obj, dict):
        if obj.get("status") == "success":
            data = obj.get("data")
            return data.get("holdings") if isinstance(data, dict) else data
        for key in ("holdings", "positions"):
            if isinstance(obj.get(key), list):
                return obj[key]
        return None
    return obj if isinstance(obj, list) else None


def _decode(data: bytes) -> str | None:
    if len(data) > MAX_HOLDINGS_BYTES:
        return None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None


def holdings_format(kind: str, data: bytes) -> str | None:
    """``"csv"`` or ``"json"`` when ``data`` (a file of sniffed ``kind``) holds a portfolio, else None."""
    if kind not in ("csv", "json", "text"):
        return None
    text = _decode(data)
    if text is None or not text.strip():
        return None
    if kind == "json" or text.lstrip().startswith(("{", "[")):
        try:
            items = _json_items(json.loads(text))
        except ValueError:
            return None
        if isinstance(items, list) and items and isinstance(items[0], dict) and _NEEDED <= _fields(items[0]):
            return "json"
        return None
    return "csv" if _NEEDED <= _fields(_csv_header(text)) else None


def load_holdings_file(store: Any, file_id: str, known_symbols: Iterable[str] | None = None) -> Portfolio | None:
    """The portfolio in the stored file ``file_id`` (``store``: a :class:`~qlwork.tools.files.FileStore`),
    None when the file is not a holdings file; InputError (with the fix) when it is one with bad rows."""
    obj = store.get(file_id)
    if obj.kind not in ("csv", "json", "text") or obj.bytes > MAX_HOLDINGS_BYTES:
        return None  # images, PDFs and big files are never read here
    data = store.content(file_id)
    fmt = holdings_format(obj.kind, data)
    if fmt is None:
        return None
    text = _decode(data) or ""
    where, name, source = obj.filename, Path(obj.filename).stem or obj.id, obj.id
    if fmt == "csv":
        return portfolio_from_csv_text(text, where, known_symbols=known_symbols, name=name, source=source)
    parsed = json.loads(text)
    if isinstance(parsed, dict) and "positions" in parsed and "holdings" not in parsed and "status" not in parsed:
        parsed = {**parsed, "holdings": parsed["positions"]}
    return portfolio_from_json(parsed, where, known_symbols=known_symbols, name=None, source=source,
                               default_name=name)


def portfolio_from_file_id(ctx: Any, file_id: str, known_symbols: Iterable[str] | None = None) -> Portfolio:
    """A ``portfolio`` tool argument naming a file: the file must be readable by this context (the
    caller's own) and hold a portfolio."""
    from .files import readable_file, store_of

    obj = readable_file(ctx, file_id)
    portfolio = load_holdings_file(store_of(ctx), obj.id, known_symbols)
    if portfolio is None:
        raise InputError(f"File {file_id} ({obj.filename}) does not hold a portfolio.",
                         fix="Attach a CSV with tradingsymbol,exchange,quantity,average_price columns or a JSON "
                             "list of holdings (Kite holdings() output works as is).", code="not_a_portfolio",
                         field="portfolio")
    return portfolio
