"""Shared plumbing for tools: the market provider, the portfolio, dates and windows from a ToolContext.

Kept apart from the tools so each tool reads as its analysis, not its argument handling.
"""

from __future__ import annotations

import datetime as dt
import math
import re

import pandas as pd

from ..errors import InputError, ProviderError
from ..market import get_provider
from ..config import BENCHMARK
from ..market.base import index_symbols, parse_date, priceable_symbols
from ..symbols import normalise_symbol, resolve_symbols, symbol_lookup, unknown_symbol_text
from ..portfolio import Portfolio, load_portfolio
from .registry import ToolContext

DISCLAIMER = ("Research output, not investment advice. qlwork is read-only on the broker: "
              "no order is ever placed, modified or cancelled.")

MIN_LOOKBACK, MAX_LOOKBACK = 20, 2520


def rnd(value, digits: int = 4):
    """Round a float for JSON output; NaN and infinities become None."""
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value):
        return None
    return round(value, digits)


def market_of(ctx: ToolContext):
    """The context's market provider, or the demo provider."""
    if ctx.market is None:
        ctx.market = get_provider("demo")
    return ctx.market


def source_of(market) -> dict:
    """Data-source label carried by every tool output (says ``synthetic`` for demo data)."""
    meta = market.metadata()
    return {"provider": meta.get("provider"), "synthetic": bool(meta.get("synthetic")),
            "description": meta.get("description")}


FILE_ID = re.compile(r"file_[A-Za-z0-9]{1,64}")
SERVER_SOURCES = 'portfolio must be "sample:<name>", one of your uploaded file ids (file_...) or "kite"'


def load_holdings(ctx: ToolContext, source) -> Portfolio:
    """The portfolio named by ``source`` or, when omitted, the thread's portfolio.

    ``"kite"`` means the broker holdings of the context's Kite provider (``market.portfolio()``: T1 shares
    counted, zero positions skipped); other providers raise InputError. ``file_...`` is an uploaded file
    the context may read (another user's answers as unknown). A path is accepted only when
    ``ctx.paths_allowed`` (local use); on a multi-user server every path gets the same error, whether
    or not it exists, so nothing on the host can be read or probed through a tool argument.
    """
    market = market_of(ctx)
    chosen = source if source is not None else ctx.portfolio
    if chosen is None:
        raise InputError("No portfolio given and the thread has none.",
                         fix="Attach a holdings file (CSV with tradingsymbol,exchange,quantity,average_price, or "
                             "Kite holdings() JSON) to a message, or pass portfolio=\"sample:diversified\".",
                         code="no_portfolio")
    if isinstance(chosen, Portfolio):
        return chosen
    if isinstance(chosen, str) and chosen.strip().lower() == "kite":
        loader = getattr(market, "portfolio", None)
        if not callable(loader):
            who = f" --user {ctx.user_id}" if getattr(ctx, "user_id", None) else ""
            raise InputError(f'portfolio "kite" needs provider="kite"; this session uses provider '
                             f'{getattr(market, "name", "demo")!r}.',
                             fix=f'Start the session with provider="kite" after `qlwork kite login{who}`, '
                                 'or pass a sample or a CSV/JSON portfolio.', provider=getattr(market, "name", None))
        return loader(name="kite")
    known = priceable_symbols(market)
    if isinstance(chosen, str) and FILE_ID.fullmatch(chosen.strip()):  # one of the caller's uploads
        return _file_portfolio(ctx, chosen.strip(), known)
    if source is not None and not ctx.paths_allowed and not (
            isinstance(source, str) and source.strip().lower().startswith("sample:")):
        raise InputError(f"{SERVER_SOURCES}; file paths are not accepted on this server.",
                         fix='Upload the holdings file (POST /v1/files) and pass its id, or use "sample:diversified".',
                         field="portfolio", code="path_not_allowed")
    return load_portfolio(chosen, known_symbols=known)


def _file_portfolio(ctx: ToolContext, file_id: str, known: set) -> Portfolio:
    """The holdings in the uploaded file ``file_id`` (only if the context may read it: another user's id
    answers exactly like an unknown one)."""
    from .holdings_files import portfolio_from_file_id

    try:
        return portfolio_from_file_id(ctx, file_id, known)
    except InputError as exc:
        if exc.details.get("code") != "not_found":  # e.g. not a portfolio, or a bad row: say so as is
            raise
        raise InputError(exc.message, fix=exc.fix, field="portfolio", code="not_found") from None


def resolve_known(market, symbols: list[str]) -> tuple[list[str], list[dict]]:
    """Validated, de-duplicated NSE symbols and those not found: an unknown symbol never fails the call
    for the known ones; each one not found is ``{"symbol", "suggestions", "message"}`` for the answer to
    name. Raises the usual InputError (with suggestions) when none is known."""
    if not symbols:
        raise InputError("symbols is empty.", fix='Pass at least one NSE symbol, e.g. ["TCS"].')
    inst = market.instruments()
    companies = dict(zip(inst["tradingsymbol"], inst["name"].fillna(""))) if "name" in inst else None
    known = list(inst["tradingsymbol"])
    try:
        return list(dict.fromkeys(resolve_symbols(symbols, known, names=companies))), []
    except InputError as exc:
        unknown = list(exc.details.get("unknown") or [])
        if not unknown:
            raise
        suggestions = dict(exc.details.get("suggestions") or {})
        # symbols the provider prices beyond instruments() (demo: the rest of the NIFTY 500 list) are known
        extra = symbol_lookup(priceable_symbols(market) - set(known))
        unknown = [u for u in unknown if normalise_symbol(u).replace(" ", "") not in extra]
        items = [symbols] if isinstance(symbols, str) else list(symbols)
        rest = [s for s in (x.strip() for i in items for x in str(i).split(",")) if s and s not in unknown]
        if not rest:
            raise
    found = list(dict.fromkeys(resolve_symbols(rest, known + sorted(extra.values()), names=companies)))
    return found, [{"symbol": s, "suggestions": list(suggestions.get(s) or []),
                    "message": unknown_symbol_text(s, known, companies)} for s in unknown]


def default_as_of(market) -> dt.date:
    """The provider's default analysis date (demo: a fixed date, so runs are reproducible)."""
    return getattr(market, "default_as_of", None) or market.last_date()


def resolve_as_of(ctx: ToolContext, value, field: str = "as_of") -> dt.date:
    """Analysis date from the argument ``field`` (its value ``value``), the context, or the provider
    default; never past the data."""
    market = market_of(ctx)
    if value is not None:
        day = parse_date(value, field=field)
    elif ctx.as_of is not None:
        day = parse_date(ctx.as_of, field="as_of")
    else:
        day = default_as_of(market)
    last = market.last_date()
    if day > last:
        name = field if value is not None else "as_of"
        raise InputError(f"{name} {day.isoformat()} is after the last available date {last.isoformat()}.",
                         fix=f"Use a date on or before {last.isoformat()}.", field=name,
                         allowed=f"<= {last.isoformat()}")
    return day


def _failures(close: pd.DataFrame, symbols: list[str]) -> list[dict]:
    """Symbols the provider returned no usable prices for, with the reason (provider failures from
    ``close.attrs["failures"]``, missing columns, or columns without a single price)."""
    recorded = dict(close.attrs.get("failures") or {})
    out = []
    for sym in dict.fromkeys(symbols):
        if sym in close.columns and close[sym].notna().any() and sym not in recorded:
            continue
        err = recorded.get(sym)
        if isinstance(err, dict):
            reason = str(err.get("message") or err.get("type") or "provider error")
        elif err is not None:
            reason = str(err)
        else:
            reason = "no prices in the window"
        out.append({"symbol": sym, "reason": reason})
    return out


def history_window(market, symbols: list[str], day: dt.date, lookback_days: int | None,
                   start=None, required: tuple[str, ...] | list[str] = ()) -> tuple[pd.DataFrame, dict]:
    """Close prices for ``symbols`` ending at ``day``: the last ``lookback_days`` returns' worth of
    rows (lookback + 1 prices), or everything from ``start``. Returns (frame, window description).

    Symbols whose prices could not be fetched (a partial provider failure, e.g. one Kite request
    failing) are dropped from the frame and listed in ``window["symbols_without_data"]`` as
    ``{"symbol", "reason"}``; the key is present only when something was dropped. ProviderError if no
    symbol besides the ``required`` ones is left, or a ``required`` symbol (e.g. the benchmark) is dropped.
    """
    if start is not None:
        first = parse_date(start, field="start")
        if first >= day:
            raise InputError(f"start {first.isoformat()} is not before end {day.isoformat()}.",
                             fix="Choose a start date earlier than the end date.")
        close = market.close_prices(symbols, start=first, end=day)
        close, dropped = _drop_failed(close, symbols, required)
    else:
        lookback = 252 if lookback_days is None else lookback_days
        if not MIN_LOOKBACK <= lookback <= MAX_LOOKBACK:
            raise InputError(f"lookback_days {lookback} is out of range.",
                             fix=f"Use between {MIN_LOOKBACK} and {MAX_LOOKBACK} trading days.",
                             field="lookback_days", allowed=f"{MIN_LOOKBACK}..{MAX_LOOKBACK}")
        first = day - dt.timedelta(days=int(lookback * 1.5) + 15)
        close, dropped = _drop_failed(market.close_prices(symbols, start=first, end=day), symbols, required)
        close = close.iloc[-(lookback + 1):]
        if len(close) < lookback + 1:
            raise InputError(f"Only {len(close)} days of prices before {day.isoformat()}; {lookback + 1} needed.",
                             fix="Use a shorter lookback_days or a later as_of date.")
    if len(close) < 2:
        raise InputError(f"Not enough prices between {first} and {day}.", fix="Widen the date range.")
    window = {"start": close.index[0].date().isoformat(), "end": close.index[-1].date().isoformat(),
              "days": int(len(close) - 1)}
    if dropped:
        window["symbols_without_data"] = dropped
    return close, window


def _drop_failed(close: pd.DataFrame, symbols: list[str], required) -> tuple[pd.DataFrame, list[dict]]:
    """``close`` restricted to the symbols with prices, and the dropped ones (see history_window)."""
    dropped = _failures(close, symbols)
    if not dropped:
        return close, []
    gone = {d["symbol"] for d in dropped}
    names = ", ".join(f"{d['symbol']} ({d['reason']})" for d in dropped)
    fix = "Retry shortly (the provider may be rate limiting or in maintenance), or remove those symbols."
    if gone >= (set(symbols) - set(required) or set(symbols)):
        raise ProviderError(f"No prices for any of the requested symbols: {names}.", fix=fix,
                            symbols_without_data=dropped)
    missing_required = [s for s in required if s in gone]
    if missing_required:
        raise ProviderError(f"No prices for {', '.join(missing_required)}, which this analysis needs: {names}.",
                            fix=fix, symbols_without_data=dropped)
    keep = [s for s in dict.fromkeys(symbols) if s not in gone]
    out = close[keep]
    out.attrs = {k: v for k, v in close.attrs.items() if k != "failures"}
    return out, dropped


def benchmark_index(market, value: str | None = None) -> str:
    """The provider's spelling of the index ``value`` (default NIFTY 50; case and spaces ignored), or an
    InputError listing the indices the provider has."""
    chosen = value or BENCHMARK
    if not isinstance(chosen, str):
        raise InputError(f"benchmark must be an index name, not {type(chosen).__name__}.",
                         fix=f'Pass e.g. "{BENCHMARK}" or "NIFTY BANK".', field="benchmark")
    indices = index_symbols(market)
    try:
        return resolve_symbols([chosen], indices)[0]
    except InputError:
        raise InputError(f"{chosen.strip()!r} is not an index this market data provider has.",
                         fix=f"Use one of: {', '.join(indices)}.", field="benchmark", allowed=indices) from None


def resolve_benchmark(ctx: ToolContext, value: str | None = None) -> str:
    """The benchmark index: ``value`` (the question's), else the context's (the user's, from users.toml or
    the thread), else NIFTY 50 (see :func:`benchmark_index`)."""
    return benchmark_index(market_of(ctx), value or getattr(ctx, "benchmark", None))
