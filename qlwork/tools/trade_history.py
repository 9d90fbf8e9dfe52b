"""What an investor actually earned, from their trade history: FIFO lots with realised and unrealised
P&L, short/long-term gains per financial year (:mod:`qlwork.portfolio.lots`), XIRR of the portfolio and
of each holding, time-weighted return against a benchmark over any period, and reconciliation with a
holdings file. Prices from a market-data provider (INR, closes on trading days, Asia/Kolkata dates).

Behind ``qlwork.trade_history(...)`` and ``qlwork trades`` (the CLI).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import asdict

import numpy as np

from ..analytics.cashflows import annualise, time_weighted_return, xirr
from ..errors import InputError
from ..market.base import parse_date, priceable_symbols
from ..portfolio import Portfolio, load_portfolio
from ..portfolio.lots import GRANDFATHER_DATE, TaxRules, fifo_lots, gains_by_year, unrealised
from ..portfolio.reconcile import reconcile
from ..portfolio.trades import Trade, load_trades
from .context import resolve_benchmark, rnd
from .registry import ToolContext


def _flows(trades: list[Trade]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dates datetime64[D], signed INR amounts from the investor's side, symbols) per trade (bonus: 0)."""
    dates = np.array([t.date for t in trades], dtype="datetime64[D]")
    sign = np.array([{"buy": -1.0, "sell": 1.0, "bonus": 0.0}[t.side] for t in trades])
    amounts = sign * np.array([t.quantity * t.price for t in trades])
    return dates, amounts, np.array([t.symbol for t in trades])


def _xirr_with_value(dates, amounts, day: dt.date, value: float) -> float | None:
    d = np.append(dates, np.datetime64(day, "D"))
    a = np.append(amounts, value)
    keep = a != 0
    rate = xirr(a[keep], d[keep]) if keep.sum() >= 2 else float("nan")
    return None if not np.isfinite(rate) else rate


def _fmv_2018(market, trades: list[Trade], symbols: list[str]) -> dict[str, float]:
    """Highest price on 31 Jan 2018 of the symbols with lots bought on or before it, from the provider."""
    old = sorted({t.symbol for t in trades if t.date <= GRANDFATHER_DATE and t.side != "sell"} & set(symbols))
    if not old:
        return {}
    high = market.ohlcv(old, start=GRANDFATHER_DATE, end=GRANDFATHER_DATE)["high"]
    return {s: float(high[s].iloc[0]) for s in old if s in high.columns and len(high) and np.isfinite(high[s].iloc[0])}


def trade_history_report(trades, market, *, as_of=None, start=None, benchmark: str | None = None,
                         holdings=None, fmv_2018: Mapping[str, float] | None = None,
                         rules: TaxRules = TaxRules()) -> dict:
    """The trade-history report (JSON-ready): ``positions`` (open lots per holding with XIRR),
    ``closed_lots``, ``gains_by_year``, ``xirr`` (portfolio), ``time_weighted`` (portfolio vs benchmark
    from ``start``, default the first trade), ``reconciliation`` (when ``holdings`` is given) and
    ``symbols_without_data`` (traded symbols the provider cannot price: left out of values and returns).

    ``trades``: a tradebook path/text/records or a list of :class:`~qlwork.portfolio.trades.Trade`.
    ``fmv_2018``: 31 Jan 2018 highest prices for grandfathering (default: the provider's day high).
    """
    is_list = isinstance(trades, list) and trades and all(isinstance(t, Trade) for t in trades)
    trades = trades if is_list else load_trades(trades)
    ctx = ToolContext(market=market, benchmark=benchmark)
    index = resolve_benchmark(ctx, benchmark)
    day = parse_date(as_of, field="as_of") if as_of is not None else (
        getattr(market, "default_as_of", None) or market.last_date())
    if trades[0].date > day:
        raise InputError(f"The first trade ({trades[0].date.isoformat()}) is after as_of {day.isoformat()}.",
                         fix="Pick an as_of date after the trades.", field="as_of")
    trades = [t for t in trades if t.date <= day]
    known = priceable_symbols(market)
    traded = list(dict.fromkeys(t.symbol for t in trades))
    priced = [s for s in traded if s in known]
    without = [{"symbol": s, "reason": "not a symbol the market data provider knows (unknown, delisted or "
                "unlisted); left out of values and returns"} for s in traded if s not in known]
    fmv = dict(fmv_2018) if fmv_2018 is not None else _fmv_2018(market, trades, priced)
    book = fifo_lots(trades, rules=rules, fmv_2018=fmv)
    first = trades[0].date
    close = market.close_prices(priced + [index], start=min(first, parse_date(start) if start else first), end=day)
    close = close.ffill()
    last = {s: float(close[s].iloc[-1]) for s in priced if s in close.columns and np.isfinite(close[s].iloc[-1])}
    open_lots = unrealised(book, last, day, rules)

    dates, amounts, syms = _flows(trades)
    held = book.quantities()
    positions = []
    for sym in traded:
        qty = held.get(sym, 0)
        value = qty * last[sym] if sym in last else None
        mask = syms == sym
        rate = _xirr_with_value(dates[mask], amounts[mask], day, value or 0.0) if sym in last else None
        lots = [lot for lot in open_lots if lot["symbol"] == sym]
        positions.append({"symbol": sym, "quantity": qty, "last_price": last.get(sym),
                          "value": rnd(value, 2) if value is not None else None,
                          "cost": rnd(sum(lot["cost"] for lot in lots), 2),
                          "unrealised_pnl": rnd(sum(lot["gain"] for lot in lots), 2),
                          "realised_pnl": rnd(sum(c.gain for c in book.closed if c.symbol == sym), 2),
                          "xirr": rnd(rate) if rate is not None else None, "lots": lots})
    in_priced = np.isin(syms, list(last))
    total_value = float(sum(held.get(s, 0) * p for s, p in last.items()))
    port_xirr = _xirr_with_value(dates[in_priced], amounts[in_priced], day, total_value)

    # time-weighted: daily values of the traded quantities, the day's net buys as the external flow
    cols = [s for s in priced if s in last]
    idx_days = close.index.tz_localize(None).values.astype("datetime64[D]")
    rows = np.clip(np.searchsorted(idx_days, dates[in_priced]), 0, len(idx_days) - 1)
    qty = np.zeros((len(idx_days), len(cols)))
    flow = np.zeros(len(idx_days))
    col_of = {s: j for j, s in enumerate(cols)}
    t_priced = [t for t in trades if t.symbol in col_of]
    signed_qty = np.array([{"buy": 1, "bonus": 1, "sell": -1}[t.side] * t.quantity for t in t_priced], dtype=float)
    np.add.at(qty, (rows, [col_of[t.symbol] for t in t_priced]), signed_qty)
    np.add.at(flow, rows, -amounts[in_priced])
    values = (np.cumsum(qty, axis=0) * close[cols].to_numpy(dtype=float)).sum(axis=1)
    daily = time_weighted_return(values, flow)
    begin = parse_date(start, field="start") if start else first
    b = int(np.searchsorted(idx_days, np.datetime64(begin, "D")))
    twr = float(np.prod(1.0 + daily[b:]) - 1.0) if b < len(daily) else 0.0
    bench = close[index].to_numpy(dtype=float)
    bench_ret = float(bench[-1] / bench[min(b, len(bench) - 1)] - 1.0)
    span = (day - begin).days
    report = {
        "as_of": day.isoformat(), "benchmark": index, "trades": len(trades),
        "first_trade": first.isoformat(),
        "xirr": rnd(port_xirr) if port_xirr is not None else None,
        "time_weighted": {"start": begin.isoformat(), "end": day.isoformat(), "portfolio": rnd(twr),
                          "benchmark": rnd(bench_ret), "active": rnd(twr - bench_ret),
                          "portfolio_annualised": rnd(annualise(twr, span)),
                          "benchmark_annualised": rnd(annualise(bench_ret, span))},
        "value": rnd(total_value, 2), "positions": positions,
        "closed_lots": [{**{k: (v.isoformat() if isinstance(v, dt.date) else v) for k, v in asdict(c).items()}}
                        for c in book.closed],
        "gains_by_year": gains_by_year(book.closed, rules),
        "tax_rules": {"long_term_months": rules.long_term_months,
                      "grandfather_date": rules.grandfather_date.isoformat(),
                      "regimes": [{**asdict(r), "effective_from": r.effective_from.isoformat()} for r in rules.regimes],
                      "fmv_2018": {k: rnd(v, 2) for k, v in fmv.items()}},
        "data_source": {"provider": getattr(market, "name", "?"), "synthetic": bool(getattr(market, "synthetic", False))},
    }
    if holdings is not None:
        pf = holdings if isinstance(holdings, Portfolio) else load_portfolio(holdings, known_symbols=known)
        have = dict(zip(pf.symbols, pf.quantities.tolist()))
        for gone in pf.metadata.get("symbols_without_data") or []:
            have[gone["symbol"]] = int(gone.get("quantity") or 0)
        report["reconciliation"] = reconcile(held, have)
    if without:
        report["symbols_without_data"] = without
    return report
