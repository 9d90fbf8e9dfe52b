"""The numeric series behind a portfolio review's charts, computed with :mod:`qlwork.analytics`.

:func:`review_series` takes a market provider, a portfolio and an as-of date and returns, vectorised
over days x symbols: the buy-and-hold value of today's holdings through the window vs the ``NIFTY 50``
benchmark (both rebased), their drawdowns, and price / SMA50 / SMA200 / volume / RSI(14) / MACD(12,26,9)
panels for the largest holdings. Indicators are computed on extra warm-up history so the displayed window
has no gaps.

No I/O beyond the market provider, no model, no plotting (see :mod:`qlwork.charts`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..analytics import drawdown, macd, periods, rsi, sma
from ..analytics.risk import holding_returns
from ..config import BENCHMARK
from ..errors import InputError
from ..market.base import parse_date

WARMUP_DAYS = 60
"""Extra trading days before the window for RSI and MACD (first MACD value at row 33)."""
SMA_HISTORY = 199
"""Extra trading days before the window so the 200-day average has a value on its first day."""


@dataclass
class IndicatorPanel:
    """Close, RSI and MACD of one symbol over the review window (NaN before warm-up); its 50- and
    200-day SMAs (INR) and daily volume (shares), ``None`` when not computed."""

    symbol: str
    dates: list[str]
    close: np.ndarray
    rsi: np.ndarray
    macd: np.ndarray
    signal: np.ndarray
    hist: np.ndarray
    sma50: np.ndarray | None = None
    sma200: np.ndarray | None = None
    volume: np.ndarray | None = None

    def last(self) -> dict:
        """The latest close / RSI / MACD values, rounded (for tables)."""
        pick = (lambda a: None if not np.isfinite(a[-1]) else round(float(a[-1]), 4))
        return {"symbol": self.symbol, "close": pick(self.close), "rsi": pick(self.rsi),
                "macd": pick(self.macd), "signal": pick(self.signal), "hist": pick(self.hist)}


@dataclass
class ReviewSeries:
    """Series for the review charts. ``equity`` is the portfolio value in INR (today's quantities held
    through the window); ``benchmark`` the index level; drawdowns are fractions in [-1, 0]."""

    dates: list[str]
    equity: np.ndarray
    benchmark: np.ndarray
    drawdown: np.ndarray
    benchmark_drawdown: np.ndarray
    weights: dict[str, float]
    indicators: list[IndicatorPanel] = field(default_factory=list)
    synthetic: bool = False
    benchmark_name: str = BENCHMARK

    def summary(self) -> dict:
        """Window returns and max drawdowns of portfolio and benchmark (fractions, rounded); ``days`` counts
        the daily returns (closes - 1), as an analysis ``window`` does."""
        def ret(a):
            return round(float(a[-1] / a[0] - 1.0), 4) if len(a) > 1 else 0.0
        return {"start": self.dates[0] if self.dates else None, "end": self.dates[-1] if self.dates else None,
                "days": max(0, len(self.dates) - 1), "portfolio_return": ret(self.equity),
                "benchmark_return": ret(self.benchmark),
                "portfolio_max_drawdown": round(float(self.drawdown.min()), 4) if len(self.drawdown) else 0.0,
                "benchmark_max_drawdown": round(float(self.benchmark_drawdown.min()), 4)
                if len(self.benchmark_drawdown) else 0.0}


def quantities_of(portfolio) -> dict[str, float]:
    """``{symbol: quantity}`` from a Portfolio, a source string, a mapping or holding dicts."""
    if isinstance(portfolio, Mapping):
        return {str(k): float(v) for k, v in portfolio.items()}
    if isinstance(portfolio, str):
        from ..portfolio import load_portfolio

        portfolio = load_portfolio(portfolio)
    if hasattr(portfolio, "symbols") and hasattr(portfolio, "quantities"):
        return dict(zip(portfolio.symbols, np.asarray(portfolio.quantities, dtype=float).tolist()))
    if isinstance(portfolio, Sequence):
        out: dict[str, float] = {}
        for h in portfolio:
            sym = h.get("symbol") or h.get("tradingsymbol")
            out[str(sym)] = out.get(str(sym), 0.0) + float(h["quantity"])
        return out
    raise InputError(f"Cannot read holdings from {type(portfolio).__name__}.",
                     fix="Pass a Portfolio, a portfolio source, {symbol: quantity} or holding dicts.")


def _dates(index: pd.Index) -> list[str]:
    return [d.date().isoformat() if hasattr(d, "date") else str(d) for d in index]


def _volume(market, symbols: list[str], index: pd.Index, day: dt.date) -> np.ndarray | None:
    """Daily volume (shares) of ``symbols`` on ``index`` (days x symbols), ``None`` when the provider has none."""
    try:
        frame = market.ohlcv(symbols, start=index[0].date(), end=day)["volume"]
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    return frame.reindex(index=index, columns=symbols).to_numpy(dtype=float)


@dataclass
class ReturnSeries:
    """The one daily return series every figure of a report is computed from: today's holdings bought
    and held (:func:`~qlwork.analytics.risk.holding_returns`: carried forward, never back; a holding
    counts from its first price) and the benchmark (closes carried forward). ``dates`` are the
    ``days + 1`` closes (ISO), ``portfolio`` and ``benchmark`` the ``days`` simple returns between them,
    ``value`` today's value of the holdings (INR)."""

    dates: list[str]
    portfolio: np.ndarray
    benchmark: np.ndarray
    value: float

    def window(self, days: int) -> "ReturnSeries":
        """The last ``days`` returns (all of them when there are fewer)."""
        k = max(0, len(self.portfolio) - days)
        return ReturnSeries(self.dates[k:], self.portfolio[k:], self.benchmark[k:], self.value)


def returns_of(close: pd.DataFrame, quantities, benchmark: str = BENCHMARK) -> ReturnSeries:
    """:class:`ReturnSeries` of ``quantities`` (``{symbol: qty}``, symbols as ``close``'s columns) and the
    ``benchmark`` column over the whole ``close`` frame (days x symbols, INR)."""
    symbols = list(quantities)
    prices = close[symbols].to_numpy(dtype=float)
    q = np.array([quantities[s] for s in symbols], dtype=float)
    bench = close[benchmark].ffill().to_numpy(dtype=float)
    return ReturnSeries(_dates(close.index), holding_returns(prices, q), bench[1:] / bench[:-1] - 1.0,
                        float(np.nansum(close[symbols].ffill().to_numpy(dtype=float)[-1] * q)))


def return_series(market, portfolio, as_of, days: int, benchmark: str = BENCHMARK) -> ReturnSeries:
    """:func:`returns_of` the last ``days`` returns up to ``as_of`` (fewer when the history is shorter)."""
    qty = quantities_of(portfolio)
    day = parse_date(as_of) if not isinstance(as_of, dt.date) else as_of
    close = market.close_prices(list(qty) + [benchmark], start=day - dt.timedelta(days=int(days * 1.6) + 30), end=day)
    return returns_of(close.iloc[-(days + 1):], qty, benchmark)


def review_series(market, portfolio, as_of, lookback_days: int = 252, top_n: int = 3,
                  benchmark: str = BENCHMARK, returns: ReturnSeries | None = None) -> ReviewSeries:
    """Equity curve of the holdings vs ``benchmark``, drawdowns and indicator panels for the
    ``top_n`` largest holdings over ``lookback_days`` trading days ending at ``as_of``. The curve is
    ``returns`` (a :class:`ReturnSeries` reaching at least that far back; computed when omitted)
    compounded: the same series as the report's period returns and tearsheet."""
    if lookback_days < 20:
        raise InputError(f"lookback_days {lookback_days} is too short.", fix="Use at least 20 trading days.")
    qty = quantities_of(portfolio)
    if not qty:
        raise InputError("The portfolio has no holdings.", fix="Add at least one holding.")
    day = parse_date(as_of) if not isinstance(as_of, dt.date) else as_of
    symbols = list(qty)
    close = market.close_prices(symbols + [benchmark], end=day)
    close = close.iloc[-(lookback_days + 1 + max(WARMUP_DAYS, SMA_HISTORY)):].ffill()  # carried forward only
    if len(close) < lookback_days + 1:
        raise InputError(f"Only {len(close)} trading days of data up to {day}.",
                         fix="Use a later as_of or a shorter lookback.")
    prices = close[symbols].to_numpy(dtype=float)
    window = slice(len(close) - (lookback_days + 1), len(close))
    if returns is None or len(returns.portfolio) < lookback_days:
        returns = returns_of(market.close_prices(symbols + [benchmark], end=day).iloc[-(lookback_days + 1):], qty,
                             benchmark)
    rs = returns.window(lookback_days)
    growth = np.concatenate([[1.0], np.cumprod(1.0 + rs.portfolio)])
    values = growth * (rs.value / growth[-1])  # today's value, traced back through the window
    bench = np.concatenate([[1.0], np.cumprod(1.0 + rs.benchmark)]) * close[benchmark].to_numpy(dtype=float)[window][0]
    dd = np.concatenate([[0.0], drawdown(rs.portfolio)])
    bdd = np.concatenate([[0.0], drawdown(rs.benchmark)])
    last_value = np.nan_to_num(prices[-1]) * np.array([qty[s] for s in symbols])
    weights = dict(zip(symbols, (last_value / last_value.sum()).round(6).tolist()))

    top = sorted(symbols, key=lambda s: (-weights[s], s))[:max(0, top_n)]
    panels: list[IndicatorPanel] = []
    if top:
        cols = [symbols.index(s) for s in top]
        block = prices[:, cols]  # (days incl. warm-up) x top_n, vectorised over symbols
        warm = block[-(lookback_days + 1 + WARMUP_DAYS):]
        r = rsi(warm)
        line, sig, hist = macd(warm)
        s50, s200 = (sma(block, k) if len(block) >= k else np.full(block.shape, np.nan) for k in (50, 200))
        shown = slice(-(lookback_days + 1), None)
        dates = _dates(close.index[window])
        volume = _volume(market, top, close.index[window], day)
        for j, sym in enumerate(top):
            panels.append(IndicatorPanel(sym, dates, block[window, j], r[shown, j], line[shown, j],
                                         sig[shown, j], hist[shown, j], s50[window, j], s200[window, j],
                                         None if volume is None else volume[:, j]))
    meta = market.metadata() if hasattr(market, "metadata") else {}
    return ReviewSeries(dates=rs.dates, equity=values, benchmark=bench, drawdown=dd,
                        benchmark_drawdown=bdd, weights=weights, indicators=panels,
                        synthetic=bool(meta.get("synthetic")), benchmark_name=benchmark)


PERIODS = ("1W", "1M", "YTD", "1Y")
"""Return periods of the executive summary: a week, a calendar month, the year to date, and the year of
the analysis window (the last 252 trading days, the window the risk metrics and the score use)."""
YEAR_DAYS = 252


def period_start(as_of: dt.date, period: str) -> dt.date:
    """The base date of a calendar ``period`` ending at ``as_of``: the return runs from the last close on
    or before it (``YTD``: the last close of the previous year; see :mod:`qlwork.analytics.periods`).
    ``1Y`` here is a calendar year back, which the report's table does not use: its year is
    :data:`YEAR_DAYS` trading days, the analysis window (see :func:`period_returns`)."""
    if period not in PERIODS:
        raise InputError(f"Unknown return period {period!r}.", fix=f"Use one of: {', '.join(PERIODS)}.")
    return periods.period_start(as_of, period)


def period_returns(returns: ReturnSeries, year_days: int = YEAR_DAYS) -> dict:
    """``{period: {"start", "days", "portfolio", "benchmark", "active"}}`` for :data:`PERIODS`, all
    compounded from the one :class:`ReturnSeries` (fractions rounded to 4 places; ``active`` is portfolio
    minus benchmark; ``start`` the base close's date, ``days`` the returns compounded). 1W, 1M and YTD run
    from the last close on or before :func:`period_start`; 1Y is the last ``year_days`` returns, the
    analysis window. A period the series does not cover is None."""
    dates = np.array(returns.dates, dtype="datetime64[D]")
    if len(dates) < 2:
        return {p: None for p in PERIODS}
    growth = np.concatenate([[1.0], np.cumprod(1.0 + returns.portfolio)])
    bench = np.concatenate([[1.0], np.cumprod(1.0 + returns.benchmark)])
    day = dates[-1].astype(dt.date)
    out: dict = {}
    for p in PERIODS:
        if p == "1Y":
            k = len(dates) - 1 - year_days
        else:
            k = int(np.searchsorted(dates, np.datetime64(period_start(day, p)), side="right")) - 1
        if k < 0 or k >= len(dates) - 1 or not np.isfinite(bench[k]):
            out[p] = None
            continue
        port, ref = float(growth[-1] / growth[k] - 1.0), float(bench[-1] / bench[k] - 1.0)
        out[p] = {"start": str(dates[k]), "days": int(len(dates) - 1 - k), "portfolio": round(port, 4),
                  "benchmark": round(ref, 4), "active": round(port - ref, 4)}
    return out


def calendar_period_returns(market, portfolio, as_of, benchmark: str = BENCHMARK, wanted: Sequence[str] = PERIODS) -> dict:
    """Calendar-period returns (``1Y`` a calendar year back, unlike the report's :func:`period_returns`):
    ``{period: {"start", "portfolio", "benchmark", "active"}}`` for ``wanted`` periods (default
    :data:`PERIODS`; any of :data:`qlwork.analytics.periods.PERIODS` or a start date works; fractions,
    rounded to 4 places; ``active`` is portfolio minus benchmark). The portfolio is today's quantities
    held through the period (as the equity chart), a holding priced only part-way counting from its
    first price; ``start`` is the base close's date. A period the price history does not cover is None."""
    qty = quantities_of(portfolio)
    day = parse_date(as_of) if not isinstance(as_of, dt.date) else as_of
    bases = [periods.period_start(day, p) for p in wanted]
    symbols = list(qty)
    close = market.close_prices(symbols + [benchmark], start=min(bases) - dt.timedelta(days=14), end=day)
    dates = [parse_date(d) for d in _dates(close.index)]
    if len(dates) < 2:
        return {p: None for p in wanted}
    growth = np.concatenate([[1.0], np.cumprod(1.0 + holding_returns(close[symbols].to_numpy(dtype=float),
                                                                     [qty[s] for s in symbols]))])
    bench = close[benchmark].ffill().to_numpy(dtype=float)
    starts = periods.base_indices(np.array(dates, dtype="datetime64[D]"), bases)
    rets = periods.window_returns(np.column_stack([growth, bench]), starts)
    out: dict = {}
    for p, k, (port, ref) in zip(wanted, starts, rets):
        if not (np.isfinite(port) and np.isfinite(ref)):
            out[p] = None
            continue
        out[p] = {"start": dates[k].isoformat(), "portfolio": round(float(port), 4), "benchmark": round(float(ref), 4),
                  "active": round(float(port) - float(ref), 4)}
    return out


CASH = "Cash and liquid funds"
"""The sector table's row for holdings that are cash in all but name (liquid ETFs such as LIQUIDBEES)."""


def cash_like(instruments: pd.DataFrame | None, symbols) -> set[str]:
    """The ``symbols`` whose instrument is a liquid (overnight-rate) ETF: its name in the instruments
    dump mentions LIQUID and ETF or BEES."""
    if instruments is None or "name" not in getattr(instruments, "columns", ()):
        return set()
    rows = instruments[instruments["tradingsymbol"].isin(list(symbols))]
    name = rows["name"].fillna("").str.upper()
    hit = name.str.contains("LIQUID") & (name.str.contains("ETF") | name.str.contains("BEES"))
    return set(rows.loc[hit, "tradingsymbol"])


def sector_exposure(holdings: list[dict], benchmark_sectors: Mapping[str, float], cash: set[str] = frozenset()) -> list[dict]:
    """Rows ``{"sector", "portfolio", "benchmark", "active"}`` on one basis: fractions of the whole
    portfolio's value and of the whole benchmark, ``active = portfolio - benchmark`` (so the portfolio
    column sums to 1, the benchmark column to 1 and the active column to 0). Holdings in ``cash`` form
    the :data:`CASH` row and unclassified ones the ``Unclassified`` row (benchmark 0 for both), after the
    sectors, which are ordered by the size of the active weight."""
    from ..analytics.health import UNCLASSIFIED

    w: dict[str, float] = {}
    for h in holdings:
        key = CASH if h["symbol"] in cash else str(h.get("sector") or UNCLASSIFIED)
        w[key] = w.get(key, 0.0) + float(h["weight"])
    total = sum(w.values()) or 1.0
    bench = {str(k): float(v) for k, v in benchmark_sectors.items()}
    btotal = sum(bench.values()) or 1.0
    names = sorted(set(w) | set(bench), key=lambda s: (s in (UNCLASSIFIED, CASH), s == CASH,
                                                       -abs(w.get(s, 0.0) / total - bench.get(s, 0.0) / btotal), s))
    return [{"sector": s, "portfolio": w.get(s, 0.0) / total, "benchmark": bench.get(s, 0.0) / btotal,
             "active": w.get(s, 0.0) / total - bench.get(s, 0.0) / btotal} for s in names]
