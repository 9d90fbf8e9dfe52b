"""The figures of a review and an answer: allocation, sectors vs NIFTY 50, equity and drawdown,
price with SMA50/SMA200, volume, RSI and MACD, rebased prices. Each returns a :class:`~matplotlib.figure.Figure`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure  # no pyplot: figures render through Agg without a GUI backend
from matplotlib.patches import Patch

from ..analytics.indicators import sma
from .style import (BENCH_COLOR, COLORS, INR_TICKS, NEG_COLOR, PCT_TICKS, PORTFOLIO_COLOR, POS_COLOR,
                    align_xy, as_dates, fit_dates, label_room, mark_empty, new_figure, themed,
                    volume_ticks, volume_unit)


@themed
def allocation_figure(holdings: Sequence[Mapping], synthetic: bool = False, title: str | None = None, *,
                      benchmark_weights: Mapping[str, float] | None = None,
                      benchmark: str = "NIFTY 50") -> Figure:
    """Horizontal bars of portfolio weight per holding (largest on top), coloured by P&L sign when
    ``pnl`` is present (red = position at a loss). ``holdings``: dicts with ``symbol`` and ``weight``
    (fraction).

    ``benchmark_weights`` (``{symbol: fraction}`` of the ``benchmark`` index's constituents) adds a
    grey bar per holding with that symbol's weight in the index (0 when it is not a constituent),
    grouped with the portfolio bar as in :func:`sector_figure`. ``None`` (the default) draws the
    holdings only; an empty mapping means the provider has no constituent weights: holdings only,
    and the legend says so."""
    rows = sorted(((str(h.get("symbol", "?")), float(h.get("weight") or 0.0), h.get("pnl")) for h in holdings),
                  key=lambda r: (r[1], r[0]))
    bench = None if benchmark_weights is None else {str(k): float(v) for k, v in benchmark_weights.items()}
    grouped = bool(bench)
    if title is None:
        title = f"Allocation by holding vs {benchmark}" if grouped else "Allocation by holding"
    fig, (ax,) = new_figure((8, max(3.0, (0.5 if grouped else 0.35) * len(rows) + 1.5)), title, synthetic,
                      left_in=label_room(r[0] for r in rows))
    if not rows:
        mark_empty(ax)
        return fig
    names = [r[0] for r in rows]
    y = np.arange(len(rows))
    weights = np.array([r[1] for r in rows])
    losses = any(p is not None for _, _, p in rows)
    at_loss = [p is not None and p < 0 for _, _, p in rows]
    colors = [NEG_COLOR if loss else PORTFOLIO_COLOR for loss in at_loss]
    if grouped:
        bw = np.array([bench.get(n, 0.0) for n in names])
        ax.barh(y + 0.2, weights, height=0.4, color=colors, label="Portfolio")
        ax.barh(y - 0.2, bw, height=0.4, color=BENCH_COLOR, label=f"{benchmark} weight")
        for i, (w, b) in enumerate(zip(weights, bw)):
            ax.text(w, i + 0.2, f" {w:.1%}", va="center", fontsize=8)
            ax.text(b, i - 0.2, f" {b:.1%}", va="center", fontsize=7, color="#555555")
        ax.set_yticks(y, names)
        top = max(weights.max(), bw.max())
    else:
        ax.barh(names, weights, color=colors, label="Portfolio")
        for i, w in enumerate(weights):
            ax.text(w, i, f" {w:.1%}", va="center", fontsize=8)
        top = weights.max()
    ax.xaxis.set_major_formatter(PCT_TICKS)
    xlabel = f"Weight of portfolio value / of the {benchmark} index" if grouped else "Weight of portfolio value"
    ax.set_xlabel(xlabel + (" (red = position at a loss)" if losses else ""))
    ax.set_ylabel("Holding")
    ax.set_xlim(0, max(top * 1.18, 0.05))
    if bench is not None:  # a benchmark comparison was asked for: legend (and why it is missing)
        handles = [Patch(color=PORTFOLIO_COLOR, label="Portfolio")]
        if any(at_loss):
            handles.append(Patch(color=NEG_COLOR, label="Portfolio, position at a loss"))
        if grouped:
            handles.append(Patch(color=BENCH_COLOR, label=f"{benchmark} weight (0% = not a constituent)"))
        ax.legend(handles=handles, loc="lower right", fontsize=8,
                  title=None if grouped else "benchmark weights not available from this provider",
                  title_fontsize=8)
    return fig


@themed
def sector_figure(sector_weights: Mapping[str, float], benchmark_sector_weights: Mapping[str, float] | None = None,
                  synthetic: bool = False, benchmark: str = "NIFTY 50", title: str = "Sector weights vs benchmark") -> Figure:
    """Grouped horizontal bars: portfolio vs benchmark weight per sector (fractions)."""
    bench = dict(benchmark_sector_weights or {})
    sectors = sorted(set(sector_weights) | set(bench),
                     key=lambda s: (float(sector_weights.get(s, 0.0)), float(bench.get(s, 0.0)), s))
    fig, (ax,) = new_figure((8, max(3.0, 0.42 * len(sectors) + 1.5)), title, synthetic, left_in=label_room(sectors))
    if not sectors:
        mark_empty(ax)
        return fig
    y = np.arange(len(sectors))
    pw = np.array([float(sector_weights.get(s, 0.0)) for s in sectors])
    bw = np.array([float(bench.get(s, 0.0)) for s in sectors])
    ax.barh(y + 0.2, pw, height=0.4, color=PORTFOLIO_COLOR, label="Portfolio")
    if bench:
        ax.barh(y - 0.2, bw, height=0.4, color=BENCH_COLOR, label=benchmark)
    ax.set_yticks(y, sectors)
    ax.xaxis.set_major_formatter(PCT_TICKS)
    ax.set_xlabel("Weight")
    ax.set_ylabel("Sector")
    ax.legend(loc="lower right", fontsize=8)
    return fig


PROJECTION_NOTE = "Today's holdings held over the whole window (not the actual past portfolio)"
"""The equity curve's caption when it is today's holdings traced back (``projected=True``)."""


@themed
def equity_drawdown_figure(dates, equity, benchmark_equity=None, synthetic: bool = False,
                           label: str = "Portfolio", benchmark: str = "NIFTY 50",
                           title: str = "Equity curve and drawdown", projected: bool = False,
                           comparisons: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """Two panels sharing the date axis: value rebased to 100 (portfolio vs benchmark) and drawdown
    from the running peak (fraction, shaded). ``projected=True`` (a review's curve: today's quantities
    priced back through the window) captions the chart with :data:`PROJECTION_NOTE`. ``comparisons``
    (label -> curve on the same dates, e.g. a backtest's buy-and-hold) are drawn in both panels too."""
    fig, (top, bottom) = new_figure((9, 6), title, synthetic, nrows=2, ncols=1, sharex=True,
                                    gridspec_kw={"height_ratios": [2, 1]},
                                    note=PROJECTION_NOTE if projected else None)
    eq = np.asarray(equity, dtype=float)
    if eq.size == 0:
        mark_empty(top)
        mark_empty(bottom)
        return fig
    x, eq = align_xy(as_dates(dates), eq)
    base = eq[np.isfinite(eq)][0] if np.isfinite(eq).any() else 1.0
    top.plot(x, eq / base * 100.0, color=PORTFOLIO_COLOR, lw=1.6, label=label)
    dd = eq / np.fmax.accumulate(np.where(np.isfinite(eq), eq, -np.inf)) - 1.0
    bottom.fill_between(x, dd, 0.0, color=NEG_COLOR, alpha=0.35, lw=0, label=label)
    bottom.plot(x, dd, color=NEG_COLOR, lw=0.8)
    if benchmark_equity is not None and len(benchmark_equity):
        be = np.asarray(benchmark_equity, dtype=float)[-eq.size:]
        x_b, be = align_xy(x, be)
        top.plot(x_b, be / be[0] * 100.0, color=BENCH_COLOR, lw=1.2, label=benchmark)
        bdd = be / np.fmax.accumulate(be) - 1.0
        bottom.plot(x_b, bdd, color=BENCH_COLOR, lw=0.9, label=benchmark)
    for i, (name, values) in enumerate((comparisons or {}).items()):
        x_c, ce = align_xy(x, np.asarray(values, dtype=float)[-eq.size:])
        top.plot(x_c, ce / ce[0] * 100.0, color=COLORS[1 + i % (len(COLORS) - 1)], lw=1.2, label=name)
        bottom.plot(x_c, ce / np.fmax.accumulate(ce) - 1.0, color=COLORS[1 + i % (len(COLORS) - 1)], lw=0.9, label=name)
    fit_dates(top, x)
    top.set_ylabel("Value (start = 100)")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.yaxis.set_major_formatter(PCT_TICKS)
    bottom.set_ylabel("Drawdown")
    bottom.set_xlabel("Date")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower left", fontsize=8)
    return fig


LEFT_IN = 1.5
"""Left margin of the indicator figure (inches): tick labels, then the y labels in one column."""


def _sma_tail(close: np.ndarray, n: int, days: int) -> np.ndarray:
    """The last ``days`` values of the ``n``-day SMA of ``close`` (NaN until ``n`` closes exist)."""
    if close.size < n:
        return np.full(days, np.nan)
    return np.asarray(sma(close, n), dtype=float)[-days:]


@themed
def indicator_figure(dates, close, rsi, macd, signal, hist, symbol: str, synthetic: bool = False, *,
                     volume=None, sma50=None, sma200=None) -> Figure:
    """Four panels on one date axis: close price (INR) with its 50- and 200-day simple moving
    averages, daily volume (in lakh shares, or million with international grouping; green on up days,
    red on down days), RSI(14) with 30/70 bands,
    MACD(12,26,9) with signal and histogram. Series are aligned at their end on ``dates``.

    ``sma50`` / ``sma200`` default to averages of ``close``; pass ``close`` with history before the
    window (it may be longer than ``dates``) or the averages themselves, or they start blank.
    ``volume=None`` leaves the volume panel saying so. NaN warm-up values are left blank."""
    fig, (p_ax, v_ax, r_ax, m_ax) = new_figure((9, 8.2), f"{symbol}: price, moving averages, volume, RSI and MACD",
                                               synthetic, nrows=4, ncols=1, sharex=True,
                                               gridspec_kw={"height_ratios": [2, 0.8, 1, 1]}, left_in=LEFT_IN)
    full = np.asarray(close, dtype=float)
    if full.size == 0:
        for ax in (p_ax, v_ax, r_ax, m_ax):
            mark_empty(ax)
        return fig
    n = min(len(dates), full.size)
    x, c = as_dates(dates)[-n:], full[-n:]
    tail = (lambda a: np.asarray(a, dtype=float)[-n:])
    rsi, macd, signal, hist = tail(rsi), tail(macd), tail(signal), tail(hist)
    s50 = _sma_tail(full, 50, n) if sma50 is None else tail(sma50)
    s200 = _sma_tail(full, 200, n) if sma200 is None else tail(sma200)
    p_ax.plot(x, c, color=PORTFOLIO_COLOR, lw=1.3, label=f"{symbol} close")
    p_ax.plot(x, s50, color=COLORS[1], lw=1.0, label="SMA50")
    p_ax.plot(x, s200, color=COLORS[2], lw=1.0, ls="--", label="SMA200")
    p_ax.yaxis.set_major_formatter(INR_TICKS)
    p_ax.set_ylabel("Close (INR)")
    p_ax.legend(loc="upper left", fontsize=8, ncols=3)
    p_ax.grid(alpha=0.3)
    fit_dates(p_ax, x)
    unit, scale = volume_unit()
    if volume is None or not len(volume):
        v_ax.text(0.5, 0.5, "volume not available", ha="center", va="center", transform=v_ax.transAxes,
                  color="#555555", fontsize=8)
        v_ax.set_yticks([])
    else:
        v = tail(volume)
        xv = x[-v.size:]
        up = np.concatenate([[True], c[-v.size:][1:] >= c[-v.size:][:-1]])
        v_ax.vlines(xv[up], 0.0, v[up], color=POS_COLOR, lw=1.0, alpha=0.7, label="Up day")
        v_ax.vlines(xv[~up], 0.0, v[~up], color=NEG_COLOR, lw=1.0, alpha=0.7, label="Down day")
        volume_ticks(v_ax, scale)
        v_ax.set_ylim(0, max(float(np.nanmax(v)) * 1.05, 1.0) if np.isfinite(v).any() else 1.0)
    v_ax.set_ylabel(f"Volume\n({unit} shares)")
    r_ax.plot(x, rsi, color=COLORS[3], lw=1.0, label="RSI(14)")
    r_ax.axhline(70, color=NEG_COLOR, lw=0.7, ls="--")
    r_ax.axhline(30, color=POS_COLOR, lw=0.7, ls="--")
    r_ax.set_ylim(0, 100)
    r_ax.set_ylabel("RSI")
    r_ax.legend(loc="upper left", fontsize=8)
    hz = np.nan_to_num(hist)
    m_ax.fill_between(x, hz, 0.0, where=hz >= 0, step="mid", color=POS_COLOR, alpha=0.45, lw=0, label="Histogram")
    m_ax.fill_between(x, hz, 0.0, where=hz < 0, step="mid", color=NEG_COLOR, alpha=0.45, lw=0)
    m_ax.plot(x, macd, color=PORTFOLIO_COLOR, lw=1.0, label="MACD(12,26)")
    m_ax.plot(x, signal, color=COLORS[1], lw=1.0, label="Signal(9)")
    m_ax.axhline(0, color="#333333", lw=0.5)
    m_ax.set_ylabel("MACD (INR)")
    m_ax.set_xlabel("Date")
    m_ax.legend(loc="upper left", fontsize=8)
    width_in = p_ax.get_position().width * fig.get_figwidth()
    for ax in (p_ax, v_ax, r_ax, m_ax):  # one column of y labels (cheaper than fig.align_ylabels at draw time)
        ax.yaxis.set_label_coords(-(LEFT_IN - 0.45) / width_in, 0.5)  # 1 in for tick labels (INR 1,30,000)
    return fig


@themed
def rebased_figure(dates, close: Mapping[str, Sequence[float]], synthetic: bool = False,
                   title: str = "Close prices", ylabel: str = "Close (start = 100)") -> Figure:
    """Close prices of one symbol (INR) or several rebased to 100 at the first date (``ylabel`` names
    the rebased series: e.g. "Value (start = 100)" for equity curves)."""
    fig, (ax,) = new_figure((9, 4.5), title, synthetic)
    if not close:
        mark_empty(ax)
        return fig
    x = as_dates(dates)
    many = len(close) > 1
    for i, (sym, values) in enumerate(close.items()):
        v = np.asarray(values, dtype=float)
        first = v[np.isfinite(v)][0] if np.isfinite(v).any() else 1.0
        xv, v = align_xy(x, v)
        ax.plot(xv, v / first * 100.0 if many else v, lw=1.2, color=COLORS[i % len(COLORS)], label=sym)
    fit_dates(ax, x)
    if many:
        ax.set_ylabel(ylabel)
    else:
        ax.yaxis.set_major_formatter(INR_TICKS)
        ax.set_ylabel("Close (INR)")
    ax.set_xlabel("Date")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=2 if len(close) > 6 else 1)
    return fig
