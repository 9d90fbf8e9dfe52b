"""Building blocks of the assistant widget: answer turns (HTML, charts, steps accordion) and small
helpers shared by :mod:`qlwork.widget`. Widgets are built here; their HTML comes from
:mod:`qlwork.widget.render`.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from ..assistant.render import parse_json, score_breakdown
from ..assistant.render import tool_calls as flatten_calls
from . import render as R

log = logging.getLogger("qlwork.widget")
MAX_CHARTS = 4


def css(widget: Any, *classes: str) -> Any:
    """Add DOM classes (the browser test and styling find parts by them); returns the widget."""
    for cls in classes:
        widget.add_class(cls)
    return widget


def html(value: str, *classes: str) -> widgets.HTML:
    return css(widgets.HTML(value), *classes)


def calls_of(steps: list) -> list[dict]:
    """The tool calls of run steps (models or dicts) as flat dicts (see ``render.tool_calls``)."""
    return flatten_calls([s.model_dump(mode="json") if hasattr(s, "model_dump") else s for s in steps])


def steps_accordion(calls: list[dict], run: Any) -> widgets.Accordion:
    """The collapsed "How this answer was made" section of one answer."""
    acc = widgets.Accordion(children=[widgets.HTML(R.steps_html(calls, run))], titles=(R.steps_title(calls),))
    acc.selected_index = None
    return css(acc, "qlwork-steps")


def _image(data: bytes, *classes: str) -> widgets.Image:
    return css(widgets.Image(value=data, format="png", layout=widgets.Layout(width="100%", max_width="640px")),
               *classes)


def chart_images(calls: list[dict]) -> list[widgets.Image]:
    """PNG images for tool outputs that carry series (prices, equity curve, drawdown, holdings) and
    the figures code_interpreter stored in the file store (missing files are skipped)."""
    try:
        from ..charts import figure_from_tool_output, stored_png, to_png, tool_output_images
    except ImportError:  # charts not available: answers without figures
        return []
    images: list[widgets.Image] = []
    for call in calls:
        if call.get("error") or not call.get("output") or len(images) >= MAX_CHARTS:
            continue
        try:
            output = json.loads(call["output"]) if isinstance(call["output"], str) else call["output"]
            fig = figure_from_tool_output(call.get("name") or "", output) if isinstance(output, dict) else None
            if fig is not None:
                images.append(_image(to_png(fig), "qlwork-chart"))
            for ref in tool_output_images(output):
                data = stored_png(ref["file_id"]) if len(images) < MAX_CHARTS else None
                if data is not None:
                    images.append(_image(data, "qlwork-chart", "qlwork-code-figure"))
        except Exception:  # noqa: BLE001 - a chart problem never hides the answer
            log.info("chart for %s failed", call.get("name"), exc_info=True)
    return images


def portfolio_analysis(calls: list[dict]) -> dict | None:
    """The last successful ``analyze_portfolio`` output among ``calls`` (for the holdings table)."""
    for call in reversed(calls):
        out = parse_json(call.get("output"))
        if call.get("name") == "analyze_portfolio" and not call.get("error") and isinstance(out, dict):
            return out
    return None


def answer_card(response: Any, text: str | None, calls: list[dict]) -> str:
    """The answer card's HTML with the score breakdown and holdings taken from the run's tool outputs."""
    return R.answer_html(response, text, score_breakdown(calls), portfolio_analysis(calls))


def answer_parts(body: str, calls: list[dict], run: Any, charts: bool = True) -> list:
    """Children of an assistant turn: the answer card, its charts and the steps accordion."""
    return [html(body, "qlwork-answer"), *(chart_images(calls) if charts else []), steps_accordion(calls, run)]


def walk_html(widget: Any) -> list[str]:
    """Values of all HTML widgets under ``widget`` (depth first)."""
    if isinstance(widget, widgets.HTML):
        return [widget.value]
    out: list[str] = []
    for child in getattr(widget, "children", ()) or ():
        out += walk_html(child)
    return out


def configured_backend(session: Any) -> tuple[str | None, str | None]:
    """(backend name, model) a session will use, before any run says so."""
    return session.backend_label


def portfolio_label(portfolio: Any) -> str | None:
    if portfolio is None:
        return None
    if isinstance(portfolio, str):
        return portfolio if portfolio.lower().startswith("sample:") else Path(portfolio).name
    return getattr(portfolio, "name", None) or type(portfolio).__name__


def wire_delta(session: Any, callback: Any) -> None:
    """Route a given session's streamed text to the widget unless it already streams elsewhere."""
    if session.on_delta is None:
        session.on_delta = callback
