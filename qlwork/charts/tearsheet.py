"""Tearsheet figures, each drawn from the output of the ``portfolio_tearsheet`` tool (a dict; see
:mod:`qlwork.review.tearsheet`): monthly returns heatmaps (portfolio and benchmark, with each year's),
calendar-year returns, the underwater plot, rolling volatility, Sharpe and beta vs the benchmark, the
daily returns distribution with VaR and CVaR, top contributors and detractors.
Few artists per figure (one image, a handful of lines or bars), so they draw quickly."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from .style import (BENCH_COLOR, NEG_COLOR, PCT_TICKS, PORTFOLIO_COLOR, POS_COLOR, TEXT, as_dates, fit_dates,
                    mark_empty, new_figure, themed)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _f(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def _heatmap(ax, grid: np.ndarray, years: list, yearly: np.ndarray, label: str) -> None:
    """One years x (12 months + year) grid, red losses and green gains, values printed."""
    full = np.column_stack([grid, yearly])
    lim = max(float(np.nanmax(np.abs(full))) if np.isfinite(full).any() else 0.0, 1e-4)
    ax.imshow(full, cmap="RdYlGn", norm=TwoSlopeNorm(0.0, -lim, lim), aspect="auto", interpolation="nearest")
    for (i, j), v in np.ndenumerate(full):
        if np.isfinite(v):
            ax.text(j, i, f"{v * 100:+.1f}", ha="center", va="center", fontsize=7.5,
                    fontweight="bold" if j == 12 else "normal")
    ax.axvline(11.5, color=TEXT, lw=1.2)
    ax.set_xticks(range(13), MONTHS + ("Year",))
    ax.set_yticks(range(len(years)), [str(y) for y in years])
    ax.set_ylabel(label)
    ax.tick_params(length=0)


@themed
def monthly_heatmap_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """Years x months grids of monthly returns (%) with each year's return in the last column: the
    portfolio (top) and the benchmark (bottom)."""
    table = out.get("monthly_table") or {}
    years = list(table.get("years") or [])
    bench = out.get("benchmark", "NIFTY 50")
    rows = max(1, len(years))
    fig, axes = new_figure((9, 1.5 + 0.8 * rows), f"Monthly returns (%), portfolio vs {bench}, with each year's",
                           synthetic, left_in=0.9, nrows=2, ncols=1, sharex=True)
    if not years:
        for ax in axes:
            mark_empty(ax)
        return fig
    for ax, key, label in ((axes[0], "portfolio", "Portfolio"), (axes[1], "benchmark", bench)):
        _heatmap(ax, _f([v for row in table[key] for v in row]).reshape(len(years), 12), years,
                 _f(table[f"{key}_year"]), label)
    return fig


@themed
def underwater_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """Drawdown from the running peak (fraction, shaded) of the portfolio and the benchmark line."""
    uw = out.get("underwater") or {}
    bench = out.get("benchmark", "NIFTY 50")
    fig, (ax,) = new_figure((9, 3.2), f"Underwater plot: drawdown of the portfolio and {bench}", synthetic,
                            left_in=0.9)
    if not uw.get("dates"):
        mark_empty(ax)
        return fig
    x = as_dates(uw["dates"])
    p = _f(uw["portfolio"])
    ax.fill_between(x, p, 0, color=NEG_COLOR, alpha=0.35, lw=0, label="Portfolio")
    ax.plot(x, p, color=NEG_COLOR, lw=0.8)
    ax.plot(x, _f(uw["benchmark"]), color=BENCH_COLOR, lw=1.0, label=bench)
    fit_dates(ax, x)
    ax.yaxis.set_major_formatter(PCT_TICKS)
    ax.set_ylabel("Drawdown")
    ax.legend(loc="lower left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@themed
def eoy_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """End-of-year (calendar year) returns: portfolio and benchmark bars side by side."""
    rows = list(out.get("eoy_returns") or [])
    bench = out.get("benchmark", "NIFTY 50")
    fig, (ax,) = new_figure((9, 3.0), f"Calendar-year returns vs {bench} (the first and last years are partial)",
                            synthetic, left_in=0.9)
    if not rows:
        mark_empty(ax)
        return fig
    y = np.arange(len(rows))
    ax.bar(y - 0.2, _f([r["portfolio"] for r in rows]), width=0.4, color=PORTFOLIO_COLOR, label="Portfolio")
    ax.bar(y + 0.2, _f([r["benchmark"] for r in rows]), width=0.4, color=BENCH_COLOR, label=bench)
    ax.set_xticks(y, [str(r["year"]) for r in rows])
    ax.axhline(0, color=TEXT, lw=0.6)
    ax.yaxis.set_major_formatter(PCT_TICKS)
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return fig


@themed
def rolling_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """Rolling annualised volatility (top) and Sharpe (bottom), portfolio vs benchmark."""
    roll = out.get("rolling") or {}
    months = round((roll.get("window_days") or 126) / 21)
    bench = out.get("benchmark", "NIFTY 50")
    fig, (v_ax, s_ax, b_ax) = new_figure((9, 6.6), f"Rolling {months}-month volatility, Sharpe and beta vs {bench}",
                                         synthetic, nrows=3, ncols=1, sharex=True)
    if not roll.get("dates"):
        for ax in (v_ax, s_ax, b_ax):
            mark_empty(ax)
        return fig
    x = as_dates(roll["dates"])
    for ax, key, label in ((v_ax, "volatility", "Volatility (annualised)"), (s_ax, "sharpe", "Sharpe ratio")):
        ax.plot(x, _f(roll[f"portfolio_{key}"]), color=PORTFOLIO_COLOR, lw=1.3, label="Portfolio")
        ax.plot(x, _f(roll[f"benchmark_{key}"]), color=BENCH_COLOR, lw=1.1, label=bench)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper left", fontsize=8)
    fit_dates(v_ax, x)
    v_ax.yaxis.set_major_formatter(PCT_TICKS)
    s_ax.axhline(0, color="#333333", lw=0.5)
    b_ax.plot(x, _f(roll.get("beta") or [None] * len(x)), color=PORTFOLIO_COLOR, lw=1.3, label="Portfolio")
    b_ax.axhline(1, color=BENCH_COLOR, lw=1.0, ls="--", label=f"{bench} (beta 1)")
    b_ax.set_ylabel("Beta")
    b_ax.grid(alpha=0.3)
    b_ax.legend(loc="upper left", fontsize=8)
    b_ax.set_xlabel("Date (end of each window)")
    return fig


@themed
def returns_distribution_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """Histogram of daily returns with the historical VaR and CVaR marked."""
    level = f"{round(float(out.get('confidence') or 0.95) * 100, 1):g}"
    var, cvar = out.get(f"var_{level}"), out.get(f"cvar_{level}")
    fig, (ax,) = new_figure((9, 3.8), f"Daily returns of the portfolio: 1-day VaR and CVaR at {level}%", synthetic,
                            left_in=0.9)
    r = _f(out.get("daily_returns") or [])
    r = r[np.isfinite(r)]
    if r.size == 0:
        mark_empty(ax)
        return fig
    ax.hist(r, bins=50, color=PORTFOLIO_COLOR, alpha=0.75, histtype="stepfilled")
    for value, name, style in ((var, "VaR", "--"), (cvar, "CVaR", ":")):
        if value is not None:
            ax.axvline(value, color=NEG_COLOR, lw=1.4, ls=style, label=f"{name} {value * 100:.2f}%")
    ax.xaxis.set_major_formatter(PCT_TICKS.__class__(xmax=1.0, decimals=1))
    ax.set_xlabel(f"Daily return ({r.size} days)")
    ax.set_ylabel("Days")
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    return fig


@themed
def contributions_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """Horizontal bars: the holdings that added most and took away most return over the window."""
    rows = list(out.get("contributors") or []) + list(reversed(out.get("detractors") or []))
    window = out.get("window") or {}
    title = f"Top contributors and detractors, {window.get('start')} to {window.get('end')}"
    labels = [r["symbol"] for r in rows]
    fig, (ax,) = new_figure((9, 1.4 + 0.32 * max(2, len(rows))), title, synthetic,
                            left_in=0.55 + 0.085 * max([len(s) for s in labels] or [4]))
    if not rows:
        mark_empty(ax)
        return fig
    values = _f([r["contribution"] for r in rows])
    y = np.arange(len(rows))[::-1]
    ax.barh(y, values, color=[POS_COLOR if v >= 0 else NEG_COLOR for v in values], height=0.6)
    ax.set_yticks(y, labels)
    ax.axvline(0, color="#333333", lw=0.6)
    ax.xaxis.set_major_formatter(PCT_TICKS.__class__(xmax=1.0, decimals=1))
    ax.set_xlabel("Contribution to the portfolio's return (percentage points)")
    ax.grid(axis="x", alpha=0.3)
    return fig
