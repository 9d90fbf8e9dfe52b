"""Pure HTML for an answer's coverage line and for code shown as code (used by :mod:`.render`).

The coverage line sits beside the grounding line: "answers: benchmark ✓ period ✓ sizing ✗ (why)"
from the answer's ``coverage`` record (:mod:`qlwork.assistant.coverage`). Code a code_interpreter
call ran is shown in a ``<pre>`` block, never as JSON text with ``\\n`` in it.
"""

from __future__ import annotations

import html
from typing import Any

from ..assistant.coverage import describe

_MUTED = "color:var(--jp-ui-font-color2,#666);font-size:0.92em;"
_PRE = ("margin:2px 0;padding:4px 6px;background:var(--jp-layout-color2,#f5f5f5);border-radius:4px;"
        "font-family:var(--jp-code-font-family,monospace);font-size:0.9em;white-space:pre-wrap;overflow-x:auto;")


def coverage_html(coverage: Any) -> str:
    """The answer's coverage line; empty without a record or when nothing checkable was asked."""
    c = coverage.model_dump() if hasattr(coverage, "model_dump") else coverage
    line = describe(c)
    if not line:
        return ""
    ok = c.get("status") == "covered"
    colour = "#2e7d32" if ok else "#b26a00"
    return (f'<div class="qlwork-coverage" data-status="{html.escape(str(c.get("status")))}" '
            f'style="{_MUTED}margin-top:2px;color:{colour}">{"✓" if ok else "⚠"} {html.escape(line)}</div>')


def code_html(code: Any) -> str:
    """Python source as a code block (escaped)."""
    return f'<pre class="qlwork-code" style="{_PRE}">{html.escape(str(code))}</pre>'


def answer_code_html(extra: Any) -> str:
    """The code an answer ran (``extra.code``), each as a code block under a small heading."""
    code = (extra or {}).get("code") if isinstance(extra, dict) else None
    if not code:
        return ""
    blocks = "".join(code_html(c) for c in (code if isinstance(code, list) else [code]))
    return f'<div style="font-weight:600;margin-top:6px">Code run</div>{blocks}'
