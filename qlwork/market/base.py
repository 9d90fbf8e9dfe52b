"""The market-data protocol every provider implements, and helpers shared by providers.

Conventions (see DESIGN.md section 3):

- Prices in INR; timestamps are timezone-aware ``Asia/Kolkata``; daily bars are dated by trading day
  (midnight IST, as Kite's ``day`` candles are).
- A *candle frame* is Kite-shaped: columns :data:`CANDLE_COLUMNS` (``date, open, high, low, close,
  volume``), one row per bar, ``date`` tz-aware.
- A *wide frame* has ``index = date`` (tz-aware ``DatetimeIndex`` named ``date``) and one column per
  symbol, in the order the symbols were asked for.
- Quotes are keyed ``"NSE:SYMBOL"`` exactly like Kite's ``/quote`` (``"NSE:NIFTY 50"`` for the index).
- Every frame a provider returns carries ``attrs["provider"]`` and ``attrs["synthetic"]``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from ..config import BENCHMARK, TIMEZONE
from ..errors import InputError

CANDLE_COLUMNS: list[str] = ["date", "open", "high", "low", "close", "volume"]
"""Columns of a Kite-shaped candle frame (Kite adds ``oi`` for derivatives when asked)."""

Candles = CANDLE_COLUMNS
"""Alias of :data:`CANDLE_COLUMNS`."""

OHLCV_FIELDS: tuple[str, ...] = ("open", "high", "low", "close", "volume")
"""Keys of the dict returned by :meth:`MarketData.ohlcv`."""

INSTRUMENT_COLUMNS: list[str] = [
    "instrument_token", "exchange_token", "tradingsymbol", "name", "last_price", "expiry", "strike",
    "tick_size", "lot_size", "instrument_type", "segment", "exchange", "sector",
]
"""Columns of :meth:`MarketData.instruments`: Kite's instruments dump plus ``sector``."""

DATE_FORMAT_HINT = "YYYY-MM-DD (e.g. 2026-11-20)"

BENCHMARK_INSTRUMENT = {
    "tradingsymbol": BENCHMARK, "instrument_type": "INDEX", "segment": "INDICES", "exchange": "NSE",
    "sector": "Index",
}
"""How the benchmark index appears in :meth:`MarketData.instruments`."""


@runtime_checkable
class MarketData(Protocol):
    """Read-only market data for NSE symbols (and the ``NIFTY 50`` index).

    ``start``/``end`` accept ``datetime.date``, ``datetime.datetime`` or ISO ``YYYY-MM-DD`` strings and
    are inclusive; ``start=None`` means the first available day, ``end=None`` the last.

    Optional extras (not part of the protocol; callers check with ``hasattr`` and fall back):
    ``benchmark_sector_weights() -> {sector: fraction}`` and ``benchmark_weights() -> {symbol: fraction}``,
    the ``NIFTY 50`` weights per sector and per constituent (each sums to 1; a symbol that is not a
    constituent is absent, i.e. weight 0). The demo provider has both; Kite only the sector weights.
    """

    name: str
    synthetic: bool

    def metadata(self) -> dict:
        """At least ``provider, synthetic, description, currency ("INR"), timezone ("Asia/Kolkata")``."""
        ...

    def instruments(self) -> pd.DataFrame:
        """Instrument table with :data:`INSTRUMENT_COLUMNS`."""
        ...

    def candles(self, symbols, interval: str = "day", start=None, end=None) -> dict[str, pd.DataFrame]:
        """``{symbol: candle frame}`` with :data:`CANDLE_COLUMNS`."""
        ...

    def close_prices(self, symbols, start=None, end=None) -> pd.DataFrame:
        """Wide close prices: index date, one column per symbol."""
        ...

    def ohlcv(self, symbols, start=None, end=None) -> dict[str, pd.DataFrame]:
        """``{"open"|"high"|"low"|"close"|"volume": wide frame (days x symbols)}``."""
        ...

    def quote(self, symbols) -> dict[str, dict]:
        """Kite-shaped quotes keyed ``"NSE:SYMBOL"``: instrument_token, last_price,
        ohlc{open, high, low, close (previous close)}, volume, net_change, timestamp."""
        ...

    def sectors(self, symbols) -> dict[str, str]:
        """``{symbol: sector label}``."""
        ...

    def last_date(self) -> dt.date:
        """The last trading day with data."""
        ...


# ---------------------------------------------------------------------------------------------
# dates

def parse_date(value, *, field: str = "date") -> dt.date:
    """A ``datetime.date`` from a date, datetime/Timestamp (converted to IST if tz-aware),
    ``numpy.datetime64`` or ISO string (``YYYY-MM-DD``, or a full ISO datetime), or ``dd-mm-yyyy`` when
    unambiguous (day above 12, or day = month).

    Raises :class:`InputError` naming ``field`` and the expected format.
    """
    if value is None:
        raise InputError(f"{field} is missing.", fix=f"Give {field} as {DATE_FORMAT_HINT}.", field=field)
    if isinstance(value, dt.datetime):  # includes pd.Timestamp; check before date (subclass)
        if pd.isna(value):
            raise InputError(f"{field} is not a date (NaT).", fix=f"Give {field} as {DATE_FORMAT_HINT}.",
                             field=field)
        if value.tzinfo is not None:
            value = pd.Timestamp(value).tz_convert(TIMEZONE)
        return dt.date(value.year, value.month, value.day)
    if isinstance(value, dt.date):
        return value
    if isinstance(value, np.datetime64):
        if np.isnat(value):
            raise InputError(f"{field} is not a date (NaT).", fix=f"Give {field} as {DATE_FORMAT_HINT}.",
                             field=field)
        return parse_date(pd.Timestamp(value), field=field)
    if isinstance(value, str):
        text = value.strip()
        if len(text) == 10 and text[2] in "-/." and text[5] == text[2] and (text[:2] + text[3:5]).isdigit():
            return _day_first(text, field)
        try:
            if len(text) == 10:
                return dt.date.fromisoformat(text)
            if len(text) > 10 and text[10] in "T ":
                return parse_date(dt.datetime.fromisoformat(text), field=field)
        except ValueError:
            pass
        raise InputError(f"{field} {value!r} is not a valid date; expected {DATE_FORMAT_HINT}.",
                         fix=f"Write {field} as {DATE_FORMAT_HINT}.", field=field, value=value)
    raise InputError(f"{field} {value!r} ({type(value).__name__}) is not a date; expected {DATE_FORMAT_HINT}.",
                     fix=f"Write {field} as {DATE_FORMAT_HINT}.", field=field)


def _day_first(text: str, field: str) -> dt.date:
    """``20-11-2026`` (dd-mm-yyyy, also with / or .) when unambiguous: the day is above 12, or day and month
    agree; ``05-11-2026`` could be 5 Nov or 11 May, so it is refused with the ISO spelling of both."""
    if not text[6:].isdigit():
        raise InputError(f"{field} {text!r} is not a valid date; expected {DATE_FORMAT_HINT}.",
                         fix=f"Write {field} as {DATE_FORMAT_HINT}.", field=field, value=text)
    day, month, year = int(text[:2]), int(text[3:5]), int(text[6:])
    if day <= 12 and month <= 12 and day != month:
        options = [dt.date(year, month, day), dt.date(year, day, month)]
        raise InputError(f"{field} {text!r} is ambiguous: {options[0].strftime('%d %b %Y')} (dd-mm-yyyy) or "
                         f"{options[1].strftime('%d %b %Y')} (mm-dd-yyyy).",
                         fix=f"Write {field} as YYYY-MM-DD: {options[0].isoformat()} or {options[1].isoformat()}.",
                         field=field, value=text)
    try:
        return dt.date(year, month, day)
    except ValueError as exc:
        raise InputError(f"{field} {text!r} is not a valid date ({exc}).", fix=f"Write {field} as {DATE_FORMAT_HINT}.",
                         field=field, value=text) from None


def date_range_bounds(start, end, first: dt.date, last: dt.date) -> tuple[dt.date, dt.date]:
    """Inclusive (start, end) with defaults ``first``/``last``; InputError when start > end."""
    lo = first if start is None else parse_date(start, field="start")
    hi = last if end is None else parse_date(end, field="end")
    if lo > hi:
        raise InputError(f"start {lo.isoformat()} is after end {hi.isoformat()}.",
                         fix="Choose a start date on or before the end date.", start=lo.isoformat(),
                         end=hi.isoformat())
    return lo, hi


def check_interval(interval: str, available: Iterable[str], provider: str) -> str:
    """Validated interval name."""
    avail = list(available)
    if not isinstance(interval, str) or interval.strip().lower() not in avail:
        only = ", ".join(f'"{a}"' for a in avail)
        raise InputError(f"Interval {interval!r} is not available: only {only} candles are available from "
                         f"{provider} data.", fix=f'Use interval={only.split(",")[0]}.', interval=interval)
    return interval.strip().lower()


def source_label(meta: dict) -> str:
    """How answers and headers name a data source (``meta``: provider metadata or a tool's
    ``data_source``); synthetic data always says so."""
    if meta.get("synthetic"):
        return "synthetic demo data (not real market prices)"
    return f"{meta.get('provider')} market data"


def mark(frame: pd.DataFrame, provider: str, synthetic: bool) -> pd.DataFrame:
    """Set the provider/synthetic attrs on ``frame`` (in place) and return it."""
    frame.attrs["provider"] = provider
    frame.attrs["synthetic"] = bool(synthetic)
    return frame


def round_to_tick(values: np.ndarray, tick: float = 0.05) -> np.ndarray:
    """Round prices to the nearest tick (two decimals, no float dust)."""
    return np.round(np.round(np.asarray(values, dtype=float) / tick) * tick, 2)


def listed_instruments(market) -> pd.DataFrame:
    """The widest instrument list of ``market``: ``all_instruments()`` when it has one (the demo provider's
    NIFTY 500 universe and indices), else ``instruments()``."""
    wider = getattr(market, "all_instruments", None)
    return wider() if callable(wider) else market.instruments()


def priceable_symbols(market) -> set[str]:
    """Every symbol ``market`` can price: its ``all_instruments()`` when it lists more than
    ``instruments()`` (the demo provider: the whole NIFTY 500 list and the indices), else ``instruments()``.
    Holdings are checked against this, so a holding is left out only when it truly cannot be priced."""
    return set(listed_instruments(market)["tradingsymbol"])


def index_symbols(market) -> list[str]:
    """The indices ``market`` prices (``segment`` INDICES in its widest instrument list), NIFTY 50 first."""
    frame = listed_instruments(market)
    names = frame.loc[frame["segment"].eq("INDICES"), "tradingsymbol"].astype(str).tolist()
    return sorted(dict.fromkeys(names), key=lambda s: (s != BENCHMARK, s))
