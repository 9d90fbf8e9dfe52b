"""Plain-text and Markdown rendering of answers and audit trails (CLI, exports, reports).

Works on plain dicts (``model_dump()`` of the stored objects) so every interface renders the same way.
"""

from __future__ import annotations

import json

from .. import formatting as F
from .advice import RUN_KEY as ADVICE_KEY, describe as describe_advice
from .coverage import RUN_KEY as COVERAGE_KEY, describe as describe_coverage
from .grounding import RUN_KEY, describe
from .response import agreement_label, size_label
from .model_turns import turns_text, usage_text

RULE = "-" * 78


def table(rows: list[dict], columns: list[tuple[str, str]], markdown: bool = False) -> str:
    """A fixed-width (or Markdown) table; ``columns`` are (key, header) pairs."""
    cells = [[_cell(r.get(k)) for k, _ in columns] for r in rows]
    headers = [h for _, h in columns]
    if markdown:
        lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
        lines += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in cells]
        return "\n".join(lines)
    widths = [max(len(h), *(len(row[i]) for row in cells)) if cells else len(h) for i, h in enumerate(headers)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    return "\n".join([fmt.format(*headers), fmt.format(*("-" * w for w in widths))] + [fmt.format(*row) for row in cells])


def _cell(value) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if abs(value) < 1000 else F.amount(value)
    return str(value)


def holdings_table(analysis: dict, markdown: bool = False) -> str:
    """The holdings of an ``analyze_portfolio`` output: amounts with Indian digit grouping and the currency
    in the column headers, weights and P&L as percentages."""
    money = ("average_price", "last_price", "market_value", "pnl")
    rows = [{**h, **{k: F.amount(h.get(k)) for k in money}, "weight": F.pct(h.get("weight")),
             "pnl_pct": F.pct(h.get("pnl_pct")), "quantity": F.quantity(h.get("quantity"))} for h in analysis["holdings"]]
    cur = F.currency_header
    return table(rows, [("symbol", "Symbol"), ("sector", "Sector"), ("quantity", "Qty"),
                        ("average_price", cur("Avg")), ("last_price", cur("Last")), ("market_value", cur("Value")),
                        ("weight", "Weight"), ("pnl", cur("P&L")), ("pnl_pct", "P&L %")], markdown)


_COMPONENT_VALUES = {"diversification": ("effective exposures", lambda v: F.ratio(v, 1)),
                     "concentration": ("largest single stock", F.pct), "sector_balance": ("sector active share", F.pct),
                     "volatility": ("annualised volatility", F.pct), "drawdown": ("max drawdown", F.pct),
                     "beta": ("beta vs NIFTY 50", F.ratio), "trend": ("return over the window",
                                                                   lambda v: F.pct(v, signed=True))}


def score_breakdown(calls: list[dict]) -> dict | None:
    """What a health score is made of, from the last ``analyze_portfolio`` output among ``calls`` (the
    output of :func:`tool_calls`): ``{"components": [...], "caps": [...]}`` with each component's label,
    score, weight, value (as text) and rule, or None when no call carries components."""
    for call in reversed(calls or []):
        out = parse_json(call.get("output"))
        if call.get("error") or not isinstance(out, dict) or not isinstance(out.get("score_components"), dict):
            continue
        rows = []
        for key, comp in out["score_components"].items():
            if not isinstance(comp, dict):
                continue
            what, fmt = _COMPONENT_VALUES.get(key, ("value", F.ratio))
            value = comp.get("value")
            rows.append({"key": key, "label": key.replace("_", " ").capitalize(), "score": comp.get("score"), "weight": comp.get("weight"),
                         "value": f"{what} {fmt(value)}" if isinstance(value, (int, float)) else "",
                         "rule": str(comp.get("rule") or "")})
        caps = [{"cap": c.get("cap"), "weighted_score": c.get("weighted_score"), "reason": str(c.get("reason") or "")}
                for c in out.get("score_caps") or [] if isinstance(c, dict)]
        level = out.get("risk_level_rule") if isinstance(out.get("risk_level_rule"), dict) else {}
        return {"components": rows, "caps": caps, "risk_level_rule": risk_level_text(level)} if rows else None
    return None


def risk_level_text(rule: dict) -> str:
    """The risk-level rule and what it gave: "Risk level: mean of ... (volatility band 1, ...)."."""
    if not rule.get("rule"):
        return ""
    bands = ", ".join(f"{k} band {v}" for k, v in (rule.get("bands") or {}).items())
    step = "; raised one level for single-stock concentration" if rule.get("concentration_step") else ""
    return f"Risk level: {rule['rule']} ({bands}: {str(rule.get('measured_level', '')).replace('_', ' ')}{step})."


def _num(x, fmt: str) -> str:
    return format(x, fmt) if isinstance(x, (int, float)) else "?"


def cap_text(cap: dict) -> str:
    """One sentence for a score cap: the cap, the score before it and why."""
    return (f"Capped at {_num(cap.get('cap'), '.1f')} (the components give {_num(cap.get('weighted_score'), '.1f')}): "
            f"{cap.get('reason')}.")


def breakdown_text(breakdown: dict | None, markdown: bool = False) -> str:
    """The score breakdown as lines of text (empty without one)."""
    if not breakdown:
        return ""
    lines = ["Score breakdown (component score/10 x weight):"]
    for c in breakdown["components"]:
        lines.append(f"  - {c['label']}: {_num(c['score'], '.1f')} x {F.pct(c['weight'], 0)}"
                     + (f" ({c['value']})" if c["value"] else ""))
    lines += [f"  - **{cap_text(cap)}**" if markdown else f"  ! {cap_text(cap)}" for cap in breakdown["caps"]]
    if breakdown.get("risk_level_rule"):
        lines.append(f"  {breakdown['risk_level_rule']}")
    return "\n".join(line.strip() if markdown else line for line in lines)


def answer_text(response: dict, markdown: bool = False, breakdown: dict | None = None) -> str:
    """A TradingResponse dict as readable text (with the score's ``breakdown`` from :func:`score_breakdown`
    under the score when given)."""
    out = []
    head = f"[{F.label(response.get('analysis_type') or 'answer')}]"
    if response.get("overall_score") is not None:
        head += f"  health score {_num(response['overall_score'], 'g')}/10"
    if response.get("risk_level"):
        head += f"  risk {F.label(response['risk_level']).lower()}"
    out.append(f"**{head}**" if markdown else head)
    if breakdown and response.get("overall_score") is not None:
        out.append(breakdown_text(breakdown, markdown))
    if response.get("data_source"):
        out.append(f"Data: {response['data_source']}")
    for insight in response.get("insights", []):
        out.append(f"- {insight}")
    metrics = response.get("risk_metrics") or {}
    if metrics:
        out.append("Risk metrics: " + ", ".join(f"{F.label(k)} {F.metric(k, v)}" for k, v in metrics.items()))
    recs = response.get("recommendations") or []
    if recs:
        out.append("Recommendations:")
        rows = [{**r, "agreement": agreement_label(r), "size": size_label(r)} for r in recs]
        out.append(table(rows, [("action", "Action"), ("symbol", "Symbol"), ("agreement", "Signal agreement"),
                                ("size", "Size"), ("timeframe", "Timeframe"), ("reason", "Reason")], markdown))
    return "\n".join(out)


def parse_json(value):
    """``value`` parsed as JSON when it is JSON text; anything else comes back unchanged."""
    if not isinstance(value, (str, bytes)):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def tool_calls(steps: list[dict]) -> list[dict]:
    """Flatten run steps into their tool calls: name, arguments (the JSON text as sent), output
    (parsed from JSON), duration_ms, error."""
    calls = []
    for step in steps:
        for call in (step.get("step_details") or {}).get("tool_calls", []) or []:
            fn = call.get("function") or {}
            calls.append({"id": call.get("id"), "name": fn.get("name") or call.get("type"),
                          "arguments": fn.get("arguments"), "output": parse_json(fn.get("output")),
                          "duration_ms": call.get("duration_ms"), "error": call.get("error")})
    return calls


def steps_text(steps: list[dict], markdown: bool = False, full_output: bool = False) -> str:
    """The tool calls behind an answer: one line each with arguments and timing."""
    lines = []
    for call in tool_calls(steps):
        ms = call.get("duration_ms")
        timing = f"{ms:.1f} ms" if isinstance(ms, (int, float)) else ""
        status = f"ERROR {call['error'].get('message') if isinstance(call['error'], dict) else call['error']}" \
            if call.get("error") else "ok"
        args = parse_json(call["arguments"]) if call.get("arguments") else None
        code = args.pop("code", None) if call["name"] == "code_interpreter" and isinstance(args, dict) else None
        shown = (json.dumps(args) if args else "") if code is not None else (call["arguments"] or "")
        line = f"{call['name']}({shown}) -> {status} {timing}".rstrip()
        lines.append(f"- `{line}`" if markdown else f"  * {line}")
        if isinstance(code, str):  # the code as code, not as a JSON string with \n in it
            lines += ["  ```python", *(f"  {x}" for x in code.splitlines()), "  ```"] if markdown \
                else [f"      {x}" for x in code.splitlines()]
        if full_output and call.get("output") is not None:
            text = call["output"] if isinstance(call["output"], str) else json.dumps(call["output"])
            lines.append(("    " if not markdown else "  ") + text)
    return "\n".join(lines) if lines else ("  (no tool calls)" if not markdown else "- (no tool calls)")


def audit_markdown(audit: dict) -> str:
    """The whole audit trail of a thread (from ``Store.audit``) as Markdown."""
    thread = audit["thread"]
    label = (thread.get("metadata") or {}).get("user_id")
    out = [f"# Thread {thread['id']}", "", f"- user: {thread.get('user_id') or ''}"]  # the owner, not metadata
    if label not in (None, "", thread.get("user_id")):
        out.append(f"- metadata user_id (set by the client, not verified): {label}")
    out += [f"- metadata: `{json.dumps(thread.get('metadata') or {}, sort_keys=True)}`", ""]
    steps_by_run: dict[str, list] = {}
    for step in audit.get("steps", []):
        steps_by_run.setdefault(step["run_id"], []).append(step)
    runs = {r["id"]: r for r in audit.get("runs", [])}
    for msg in audit.get("messages", []):
        out.append(f"## {msg['role']} ({msg['id']})")
        for part in msg.get("content", []):
            if part.get("type") == "text":
                out.append(part["text"]["value"] if isinstance(part["text"], dict) else str(part["text"]))
            elif part.get("type") == "json":
                out.append("```json\n" + json.dumps(part["json"], indent=2) + "\n```")
        run = runs.get(msg.get("run_id") or "")
        if run and msg["role"] == "assistant":
            out.append(f"\nRun {run['id']}: {run['status']}, backend {run.get('backend')}, model {run.get('model')}")
            out += [f"- {line}" for line in (usage_text(run.get("usage")), turns_text(steps_by_run.get(run["id"], [])))
                    if line]
            if line := describe(_grounding(msg, run)):
                out.append(line)
            if line := describe_advice(_record(msg, run, "advice", ADVICE_KEY)):
                out.append(line)
            if line := describe_coverage(_record(msg, run, "coverage", COVERAGE_KEY)):
                out.append(line)
            out.append(steps_text(steps_by_run.get(run["id"], []), markdown=True, full_output=True))
        out.append("")
    for run in audit.get("runs", []):
        if run["status"] != "completed":
            err = run.get("last_error") or run.get("incomplete_details") or {}
            out.append(f"- run {run['id']}: {run['status']} {json.dumps(err)}")
            for line in (describe(_grounding({}, run)), describe_advice(_record({}, run, "advice", ADVICE_KEY))):
                if line:
                    out.append(f"  {line}")
    return "\n".join(out)


def _record(message: dict, run: dict, key: str, run_key: str) -> dict | None:
    """An answer's run-time record ``key`` (its json part) or its run's (internal metadata ``run_key``)."""
    for part in message.get("content", []):
        if part.get("type") == "json" and isinstance(part.get("json"), dict) and part["json"].get(key):
            return part["json"][key]
    return (run.get("metadata") or {}).get(run_key)


def _grounding(message: dict, run: dict) -> dict | None:
    """The grounding record of an answer (its json part) or of its run (internal metadata)."""
    return _record(message, run, "grounding", RUN_KEY)
