"""Zerodha Kite Connect as a live, read-only market-data provider (``get_provider("kite")``).

Conventions: prices in INR; candle ``date`` tz-aware Asia/Kolkata (day bars at 00:00 IST of the trading
day, as Kite sends them); quotes keyed ``"NSE:SYMBOL"``; symbols are NSE trading symbols and
``"NIFTY 50"`` is the index instrument (exchange NSE, segment INDICES).

- Login: ``qlwork kite login --user ID`` (see :mod:`qlwork.market.kite_auth`); ``KiteMarketData(user_id=ID)``
  reads that user's token (``$QLWORK_HOME/kite_tokens/ID.json``) and raises ``ProviderError`` ("run qlwork
  kite login --user ID") when it is missing, expired, rejected or written for another user. Before
  returning holdings it checks once that Kite's profile is the account the token file was written for.
- Read-only: the Kite client is wrapped (:class:`~qlwork.market.kite_client.ReadOnlyKite`); no order,
  GTT or funds call exists here and its HTTP session refuses any other endpoint.
- Instruments: Kite's NSE dump, cached once per IST day as
  ``$QLWORK_HOME/cache/kite/instruments-YYYY-MM-DD.csv``.
- Sectors: Kite has none. A symbol gets NSE's industry from the NIFTY 500 list (:mod:`.sectors`; a
  holding is matched by its ISIN first, so a BSE holding gets its company's industry), indices get
  ``"Index"``, everything else ``"Unclassified"`` (left out of sector-balance scoring).
- Candles: long ranges are split into chunks within Kite's per-request day caps (:data:`MAX_DAYS`),
  fetched concurrently under the shared rate limiter, merged and de-duplicated; with ``cache=True``
  they are stored in :class:`~qlwork.market.cache.CandleCache` so a rerun fetches only missing days
  (today's partial bar is always fetched again).
- Partial failures: multi-symbol calls return the symbols that worked; the mapping has a ``failures``
  attribute ``{symbol: error dict}`` (wide frames carry it in ``attrs["failures"]``). They raise only if
  every symbol failed, and always at once on a token error.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

from ..config import BENCHMARK, TIMEZONE, home
from ..errors import InputError, ProviderError, QlworkError
from ..fileio import atomic_write
from . import kite_auth
from ..symbols import resolve_listings, split_exchange
from .base import (
    CANDLE_COLUMNS,
    OHLCV_FIELDS,
    check_interval,
    mark,
    parse_date,
)
from .cache import CandleCache
from .kite_account import BATCH, PROVIDER, KiteAccount, Partial  # noqa: F401  (BATCH: tests tune it here)
from .kite_client import ReadOnlyKite
from .ratelimit import RateLimiter
from .sectors import INDEX, UNCLASSIFIED, industries, industry_of
from .sectors import source as sector_source

log = logging.getLogger("qlwork.market.kite")

MAX_DAYS: dict[str, int] = {"minute": 60, "3minute": 100, "5minute": 100, "10minute": 100, "15minute": 200,
                            "30minute": 200, "60minute": 400, "day": 2000}
"""Kite's maximum calendar days per historical request, by interval."""
INSTRUMENT_DTYPES = {"tradingsymbol": str, "name": str, "expiry": str, "instrument_type": str, "segment": str,
                     "exchange": str}


def chunk_ranges(start: dt.date, end: dt.date, interval: str) -> list[tuple[dt.date, dt.date]]:
    """Split the inclusive day range into consecutive chunks of at most ``MAX_DAYS[interval]`` days,
    each requested as ``first 00:00:00`` to ``last 23:59:59`` (so a chunk spans less than the cap)."""
    cap = MAX_DAYS[interval]
    out, day = [], start
    while day <= end:
        last = min(end, day + dt.timedelta(days=cap - 1))
        out.append((day, last))
        day = last + dt.timedelta(days=1)
    return out


def records_to_frame(records: list[dict]) -> pd.DataFrame:
    """Kite ``historical_data`` records -> candle frame (date tz-aware IST, sorted, unique dates)."""
    if not records:
        return pd.DataFrame({"date": pd.DatetimeIndex([], tz=TIMEZONE), "open": [], "high": [], "low": [],
                             "close": [], "volume": pd.Series([], dtype="int64")}, columns=CANDLE_COLUMNS)
    frame = pd.DataFrame.from_records(records)
    frame["date"] = pd.to_datetime(frame["date"], utc=True).dt.tz_convert(TIMEZONE)
    cols = CANDLE_COLUMNS + (["oi"] if "oi" in frame.columns else [])
    frame = frame[cols].astype({"open": float, "high": float, "low": float, "close": float, "volume": "int64"})
    return frame.drop_duplicates("date", keep="last").sort_values("date").reset_index(drop=True)


def _merge(frames: list[pd.DataFrame]) -> pd.DataFrame:
    frames = [f for f in frames if len(f)]
    if not frames:
        return records_to_frame([])
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates("date", keep="last").sort_values("date").reset_index(drop=True)


class KiteMarketData(KiteAccount):
    """Live NSE market data from Kite Connect; implements :class:`qlwork.market.base.MarketData`.

    ``api_key`` defaults to ``$KITE_API_KEY`` and ``access_token`` to the token ``qlwork kite login --user
    ID`` stored for ``user_id`` (default: the OS user name, see :func:`kite_auth.default_user`); ``root``
    points the real client elsewhere (tests). ``cache`` is True (default store), False
    or a :class:`CandleCache`. ``clock`` returns the current tz-aware time (for tests). Retry settings
    (``max_attempts``, ``backoff``, ``backoff_cap`` and ``budget``: the most seconds one call may take) apply
    to transient failures (see :func:`~qlwork.market.kite_client.call_kite`).
    """

    name = PROVIDER
    synthetic = False
    intervals = tuple(MAX_DAYS)

    def __init__(self, *, api_key: str | None = None, access_token: str | None = None, root: str | None = None,
                 timeout: float = 7.0, cache: bool | CandleCache = True, limiter: RateLimiter | None = None,
                 max_attempts: int = 4, backoff: float = 0.5, backoff_cap: float = 8.0, budget: float = 20.0,
                 workers: int = 4, clock: Callable[[], dt.datetime] | None = None, exchange: str = "NSE",
                 user_id: str | None = None) -> None:
        self._clock = clock or kite_auth.now_ist
        self.user_id = kite_auth.check_user(user_id)
        key = api_key or kite_auth.api_key()
        self._kite_user: str | None = None  # the Kite account the stored token was issued for
        if access_token:
            token = access_token
        else:
            stored = kite_auth.load_session(user=self.user_id, now=self._clock())
            token, self._kite_user = stored["access_token"], stored["user_id"] or None
        self._account_checked = False
        self._client = ReadOnlyKite(key, token, root=root, timeout=timeout, limiter=limiter,
                                    max_attempts=max_attempts, backoff=backoff, backoff_cap=backoff_cap,
                                    budget=budget,
                                    fix=kite_auth.login_fix(self.user_id))
        self.cache = CandleCache() if cache is True else (cache or None)
        self.workers = max(1, int(workers))
        self.exchange = exchange
        self._instruments: tuple[dt.date, pd.DataFrame] | None = None
        self._dump_lock = threading.Lock()
        self._last_date: tuple[dt.date, dt.date] | None = None
        self._routes: dict[str, tuple[str, int]] = {}  # held symbol -> (exchange, token) when not NSE
        self._isins: dict[str, str] = {}  # held symbol -> ISIN (its NSE industry, whatever the exchange)
        self._other: dict[str, tuple[dt.date, dict[str, int]]] = {}  # exchange -> (day, {symbol: token})

    # -- time -------------------------------------------------------------------------------
    def now(self) -> dt.datetime:
        """Current time in IST (from ``clock``)."""
        return pd.Timestamp(self._clock()).tz_convert(TIMEZONE).to_pydatetime()

    def today(self) -> dt.date:
        """Today's date in IST."""
        return self.now().date()

    # -- instruments ------------------------------------------------------------------------
    def _dump_path(self, day: dt.date) -> Path:
        return home() / "cache" / "kite" / f"instruments-{day.isoformat()}.csv"

    def _load_dump(self) -> pd.DataFrame:
        with self._dump_lock:
            day = self.today()
            if self._instruments and self._instruments[0] == day:
                return self._instruments[1]
            path = self._dump_path(day)
            if not path.exists():
                frame = pd.DataFrame(self._client.instruments(self.exchange))
                if frame.empty:
                    raise ProviderError(f"Kite returned an empty {self.exchange} instruments list.",
                                        fix="Retry later (the dump is rebuilt each morning).", provider=PROVIDER)
                atomic_write(path, frame.to_csv(index=False))
                for old in path.parent.glob("instruments-*.csv"):
                    if old.name < f"instruments-{(day - dt.timedelta(days=7)).isoformat()}.csv":
                        old.unlink(missing_ok=True)
            frame = pd.read_csv(path, dtype=INSTRUMENT_DTYPES, keep_default_na=False, na_values={"last_price": [""]})
            frame = frame[frame["exchange"].eq(self.exchange) & frame["segment"].isin([self.exchange, "INDICES"])]
            frame = frame.drop_duplicates("tradingsymbol", keep="first").reset_index(drop=True)
            frame["instrument_token"] = frame["instrument_token"].astype("int64")
            frame["expiry"] = frame["expiry"].replace("", None)
            frame["sector"] = self._sector_labels(frame)
            self._instruments = (day, frame)
            return frame

    @staticmethod
    def _sector_labels(frame: pd.DataFrame) -> list[str]:
        table = industries()
        return [INDEX if seg == "INDICES" else industry_of(sym, table=table)
                for sym, seg in zip(frame["tradingsymbol"], frame["segment"])]

    def instruments(self) -> pd.DataFrame:
        """NSE equities and indices from Kite's dump, with ``sector`` (see module docstring)."""
        return mark(self._load_dump().copy(), PROVIDER, False)

    def resolve(self, symbols) -> list[str]:
        """Canonical symbols (NSE, or held on another exchange); InputError with close-match
        suggestions for unknown ones. An ``NSE:``/``BSE:`` prefix is accepted (see :meth:`listings`)."""
        return [sym for sym, _, _ in self.listings(symbols)]

    def _other_tokens(self, exchange: str) -> dict[str, int]:
        """``{symbol: token}`` of another exchange's equities (Kite's ``/instruments/EXCHANGE``, once a day)."""
        day = self.today()
        cached = self._other.get(exchange)
        if cached is None or cached[0] != day:
            rows = self._client.instruments(exchange)
            cached = (day, {str(r["tradingsymbol"]).upper(): int(r["instrument_token"]) for r in rows
                            if str(r.get("segment") or exchange) == exchange})
            self._other[exchange] = cached
        return cached[1]

    def listings(self, symbols) -> list[tuple[str, str, int]]:
        """``[(symbol, exchange, instrument_token)]``: the listing each symbol is priced from.

        An explicit prefix is respected: ``"nse:sbin"`` is SBIN on NSE even when SBIN is held on BSE, and
        ``"BSE:SBIN"`` is the BSE listing (the holding's token, else Kite's BSE list). Without a prefix a
        symbol held on another exchange uses its holding's listing, any other the NSE one."""
        dump = self._load_dump().set_index("tradingsymbol")["instrument_token"]
        known = [*dump.index, *(s for s in self._routes if s not in dump.index)]
        items = symbols.split(",") if isinstance(symbols, str) else [x for x in symbols or [] if isinstance(x, str)]
        for exchange, bare in {split_exchange(x) for x in items}:  # e.g. BSE:KAMATHOTEL, listed on BSE only
            if exchange and exchange != self.exchange and bare not in dump.index and bare not in self._routes \
                    and bare in self._other_tokens(exchange):
                known.append(bare)
        out = []
        for sym, asked in resolve_listings(symbols, known):
            held = self._routes.get(sym)
            exchange = asked or (held[0] if held else self.exchange)
            if exchange == self.exchange and sym in dump.index:
                out.append((sym, exchange, int(dump[sym])))
            elif held and held[0] == exchange:
                out.append((sym, exchange, held[1]))
            elif exchange != self.exchange and sym in self._other_tokens(exchange):
                out.append((sym, exchange, self._other_tokens(exchange)[sym]))
            else:
                raise InputError(f"{sym} is not listed on {exchange} in Kite's instruments list.",
                                 fix=f"Ask for {sym} without a prefix, or on the exchange it is listed on.",
                                 symbol=sym, exchange=exchange)
        return out

    def exchange_of(self, symbol: str) -> str:
        """The exchange ``symbol`` is priced on: its prefix when it has one, else its holding's exchange
        when it is held elsewhere, else NSE."""
        return self.listings([symbol])[0][1]

    def instrument_tokens(self, symbols) -> dict[str, int]:
        """``{symbol: instrument_token}`` (``"NIFTY 50"`` -> the index token; see :meth:`listings` for the
        exchange: an explicit prefix first, then a holding's exchange, then NSE)."""
        return {sym: token for sym, _, token in self.listings(symbols)}

    def sectors(self, symbols) -> dict[str, str]:
        dump = self._load_dump().set_index("tradingsymbol")["sector"]
        return {s: industry_of(s, self._isins.get(s)) if s in self._routes or s not in dump.index else str(dump[s])
                for s in self.resolve(symbols)}

    # -- candles ----------------------------------------------------------------------------
    def _bounds(self, interval: str, start, end) -> tuple[dt.date, dt.date]:
        today = self.today()
        hi = today if end is None else min(parse_date(end, field="end"), today)
        if start is None:
            lo = hi - dt.timedelta(days=(730 if interval == "day" else MAX_DAYS[interval]) - 1)
        else:
            lo = parse_date(start, field="start")
        if lo > hi:
            raise InputError(f"start {lo.isoformat()} is after end {hi.isoformat()} (end is capped at today, "
                             f"{today.isoformat()} IST).", fix="Choose a start on or before the end date.")
        return lo, hi

    def _fetch_chunk(self, symbol: str, token: int, interval: str, a: dt.date, b: dt.date) -> pd.DataFrame:
        records = self._client.historical(token, f"{a.isoformat()} 00:00:00", f"{b.isoformat()} 23:59:59",
                                          interval, what=f"fetching {interval} candles for {symbol} "
                                                         f"({a.isoformat()} to {b.isoformat()})")
        frame = records_to_frame(records)
        days = frame["date"].dt.date
        frame = frame[(days >= a) & (days <= b)].reset_index(drop=True)
        if self.cache is not None:
            done = self.today() - dt.timedelta(days=1)
            self.cache.store(PROVIDER, token, interval, a, b, frame, complete_through=done)
        return frame

    def candles(self, symbols, interval: str = "day", start=None, end=None) -> Partial:
        """``{symbol: candle frame}`` for ``[start, end]`` (inclusive IST days; ``end`` defaults to and is
        capped at today, ``start`` to two years before ``end`` for day bars, one request's cap otherwise).
        Returns a :class:`Partial`; see the module docstring for failures."""
        interval = check_interval(interval, self.intervals, "Kite")
        tokens = self.instrument_tokens(symbols)
        lo, hi = self._bounds(interval, start, end)
        tasks: list[tuple[str, dt.date, dt.date]] = []
        for sym, token in tokens.items():
            runs = self.cache.missing(PROVIDER, token, interval, lo, hi) if self.cache else [(lo, hi)]
            tasks += [(sym, a, b) for run in runs for a, b in chunk_ranges(*run, interval)]
        pieces: dict[str, list[pd.DataFrame]] = {s: [] for s in tokens}
        failures: dict[str, QlworkError] = {}
        if tasks:
            with ThreadPoolExecutor(max_workers=min(self.workers, len(tasks))) as pool:
                futures = {pool.submit(self._fetch_chunk, s, tokens[s], interval, a, b): s for s, a, b in tasks}
                try:
                    for fut in as_completed(futures):
                        sym = futures[fut]
                        try:
                            pieces[sym].append(fut.result())
                        except QlworkError as exc:
                            if exc.details.get("reason") == "token":
                                raise
                            failures.setdefault(sym, exc)
                finally:
                    for fut in futures:
                        fut.cancel()
        out = Partial(failures={s: e.to_dict() for s, e in failures.items()})
        for sym, token in tokens.items():
            if sym in failures:
                continue
            if self.cache is not None:
                frame = self.cache.load(PROVIDER, token, interval, lo, hi)
            else:
                frame = _merge(pieces[sym])
            frame.attrs.update(symbol=sym, instrument_token=token, interval=interval)
            out[sym] = mark(frame, PROVIDER, False)
        self._check_failures(tokens, failures, "candles")
        return out

    def _wide(self, res: Partial, field: str) -> pd.DataFrame:
        cols = {s: f.set_index("date")[field] for s, f in res.items()}
        frame = pd.concat(cols, axis=1) if cols else pd.DataFrame(index=pd.DatetimeIndex([], tz=TIMEZONE))
        frame.index.name = "date"
        frame.columns.name = "symbol"
        frame = frame.sort_index()
        frame.attrs["failures"] = dict(res.failures)
        return mark(frame, PROVIDER, False)

    def close_prices(self, symbols, start=None, end=None) -> pd.DataFrame:
        """Wide daily closes (index date, a column per symbol that worked; ``attrs["failures"]``)."""
        return self._wide(self.candles(symbols, "day", start, end), "close")

    def ohlcv(self, symbols, start=None, end=None) -> dict[str, pd.DataFrame]:
        res = self.candles(symbols, "day", start, end)
        return {k: self._wide(res, k) for k in OHLCV_FIELDS}

    # -- misc -------------------------------------------------------------------------------
    def benchmark_sector_weights(self, index: str = BENCHMARK) -> dict[str, float]:
        """Approximate sector weights of ``index`` from qlwork's demo tables (Kite publishes no index
        weights), labelled with NSE's industry names like :meth:`sectors`. An approximation, not live
        index data; ``{}`` for an index the demo tables do not have."""
        from .demo import DemoMarketData

        try:
            return DemoMarketData().benchmark_sector_weights(index)
        except InputError:
            return {}

    def last_date(self) -> dt.date:
        """The last day (IST) with a NIFTY 50 daily bar, looking back up to 14 days."""
        today = self.today()
        if self._last_date and self._last_date[0] == today:
            return self._last_date[1]
        frame = self.candles([BENCHMARK], "day", today - dt.timedelta(days=14), today)[BENCHMARK]
        if not len(frame):
            raise ProviderError("Kite returned no NIFTY 50 bars for the last two weeks.", provider=PROVIDER,
                                fix="Retry later; check https://status.zerodha.com.")
        last = frame["date"].iloc[-1].date()
        self._last_date = (today, last)
        return last

    def metadata(self) -> dict:
        return {
            "provider": PROVIDER,
            "synthetic": False,
            "description": "Live NSE market data from Zerodha Kite Connect (read-only: no orders).",
            "currency": "INR",
            "timezone": TIMEZONE,
            "exchange": self.exchange,
            "benchmark": BENCHMARK,
            "intervals": list(self.intervals),
            "quote_keys": "NSE:SYMBOL (EXCHANGE:SYMBOL for a symbol held on another exchange)",
            "sectors": f"NSE industry (NIFTY 500 list, {'bundled' if sector_source()['bundled'] else 'refreshed'}); "
                       f"'{INDEX}' for indices, else '{UNCLASSIFIED}'",
            "cache": str(self.cache.path) if self.cache is not None else None,
            "user": self.user_id,
        }

    def __repr__(self) -> str:
        return f"KiteMarketData(user_id={self.user_id!r}, root={self._client.root!r}, synthetic=False)"
