"""Offline engine with client-side function tools (the seed's architecture: the platform runs
``analyze_portfolio`` and friends itself and submits their outputs).

Planning: a declared function whose name is one of the engine's tools is called with the arguments
the engine would have used, plus any declared parameter the thread metadata can fill
(``portfolio_id``, ``user_id``, ``risk_profile``, ``investment_horizon``; ``portfolio`` from
``portfolio_id``). Declared functions the engine does not know are never called.

Composing: the answer is built only from the submitted outputs, whatever their shape: the fields a
TradingResponse has (``overall_score``, ``risk_level``, ``recommendations``, ``insights``,
``risk_metrics``) are taken when valid, other scalar fields are quoted as insights, and
``extra.client_outputs`` lists the call ids the answer came from.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError

from ..response import Recommendation
from .intent import Intent

KNOWN = ("analyze_portfolio", "get_market_data", "generate_trading_signals", "calculate_risk_metrics")
FROM_METADATA = ("portfolio_id", "user_id", "risk_profile", "investment_horizon")
ANALYSIS_TYPES = {"portfolio": "portfolio_health", "compare": "portfolio_comparison", "sector": "sector_analysis",
                  "strategy": "strategy", "risk": "risk_analysis", "signals": "trading_signals",
                  "market_data": "market_data"}
RISK_LEVELS = ("low", "moderate", "high", "very_high")
NOTE = ("Built by qlwork's offline rule engine (not a language model) from the outputs your platform "
        "submitted for: {calls}.")


def client_arguments(args: dict, spec: dict, metadata: dict) -> dict:
    """``args`` plus the declared parameters the thread metadata can fill (never overriding)."""
    props = ((spec or {}).get("parameters") or {}).get("properties") or {}
    out = dict(args)
    for name in props:
        if name in out:
            continue
        key = "portfolio_id" if name == "portfolio" else name
        value = (metadata or {}).get(key)
        if key in FROM_METADATA and isinstance(value, str) and value:
            out[name] = value
    return out


def _parsed(raw: str) -> Any:
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return raw


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _scalars(name: str, out: dict) -> str | None:
    items = [f"{k} {v}" for k, v in out.items()
             if isinstance(v, (str, int, float)) and not isinstance(v, bool) and k not in ("analysis_type", "risk_level")]
    return f"{name}: " + ", ".join(items[:8]) + "." if items else None


def compose_client(intent: Intent, run_items: list) -> dict:
    """A TradingResponse-shaped answer from the (call, output text) pairs the client submitted."""
    answer: dict[str, Any] = {"analysis_type": ANALYSIS_TYPES.get(intent.kind, "analysis"), "overall_score": None,
                              "risk_level": None, "recommendations": [], "insights": [], "risk_metrics": {}}
    sources = []
    for call, raw in run_items:
        out = _parsed(raw)
        sources.append({"tool": call.name, "call_id": call.id})
        if not isinstance(out, dict):
            answer["insights"].append(f"{call.name}: {str(out)[:400]}")
            continue
        if isinstance(out.get("analysis_type"), str) and out["analysis_type"] and len(sources) == 1:
            answer["analysis_type"] = out["analysis_type"]
        score = _number(out.get("overall_score", out.get("score")))
        if answer["overall_score"] is None and score is not None and 0 <= score <= 10:
            answer["overall_score"] = score
        if answer["risk_level"] is None and out.get("risk_level") in RISK_LEVELS:
            answer["risk_level"] = out["risk_level"]
        for rec in out.get("recommendations") or []:
            try:
                answer["recommendations"].append(Recommendation.model_validate(rec).model_dump())
            except ValidationError:
                continue
        insights = [i for i in out.get("insights") or [] if isinstance(i, str)]
        answer["insights"] += insights or [s for s in [_scalars(call.name, out)] if s]
        metrics = out.get("risk_metrics") if isinstance(out.get("risk_metrics"), dict) else {}
        answer["risk_metrics"].update({k: v for k, v in metrics.items() if _number(v) is not None})
    answer["insights"].append(NOTE.format(calls=", ".join(f"{s['tool']} ({s['call_id']})" for s in sources)))
    answer["extra"] = {"client_outputs": sources}
    return answer
