"""Pure HTML for the extras of an answer turn: tool errors as plain-word warnings with their symbol
suggestions, the copy-as-Markdown button and the link to the user's latest weekly report."""

from __future__ import annotations

from .. import formatting as F
from .render import _MUTED, WARN, esc

__all__ = ["copy_button_html", "report_link_html", "suggestions", "tool_warnings_html"]


def suggestions(calls: list[dict]) -> list[tuple[str, str]]:
    """(unknown, suggested) symbol pairs from tool errors such as "did you mean RELIANCE?" (first suggestion
    of each unknown symbol, in call order, without repeats)."""
    seen: dict[str, str] = {}
    for call in calls:
        error = call.get("error")
        found = error.get("suggestions") if isinstance(error, dict) else None
        for unknown, options in (found or {}).items() if isinstance(found, dict) else ():
            if isinstance(options, list) and options and str(unknown) not in seen:
                seen[str(unknown)] = str(options[0])
    return list(seen.items())


def tool_warnings_html(calls: list[dict], shown: str = "") -> str:
    """Failed tool calls as warnings in plain words ("Could not get trading signals: ...") with the fix; an
    error whose message the answer (``shown``, its HTML) already says is not repeated."""
    out = []
    for call in calls:
        error = call.get("error")
        if not error:
            continue
        message = error.get("message") if isinstance(error, dict) else str(error)
        if message and esc(message) in shown:
            continue
        fix = error.get("fix") if isinstance(error, dict) else None
        what = F.label(str(call.get("name") or "tool")).lower()
        fix_html = f'<div style="{_MUTED}">{esc(fix)}</div>' if fix else ""
        out.append(f'<div class="qlwork-tool-warning" style="{WARN}">⚠ Could not {esc(_verb(what))}: '
                   f"{esc(message)}{fix_html}</div>")
    return "".join(out)


def _verb(what: str) -> str:
    """``generate trading signals`` stays; ``analyze portfolio`` stays; a noun-like tool name gets "run"."""
    return what if what.split(" ")[0] in ("get", "generate", "analyze", "calculate", "search", "run") else f"run {what}"


_COPY_JS = ("var b=this,t=b.getAttribute('data-markdown');"
            "function done(){b.textContent='Copied';setTimeout(function(){b.textContent='Copy as Markdown'},1500)}"
            "function old(){var a=document.createElement('textarea');a.value=t;document.body.appendChild(a);"
            "a.select();document.execCommand('copy');a.remove();done()}"
            "if(navigator.clipboard&&window.isSecureContext){navigator.clipboard.writeText(t).then(done,old)}"
            "else{old()}")


def copy_button_html(markdown: str) -> str:
    """A small button that puts ``markdown`` in the browser's clipboard (the text rides in an escaped
    attribute; the handler is fixed code)."""
    return (f'<button class="qlwork-copy" type="button" title="Copy this answer as Markdown" '
            f'data-markdown="{esc(markdown)}" onclick="{esc(_COPY_JS)}" style="font-size:0.85em;cursor:pointer;'
            f'border:1px solid var(--jp-border-color1,#bbb);border-radius:4px;padding:1px 8px;'
            f'background:var(--jp-layout-color1,#fff);color:var(--jp-ui-font-color1,#222)">Copy as Markdown</button>')


def report_link_html(href: str | None, as_of: str | None) -> str:
    """A link to the user's latest weekly report (empty when there is none)."""
    if not href:
        return ""
    return (f'<a class="qlwork-report-link" href="{esc(href)}" target="_blank" rel="noopener" '
            f'style="color:var(--jp-content-link-color,#1976d2)">Latest weekly report ({esc(as_of)})</a>')
