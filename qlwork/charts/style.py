"""Chart style shared by every figure: colours, INR and percent tick formats, the figure frame with
its title and the SYNTHETIC DATA mark, and small date/label helpers. Weights are fractions.

Every figure is drawn on an opaque white card with dark text (:data:`THEME`), whatever the kernel's
rcParams say: the inline backend makes figures transparent and a dark style makes text light, and
either makes a chart unreadable on the other theme's page. In JupyterLab's dark themes the page shows the
card inverted (:data:`DARK_CHART_CSS`), so it reads as a dark chart instead of a white box."""

from __future__ import annotations

import functools

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: figures render through Agg without a GUI backend
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.ticker import FuncFormatter, MaxNLocator, PercentFormatter

from ..formatting import group_digits

SYNTHETIC_LABEL = "SYNTHETIC DATA - not real market prices"
DPI = 100
COLORS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a50021", "#5f5f5f")
PORTFOLIO_COLOR, BENCH_COLOR, NEG_COLOR, POS_COLOR = "#1f4e79", "#7f7f7f", "#c00000", "#2e7d32"
BACKGROUND, TEXT = "#ffffff", "#1a1a1a"
THEME = {
    "figure.facecolor": BACKGROUND, "figure.edgecolor": BACKGROUND, "axes.facecolor": BACKGROUND,
    "axes.edgecolor": "#333333", "axes.labelcolor": TEXT, "axes.titlecolor": TEXT, "text.color": TEXT,
    "xtick.color": TEXT, "ytick.color": TEXT, "xtick.labelcolor": TEXT, "ytick.labelcolor": TEXT,
    "grid.color": "#b0b0b0", "legend.facecolor": BACKGROUND, "legend.edgecolor": "#cccccc",
    "legend.labelcolor": TEXT, "legend.framealpha": 0.9, "savefig.facecolor": BACKGROUND,
    "savefig.edgecolor": BACKGROUND, "savefig.transparent": False,
}
"""The colours every figure is built and saved with (an opaque light card, dark text)."""


DARK_CHART_CSS = ("<style>body[data-jp-theme-light='false'] img.qlwork-chart,"
                  "body[data-jp-theme-light='false'] .jp-RenderedSVG img,"
                  "body[data-jp-theme-light='false'] .jp-RenderedImage img"
                  "{filter:invert(0.88) hue-rotate(180deg)}</style>")
"""The dark variant of every chart in JupyterLab's dark themes (``data-jp-theme-light="false"`` on the
page): the light card drawn inverted, hues turned back (dark grey ground, light text, red stays red and
green green), instead of a white box on a dark page. Light themes, HTML reports and PDFs are unchanged.
The review's stylesheet and the chat widget's header carry it."""


def themed(build):
    """Run a figure builder under :data:`THEME`, so the kernel's rcParams (transparent inline
    backgrounds, dark styles) never reach the figure."""
    @functools.wraps(build)
    def wrapper(*args, **kwargs):
        with matplotlib.rc_context(THEME):
            return build(*args, **kwargs)
    return wrapper


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


def volume_ticks(ax, scale: float) -> None:
    """Three or so ticks on a volume axis, labelled in units of ``scale`` shares (``12.5``, ``1,250``)."""
    ax.yaxis.set_major_locator(MaxNLocator(3))
    ax.yaxis.set_major_formatter(FuncFormatter(
        lambda v, _pos=None: "" if not np.isfinite(v) else
        group_digits(round(v / scale)) if v / scale >= 100 else f"{v / scale:g}"))


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


def fit_dates(ax, x: np.ndarray) -> None:
    """Date axis from the first to the last date drawn (no empty margin after the data ends), with
    short month / year tick labels ("Mar", "2026") that do not run into each other."""
    if len(x) > 1:
        ax.set_xlim(x[0], x[-1])
    locator = AutoDateLocator(minticks=4, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator, show_offset=False))


def volume_unit() -> tuple[str, float]:
    """The unit volume axes are shown in: lakh (1e5) shares with Indian digit grouping, else million."""
    return ("lakh", 1e5) if group_digits(100000) == "1,00,000" else ("million", 1e6)


def new_figure(figsize: tuple[float, float], title: str, synthetic: bool, left_in: float = 1.35,
               note: str | None = None, **grid) -> tuple[Figure, list]:
    """A figure of ``figsize`` inches with fixed margins, ``title`` and, for synthetic data, the
    :data:`SYNTHETIC_LABEL` line under it: the one SYNTHETIC mark of the figure (no watermark too).
    ``note``: a caption line above the first axes. Call it from a :func:`themed` builder."""
    fig = Figure(figsize=figsize, dpi=DPI, facecolor=BACKGROUND, edgecolor=BACKGROUND)
    axes = fig.subplots(**grid, squeeze=False).ravel().tolist() if grid else [fig.add_subplot()]
    # fixed margins (in inches, so tall and short figures look alike) instead of a layout engine:
    # cheaper to draw and identical on every render
    top_in = (0.75 if synthetic else 0.5) + (0.25 if note else 0.0)
    fig.subplots_adjust(left=left_in / figsize[0], right=1 - 0.3 / figsize[0], bottom=0.6 / figsize[1],
                        top=1 - top_in / figsize[1], hspace=0.12 if grid else 0.2)
    fig.suptitle(title + (f"\n{SYNTHETIC_LABEL}" if synthetic else ""), fontsize=12, color=TEXT)
    if note:
        axes[0].set_title(note, loc="left", fontsize=9, style="italic", color=TEXT)
    return fig, axes


def mark_empty(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


# -- figures -----------------------------------------------------------------------------------------
