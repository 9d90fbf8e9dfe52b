"""Tearsheet figures, each drawn from the output of the ``portfolio_tearsheet`` tool (a dict; see
:mod:`qlwork.review.tearsheet`): monthly returns heatmap, rolling volatility and Sharpe vs the
benchmark, the daily returns distribution with VaR and CVaR, top contributors and detractors.
Few artists per figure (one image, a handful of lines or bars), so they draw quickly."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from matplotlib.colors import TwoSlopeNorm
from matplotlib.figure import Figure

from .style import (BENCH_COLOR, NEG_COLOR, PCT_TICKS, PORTFOLIO_COLOR, POS_COLOR, as_dates, fit_dates, mark_empty,
                    new_figure, themed)

MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def _f(values) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


@themed
def monthly_heatmap_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """Years x months grid of the portfolio's monthly returns (red losses, green gains), values printed."""
    monthly = out.get("monthly_returns") or {}
    years = sorted({int(k[:4]) for k in monthly})
    fig, (ax,) = new_figure((9, 1.6 + 0.45 * max(1, len(years))), "Monthly returns of the portfolio", synthetic,
                            left_in=0.8)
    if not years:
        mark_empty(ax)
        return fig
    grid = np.full((len(years), 12), np.nan)
    for key, value in monthly.items():
        if value is not None:
            grid[years.index(int(key[:4])), int(key[5:7]) - 1] = value
    lim = max(float(np.nanmax(np.abs(grid))), 1e-4)
    ax.imshow(grid, cmap="RdYlGn", norm=TwoSlopeNorm(0.0, -lim, lim), aspect="auto", interpolation="nearest")
    for (i, j), v in np.ndenumerate(grid):
        if np.isfinite(v):
            ax.text(j, i, f"{v * 100:+.1f}%", ha="center", va="center", fontsize=8)
    ax.set_xticks(range(12), MONTHS)
    ax.set_yticks(range(len(years)), [str(y) for y in years])
    ax.tick_params(length=0)
    return fig


@themed
def rolling_figure(out: Mapping, synthetic: bool = False) -> Figure:
    """Rolling annualised volatility (top) and Sharpe (bottom), portfolio vs benchmark."""
    roll = out.get("rolling") or {}
    months = round((roll.get("window_days") or 126) / 21)
    bench = out.get("benchmark", "NIFTY 50")
    fig, (v_ax, s_ax) = new_figure((9, 5.5), f"Rolling {months}-month volatility and Sharpe vs {bench}", synthetic,
                                   nrows=2, ncols=1, sharex=True)
    if not roll.get("dates"):
        for ax in (v_ax, s_ax):
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
    s_ax.set_xlabel("Date (end of each window)")
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
