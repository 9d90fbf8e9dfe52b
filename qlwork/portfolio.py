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
import math
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .errors import InputError
from .market.base import normalise_symbol, suggest_symbols, symbol_lookup

SAMPLES_DIR = Path(__file__).resolve().parent / "data" / "portfolios"
EXPECTED_HEADER = "tradingsymbol,exchange,quantity,average_price"
REQUIRED_FIELDS = ("tradingsymbol", "quantity", "average_price")

VALUATION_COLUMNS = ["symbol", "quantity", "average_price", "last_price", "invested", "market_value", "weight",
                     "pnl", "pnl_pct", "sector"]
"""Columns of :meth:`Portfolio.valuation`."""

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
}
_FLOAT_FIELDS = ("average_price", "last_price", "close_price", "pnl", "day_change", "day_change_percentage")


class Holding(BaseModel):
    """One position, in Kite's holdings shape. Only ``tradingsymbol``, ``quantity`` and
    ``average_price`` are needed; ``close_price``, ``pnl`` and the day-change fields are carried but
    never used for valuation."""

    model_config = ConfigDict(extra="ignore")

    tradingsymbol: str
    exchange: str = "NSE"
    quantity: int = Field(gt=0)
    average_price: float = Field(gt=0)
    last_price: float | None = Field(default=None, gt=0)
    instrument_token: int | None = None
    isin: str | None = None
    product: str = "CNC"
    close_price: float | None = None
    pnl: float | None = None
    day_change: float | None = None
    day_change_percentage: float | None = None

    @field_validator("tradingsymbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        v = normalise_symbol(v)
        if not v:
            raise ValueError("tradingsymbol is empty")
        return v

    @field_validator("exchange")
    @classmethod
    def _exchange(cls, v: str) -> str:
        return (v or "NSE").strip().upper()

    @field_validator("average_price", "last_price")
    @classmethod
    def _finite(cls, v):
        if v is not None and not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v


class Portfolio(BaseModel):
    """A named set of holdings (one row per symbol)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    name: str
    holdings: list[Holding]
    source: str = "records"
    metadata: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _check(self) -> "Portfolio":
        if not self.holdings:
            raise ValueError("a portfolio needs at least one holding")
        seen: set[str] = set()
        for h in self.holdings:
            if h.tradingsymbol in seen:
                raise ValueError(f"duplicate holding {h.tradingsymbol}")
            seen.add(h.tradingsymbol)
        return self

    # basic views
    @property
    def symbols(self) -> list[str]:
        return [h.tradingsymbol for h in self.holdings]

    @property
    def quantities(self) -> np.ndarray:
        return np.array([h.quantity for h in self.holdings], dtype=np.int64)

    @property
    def average_prices(self) -> np.ndarray:
        return np.array([h.average_price for h in self.holdings], dtype=float)

    def __len__(self) -> int:
        return len(self.holdings)

    # valuation
    def _prices(self, prices) -> np.ndarray:
        lookup: dict[str, float] = {}
        if prices is not None:
            items = prices.items() if isinstance(prices, (Mapping, pd.Series)) else None
            if items is None:
                raise InputError(f"prices must be a mapping or a pandas Series, not {type(prices).__name__}.",
                                 fix="Pass e.g. {'TCS': 3150.0} or close_prices(...).iloc[-1].")
            lookup = {normalise_symbol(k): v for k, v in items}
        out = np.empty(len(self.holdings), dtype=float)
        missing, bad = [], []
        for i, h in enumerate(self.holdings):
            value = lookup.get(h.tradingsymbol, h.last_price)
            try:
                value = float(value) if value is not None else math.nan
            except (TypeError, ValueError):
                value = math.nan
            if not math.isfinite(value) and h.last_price is not None:
                value = float(h.last_price)
            if not math.isfinite(value):
                missing.append(h.tradingsymbol)
            elif value <= 0:
                bad.append(f"{h.tradingsymbol}={value}")
            out[i] = value
        if missing:
            raise InputError(f"No price for {', '.join(missing)} in portfolio {self.name!r}.",
                             fix="Pass prices for every holding (e.g. market.close_prices(symbols).iloc[-1]) "
                                 "or include last_price in the holdings.", missing=missing)
        if bad:
            raise InputError(f"Non-positive price for {', '.join(bad)} in portfolio {self.name!r}.",
                             fix="Prices must be greater than zero.")
        return out

    def valuation(self, prices: Mapping[str, float] | pd.Series | None = None,
                  sectors: Mapping[str, str] | None = None) -> pd.DataFrame:
        """One row per holding with :data:`VALUATION_COLUMNS`.

        ``last_price`` comes from ``prices`` (which override each holding's ``last_price``); a holding
        with neither raises :class:`InputError` naming it. ``invested = quantity * average_price``,
        ``market_value = quantity * last_price``, ``weight = market_value / total`` (sums to 1),
        ``pnl = (last_price - average_price) * quantity``, ``pnl_pct = pnl / invested`` (a fraction,
        0.05 = 5%). ``sector`` from ``sectors`` or ``"Unknown"``.
        """
        last = self._prices(prices)
        qty = self.quantities.astype(float)
        avg = self.average_prices
        invested = qty * avg
        value = qty * last
        pnl = value - invested
        sec = {normalise_symbol(k): str(v) for k, v in (sectors or {}).items()}
        frame = pd.DataFrame({
            "symbol": self.symbols,
            "quantity": self.quantities,
            "average_price": avg,
            "last_price": last,
            "invested": invested,
            "market_value": value,
            "weight": value / value.sum(),
            "pnl": pnl,
            "pnl_pct": pnl / invested,
            "sector": [sec.get(s, "Unknown") for s in self.symbols],
        }, columns=VALUATION_COLUMNS)
        frame.attrs["portfolio"] = self.name
        return frame

    def weights(self, prices: Mapping[str, float] | pd.Series | None = None) -> pd.Series:
        """Market-value weights by symbol (sum to 1)."""
        val = self.valuation(prices)
        return pd.Series(val["weight"].to_numpy(), index=pd.Index(val["symbol"], name="symbol"), name="weight")

    def market_value(self, prices: Mapping[str, float] | pd.Series | None = None) -> float:
        """Total market value in INR."""
        return float(self.valuation(prices)["market_value"].sum())

    def sector_exposure(self, prices: Mapping[str, float] | pd.Series | None = None,
                        sectors: Mapping[str, str] | None = None) -> dict[str, float]:
        """Weight per sector (sums to 1), largest first."""
        val = self.valuation(prices, sectors)
        grouped = val.groupby("sector", sort=False)["weight"].sum().sort_values(ascending=False)
        return {str(k): float(v) for k, v in grouped.items()}

    def to_records(self) -> list[dict]:
        """Holdings as JSON-ready dicts (None fields dropped)."""
        return [h.model_dump(exclude_none=True) for h in self.holdings]

    def to_dict(self) -> dict:
        """``{"name", "source", "metadata", "holdings"}``: JSON-ready, loadable by :func:`load_portfolio`."""
        return {"name": self.name, "source": self.source, "metadata": dict(self.metadata),
                "holdings": self.to_records()}


# ---------------------------------------------------------------------------------------------
# samples

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
# loading

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
    sym = normalise_symbol(sym_raw) if sym_raw is not None else ""
    if not sym:
        problems.add(row, "tradingsymbol", "the symbol is empty", "Fill in the NSE trading symbol (e.g. TCS).")
        ok = False
    elif known_lookup is not None:
        hit = known_lookup.get(sym.replace(" ", ""))
        if hit is None:
            hints = suggest_symbols(sym, known or [])
            did = f" (did you mean {', '.join(hints)}?)" if hints else ""
            problems.add(row, "tradingsymbol", f"{sym!r} is not a known NSE symbol{did}",
                         "Use NSE trading symbols known to the market data provider.")
            ok = False
        else:
            sym = hit
    out["tradingsymbol"] = sym

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

    for field in _FLOAT_FIELDS:
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
        if value is not None and str(value).strip():
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


def _build(records: list[tuple[int, Mapping[str, Any]]], where: str, *, known_symbols, name: str,
           source: str, metadata: dict, header_note: str = "") -> Portfolio:
    """Validate canonicalised records [(row number, fields)] into a Portfolio."""
    problems = RowProblems(where)
    if not records:
        raise InputError(f"{where} has no holdings{header_note}.",
                         fix=f"Add one row per holding with columns {EXPECTED_HEADER}.", file=where)
    known = list(known_symbols) if known_symbols is not None else None
    lookup = symbol_lookup(known) if known is not None else None
    holdings: list[Holding] = []
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
        try:
            holdings.append(Holding(**data))
        except Exception as exc:  # pydantic ValidationError: report the field
            err = exc.errors()[0] if hasattr(exc, "errors") else {"loc": (None,), "msg": str(exc)}
            problems.add(row, str(err["loc"][0]) if err.get("loc") else None, err["msg"],
                         "Correct the value.")
    problems.raise_if_any()
    return Portfolio(name=name, holdings=holdings, source=source, metadata=metadata)


def _canonical(raw: Mapping[str, Any], row: int, where: str) -> dict:
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
    return _build(records, where, known_symbols=known_symbols, name=name, source=source,
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
        rec = _canonical(item, i, where)
        miss = [f for f in REQUIRED_FIELDS if f not in rec]
        if miss:
            raise InputError(f"{where} row {i}: missing field{'s' if len(miss) > 1 else ''} {', '.join(miss)}.",
                             fix=f"Each holding needs {', '.join(REQUIRED_FIELDS)}.", file=where, row=i,
                             field=miss[0])
        records.append((i, rec))
    final_name = name or (str(found_name) if found_name else None) or default_name
    return _build(records, where, known_symbols=known_symbols, name=final_name, source=source,
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
