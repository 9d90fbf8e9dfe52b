"""Matplotlib figures used by the notebooks, the reports and the chat widget.

Every function builds a :class:`matplotlib.figure.Figure` directly (no ``pyplot``, so it is safe under
the Agg backend, in threads and in kernels, and nothing is left registered in a global figure
manager), with labelled axes, INR / percent tick formatting, a fixed size and dpi, and - when the data
is synthetic - a "SYNTHETIC DATA" subtitle and watermark.

Output is reproducible: :func:`to_png` / :func:`to_svg` strip the creation date and software
metadata and fix the SVG hash salt, so the same inputs give the same bytes.

Inputs are plain Python (lists, dicts) or NumPy / pandas; dates may be ISO strings, ``date`` objects or
a ``DatetimeIndex``. Weights and returns are fractions (0.05 = 5%).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence

import matplotlib
import numpy as np
import pandas as pd
from matplotlib.figure import Figure  # no pyplot: figures render through Agg without a GUI backend
from matplotlib.patches import Patch
from matplotlib.ticker import FuncFormatter, PercentFormatter

__all__ = [
    "allocation_figure", "sector_figure", "equity_drawdown_figure", "indicator_figure",
    "figure_from_tool_output", "rebased_figure", "to_png", "to_svg", "figure_html", "image", "inr",
    "answer_figures", "answer_images", "tool_output_images", "stored_png", "SYNTHETIC_LABEL",
]

SYNTHETIC_LABEL = "SYNTHETIC DATA - not real market prices"
DPI = 100
_COLORS = ("#1f4e79", "#c55a11", "#548235", "#7030a0", "#bf9000", "#2e75b6", "#a50021", "#5f5f5f")
_PORTFOLIO, _BENCH, _NEG, _POS = "#1f4e79", "#7f7f7f", "#c00000", "#2e7d32"


# -- formatting --------------------------------------------------------------------------------------

def inr(value: float, _pos=None) -> str:
    """``INR 1,23,456`` style label in Indian digit grouping (lakh / crore); ``value`` in rupees."""
    if value is None or not np.isfinite(value):
        return ""
    sign = "-" if value < 0 else ""
    if abs(value) < 1000 and abs(value - round(value)) > 1e-9:
        return f"{sign}INR {abs(value):,.2f}".rstrip("0").rstrip(".")
    whole = f"{abs(value):.0f}"
    if len(whole) > 3:
        head, tail = whole[:-3], whole[-3:]
        groups = []
        while len(head) > 2:
            groups.insert(0, head[-2:])
            head = head[:-2]
        if head:
            groups.insert(0, head)
        whole = ",".join(groups + [tail])
    return f"{sign}INR {whole}"


_INR = FuncFormatter(inr)
_PCT = PercentFormatter(xmax=1.0, decimals=0)


def _dates(dates) -> np.ndarray:
    """Naive datetime64 array from ISO strings, dates or a (tz-aware) DatetimeIndex."""
    idx = pd.DatetimeIndex(pd.to_datetime(list(dates)) if not isinstance(dates, pd.Index) else dates)
    if idx.tz is not None:
        idx = idx.tz_localize(None)
    return idx.to_numpy()


def _label_room(labels) -> float:
    """Left margin in inches for y tick labels of the given texts (plus the axis label)."""
    return 0.55 + 0.085 * max([len(str(x)) for x in labels] or [4])


def _align(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The last ``min(len(x), len(y))`` points of both (series are aligned at their end)."""
    n = min(len(x), len(y))
    return x[len(x) - n:], y[len(y) - n:]


def _new(figsize: tuple[float, float], title: str, synthetic: bool, left_in: float = 1.35,
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


def _empty(ax, text: str = "no data") -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#666666")
    ax.set_xticks([])
    ax.set_yticks([])


# -- figures -----------------------------------------------------------------------------------------

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
    fig, (ax,) = _new((8, max(3.0, (0.5 if grouped else 0.35) * len(rows) + 1.5)), title, synthetic,
                      left_in=_label_room(r[0] for r in rows))
    if not rows:
        _empty(ax)
        return fig
    names = [r[0] for r in rows]
    y = np.arange(len(rows))
    weights = np.array([r[1] for r in rows])
    losses = any(p is not None for _, _, p in rows)
    at_loss = [p is not None and p < 0 for _, _, p in rows]
    colors = [_NEG if loss else _PORTFOLIO for loss in at_loss]
    if grouped:
        bw = np.array([bench.get(n, 0.0) for n in names])
        ax.barh(y + 0.2, weights, height=0.4, color=colors, label="Portfolio")
        ax.barh(y - 0.2, bw, height=0.4, color=_BENCH, label=f"{benchmark} weight")
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
    ax.xaxis.set_major_formatter(_PCT)
    xlabel = f"Weight of portfolio value / of the {benchmark} index" if grouped else "Weight of portfolio value"
    ax.set_xlabel(xlabel + (" (red = position at a loss)" if losses else ""))
    ax.set_ylabel("Holding")
    ax.set_xlim(0, max(top * 1.18, 0.05))
    if bench is not None:  # a benchmark comparison was asked for: legend (and why it is missing)
        handles = [Patch(color=_PORTFOLIO, label="Portfolio")]
        if any(at_loss):
            handles.append(Patch(color=_NEG, label="Portfolio, position at a loss"))
        if grouped:
            handles.append(Patch(color=_BENCH, label=f"{benchmark} weight (0% = not a constituent)"))
        ax.legend(handles=handles, loc="lower right", fontsize=8,
                  title=None if grouped else "benchmark weights not available from this provider",
                  title_fontsize=8)
    return fig


def sector_figure(sector_weights: Mapping[str, float], benchmark_sector_weights: Mapping[str, float] | None = None,
                  synthetic: bool = False, benchmark: str = "NIFTY 50", title: str = "Sector weights vs benchmark") -> Figure:
    """Grouped horizontal bars: portfolio vs benchmark weight per sector (fractions)."""
    bench = dict(benchmark_sector_weights or {})
    sectors = sorted(set(sector_weights) | set(bench),
                     key=lambda s: (float(sector_weights.get(s, 0.0)), float(bench.get(s, 0.0)), s))
    fig, (ax,) = _new((8, max(3.0, 0.42 * len(sectors) + 1.5)), title, synthetic, left_in=_label_room(sectors))
    if not sectors:
        _empty(ax)
        return fig
    y = np.arange(len(sectors))
    pw = np.array([float(sector_weights.get(s, 0.0)) for s in sectors])
    bw = np.array([float(bench.get(s, 0.0)) for s in sectors])
    ax.barh(y + 0.2, pw, height=0.4, color=_PORTFOLIO, label="Portfolio")
    if bench:
        ax.barh(y - 0.2, bw, height=0.4, color=_BENCH, label=benchmark)
    ax.set_yticks(y, sectors)
    ax.xaxis.set_major_formatter(_PCT)
    ax.set_xlabel("Weight")
    ax.set_ylabel("Sector")
    ax.legend(loc="lower right", fontsize=8)
    return fig


def equity_drawdown_figure(dates, equity, benchmark_equity=None, synthetic: bool = False,
                           label: str = "Portfolio", benchmark: str = "NIFTY 50",
                           title: str = "Equity curve and drawdown") -> Figure:
    """Two panels sharing the date axis: value rebased to 100 (portfolio vs benchmark) and drawdown
    from the running peak (fraction, shaded)."""
    fig, (top, bottom) = _new((9, 6), title, synthetic, nrows=2, ncols=1, sharex=True,
                              gridspec_kw={"height_ratios": [2, 1]})
    eq = np.asarray(equity, dtype=float)
    if eq.size == 0:
        _empty(top)
        _empty(bottom)
        return fig
    x, eq = _align(_dates(dates), eq)
    base = eq[np.isfinite(eq)][0] if np.isfinite(eq).any() else 1.0
    top.plot(x, eq / base * 100.0, color=_PORTFOLIO, lw=1.6, label=label)
    dd = eq / np.fmax.accumulate(np.where(np.isfinite(eq), eq, -np.inf)) - 1.0
    bottom.fill_between(x, dd, 0.0, color=_NEG, alpha=0.35, lw=0, label=label)
    bottom.plot(x, dd, color=_NEG, lw=0.8)
    if benchmark_equity is not None and len(benchmark_equity):
        be = np.asarray(benchmark_equity, dtype=float)[-eq.size:]
        x_b, be = _align(x, be)
        top.plot(x_b, be / be[0] * 100.0, color=_BENCH, lw=1.2, label=benchmark)
        bdd = be / np.fmax.accumulate(be) - 1.0
        bottom.plot(x_b, bdd, color=_BENCH, lw=0.9, label=benchmark)
    top.set_ylabel("Value (start = 100)")
    top.legend(loc="upper left", fontsize=8)
    top.grid(alpha=0.3)
    bottom.yaxis.set_major_formatter(_PCT)
    bottom.set_ylabel("Drawdown")
    bottom.set_xlabel("Date")
    bottom.grid(alpha=0.3)
    bottom.legend(loc="lower left", fontsize=8)
    return fig


def indicator_figure(dates, close, rsi, macd, signal, hist, symbol: str, synthetic: bool = False) -> Figure:
    """Three panels: close price (INR), RSI(14) with 30/70 bands, MACD(12,26,9) with signal and
    histogram. NaN warm-up values are left blank."""
    fig, (p_ax, r_ax, m_ax) = _new((9, 7), f"{symbol}: price, RSI and MACD", synthetic, nrows=3, ncols=1,
                                   sharex=True, gridspec_kw={"height_ratios": [2, 1, 1]})
    c = np.asarray(close, dtype=float)
    if c.size == 0:
        for ax in (p_ax, r_ax, m_ax):
            _empty(ax)
        return fig
    n = min(len(dates), c.size)
    x, c = _dates(dates)[-n:], c[-n:]
    tail = (lambda a: np.asarray(a, dtype=float)[-n:])
    rsi, macd, signal, hist = tail(rsi), tail(macd), tail(signal), tail(hist)
    p_ax.plot(x, c, color=_PORTFOLIO, lw=1.3, label=f"{symbol} close")
    p_ax.yaxis.set_major_formatter(_INR)
    p_ax.set_ylabel("Close (INR)")
    p_ax.legend(loc="upper left", fontsize=8)
    p_ax.grid(alpha=0.3)
    r_ax.plot(x, np.asarray(rsi, dtype=float), color=_COLORS[3], lw=1.0, label="RSI(14)")
    r_ax.axhline(70, color=_NEG, lw=0.7, ls="--")
    r_ax.axhline(30, color=_POS, lw=0.7, ls="--")
    r_ax.set_ylim(0, 100)
    r_ax.set_ylabel("RSI")
    r_ax.legend(loc="upper left", fontsize=8)
    h = np.asarray(hist, dtype=float)
    hz = np.nan_to_num(h)
    m_ax.fill_between(x, hz, 0.0, where=hz >= 0, step="mid", color=_POS, alpha=0.45, lw=0, label="Histogram")
    m_ax.fill_between(x, hz, 0.0, where=hz < 0, step="mid", color=_NEG, alpha=0.45, lw=0)
    m_ax.plot(x, np.asarray(macd, dtype=float), color=_PORTFOLIO, lw=1.0, label="MACD(12,26)")
    m_ax.plot(x, np.asarray(signal, dtype=float), color=_COLORS[1], lw=1.0, label="Signal(9)")
    m_ax.axhline(0, color="#333333", lw=0.5)
    m_ax.set_ylabel("MACD (INR)")
    m_ax.set_xlabel("Date")
    m_ax.legend(loc="upper left", fontsize=8)
    return fig


def rebased_figure(dates, close: Mapping[str, Sequence[float]], synthetic: bool = False,
                   title: str = "Close prices") -> Figure:
    """Close prices of one symbol (INR) or several rebased to 100 at the first date."""
    fig, (ax,) = _new((9, 4.5), title, synthetic)
    if not close:
        _empty(ax)
        return fig
    x = _dates(dates)
    many = len(close) > 1
    for i, (sym, values) in enumerate(close.items()):
        v = np.asarray(values, dtype=float)
        first = v[np.isfinite(v)][0] if np.isfinite(v).any() else 1.0
        xv, v = _align(x, v)
        ax.plot(xv, v / first * 100.0 if many else v, lw=1.2, color=_COLORS[i % len(_COLORS)], label=sym)
    if many:
        ax.set_ylabel("Close (start = 100)")
    else:
        ax.yaxis.set_major_formatter(_INR)
        ax.set_ylabel("Close (INR)")
    ax.set_xlabel("Date")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncols=2 if len(close) > 6 else 1)
    return fig


def figure_from_tool_output(name: str, output: Mapping | None) -> Figure | None:
    """A figure for a tool's output when it carries something drawable, else ``None``.

    - ``get_market_data``: ``series{dates, close{symbol: [...]}}`` -> price / rebased chart;
    - ``generate_trading_signals`` with ``backtest.series{dates, equity}`` -> equity and drawdown;
    - ``analyze_portfolio``: ``holdings`` -> allocation chart.
    """
    if not isinstance(output, Mapping) or output.get("error"):
        return None
    synthetic = bool((output.get("data_source") or {}).get("synthetic"))
    try:
        if name == "get_market_data":
            series = output.get("series") or {}
            if series.get("dates") and series.get("close"):
                return rebased_figure(series["dates"], series["close"], synthetic=synthetic,
                                      title="Close prices: " + ", ".join(series["close"]))
        elif name == "generate_trading_signals":
            series = (output.get("backtest") or {}).get("series") or {}
            if series.get("dates") and series.get("equity"):
                label = str(output.get("strategy", "strategy")).replace("_", " ")
                return equity_drawdown_figure(series["dates"], series["equity"], synthetic=synthetic,
                                              label=f"{label} backtest", title=f"Backtest: {label}")
        elif name == "analyze_portfolio" and output.get("holdings"):
            return allocation_figure(output["holdings"], synthetic=synthetic)
    except (TypeError, ValueError, KeyError):
        return None
    return None


# -- reproducible output -----------------------------------------------------------------------------

_PNG_META = {"Software": None}
_SVG_META = {"Date": None, "Creator": None}


def _freeze(fig: Figure) -> None:
    """Run the constrained layout once and keep it, so re-saving a figure gives the same bytes."""
    if fig.get_layout_engine() is not None and fig.get_layout_engine().__class__.__name__ != "PlaceHolderLayoutEngine":
        fig.draw_without_rendering()
        fig.set_layout_engine("none")


def to_png(fig: Figure) -> bytes:
    """PNG bytes without timestamp/software metadata (same figure -> same bytes)."""
    _freeze(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_META)
    return buf.getvalue()


def to_svg(fig: Figure) -> str:
    """SVG text with a fixed hash salt and no date, so ids are stable between runs."""
    _freeze(fig)
    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "qlwork", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata=_SVG_META)
    return buf.getvalue()


def figure_html(fig: Figure, alt: str = "chart") -> str:
    """An ``<img>`` tag with the figure as base64 PNG (embeds in notebooks and HTML reports)."""
    data = base64.b64encode(to_png(fig)).decode("ascii")
    return f'<img alt="{alt}" src="data:image/png;base64,{data}"/>'


def image(fig: Figure | bytes):
    """The figure (or PNG bytes) as an ``IPython.display.Image`` (an ``image/png`` output in notebooks)."""
    from IPython.display import Image

    return Image(data=fig if isinstance(fig, (bytes, bytearray)) else to_png(fig), format="png")


# -- figures behind an answer ------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tool_output_images(output: Mapping | None) -> list[dict]:
    """The stored PNG figures a tool output points to (code_interpreter's ``images``:
    ``{"type": "image", "file_id", "filename", "bytes"}``), as those dicts."""
    if not isinstance(output, Mapping):
        return []
    images = output.get("images")
    return [i for i in images if isinstance(i, Mapping) and i.get("file_id")] if isinstance(images, list) else []


def stored_png(file_id: str) -> bytes | None:
    """The bytes of a PNG in the file store, or ``None`` when the file is gone, unreadable, over the
    store's size limit or not a PNG (a missing figure never breaks the answer around it)."""
    from .errors import QlworkError
    from .tools.files import file_store

    try:
        fs = file_store()
        path = fs.path(str(file_id))
        if path.stat().st_size > fs.max_bytes:
            return None
        data = path.read_bytes()
    except (QlworkError, OSError, ValueError):
        return None
    return data if data.startswith(_PNG_SIGNATURE) else None


def _answer_calls(answer):
    """(tool name, parsed output) of each tool call behind an answer (an ``Answer`` or its steps)."""
    import json

    steps = getattr(answer, "steps", answer) or []
    for step in steps:
        step = step.model_dump() if hasattr(step, "model_dump") else step
        for call in (step.get("step_details") or {}).get("tool_calls") or []:
            fn = call.get("function") or {}
            output = fn.get("output")
            try:
                output = json.loads(output) if isinstance(output, str) else output
            except ValueError:
                continue
            yield fn.get("name") or "", output


def answer_figures(answer) -> list[Figure]:
    """Figures for the tool calls behind an answer (an ``Answer``, or its steps as dicts).

    Only figures qlwork draws from tool data; :func:`answer_images` also has the PNG figures the
    model drew with code_interpreter."""
    figures = []
    for name, output in _answer_calls(answer):
        fig = figure_from_tool_output(name, output)
        if fig is not None:
            figures.append(fig)
    return figures


def answer_images(answer) -> list:
    """Everything to show under an answer as ``IPython.display.Image`` objects, in call order: the
    figures of :func:`answer_figures` and the PNG figures code_interpreter stored (missing files
    are skipped). In a notebook: ``for img in answer_images(answer): display(img)``."""
    images = []
    for name, output in _answer_calls(answer):
        fig = figure_from_tool_output(name, output)
        if fig is not None:
            images.append(image(fig))
        for ref in tool_output_images(output):
            data = stored_png(ref["file_id"])
            if data is not None:
                images.append(image(data))
    return images
