"""Row-level validation of portfolio records: header aliases, number parsing, field checks.

Every problem is collected per row and field (:class:`RowProblems`) and raised together as one
:class:`~qlwork.errors.InputError` naming the file, the row and the field, with the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any


from ..errors import InputError
from ..symbols import EXCHANGES, normalise_symbol, split_exchange, suggest_symbols, symbol_lookup
from .model import FLOAT_FIELDS, Holding, Portfolio

EXPECTED_HEADER = "tradingsymbol,exchange,quantity,average_price"
REQUIRED_FIELDS = ("tradingsymbol", "quantity", "average_price")

# normalised header -> canonical field
ALIASES: dict[str, str] = {
    "tradingsymbol": "tradingsymbol", "symbol": "tradingsymbol", "trading_symbol": "tradingsymbol",
    "ticker": "tradingsymbol", "instrument": "tradingsymbol", "stock": "tradingsymbol",
    "quantity": "quantity", "qty": "quantity", "shares": "quantity", "units": "quantity",
    "average_price": "average_price", "avg_price": "average_price", "buy_price": "average_price",
    "avg_cost": "average_price", "average_cost": "average_price", "avg._cost": "average_price",
    "averageprice": "average_price", "avgprice": "average_price",
    "last_price": "last_price", "ltp": "last_price", "lastprice": "last_price",
    "exchange": "exchange", "isin": "isin", "instrument_token": "instrument_token", "product": "product",
    "close_price": "close_price", "pnl": "pnl", "p&l": "pnl", "day_change": "day_change",
    "day_change_percentage": "day_change_percentage",
    # Zerodha Kite's holdings download and Console's holdings report
    "qty.": "quantity", "quantity_available": "quantity", "average_price_(rs.)": "average_price",
    "previous_closing_price": "close_price", "unrealized_p&l": "pnl", "unrealised_p&l": "pnl", "isin_code": "isin",
    # other brokers and aggregators (Groww, Upstox, ICICI Direct, HDFC Securities, Angel One, ...)
    "scrip": "tradingsymbol", "scrip_name": "tradingsymbol", "stock_symbol": "tradingsymbol",
    "nse_symbol": "tradingsymbol", "symbol_name": "tradingsymbol", "scrip_code": "tradingsymbol",
    "net_qty": "quantity", "holding_qty": "quantity", "available_qty": "quantity",
    "total_qty": "quantity", "quantity_held": "quantity", "no._of_shares": "quantity",
    "avg._price": "average_price", "avg_cost_price": "average_price", "average_cost_price": "average_price",
    "avg._buy_price": "average_price", "avg_buy_price": "average_price", "average_buy_price": "average_price",
    "buy_avg": "average_price", "buy_avg._price": "average_price", "cost_price": "average_price",
    "cmp": "last_price", "current_price": "last_price", "current_market_price": "last_price",
    "market_price": "last_price", "closing_price": "last_price", "ltp_(rs.)": "last_price",
}


class RowProblems:
    """Collects row/field problems and raises them together."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[dict] = []

    def add(self, row: int | None, field: str | None, problem: str, fix: str) -> None:
        self.items.append({"row": row, "field": field, "problem": problem, "fix": fix})

    def raise_if_any(self) -> None:
        if not self.items:
            return
        parts = []
        for it in self.items[:10]:
            loc = []
            if it["row"] is not None:
                loc.append(f"row {it['row']}")
            if it["field"]:
                loc.append(f"field {it['field']!r}")
            parts.append(f"{', '.join(loc)}: {it['problem']}" if loc else it["problem"])
        more = f" (and {len(self.items) - 10} more)" if len(self.items) > 10 else ""
        n = len(self.items)
        head = f"{self.where}: " if n == 1 else f"{self.where} has {n} problems: "
        fixes = list(dict.fromkeys(it["fix"] for it in self.items))
        first = self.items[0]
        raise InputError(head + "; ".join(parts) + more + ".", fix=" ".join(fixes[:3]),
                         file=self.where, row=first["row"], field=first["field"], problems=self.items)


def normalise_header(h: str) -> str:
    """A column header as a lower_snake_case key ("Avg. Cost" -> "avg._cost", "Trading-Symbol" ->
    "trading_symbol"), before alias lookup."""
    return "_".join(str(h).strip().lower().replace("-", " ").split())


def _parse_number(raw) -> float | None:
    """float from a number or text like '1,234.50' / '₹ 980'; None for blank; raises ValueError."""
    if raw is None:
        return None
    if isinstance(raw, bool):
        raise ValueError("boolean")
    if isinstance(raw, (int, float)):
        return float(raw)
    text = str(raw).strip().replace("\u20b9", "").replace(",", "").replace("INR", "").replace("Rs.", "").strip()
    if not text:
        return None
    return float(text)


def _coerce_row(raw: Mapping[str, Any], row: int, problems: RowProblems, known_lookup: dict | None,
                known: list[str] | None) -> dict | None:
    """Validate one raw row (canonical field names) into Holding kwargs, recording problems."""
    out: dict[str, Any] = {}
    ok = True
    sym_raw = raw.get("tradingsymbol")
    prefix, sym = split_exchange(sym_raw) if sym_raw is not None else (None, "")
    column = str(raw.get("exchange") or "").strip().upper()
    if prefix and column and column != prefix:
        problems.add(row, "exchange", f"the symbol says {prefix} ({sym_raw!r}) but the exchange column says "
                     f"{column}", f"Give one exchange: {prefix}:{sym} or exchange {column}.")
        ok = False
    if (prefix or column) and (prefix or column) not in EXCHANGES:
        problems.add(row, "exchange", f"{prefix or column!r} is not a cash-equity exchange",
                     f"Use one of {', '.join(EXCHANGES)}.")
        ok = False
    if not sym:
        problems.add(row, "tradingsymbol", "the symbol is empty", "Fill in the NSE trading symbol (e.g. TCS).")
        ok = False
    elif known_lookup is not None:
        hit = known_lookup.get(sym.replace(" ", ""))
        if hit is None:
            hints = suggest_symbols(sym, known or [])
            did = f" (did you mean {', '.join(hints)}?)" if hints else ""
            out["unknown"] = f"{sym!r} is not a symbol the market data provider knows (unknown, delisted or " \
                             f"unlisted){did}"
        else:
            sym = hit
    out["tradingsymbol"] = sym
    if prefix:
        out["exchange"] = prefix

    q_raw = raw.get("quantity")
    try:
        q = _parse_number(q_raw)
        if q is None:
            problems.add(row, "quantity", "the quantity is empty", "Give a whole number of shares above 0.")
            ok = False
        elif not math.isfinite(q):
            raise ValueError
        elif q != int(q):
            problems.add(row, "quantity", f"{q_raw!r} is not a whole number of shares",
                         "Quantities are whole shares (e.g. 10, not 10.5).")
            ok = False
        elif q <= 0:
            problems.add(row, "quantity", f"{q_raw!r} must be greater than 0",
                         "Remove sold positions or give the number of shares held (above 0).")
            ok = False
        else:
            out["quantity"] = int(q)
    except (TypeError, ValueError):
        problems.add(row, "quantity", f"{q_raw!r} is not a number", "Give a whole number of shares above 0.")
        ok = False

    for field in FLOAT_FIELDS:
        if field not in raw:
            continue
        value = raw.get(field)
        try:
            num = _parse_number(value)
            if num is not None and not math.isfinite(num):
                raise ValueError
        except (TypeError, ValueError):
            problems.add(row, field, f"{value!r} is not a number",
                         f"Write {field} as a plain number in INR (e.g. 1234.50).")
            ok = False
            continue
        if field in ("average_price", "last_price") and num is not None and num <= 0:
            problems.add(row, field, f"{value!r} must be greater than 0", f"Give {field} in INR above 0.")
            ok = False
            continue
        if num is not None:
            out[field] = num
    if ok and "average_price" not in out:
        problems.add(row, "average_price", "the average price is empty",
                     "Give the average buy price per share in INR.")
        ok = False

    for field in ("exchange", "isin", "product"):
        value = raw.get(field)
        if value is not None and str(value).strip() and field not in out:
            out[field] = str(value).strip()
    token = raw.get("instrument_token")
    if token is not None and str(token).strip():
        try:
            out["instrument_token"] = int(float(token))
        except (TypeError, ValueError):
            problems.add(row, "instrument_token", f"{token!r} is not an integer",
                         "Leave instrument_token empty or give Kite's numeric token.")
            ok = False
    return out if ok else None


def build_portfolio(records: list[tuple[int, Mapping[str, Any]]], where: str, *, known_symbols, name: str,
           source: str, metadata: dict, header_note: str = "") -> Portfolio:
    """Validate canonicalised records [(row number, fields)] into a Portfolio."""
    problems = RowProblems(where)
    if not records:
        raise InputError(f"{where} has no holdings{header_note}.",
                         fix=f"Add one row per holding with columns {EXPECTED_HEADER}.", file=where)
    known = list(known_symbols) if known_symbols is not None else None
    lookup = symbol_lookup(known) if known is not None else None
    holdings: list[Holding] = []
    without: list[dict] = []
    first_row: dict[str, int] = {}
    for row, raw in records:
        key = normalise_symbol(raw.get("tradingsymbol") or "").replace(" ", "")
        if key and key in first_row:
            problems.add(row, "tradingsymbol",
                         f"{normalise_symbol(raw.get('tradingsymbol'))} is listed again (first at row {first_row[key]})",
                         "Merge duplicate rows into one: add the quantities and use the quantity-weighted "
                         "average price.")
            continue
        if key:
            first_row[key] = row
        data = _coerce_row(raw, row, problems, lookup, known)
        if data is None:
            continue
        if "unknown" in data:
            without.append(unpriced_entry(row, data))
            continue
        try:
            holdings.append(Holding(**data))
        except Exception as exc:  # pydantic ValidationError: report the field
            err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (None,), "msg": str(exc)}
            problems.add(row, str(err["loc"][0]) if err.get("loc") else None, err["msg"],
                         "Correct the value.")
    problems.raise_if_any()
    if not holdings:
        names = "; ".join(f"row {w['row']}: {w['reason']}" for w in without)
        raise InputError(f"{where}: no holding can be priced ({names}).",
                         fix="Use NSE trading symbols known to the market data provider (e.g. INFY, TCS).",
                         file=where, symbols_without_data=without)
    if without:
        metadata = {**metadata, "symbols_without_data": without}
    return Portfolio(name=name, holdings=holdings, source=source, metadata=metadata)


def unpriced_entry(row: int, data: Mapping[str, Any]) -> dict:
    """``{"symbol", "reason", "row", "quantity", "average_price", ["last_price", "market_value"]}`` for a
    holding the provider cannot price: valued at the file's own last (or previous close) price when the
    file has one, else left out; either way named with the reason."""
    price = data.get("last_price") or data.get("close_price")
    qty, avg = data.get("quantity"), data.get("average_price")
    entry = {"symbol": data["tradingsymbol"], "row": row, "quantity": qty, "average_price": avg}
    if price and qty:
        entry |= {"last_price": float(price), "market_value": round(float(price) * qty, 2)}
        tail = f"; valued at the file's last price {float(price):.2f} (INR {float(price) * qty:,.2f}), " \
               "left out of price-history analysis"
    else:
        tail = "; left out (the file has no last price for it)"
    return {**entry, "reason": str(data["unknown"]) + tail}


def canonical_record(raw: Mapping[str, Any], row: int, where: str) -> dict:
    """Rename aliased keys of one JSON record to canonical field names."""
    out: dict[str, Any] = {}
    origin: dict[str, str] = {}
    for key, value in raw.items():
        field = ALIASES.get(normalise_header(key))
        if field is None:
            continue
        if field in origin:
            raise InputError(f"{where} row {row}: fields {origin[field]!r} and {key!r} both mean {field!r}.",
                             fix="Keep only one of them.", file=where, row=row, field=field)
        origin[field] = key
        out[field] = value
    return out
