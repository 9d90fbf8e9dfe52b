"""What the signal tools read: the last :data:`SIGNAL_BARS` daily bars of each symbol, the indicator
signals at a day, and which symbols a request names (symbols, a sector, or the portfolio). Prices in
INR; daily bars dated by trading day (Asia/Kolkata)."""

from __future__ import annotations

import datetime as dt

from ..analytics.signals import generate_signals
from ..errors import InputError
from ..market.sectors import match_sector
from .context import load_holdings, resolve_known
from .registry import ToolContext

SIGNAL_BARS = 300  # daily bars behind each signal: enough for SMA-200 and the MACD warm-up


def signal_window(market, symbols: list[str], day) -> tuple[dict, dict]:
    """OHLC panel of the last :data:`SIGNAL_BARS` daily bars up to ``day`` (only that span is
    requested from the provider) and its window description."""
    start = day - dt.timedelta(days=int(SIGNAL_BARS * 1.5) + 15)
    panel = market.ohlcv(symbols, start=start, end=day)
    symbols = [s for s in symbols if s in panel["close"].columns]  # a symbol the provider failed for drops
    tail = {k: v[symbols].iloc[-SIGNAL_BARS:] for k, v in panel.items()}
    index = tail["close"].index
    window = {"start": index[0].date().isoformat(), "end": index[-1].date().isoformat(), "bars": int(len(index))} \
        if len(index) else {"start": None, "end": None, "bars": 0}
    return tail, window


def signals_at(market, symbols: list[str], day) -> tuple[list[dict], dict]:
    """Indicator signals per symbol at ``day`` and the window of bars they were computed on."""
    tail, window = signal_window(market, symbols, day)
    close = tail["close"]
    return generate_signals(close.to_numpy(), tail["high"].to_numpy(), tail["low"].to_numpy(),
                            symbols=list(close.columns)), window


def symbols_for(ctx: ToolContext, market, symbols, sector) -> tuple[list[str], list[dict]]:
    """The symbols to signal (from ``symbols``, the sector, or the portfolio) and those not found."""
    if symbols:
        return resolve_known(market, symbols)
    if sector:
        inst = market.instruments()
        stocks = inst[inst["instrument_type"] == "EQ"]
        wanted = (match_sector(sector, stocks["sector"].unique()) or sector).strip().lower()
        names = stocks.loc[stocks["sector"].str.lower() == wanted, "tradingsymbol"].tolist()
        if not names:
            known = sorted(set(stocks["sector"]))
            raise InputError(f"Unknown sector {sector!r}.", fix=f"Use one of: {', '.join(known)}.", field="sector",
                             allowed=known)
        return names, []
    return load_holdings(ctx, None).symbols, []
