"""TradingResponse: the structured answer every run ends with (DESIGN.md section 4).

Numbers must be JSON numbers (strict validation refuses "5%" or "0.85"), scores are 0-10 and
confidences 0-1. ``conversation_context`` and ``grounding`` are filled by the runner, never trusted
from a model, so they are left out of the schema sent to model backends (and dropped from a model's
answer).
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import ModelBehaviorError
from ..formatting import inr, pct
from ..tools.registry import _strictify
from .advice import Advice, describe as describe_advice
from .coverage import Coverage, describe as describe_coverage
from .grounding import Grounding, describe

Action = Literal["buy", "sell", "hold", "rebalance", "reduce", "add", "watch"]
RiskLevel = Literal["low", "moderate", "high", "very_high"]

KNOWN_RISK_METRICS = ("volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown", "beta",
                      "var_95", "cvar_95", "annual_return", "alpha", "tracking_error")
"""Metric names offered to strict-schema models (which cannot send free-form objects)."""

_CONFIG = ConfigDict(extra="forbid", strict=True, allow_inf_nan=False)


class Recommendation(BaseModel):
    """One action. ``confidence`` is the **signal agreement**: the share of the signal rules that agree
    with a signal-driven action (``agreement`` says it in words, e.g. "3 of 4 signal rules"); it is a
    count of agreeing rules, not a calibrated probability, and is None for holds and for actions a
    portfolio limit requires (``agreement`` "portfolio limit rule").

    Sizes (optional; every add/reduce of ``analyze_portfolio`` has them): ``weight`` now and
    ``target_weight`` after the trade (fractions of portfolio value), ``amount_inr`` (INR, negative =
    sell), ``shares`` (whole shares, negative = sell) at ``last_price`` (INR), the holding's ``sector``
    and ``sector_weight_after`` (the sector's look-through weight after all recommendations of the answer).
    """

    model_config = _CONFIG

    action: Action
    symbol: str = Field(min_length=1)
    reason: str
    confidence: float | None = Field(None, ge=0, le=1)
    timeframe: str
    agreement: str | None = None
    weight: float | None = Field(None, ge=0, le=1)
    target_weight: float | None = Field(None, ge=0, le=1)
    amount_inr: float | None = None
    shares: int | None = None
    last_price: float | None = Field(None, gt=0)
    sector: str | None = None
    sector_weight_after: float | None = Field(None, ge=0, le=1)


class ConversationContext(BaseModel):
    model_config = _CONFIG

    thread_id: str | None = None
    message_id: str | None = None
    tools_used: list[str] = Field(default_factory=list)


class Composed(BaseModel):
    """Set when qlwork composed the answer because the model's was unusable (qlwork.assistant.fallback):
    the figures, score and recommendations come from the tools named in ``from_tools`` through ``by``;
    only ``model_commentary`` (unverified) came from the model."""

    model_config = ConfigDict(extra="forbid")

    by: str
    reason: str
    from_tools: list[str] = Field(default_factory=list)
    model_commentary: str | None = None


class TradingResponse(BaseModel):
    model_config = _CONFIG

    analysis_type: str = Field(min_length=1)
    overall_score: float | None = Field(None, ge=0, le=10)
    risk_level: RiskLevel | None = None
    recommendations: list[Recommendation] = Field(default_factory=list)
    insights: list[str] = Field(default_factory=list)
    risk_metrics: dict[str, float | None] = Field(default_factory=dict)
    conversation_context: ConversationContext | None = None
    data_source: str | None = None
    disclaimer: str | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
    grounding: Grounding | None = None
    """Figures traced to tool outputs (qlwork.assistant.grounding); absent in answers stored before it."""
    advice: Advice | None = None
    """Recommendations checked against the portfolio and profile (qlwork.assistant.advice); filled by the runner."""

    coverage: Coverage | None = None
    """What the question asked for and which parts the answer covered (qlwork.assistant.coverage)."""


    composed: Composed | None = None


RUNNER_FIELDS = ("conversation_context", "grounding", "advice", "coverage", "composed")
"""Filled by the runner: not in the schema models get, and dropped from what a model sends."""


TRADING_FLAG = "qlwork_response"
"""Assistant metadata flag: ``{"qlwork_response": "TradingResponse"}`` asks for TradingResponse answers."""


def wants_trading_response(assistant: Any) -> bool:
    """True for the trading assistant: one whose ``response_format`` asks for JSON (json_object, or
    json_schema without a schema of its own or named TradingResponse; the default assistant's), whose
    metadata carries :data:`TRADING_FLAG`, or one made
    with the Python API without any ``response_format`` (None; the server stores ``"auto"`` for an API
    client that gave none). Other assistants' answers are the model's own text (a TradingResponse JSON
    answer is still recognised)."""
    fmt = getattr(assistant, "response_format", None)
    if fmt is None:
        return True
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":  # a schema of its own is used as given
        return (fmt.get("json_schema") or {}).get("name", fmt.get("name")) in (None, "TradingResponse")
    if isinstance(fmt, dict) and fmt.get("type") == "json_object":
        return True
    if fmt in ("json_schema", "json_object"):
        return True
    return (getattr(assistant, "metadata", None) or {}).get(TRADING_FLAG) == "TradingResponse"


def response_json_schema(strict: bool = True) -> dict:
    """JSON schema for model backends' structured output, without ``conversation_context``.

    ``strict`` gives OpenAI strict form: every property required (optional ones nullable),
    ``additionalProperties: false`` everywhere, so ``risk_metrics`` lists KNOWN_RISK_METRICS and
    the free-form ``extra`` is omitted.
    """
    schema = TradingResponse.model_json_schema()
    for name in RUNNER_FIELDS:
        schema["properties"].pop(name, None)
    for name in ("ConversationContext", "Grounding", "Untraced", "Advice", "Finding", "Coverage", "Part", "Composed"):
        schema.get("$defs", {}).pop(name, None)
    if strict:
        schema["properties"].pop("extra", None)
        schema["properties"]["risk_metrics"] = {
            "type": "object", "description": "Risk figures taken from tool outputs (decimals, null if unknown).",
            "properties": {name: {"type": "number"} for name in KNOWN_RISK_METRICS}}
        schema["required"] = ["analysis_type", "recommendations", "insights", "risk_metrics"]
        schema = _strictify(schema)
    _drop_titles(schema)
    return schema


def _drop_titles(node: Any) -> None:
    if isinstance(node, dict):
        node.pop("title", None)
        for key, value in node.items():
            if key != "properties":
                _drop_titles(value)
            else:
                for prop in value.values():
                    _drop_titles(prop)
    elif isinstance(node, list):
        for value in node:
            _drop_titles(value)


_FENCE = re.compile(r"```(?:json|JSON)?\s*\n?(.*?)```", re.DOTALL)


def _extract_json_text(text: str) -> str:
    stripped = text.strip()
    fenced = _FENCE.search(stripped)
    if fenced:
        return fenced.group(1).strip()
    if not stripped.startswith("{") and "{" in stripped and "}" in stripped:
        return stripped[stripped.index("{"): stripped.rindex("}") + 1]
    return stripped


def parse_response(text: str) -> TradingResponse:
    """Parse a model's final answer (raw JSON or JSON in a ```json fence) into a TradingResponse.

    Raises ModelBehaviorError (code ``invalid_response``) listing every problem, so the model can
    repair its answer.
    """
    body = _extract_json_text(text or "")
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ModelBehaviorError(
            f"The answer is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}.",
            fix="Reply with one JSON object in the TradingResponse shape.", code="invalid_response",
            errors=[{"field": "(answer)", "problem": exc.msg}]) from exc
    if not isinstance(data, dict):
        raise ModelBehaviorError(f"The answer must be a JSON object, got {type(data).__name__}.",
                                 fix="Reply with one JSON object.", code="invalid_response",
                                 errors=[{"field": "(answer)", "problem": "not an object"}])
    for key in ("recommendations", "insights", "risk_metrics", "extra"):
        if key in data and data[key] is None:
            del data[key]
    data.pop("grounding", None)  # a model cannot vouch for its own figures
    data.pop("advice", None)
    data.pop("coverage", None)  # ... nor for what it covered
    data.pop("composed", None)
    # strict-mode models send every known metric, null when unknown: keep only the figures
    if isinstance(data.get("risk_metrics"), dict):
        data["risk_metrics"] = {k: v for k, v in data["risk_metrics"].items() if v is not None}
    try:
        return TradingResponse.model_validate(data)
    except ValidationError as exc:
        errors = [{"field": ".".join(map(str, e["loc"])) or "(answer)", "problem": e["msg"],
                   **({"got": e["input"]} if isinstance(e.get("input"), (str, int, float, bool)) else {})}
                  for e in exc.errors()]
        listed = "; ".join(f"{e['field']}: {e['problem']}" + (f" (got {e['got']!r})" if "got" in e else "")
                           for e in errors)
        raise ModelBehaviorError(f"The answer does not match TradingResponse: {listed}.",
                                 fix="Correct the listed fields and answer again.", code="invalid_response",
                                 errors=errors) from exc


def agreement_label(rec: Any) -> str:
    """What a recommendation's confidence measures, in words: "signal agreement 3 of 4 signal rules",
    "portfolio limit rule", or "no signal agreement" for a hold (widget, CLI, report and text share it)."""
    r = rec.model_dump() if isinstance(rec, BaseModel) else dict(rec or {})
    conf, words = r.get("confidence"), r.get("agreement")
    if words:
        return words if not isinstance(conf, (int, float)) else f"signal agreement {words}"
    if isinstance(conf, (int, float)) and not isinstance(conf, bool) and r.get("action") != "hold":
        return f"signal agreement {conf:.0%}"
    return "no signal agreement"


def size_label(rec: Any) -> str:
    """``"sell 83 shares (INR 2,61,450.00) to 4.62%; Information Technology then 21.58%"``, or empty
    for a recommendation without sizes."""
    r = rec.model_dump() if isinstance(rec, BaseModel) else dict(rec or {})
    shares, amount = r.get("shares"), r.get("amount_inr")
    if not isinstance(shares, int) or not isinstance(amount, (int, float)) or shares == 0:
        return ""
    text = f"{'buy' if shares > 0 else 'sell'} {abs(shares)} shares ({inr(abs(amount))})"
    if isinstance(r.get("target_weight"), (int, float)):
        text += f" to {pct(r['target_weight'])}"
    if r.get("sector") and isinstance(r.get("sector_weight_after"), (int, float)):
        text += f"; {r['sector']} then {pct(r['sector_weight_after'])}"
    return text


def render_text(response: TradingResponse) -> str:
    """A readable plain-text summary of a TradingResponse."""
    title = response.analysis_type.replace("_", " ").capitalize()
    head = [title]
    if response.overall_score is not None:
        head.append(f"score {response.overall_score:.1f}/10")
    if response.risk_level:
        head.append(f"risk {response.risk_level.replace('_', ' ')}")
    lines = [" - ".join(head)]
    if response.composed is not None:
        used = ", ".join(response.composed.from_tools) or "none"
        lines.append(f"Composed by {response.composed.by} from the tool outputs ({used}): the model's own answer "
                     "could not be used.")
    if response.recommendations:
        lines.append("Recommendations:")
        lines += [f"  {r.action.upper()} {r.symbol}: {r.reason}" + (f"; {size_label(r)}" if size_label(r) else "")
                  + f" ({agreement_label(r)}, {r.timeframe})" for r in response.recommendations]
    if response.insights:
        lines.append("Insights:")
        lines += [f"  - {i}" for i in response.insights]
    code = response.extra.get("code") if isinstance(response.extra, dict) else None
    for block in code if isinstance(code, list) else []:  # code an answer ran, shown as code
        lines += ["Code run:", *(f"    {x}" for x in str(block).splitlines())]
    metrics = [f"{k} {v:.4g}" for k, v in response.risk_metrics.items() if v is not None]
    if metrics:
        lines.append("Risk metrics: " + ", ".join(metrics))
    if response.data_source:
        lines.append(f"Data: {response.data_source}")
    if response.disclaimer:
        lines.append(response.disclaimer)
    if response.composed is not None and response.composed.model_commentary:
        lines.append(f"Model commentary (from the model, unverified): {response.composed.model_commentary}")
    if response.grounding is not None:
        lines.append(describe(response.grounding))
    if response.advice is not None:
        lines.append(describe_advice(response.advice))
    if response.coverage is not None and response.coverage.summary:
        lines.append(describe_coverage(response.coverage))
    return "\n".join(lines)
