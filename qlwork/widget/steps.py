"""HTML of "How this answer was made": one row per tool call with its arguments, a short summary of
its output (the full output behind a fold, capped), its duration in ms and any error. Pure functions
of the run steps' tool calls; the widget shows them in a collapsed accordion."""

from __future__ import annotations

import json
from typing import Any

from ..assistant.model_turns import usage_text
from ..assistant.render import parse_json
from .records import code_html
from .render import _FIT, _MUTED, _TABLE, _TD, _TH, _as_dict, esc


def _short(value: Any, limit: int) -> str:
    text = value if isinstance(value, str) else json.dumps(value, default=str, separators=(", ", ": "))
    return text if len(text) <= limit else text[: limit - 1] + "…"


def output_summary(output: Any, limit: int = 260) -> str:
    """One line describing a tool output: scalar fields, list lengths and nested-object sizes."""
    data = parse_json(output)
    if data is None:
        return "(no output)"
    if isinstance(data, list):
        return f"{len(data)} items"
    if not isinstance(data, dict):
        return _short(data, limit)
    parts = []
    for key, value in data.items():
        if isinstance(value, list):
            parts.append(f"{key}: {len(value)} items")
        elif isinstance(value, dict):
            parts.append(f"{key}: {{{len(value)} fields}}")
        elif value is not None:
            parts.append(f"{key}={_short(value, 40)}")
    return _short("; ".join(parts), limit)


def _duration(ms: Any) -> str:
    if not isinstance(ms, (int, float)):
        return ""
    return f"{ms:.1f} ms" if ms < 1000 else f"{ms / 1000:.2f} s"


FULL_OUTPUT_CHARS = 200_000


def full_output_html(output: Any, limit: int = FULL_OUTPUT_CHARS) -> str:
    """A collapsed "Full output" block with the tool output as indented JSON (cut at ``limit`` characters)."""
    data = parse_json(output)
    if data is None:
        return ""
    text = data if isinstance(data, str) else json.dumps(data, indent=2, ensure_ascii=False, default=str)
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit:,} more characters; see `qlwork threads show`)"
    return (f'<details class="qlwork-step-output"><summary style="cursor:pointer;{_MUTED}">Full output</summary>'
            f'<pre style="white-space:pre-wrap;word-break:break-word;max-height:320px;overflow:auto;margin:2px 0;'
            f'font-size:0.85em">{esc(text)}</pre></details>')


def steps_title(calls: list[dict]) -> str:
    """Title of the "How this answer was made" section: tool-call count, total time, errors."""
    n = len(calls)
    total = sum(c["duration_ms"] for c in calls if isinstance(c.get("duration_ms"), (int, float)))
    errors = sum(1 for c in calls if c.get("error"))
    text = f"How this answer was made ({n} tool call{'s' if n != 1 else ''}"
    if total:
        text += f", {_duration(total)}"
    if errors:
        text += f", {errors} error{'s' if errors != 1 else ''}"
    return text + ")"


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        fix = f" Fix: {error['fix']}" if error.get("fix") else ""
        return f"{error.get('type') or 'Error'}: {error.get('message') or json.dumps(error)}{fix}"
    return str(error)


def steps_html(calls: list[dict], run: Any = None) -> str:
    """The tool calls behind an answer (the output of ``render.tool_calls``): tool, arguments,
    output summary, duration and any error, plus the run's backend and model."""
    run = _as_dict(run) or {}
    head = ""
    if run:
        bits = [f"run {run.get('id')}", f"status {run.get('status')}"]
        if run.get("backend") or run.get("model"):
            bits.append(f"backend {run.get('backend')} / model {run.get('model')}")
        if (run.get("usage") or {}).get("total_tokens"):
            bits.append(usage_text(run["usage"]))
        if (run.get("usage") or {}).get("total_tokens"):
            bits.append(f"{run['usage']['total_tokens']} tokens")
        if run.get("last_error"):
            bits.append(f"error: {(run['last_error'] or {}).get('message')}")
        head = f'<div style="{_MUTED}margin-bottom:4px">{esc(" · ".join(bits))}</div>'
    if not calls:
        return f'<div class="qlwork-steps-body">{head}<div style="{_MUTED}">No tool calls were made.</div></div>'
    rows = []
    for i, call in enumerate(calls, 1):
        args = parse_json(call.get("arguments"))
        args_text = _short(args, 200) if args not in (None, "", {}) else "(none)"
        code = args.pop("code", None) if call.get("name") == "code_interpreter" and isinstance(args, dict) else None
        if call.get("error"):
            result = (f'<span class="qlwork-step-error" style="color:#c62828">'
                      f"{esc(_error_text(call['error']))}</span>")
        else:
            result = esc(output_summary(call.get("output"))) + full_output_html(call.get("output"))
        rows.append(f'<tr class="qlwork-step"><td style="{_TD}">{i}</td>'
                    f'<td style="{_TD}font-weight:600">{esc(call.get("name"))}</td>'
                    f'<td style="{_TD}font-family:var(--jp-code-font-family,monospace);font-size:0.9em">'
                    f"{code_html(code) + esc(_short(args, 200) if args else '') if code else esc(args_text)}</td>"
                    f"<td style=\"{_TD}\">{result}</td>"
                    f'<td style="{_TD}white-space:nowrap;text-align:right">{esc(_duration(call.get("duration_ms")))}'
                    "</td></tr>")
    header = "".join(f'<th style="{_TH}">{h}</th>' for h in ("#", "Tool", "Arguments", "Result", "Time"))
    return (f'<div class="qlwork-steps-body" style="{_FIT}">{head}<table style="{_TABLE}"><thead><tr>'
            f"{header}</tr></thead><tbody>{''.join(rows)}</tbody></table></div>")
