"""What each model turn leaves on its run step: latency, token usage and the server's capabilities.

The runner times every ``backend.next_step`` call (:func:`record`) and stores the record of the
turn that produced a step in the step's metadata under :data:`MODEL_KEY` and its usage in the
step's ``usage`` (:func:`step_fields`). Latency is wall time of the call in milliseconds (retries
and fallbacks included); capabilities are the SDK backends' (see ``backends/capabilities.py``).
"""

from __future__ import annotations

import time
from typing import Any

from .objects import Usage

MODEL_KEY = "_qlwork_model"
"""Run-step metadata key of the model-turn record (internal: not a client's metadata)."""


def message_step_id(message_id: str) -> str:
    """The id of the message_creation step of answer ``message_id`` (same suffix: a stream can announce
    the step before the answer is stored)."""
    return "step_" + message_id.split("_", 1)[-1]


def record(backend: Any, step: Any, started: float, turn: int) -> dict:
    """The record of one model turn that began at ``started`` (``time.perf_counter()``)."""
    out: dict = {"turn": turn, "latency_ms": round((time.perf_counter() - started) * 1000, 1),
                 "backend": getattr(backend, "name", None), "model": getattr(backend, "model", None)}
    if getattr(step, "usage", None):
        out["usage"] = Usage().plus(step.usage).model_dump()
    capabilities = getattr(backend, "capabilities", None)
    if callable(capabilities):
        out["capabilities"] = capabilities()
    return out


def step_fields(turn: dict | None) -> dict:
    """``metadata`` and ``usage`` fields for the run step made from ``turn`` (none without one)."""
    if not turn:
        return {}
    fields: dict = {"metadata": {MODEL_KEY: turn}}
    if turn.get("usage"):
        fields["usage"] = Usage(**turn["usage"])
    return fields


def public(metadata: dict | None) -> dict[str, str]:
    """The model-turn record as Assistants-API step metadata (string values, at most 512 characters)."""
    turn = (metadata or {}).get(MODEL_KEY)
    if not isinstance(turn, dict):
        return {}
    out = {"qlwork_model_latency_ms": str(turn["latency_ms"])} if turn.get("latency_ms") is not None else {}
    caps = turn.get("capabilities")
    if isinstance(caps, dict):
        out["qlwork_capabilities"] = ", ".join(f"{k}={v}" for k, v in caps.items() if v is not None)[:512]
    if turn.get("source"):
        out["qlwork_source"] = str(turn["source"])[:512]
    return out


def usage_text(usage: dict | None) -> str:
    """``1,234 prompt + 56 completion = 1,290 tokens`` ("" when the backend reported none)."""
    u = usage or {}
    if not u.get("total_tokens"):
        return ""
    return f"{u.get('prompt_tokens', 0):,} prompt + {u.get('completion_tokens', 0):,} completion = {u['total_tokens']:,} tokens"


def turns_text(steps: list[dict]) -> str:
    """The model turns recorded on a run's steps (dicts as stored): latency and capabilities."""
    turns = [(s.get("metadata") or {}).get(MODEL_KEY) for s in steps]
    turns = [t for t in turns if isinstance(t, dict) and t.get("latency_ms") is not None]
    if not turns:
        return ""
    line = "model turns: " + ", ".join(f"turn {t.get('turn')} {t['latency_ms']:,.0f} ms" for t in turns)
    caps = turns[-1].get("capabilities")
    if isinstance(caps, dict):
        line += "; capabilities: " + ", ".join(f"{k} {v}" for k, v in caps.items()
                                               if k != "usage_reported" and v is not None)
    return line
