"""The run-time check lines of an answer card beside grounding: the advice check (qlwork.assistant.advice)."""

from __future__ import annotations

import html
from typing import Any

from ..assistant.advice import describe

_MUTED = "color:var(--jp-ui-font-color2,#666);font-size:0.92em;"


def advice_html(advice: Any) -> str:
    """The answer's advice-check line ("n of m recommendations consistent ...", or what was repaired or
    flagged); empty for answers stored without one."""
    a = advice.model_dump() if hasattr(advice, "model_dump") else advice
    line = describe(a)
    if not line:
        return ""
    ok = a.get("status") == "sound"
    return (f'<div class="qlwork-advice" data-status="{html.escape(str(a.get("status")))}" style="{_MUTED}'
            f'margin-top:2px;color:{"#2e7d32" if ok else "#b26a00"}">{"✓" if ok else "⚠"} {html.escape(line)}</div>')
