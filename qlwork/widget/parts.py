"""Building blocks of the assistant widget: answer turns (HTML, charts, steps accordion) and small
helpers shared by :mod:`qlwork.widget`. Widgets are built here; their HTML comes from
:mod:`qlwork.widget.render`.
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from .. import formatting as F
from ..assistant.render import answer_text, holdings_table, parse_json, score_breakdown
from ..assistant.render import tool_calls as flatten_calls
from . import comforts as C
from . import render as R
from . import steps as S

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
    acc = widgets.Accordion(children=[widgets.HTML(S.steps_html(calls, run))], titles=(S.steps_title(calls),))
    acc.selected_index = None
    return css(acc, "qlwork-steps")


def _image(data: bytes, *classes: str) -> widgets.Image:
    return css(widgets.Image(value=data, format="png", layout=widgets.Layout(width="100%", max_width="640px")),
               *classes)


def chart_images(calls: list[dict]) -> list[widgets.Image]:
    """PNG images for tool outputs that carry series (prices, equity curve, drawdown, holdings) and
    the figures code_interpreter stored in the file store (missing files are skipped)."""
    try:
        from ..charts import (
            figure_from_tool_output,
            stored_png,
            to_png,
            tool_output_images,
        )
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
        except Exception:
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


def answer_markdown(response: Any, text: str | None, calls: list[dict]) -> str:
    """An answer as Markdown: the answer text with the score breakdown, then the holdings table."""
    data = response.model_dump(mode="json") if hasattr(response, "model_dump") else response
    if not data:
        return text or ""
    md = answer_text(data, markdown=True, breakdown=score_breakdown(calls))
    analysis = portfolio_analysis(calls)
    if analysis and analysis.get("holdings"):
        md += "\n\n**Holdings**\n\n" + holdings_table(analysis, markdown=True)
    return md


def answer_parts(body: str, calls: list[dict], run: Any, charts: bool = True, markdown: str | None = None,
                 question: str | None = None, ask: Any = None) -> list:
    """Children of an assistant turn: the answer card (with a copy-as-Markdown button when ``markdown`` is
    given), failed tool calls as warnings with clickable "Did you mean ...?" buttons (``ask(question)``
    re-asks ``question`` with the suggestion), its charts and the steps accordion."""
    parts = [html(body + (C.copy_button_html(markdown) if markdown else ""), "qlwork-answer")]
    warnings_html = C.tool_warnings_html(calls, shown=body)  # an error the answer says is shown once
    if warnings_html:
        parts.append(html(warnings_html, "qlwork-warnings"))
    buttons = suggestion_buttons(C.suggestions(calls), question, ask)
    if buttons:
        parts.append(css(widgets.HBox(buttons, layout=widgets.Layout(flex_flow="row wrap")), "qlwork-suggestions"))
    return [*parts, *(chart_images(calls) if charts else []), steps_accordion(calls, run)]


def suggestion_buttons(pairs: list[tuple[str, str]], question: str | None, ask: Any) -> list[widgets.Button]:
    """One "Did you mean X?" button per suggestion; a click asks ``question`` again with X for the unknown."""
    if not question or ask is None:
        return []
    buttons = []
    for unknown, suggested in pairs:
        fixed = re.sub(rf"(?<![A-Za-z0-9&-]){re.escape(unknown)}(?![A-Za-z0-9&-])", suggested, question,
                       flags=re.IGNORECASE)
        if fixed == question:
            continue
        button = css(widgets.Button(description=f"Did you mean {suggested}?", tooltip=f"Ask: {fixed}",
                                    layout=widgets.Layout(width="auto")), "qlwork-suggestion")
        button.on_click(lambda _, q=fixed: ask(q))
        buttons.append(button)
    return buttons


_SAFE_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,99}$")
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def latest_report(user_id: str, reports_dir: str | os.PathLike | None = None) -> tuple[Path, str] | None:
    """(path, as_of) of the user's newest ``<reports>/<as_of>/<user>/portfolio_review.html``, or None.
    ``reports_dir`` defaults to ``QLWORK_REPORTS_DIR``, else ``reports`` here or one folder up (a notebook
    in notebooks/). User ids that are not plain names never become paths."""
    if not _SAFE_USER.match(user_id or ""):
        return None
    given = reports_dir or os.environ.get("QLWORK_REPORTS_DIR")
    roots = [Path(given)] if given else [Path("reports"), Path("..") / "reports"]
    for root in roots:
        days = sorted((d.name for d in root.iterdir() if _DAY.match(d.name)), reverse=True) if root.is_dir() else []
        for day in days:
            path = root / day / user_id / "portfolio_review.html"
            if path.is_file():
                return path, day
    return None


def report_link(user_id: str, reports_dir: Any = None) -> str:
    """HTML link to the user's latest weekly report, relative to the notebook (empty when there is none)."""
    found = latest_report(user_id, reports_dir)
    if found is None:
        return ""
    path, day = found
    try:
        href = Path(os.path.relpath(path.resolve(), Path.cwd())).as_posix()
    except ValueError:  # another drive (Windows)
        href = path.resolve().as_uri()
    return C.report_link_html(href, day)


def interrupt_code(thread_id: str) -> bool:
    """Interrupt a code_interpreter cell running for ``thread_id`` (only if the code tool is loaded)."""
    import sys

    module = sys.modules.get("qlwork.tools.code_interpreter")
    try:
        return bool(module and module.default_pool().interrupt(thread_id))
    except Exception:
        log.info("could not interrupt the code cell of %s", thread_id, exc_info=True)
        return False


def thread_label(store: Any, thread: Any) -> str:
    """A thread picker entry: the first question as the title, then when it started."""
    first = store.list_messages(thread.id, order="asc", limit=1)
    text = first[0].text.strip().splitlines()[0] if first and first[0].text.strip() else ""
    title = (text[:57] + "…" if len(text) > 58 else text) or "(new thread)"
    return f"{title} · {F.when(thread.created_at)}"


def thread_options(store: Any, threads: list, current: str) -> list[tuple[str, str]]:
    """The thread picker's (label, id) entries: threads without a question (a failed start) are left out
    unless current, and entries that would read the same get the end of their thread id."""
    rows = [(thread_label(store, t), t.id) for t in threads
            if t.id == current or store.list_messages(t.id, limit=1)]
    seen: dict[str, int] = {}
    for label, _ in rows:
        seen[label] = seen.get(label, 0) + 1
    return [(f"{label} · …{tid[-6:]}" if seen[label] > 1 else label, tid) for label, tid in rows]


def walk_html(widget: Any) -> list[str]:
    """Values of all HTML widgets under ``widget`` (depth first)."""
    if isinstance(widget, widgets.HTML):
        return [widget.value]
    out: list[str] = []
    for child in getattr(widget, "children", ()) or ():
        out += walk_html(child)
    return out


def market_source(session: Any) -> str | None:
    """The session's data-source label from its market provider (None if the provider fails to load, e.g.
    no Kite login yet: the first answer reports why). Never taken from a model's answer."""
    from ..market.base import source_label

    try:
        market = session.market_provider()
        return source_label(market.metadata()) if market is not None else None
    except Exception:  # noqa: BLE001
        return None


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
