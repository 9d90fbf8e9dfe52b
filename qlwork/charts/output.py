"""Figures out: reproducible PNG/SVG bytes, HTML <img>, IPython images, and the figures behind an
answer's tool outputs (charts drawn from tool series, PNGs the code interpreter stored)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import matplotlib
from matplotlib.figure import Figure  # no pyplot: figures render through Agg without a GUI backend

from ..formatting import label
from .figures import allocation_figure, equity_drawdown_figure, rebased_figure
from .style import BACKGROUND, DPI


def figure_from_tool_output(name: str, output: Mapping | None) -> Figure | None:
    """A figure for a tool's output when it carries something drawable, else ``None``.

    - ``get_market_data``: ``series{dates, close{symbol: [...]}}`` -> price / rebased chart;
    - ``generate_trading_signals`` with ``backtest.series{dates, equity, buy_and_hold, benchmark}`` -> the
      strategy's equity and drawdown beside buy-and-hold and the index;
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
            backtest = output.get("backtest") or {}
            series = backtest.get("series") or {}
            if series.get("dates") and series.get("equity"):
                name = label(str(output.get("strategy", "strategy")))
                bench = str(backtest.get("benchmark") or "NIFTY 50")
                both = {"Equal-weight buy-and-hold": series.get("buy_and_hold")} if series.get("buy_and_hold") else {}
                return equity_drawdown_figure(series["dates"], series["equity"], series.get("benchmark"),
                                              synthetic=synthetic, label=f"{name} backtest", benchmark=bench,
                                              comparisons=both, title=f"Backtest: {name.lower()} vs buy-and-hold "
                                              f"and {bench}" if both else f"Backtest: {name.lower()}")
        elif name == "analyze_portfolio" and output.get("holdings"):
            return allocation_figure(output["holdings"], synthetic=synthetic)
    except (TypeError, ValueError, KeyError):
        return None
    return None


# -- reproducible output -----------------------------------------------------------------------------

_PNG_META = {"Software": None}
_OPAQUE = {"facecolor": BACKGROUND, "edgecolor": BACKGROUND, "transparent": False}  # whatever savefig.* rcParams say
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
    fig.savefig(buf, format="png", dpi=DPI, metadata=_PNG_META, **_OPAQUE)
    return buf.getvalue()


def to_svg(fig: Figure, text: str = "path") -> str:
    """SVG text with a fixed hash salt and no date, so ids are stable between runs. ``text="path"``
    draws glyphs as outlines (looks the same everywhere); ``"text"`` keeps ``<text>`` elements (about
    half the render time and a third smaller; the viewer's sans-serif font draws them)."""
    _freeze(fig)
    buf = io.StringIO()
    fonttype = "none" if text == "text" else "path"
    with matplotlib.rc_context({"svg.hashsalt": "qlwork", "svg.fonttype": fonttype}):
        fig.savefig(buf, format="svg", metadata=_SVG_META, **_OPAQUE)
    return buf.getvalue()


class VectorImage:
    """A figure as SVG for notebooks and reports (an ``image/svg+xml`` output with ``alt`` as its
    text). Cheaper than a PNG (no rasterising, no compression), sharp at any zoom and in PDF."""

    def __init__(self, fig: Figure, alt: str = "chart"):
        self.svg = to_svg(fig, text="text")
        self.alt = alt

    def _repr_mimebundle_(self, include=None, exclude=None):
        return {"image/svg+xml": self.svg, "text/plain": self.alt}


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
    from ..errors import QlworkError
    from ..tools.files import file_store

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
