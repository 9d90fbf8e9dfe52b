"""Chart style shared by every figure: colours, INR and percent tick formats, the figure frame with
its title and the SYNTHETIC DATA mark, and small date/label helpers. Weights are fractions."""

from __future__ import annotations


import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: figures render through Agg without a GUI backend
from matplotlib.ticker import FuncFormatter, PercentFormatter

from ..formatting import group_digits

SYNTHETIC_LABEL = "SYNTHETIC DATA - not real market prices"
DPI = 100
COLORS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a50021", "#5f5f5f")
PORTFOLIO_COLOR, BENCH_COLOR, NEG_COLOR, POS_COLOR = "#1f4e79", "#7f7f7f", "#c00000", "#2e7d32"


# -- formatting --------------------------------------------------------------------------------------

def inr(value: float, _pos=None) -> str:
    """``INR 1,23,456`` style tick label (digit grouping of :func:`qlwork.formatting.group_digits`: lakh /
    crore unless ``QLWORK_NUMBER_GROUPING=international``); ``value`` in rupees."""
    if value is None or not np.isfinite(value):
        return ""
    sign = "-" if value < 0 else ""
    if abs(value) < 1000 and abs(value - round(value)) > 1e-9:
        return f"{sign}INR {abs(value):,.2f}".rstrip("0").rstrip(".")
    return f"{sign}INR {group_digits(round(abs(value)))}"


INR_TICKS = FuncFormatter(inr)
PCT_TICKS = PercentFormatter(xmax=1.0, decimals=0)


def as_dates(dates) -> np.ndarray:
    """Naive datetime64 array from ISO strings, dates or a (tz-aware) DatetimeIndex."""
    idx = pd.DatetimeIndex(pd.to_datetime(list(dates)) if not isinstance(dates, pd.Index) else dates)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.to_numpy()


def label_room(labels) -> float:
    """Left margin in inches for y tick labels of the given texts (plus the axis label)."""
    return 0.55 + 0.085 * max([len(str(x)) for x in labels] or [4])


def align_xy(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last ``min(len(x), len(y))`` points of both (series are aligned at their end)."""
    n = min(len(x), len(y))
    return x[len(x) - n:], y[len(y) - n:]


def new_figure(figsize: tuple[float, float], title: str, synthetic: bool, left_in: float = 1.35,
         **grid) -> tuple[Figure, list]:
    fig = Figure(figsize=figsize, dpi=DPI)
    axes = fig.subplots(**grid, squeeze=False).ravel().tolist() if grid else [fig.add_subplot()]
    # fixed margins (in inches, so tall and short figures look alike) instead of a layout engine:
    # cheaper to draw and identical on every render
    top_in = 0.75 if synthetic else 0.5
    fig.subplots_adjust(left=left_in / figsize[0], right=1 - 0.3 / figsize[0], bottom=0.6 / figsize[1],
                        top=1 - top_in / figsize[1], hspace=0.12 if grid else 0.2)
    fig.suptitle(title + (f"\n{SYNTHETIC_LABEL}" if synthetic else ""), fontsize=12)
    if synthetic:
        fig.text(0.5, 0.5, "SYNTHETIC DATA", fontsize=40, color="#999999", alpha=0.15, rotation=25,
                 ha="center", va="center", transform=fig.transFigure, zorder=0)
    return fig, axes


def mark_empty(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


# -- figures -----------------------------------------------------------------------------------------
