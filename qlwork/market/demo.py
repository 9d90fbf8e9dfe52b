"""Deterministic synthetic NSE-like market data (the default provider).

Everything here is **synthetic**: generated from a fixed seed, not real NSE prices. Frames carry
``attrs["synthetic"] = True`` and ``attrs["provider"] = "demo"``; :meth:`DemoMarketData.metadata` says so.

Core universe (:meth:`~DemoMarketData.instruments`): 49 large caps with approximate 2026 price levels, 6
high-volatility small caps, the liquid ETF ``LIQUIDBEES`` and ``NIFTY 50`` (a cap-weighted basket of the
large caps). Beyond it the provider prices the rest of the bundled NIFTY 500 list and eight more indices
(:mod:`.demo_nifty500`, a separate seeded stream; :meth:`~DemoMarketData.all_instruments`), so a real
holdings file works offline; the core's numbers never depend on them. Sectors are NSE's industry names
(:mod:`.sectors`). Daily bars 2014-01-01 to 2026-12-31 on trading days (NSE-like holidays skipped).

Model (log returns, vectorised over days x symbols)::

    r[t, i] = drift[i] + beta[i] * m[t] + s[t, sector(i)] + e[t, i] + jump[t, i]

``m`` is a market factor whose drift and volatility follow a two-state (calm / stressed) Markov chain
shared by all stocks (with a forced stressed spell in Feb-Apr 2020); ``s`` are sector factors (so stocks
correlate more within a sector than across); ``e`` is idiosyncratic noise; rare jumps land overnight as
gaps. The open is the previous close moved by the overnight part of the return; high and low extend
beyond ``max/min(open, close)`` by half-normal amounts scaled by the day's volatility; prices are rounded
to the 0.05 tick; volume (shares) rises with volatility and with the size of the day's move.

The generated universe is built once per process per seed (``functools.lru_cache``) and shared
read-only; every public method returns fresh frames.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..config import BENCHMARK, TIMEZONE
from ..errors import InputError
from ..symbols import resolve_listings, resolve_symbols
from .base import (
    CANDLE_COLUMNS,
    INSTRUMENT_COLUMNS,
    OHLCV_FIELDS,
    check_interval,
    date_range_bounds,
    mark,
    parse_date,
    round_to_tick,
)
from .demo_calendar import nse_holidays, trading_days  # noqa: F401  (nse_holidays: public here too)
from .demo_funds import DemoFunds
from .demo_nifty500 import INDICES, extended_instruments, extended_universe, index_weights, listed_names
from .demo_universe import SECTOR_PARAMS, UNIVERSE
from .sectors import bundled_industries, industry_of

PROVIDER = "demo"
DEMO_SEED = 20140101
DEMO_START = dt.date(2014, 1, 1)
DEMO_END = dt.date(2026, 12, 31)
DEMO_AS_OF = dt.date(2026, 11, 20)
"""Default analysis date for demo runs (a Friday trading day); price levels are calibrated to it."""

NIFTY_LEVEL_AS_OF = 25_850.0
TICK = 0.05

# market factor by regime (0 calm, 1 stressed): daily log drift and daily vol
_MARKET_DRIFT = np.array([0.00062, -0.0016])
_MARKET_VOL = np.array([0.0080, 0.0190])
_SECTOR_STRESS = np.array([1.0, 1.6])  # sector/idiosyncratic vol multipliers by regime
_IDIO_STRESS = np.array([1.0, 1.3])
_REGIME_MEAN_DAYS = (220.0, 35.0)
_FORCED_STRESS = (dt.date(2020, 2, 24), dt.date(2020, 4, 30))


# -- generation ------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Universe:
    days: np.ndarray  # datetime64[D], (T,)
    index: pd.DatetimeIndex  # tz-aware, named "date"
    symbols: tuple[str, ...]  # stocks + ETF + index (last)
    col: dict  # symbol -> column
    open: np.ndarray  # (T, N) float, tick-rounded
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray  # (T, N) int64
    regime: np.ndarray  # (T,) int8, 0 calm 1 stressed
    instruments: pd.DataFrame
    index_weights: dict  # symbol -> NIFTY weight at DEMO_AS_OF
    names: dict  # symbol -> company name
    market: np.ndarray  # (T,) the market factor (daily log return), shared with the wider universe


def _regimes(rng: np.random.Generator, days: np.ndarray) -> np.ndarray:
    """Two-state Markov chain as alternating geometric spells (vectorised), plus the forced 2020 spell."""
    n = len(days)
    spells = 4 * int(n / min(_REGIME_MEAN_DAYS)) + 8
    lengths = np.empty(spells, dtype=np.int64)
    lengths[0::2] = rng.geometric(1.0 / _REGIME_MEAN_DAYS[0], size=(spells + 1) // 2)
    lengths[1::2] = rng.geometric(1.0 / _REGIME_MEAN_DAYS[1], size=spells // 2)
    states = np.arange(spells, dtype=np.int8) % 2
    chain = np.repeat(states, lengths)
    if len(chain) < n:  # practically unreachable; keep calm to the end
        chain = np.concatenate([chain, np.zeros(n - len(chain), dtype=np.int8)])
    chain = chain[:n].copy()
    lo, hi = (np.datetime64(d, "D") for d in _FORCED_STRESS)
    chain[(days >= lo) & (days <= hi)] = 1
    return chain


@functools.lru_cache(maxsize=4)
def _generate(seed: int = DEMO_SEED) -> _Universe:
    rng = np.random.default_rng(seed)
    days = trading_days(DEMO_START, DEMO_END)
    n_days = len(days)
    syms = [u[0] for u in UNIVERSE]
    sector_of = [u[2] for u in UNIVERSE]
    caps = np.array([u[5] for u in UNIVERSE])
    sector_names = list(dict.fromkeys(sector_of))
    sec_idx = np.array([sector_names.index(s) for s in sector_of])
    n = len(syms)
    params = np.array([SECTOR_PARAMS[s] for s in sector_of])  # (N, 4)
    etf = caps == "etf"
    small = caps == "small"

    # per-stock parameters
    beta = params[:, 0] * np.exp(rng.normal(0.0, 0.12, n))
    idio = params[:, 2] * np.exp(rng.normal(0.0, 0.15, n))
    alpha = (params[:, 3] + rng.normal(0.0, 0.025, n)) / 252.0
    beta[etf], idio[etf], alpha[etf] = 0.0, 0.0, 0.0

    # factors
    regime = _regimes(rng, days)
    m = _MARKET_DRIFT[regime] + _MARKET_VOL[regime] * rng.standard_normal(n_days)
    sec_vol = np.array([SECTOR_PARAMS[s][1] for s in sector_names])
    s = rng.standard_normal((n_days, len(sector_names))) * sec_vol * _SECTOR_STRESS[regime][:, None]
    z = rng.standard_normal((n_days, n))
    e = z * idio * _IDIO_STRESS[regime][:, None]

    # jumps (overnight news gaps): rarer and smaller for large caps
    p_jump = np.where(small, 0.025, 0.008)
    jump_size = np.where(small, 0.07, 0.035)
    jumps = (rng.random((n_days, n)) < p_jump) * rng.standard_normal((n_days, n)) * jump_size
    jumps[:, etf] = 0.0

    r = beta * m[:, None] + s[:, sec_idx] + e + jumps
    r[0] = 0.0
    at = int(np.searchsorted(days, np.datetime64(DEMO_AS_OF, "D")))
    # detrend each stock to a plausible total growth from the first day to DEMO_AS_OF (keeps the shape of
    # the shared market/sector paths, sets the long-run drift): log growth ~ N(1.3, 0.5) for large caps
    growth_target = np.where(small, 1.2 + 0.7 * rng.standard_normal(n), 1.3 + alpha * 252 * 10
                             + 0.45 * rng.standard_normal(n))
    growth_target = np.clip(growth_target, np.where(small, -0.3, 0.1), np.where(small, 2.5, 2.6))
    realised = r[1:at + 1].sum(axis=0)
    r[1:] += (growth_target - realised) / at

    # day volatility (for ranges and volume)
    sig = np.sqrt((beta * _MARKET_VOL[regime][:, None]) ** 2
                  + (params[:, 1] * _SECTOR_STRESS[regime][:, None]) ** 2
                  + (idio * _IDIO_STRESS[regime][:, None]) ** 2)
    sig[:, etf] = 0.0002

    # log closes, calibrated so the close at DEMO_AS_OF equals the table price
    logc = np.cumsum(r, axis=0)
    target = np.log(np.array([u[3] for u in UNIVERSE]))
    logc += target - logc[at]
    # the liquid ETF hovers around its NAV instead of wandering
    logc[:, etf] = target[etf] + 0.00015 * rng.standard_normal((n_days, int(etf.sum())))
    r = np.diff(logc, axis=0, prepend=logc[:1] - 0.0)

    # overnight part of the return (gap) = a share of the day's move + noise + the whole jump
    overnight = 0.3 * (r - jumps) + 0.25 * sig * rng.standard_normal((n_days, n)) + jumps
    overnight[0] = 0.0
    prev = np.vstack([logc[:1], logc[:-1]])
    logo = prev + overnight
    up = np.abs(rng.standard_normal((n_days, n))) * 0.45 * sig
    down = np.abs(rng.standard_normal((n_days, n))) * 0.45 * sig
    logh = np.maximum(logo, logc) + up
    logl = np.minimum(logo, logc) - down

    close_raw, open_raw, high_raw, low_raw = np.exp(logc), np.exp(logo), np.exp(logh), np.exp(logl)

    # volume (shares): turnover grows over time and with volatility and |move|
    turnover = np.where(small, 3.0e9, np.where(etf, 6.0e8, 5.0e9)) * np.exp(rng.normal(0, 0.5, n))
    years = (days - days[at]).astype(np.float64) / 365.25
    growth = np.exp(0.09 * years)[:, None]
    move = np.abs(r) / np.maximum(sig, 1e-9)
    noise = np.exp(0.3 * rng.standard_normal((n_days, n)))
    stress = np.where(regime == 1, 1.5, 1.0)[:, None]
    volume = np.ceil(turnover * growth / close_raw * noise * stress * (0.7 + 0.35 * np.minimum(move, 6.0)))
    volume = np.maximum(volume, 1).astype(np.int64)

    # NIFTY 50: buy-and-hold cap-weighted basket of the large caps, calibrated at DEMO_AS_OF
    large = caps == "large"
    w = np.array([u[4] for u in UNIVERSE], dtype=float)
    w = np.where(large, w, 0.0)
    w /= w.sum()
    units = NIFTY_LEVEL_AS_OF * w / close_raw[at]  # index points per rupee of each stock
    idx = [raw @ units for raw in (open_raw, high_raw, low_raw, close_raw)]
    idx_vol = volume[:, large].sum(axis=1)

    def stack(stock, index):
        return np.column_stack([stock, index])

    o = round_to_tick(stack(open_raw, idx[0]), TICK)
    h = round_to_tick(stack(high_raw, idx[1]), TICK)
    lo_ = round_to_tick(stack(low_raw, idx[2]), TICK)
    c = round_to_tick(stack(close_raw, idx[3]), TICK)
    lo_ = np.maximum(lo_, TICK)  # a price is never below one tick
    h = np.maximum(h, np.maximum(o, c))
    lo_ = np.minimum(lo_, np.minimum(o, c))
    vol = stack(volume, idx_vol).astype(np.int64)
    for arr in (o, h, lo_, c, vol, regime):
        arr.setflags(write=False)

    all_syms = tuple(syms) + (BENCHMARK,)
    index = pd.DatetimeIndex(days.astype("datetime64[ns]")).tz_localize(TIMEZONE).rename("date")
    inst = _instruments(all_syms, c[at], caps)
    weights = {sym: float(wi) for sym, wi in zip(syms, w) if wi > 0}
    return _Universe(days=days, index=index, symbols=all_syms, col={s_: i for i, s_ in enumerate(all_syms)},
                     open=o, high=h, low=lo_, close=c, volume=vol, regime=regime, instruments=inst,
                     index_weights=weights, names=dict(zip(inst["tradingsymbol"], inst["name"])), market=m)


def _instruments(symbols: tuple[str, ...], last: np.ndarray, caps: np.ndarray) -> pd.DataFrame:
    rows = []
    table = bundled_industries()
    for i, u in enumerate(UNIVERSE):
        exchange_token = 1500 + 7 * i
        rows.append({
            "instrument_token": exchange_token * 256 + 1, "exchange_token": exchange_token,
            "tradingsymbol": u[0], "name": u[1], "last_price": float(last[i]), "expiry": None,
            "strike": 0.0, "tick_size": TICK, "lot_size": 1, "instrument_type": "EQ", "segment": "NSE",
            "exchange": "NSE", "sector": industry_of(u[0], table=table), "cap": u[5],
        })
    rows.append({
        "instrument_token": 256265, "exchange_token": 1001, "tradingsymbol": BENCHMARK, "name": BENCHMARK,
        "last_price": float(last[-1]), "expiry": None, "strike": 0.0, "tick_size": 0.0, "lot_size": 0,
        "instrument_type": "INDEX", "segment": "INDICES", "exchange": "NSE", "sector": "Index", "cap": "index",
    })
    frame = pd.DataFrame(rows, columns=INSTRUMENT_COLUMNS + ["cap"])
    return mark(frame, PROVIDER, True)


# -- provider --------------------------------------------------------------------------------
class DemoMarketData(DemoFunds):
    """Synthetic NSE-like daily market data; implements :class:`qlwork.market.base.MarketData`.

    ``quote()`` keys are ``"NSE:SYMBOL"`` (Kite's convention). ``default_as_of`` is :data:`DEMO_AS_OF`.
    """

    name = "demo"
    synthetic = True
    default_as_of = DEMO_AS_OF
    intervals = ("day",)

    def __init__(self, seed: int = DEMO_SEED) -> None:
        self.seed = int(seed)

    @property
    def _u(self) -> _Universe:
        return _generate(self.seed)

    @property
    def _x(self) -> _Universe:  # the core plus the rest of the NIFTY 500 list and the indices (lazy)
        return extended_universe(_generate(self.seed), self.seed, DEMO_AS_OF, TICK, PROVIDER)

    def _pick(self, symbols) -> tuple[list[str], bool]:
        """Canonical names, and whether any is outside the core universe (the wider one is then needed)."""
        known, companies = listed_names(self._u)
        names = resolve_symbols(symbols, known, names=companies)
        return names, not all(s in self._u.col for s in names)

    def _cols(self, symbols) -> tuple[list[str], np.ndarray, _Universe]:
        names, wide = self._pick(symbols)
        u = self._x if wide else self._u
        return names, np.array([u.col[s] for s in names], dtype=np.int64), u

    def _rows(self, start, end) -> slice:
        u = self._u
        lo, hi = date_range_bounds(start, end, self.first_date(), self.last_date())
        a = int(np.searchsorted(u.days, np.datetime64(lo, "D"), side="left"))
        b = int(np.searchsorted(u.days, np.datetime64(hi, "D"), side="right"))
        return slice(a, b)

    def _wide(self, arr: np.ndarray, rows: slice, cols: np.ndarray, names: list[str]) -> pd.DataFrame:
        frame = pd.DataFrame(arr[rows][:, cols].copy(), index=self._u.index[rows], columns=pd.Index(names))
        frame.columns.name = "symbol"
        return mark(frame, PROVIDER, True)

    def metadata(self) -> dict:
        u = self._u
        return {
            "provider": PROVIDER,
            "synthetic": True,
            "description": "Synthetic NSE-like daily prices generated by qlwork from a fixed seed; "
                           "not real market data.",
            "currency": "INR",
            "timezone": TIMEZONE,
            "seed": self.seed,
            "start": self.first_date().isoformat(),
            "end": self.last_date().isoformat(),
            "default_as_of": DEMO_AS_OF.isoformat(),
            "trading_days": int(len(u.days)),
            "symbols": int(len(u.symbols) - 1),
            "benchmark": BENCHMARK,
            "listed_symbols": int(len(listed_names(u)[0])),
            "indices": [s for s in listed_names(u)[0] if s == BENCHMARK or s in INDICES],
            "intervals": list(self.intervals),
            "quote_keys": "NSE:SYMBOL",
        }

    def instruments(self) -> pd.DataFrame:
        """The core universe: 56 stocks and NIFTY 50 (what sector studies and scans run over)."""
        return mark(self._u.instruments.copy(), PROVIDER, True)

    def all_instruments(self) -> pd.DataFrame:
        """Everything this provider prices: the core, the rest of the bundled NIFTY 500 list (``cap``
        large/mid/small by synthetic market cap) and the indices (NIFTY 50 and
        :data:`.demo_nifty500.INDICES`); all synthetic."""
        return mark(extended_instruments(self._u, self.seed, TICK, PROVIDER).copy(), PROVIDER, True)

    def first_date(self) -> dt.date:
        return self._u.days[0].astype(dt.date)

    def last_date(self) -> dt.date:
        return self._u.days[-1].astype(dt.date)

    def trading_days(self, start=None, end=None) -> list[dt.date]:
        """Trading days in ``[start, end]`` (inclusive)."""
        return list(self._u.days[self._rows(start, end)].astype(dt.date))

    def candles(self, symbols, interval: str = "day", start=None, end=None) -> dict[str, pd.DataFrame]:
        check_interval(interval, self.intervals, "demo")
        names, cols, u = self._cols(symbols)
        rows = self._rows(start, end)
        dates = u.index[rows]
        out = {}
        for name, c in zip(names, cols):
            frame = pd.DataFrame({
                "date": dates, "open": u.open[rows, c], "high": u.high[rows, c], "low": u.low[rows, c],
                "close": u.close[rows, c], "volume": u.volume[rows, c],
            }, columns=CANDLE_COLUMNS)
            frame.attrs["symbol"] = name
            out[name] = mark(frame, PROVIDER, True)
        return out

    def close_prices(self, symbols, start=None, end=None) -> pd.DataFrame:
        names, cols, u = self._cols(symbols)
        return self._wide(u.close, self._rows(start, end), cols, names)

    def ohlcv(self, symbols, start=None, end=None) -> dict[str, pd.DataFrame]:
        names, cols, u = self._cols(symbols)
        rows = self._rows(start, end)
        arrays = {"open": u.open, "high": u.high, "low": u.low, "close": u.close, "volume": u.volume}
        return {k: self._wide(arrays[k], rows, cols, names) for k in OHLCV_FIELDS}

    def quote(self, symbols, *, as_of=None) -> dict[str, dict]:
        """Kite-shaped quotes keyed ``"NSE:SYMBOL"`` (``"BSE:SYMBOL"`` when asked so: one synthetic series
        per symbol) for the bar at ``as_of`` (default
        :data:`DEMO_AS_OF`; a non-trading day uses the last trading day before it). ``ohlc.close`` is the
        previous close, as in Kite; ``net_change = last_price - ohlc.close``."""
        names, cols, u = self._cols(symbols)
        day = DEMO_AS_OF if as_of is None else parse_date(as_of, field="as_of")
        t = int(np.searchsorted(u.days, np.datetime64(day, "D"), side="right")) - 1
        if t < 0 or day > self.last_date():
            raise InputError(f"as_of {day.isoformat()} is outside the demo data "
                             f"({self.first_date().isoformat()} to {self.last_date().isoformat()}).",
                             fix="Pick a date inside that range.", field="as_of")
        prev_t = max(t - 1, 0)
        stamp = pd.Timestamp(u.days[t]).tz_localize(TIMEZONE) + pd.Timedelta(hours=15, minutes=30)
        tokens = dict(zip(u.instruments["tradingsymbol"], u.instruments["instrument_token"]))
        asked = dict(resolve_listings(symbols, listed_names(self._u)[0]))  # "BSE:TCS" keyed as asked
        out = {}
        for name, c in zip(names, cols):
            last, prev_close = float(u.close[t, c]), float(u.close[prev_t, c])
            out[f"{asked.get(name) or 'NSE'}:{name}"] = {
                "instrument_token": int(tokens[name]),
                "tradingsymbol": name,
                "timestamp": stamp.to_pydatetime(),
                "last_price": last,
                "volume": int(u.volume[t, c]),
                "ohlc": {"open": float(u.open[t, c]), "high": float(u.high[t, c]), "low": float(u.low[t, c]),
                         "close": prev_close},
                "net_change": round(last - prev_close, 2),
                "synthetic": True,
            }
        return out

    def sectors(self, symbols) -> dict[str, str]:
        names, wide = self._pick(symbols)
        inst = (self.all_instruments() if wide else self._u.instruments).set_index("tradingsymbol")["sector"]
        return {s: str(inst[s]) for s in names}

    def benchmark_sector_weights(self, index: str = BENCHMARK) -> dict[str, float]:
        """Sector weights of ``index`` (NIFTY 50 or one of :data:`.demo_nifty500.INDICES`) at
        :data:`DEMO_AS_OF` (sum to 1), largest first."""
        weights = self.benchmark_weights(index)
        sectors = self.sectors(list(weights))
        out: dict[str, float] = {}
        for sym, w in weights.items():
            out[sectors[sym]] = out.get(sectors[sym], 0.0) + w
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def benchmark_weights(self, index: str = BENCHMARK) -> dict[str, float]:
        """Constituent weights of ``index`` at :data:`DEMO_AS_OF` (sum to 1; synthetic caps)."""
        name = resolve_symbols([index], listed_names(self._u)[0])[0]
        if name != BENCHMARK and name not in INDICES:
            raise InputError(f"{name} is not an index.", fix=f"Use one of: {BENCHMARK}, {', '.join(INDICES)}.")
        return dict(self._u.index_weights) if name == BENCHMARK else index_weights(self._u, self.seed, name)

    def regimes(self, start=None, end=None) -> pd.Series:
        """The market regime per day: ``"calm"`` or ``"stressed"``."""
        rows = self._rows(start, end)
        labels = np.where(self._u.regime[rows] == 1, "stressed", "calm")
        return pd.Series(labels, index=self._u.index[rows], name="regime")

    def __repr__(self) -> str:
        return f"DemoMarketData(seed={self.seed}, synthetic=True)"
