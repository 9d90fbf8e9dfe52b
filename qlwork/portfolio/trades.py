"""Trade history: Zerodha Console tradebook CSVs and a plain ``date,symbol,side,quantity,price`` format.

Console's tradebook columns (Console -> Reports -> Tradebook -> download CSV): ``symbol, isin, trade_date,
exchange, segment, series, trade_type, auction, quantity, price, trade_id, order_id,
order_execution_time``. The plain format needs ``date, symbol, side, quantity, price`` and may carry
``trade_id``, ``exchange`` and ``currency``. ``side`` is buy / sell (B / S), or ``bonus`` for bonus
shares credited at zero cost. Prices in INR per share; quantities whole shares.

Every problem is collected and raised together as one :class:`~qlwork.errors.InputError` naming the
file, the row (the header is row 1) and the field: unreadable dates and numbers, duplicate trade ids,
a currency other than INR or mixed currencies, and a sell of more shares than are held at that point
(a sell before any buy). Nothing is kept from a file with a problem.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import InputError
from ..symbols import EXCHANGES, split_exchange
from .sheets import csv_rows
from .validation import RowProblems, _parse_number, normalise_header

TRADE_ALIASES: dict[str, str] = {
    "date": "date", "trade_date": "date", "order_execution_time": "time", "symbol": "symbol",
    "tradingsymbol": "symbol", "instrument": "symbol", "side": "side", "trade_type": "side", "type": "side",
    "buy/sell": "side", "transaction_type": "side", "quantity": "quantity", "qty": "quantity", "qty.": "quantity",
    "price": "price", "trade_price": "price", "avg._price": "price", "trade_id": "trade_id", "exchange": "exchange",
    "currency": "currency", "isin": "isin", "segment": "segment", "series": "series",
}
REQUIRED = ("date", "symbol", "side", "quantity", "price")
HEADER = "date,symbol,side,quantity,price"
SIDES = {"buy": "buy", "b": "buy", "sell": "sell", "s": "sell", "bonus": "bonus"}
DATE_FORMATS = ("%Y-%m-%d", "%d-%m-%Y", "%d/%m/%Y", "%Y/%m/%d", "%d-%b-%Y", "%d %b %Y")


@dataclass(frozen=True)
class Trade:
    """One executed trade (or a bonus credit): INR per share, whole shares, IST trade date."""

    row: int
    date: dt.date
    symbol: str
    side: str  # "buy" | "sell" | "bonus"
    quantity: int
    price: float
    exchange: str = "NSE"
    trade_id: str | None = None


def parse_date(raw) -> dt.date:
    """A trade date from ISO (``2024-03-15``, ``2024-03-15T10:01:02``), ``15-03-2024``, ``15/03/2024``,
    ``15-Mar-2024``; ValueError otherwise."""
    if isinstance(raw, dt.datetime):
        return raw.date()
    if isinstance(raw, dt.date):
        return raw
    text = str(raw or "").strip()
    if not text:
        raise ValueError("empty")
    head = text[:10] if len(text) >= 10 and text[4] == "-" else text
    for fmt in DATE_FORMATS:
        try:
            return dt.datetime.strptime(head, fmt).date()
        except ValueError:
            continue
    raise ValueError(text)


def _trade(i: int, rec: Mapping, problems: RowProblems) -> Trade | None:
    ok = True
    try:
        day = parse_date(rec.get("date"))
    except ValueError:
        problems.add(i, "date", f"{rec.get('date')!r} is not a date", "Write trade dates as YYYY-MM-DD.")
        ok, day = False, None
    prefix, symbol = split_exchange(rec.get("symbol") or "")
    if not symbol:
        problems.add(i, "symbol", "the symbol is empty", "Fill in the NSE trading symbol (e.g. TCS).")
        ok = False
    exchange = (prefix or str(rec.get("exchange") or "NSE")).strip().upper()
    if exchange not in EXCHANGES:
        problems.add(i, "exchange", f"{exchange!r} is not a cash-equity exchange",
                     f"Use one of {', '.join(EXCHANGES)} (derivatives are not part of a holdings history).")
        ok = False
    side = SIDES.get(str(rec.get("side") or "").strip().lower())
    if side is None:
        problems.add(i, "side", f"{rec.get('side')!r} is not buy or sell", "Use buy, sell (B/S) or bonus.")
        ok = False
    qty = price = None
    try:
        qty = _parse_number(rec.get("quantity"))
        if qty is None or not math.isfinite(qty) or qty <= 0 or qty != int(qty):
            raise ValueError
    except (TypeError, ValueError):
        problems.add(i, "quantity", f"{rec.get('quantity')!r} is not a whole number of shares above 0",
                     "Give the traded quantity as a positive whole number (sells too: the side says sell).")
        ok = False
    try:
        price = _parse_number(rec.get("price"))
        if price is None or not math.isfinite(price) or price < 0 or (price == 0 and side != "bonus"):
            raise ValueError
    except (TypeError, ValueError):
        problems.add(i, "price", f"{rec.get('price')!r} is not a price above 0",
                     "Give the trade price per share in INR (0 only for bonus shares).")
        ok = False
    if not ok:
        return None
    tid = str(rec.get("trade_id") or "").strip() or None
    return Trade(row=i, date=day, symbol=symbol, side=side, quantity=int(qty), price=float(price),
                 exchange=exchange, trade_id=tid)


def trades_from_rows(rows: list[list], where: str) -> list[Trade]:
    """Validated trades in date order (a day's trades in file order) from table rows with a header."""
    start = next((i for i, r in enumerate(rows) if any(str(c or "").strip() for c in r)), None)
    if start is None:
        raise InputError(f"Tradebook {where} is empty.", fix=f"Add a header row ({HEADER}) and one row per trade.",
                         file=where)
    header = [normalise_header(c or "") for c in rows[start]]
    mapping = {j: TRADE_ALIASES[h] for j, h in enumerate(header) if h in TRADE_ALIASES}
    found = set(mapping.values())
    if "date" not in found and "time" in found:  # Console without trade_date: the execution time's day
        mapping = {j: ("date" if f == "time" else f) for j, f in mapping.items()}
        found = set(mapping.values())
    missing = [f for f in REQUIRED if f not in found]
    if missing:
        raise InputError(f"{where} is missing tradebook column{'s' if len(missing) > 1 else ''} "
                         f"{', '.join(missing)} (header row {start + 1}).",
                         fix=f"Use Zerodha Console's tradebook CSV as downloaded, or the header {HEADER}.",
                         file=where, row=start + 1, missing=missing)
    problems = RowProblems(where)
    trades: list[Trade] = []
    ids: dict[str, int] = {}
    currencies: dict[str, int] = {}
    for i, r in enumerate(rows[start + 1:], start=start + 2):
        if not any(str(c or "").strip() for c in r):
            continue
        rec = {f: (r[j] if j < len(r) else None) for j, f in mapping.items()}
        cur = str(rec.get("currency") or "INR").strip().upper()
        currencies.setdefault(cur, i)
        if cur != "INR" or len(currencies) > 1:
            first = ", ".join(f"{c} (row {n})" for c, n in currencies.items())
            problems.add(i, "currency", f"currency {cur} in a tradebook of {first}",
                         "Use one tradebook per currency; qlwork values Indian equities in INR.")
            continue
        trade = _trade(i, rec, problems)
        if trade is None:
            continue
        if trade.trade_id is not None:
            key = f"{trade.exchange}:{trade.trade_id}"
            if key in ids:
                problems.add(i, "trade_id", f"trade id {trade.trade_id} is repeated (first at row {ids[key]})",
                             "Remove the duplicate row (a tradebook downloaded twice over the same dates?).")
                continue
            ids[key] = i
        trades.append(trade)
    problems.raise_if_any()
    if not trades:
        raise InputError(f"{where} has no trades.", fix=f"Add one row per trade ({HEADER}).", file=where)
    ordered = sorted(trades, key=lambda t: (t.date, t.row))
    _check_positions(ordered, where)
    return ordered


def _check_positions(trades: list[Trade], where: str) -> None:
    """Every sell must be covered by shares bought (or credited) before it, per symbol."""
    held: dict[str, int] = {}
    problems = RowProblems(where)
    for t in trades:
        have = held.get(t.symbol, 0)
        if t.side == "sell" and t.quantity > have:
            what = "before any buy" if have == 0 else f"with only {have} held"
            problems.add(t.row, "quantity", f"sells {t.quantity} {t.symbol} on {t.date.isoformat()} {what}",
                         "Add the earlier buys (download the tradebook from the first purchase) or a bonus/"
                         "transfer-in row for shares that came from elsewhere.")
            continue
        held[t.symbol] = have + (t.quantity if t.side != "sell" else -t.quantity)
    problems.raise_if_any()


def load_trades(source, *, label: str | None = None) -> list[Trade]:
    """Trades from a tradebook CSV path, CSV text (``label`` names it) or a list of dicts."""
    import os
    from pathlib import Path

    if isinstance(source, (list, tuple)):
        keys = sorted({k for r in source if isinstance(r, Mapping) for k in r})
        rows = [keys] + [[r.get(k) for k in keys] for r in source]
        return trades_from_rows(rows, label or "trades")
    if isinstance(source, (str, os.PathLike)) and "\n" not in str(source):
        path = Path(source).expanduser()
        where = label or path.name
        if not path.is_file():
            raise InputError(f"Tradebook {where} does not exist.", fix="Check the path of the tradebook CSV.",
                             file=where)
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InputError(f"{where} is not UTF-8 text.", fix="Save the tradebook as UTF-8 CSV.", file=where) from None
        return trades_from_rows(csv_rows(text, where), where)
    if isinstance(source, str):
        return trades_from_rows(csv_rows(source, label or "tradebook"), label or "tradebook")
    raise InputError(f"Cannot read trades from {type(source).__name__}.",
                     fix="Pass a tradebook CSV path, CSV text or a list of trade dicts.")
