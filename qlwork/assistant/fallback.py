"""Answers that degrade gracefully when a model cannot produce a valid TradingResponse.

Three helpers the runner calls (a line each):

- :func:`planned_calls`: a model that answered a portfolio question without calling any tool gets
  the offline engine's tool plan for the question run for it, before its repair turn, so the next
  answer (the model's or the composed one) has tool figures to use.
- :func:`composed`: after the repair turn fails too, the answer is built from the run's tool outputs
  (and the thread's earlier ones) by the offline engine's composer: score, risk, metrics and
  recommendations under its rules, every figure copied from a tool output. The model's own text is
  kept as labelled, unverified model commentary (:class:`~qlwork.assistant.response.Composed` says
  which parts came from where). The user always gets a structured answer.
- :func:`shape`: a model with a small context window (``context_window`` <= :data:`COMPACT_WINDOW`
  tokens) gets a compact prompt: only the tools the question needs (the offline plan's), short
  instructions and tool outputs cut harder, figures kept (see ``build_transcript``).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from ..errors import ModelBehaviorError
from ..redaction import redact
from .backends.base import FinalMessage, ModelInput, ToolCallRequest, ToolCalls
from .backends.transcript import COMPACT_WINDOW
from .response import Composed, TradingResponse, parse_response

log = logging.getLogger("qlwork.assistant.fallback")

COMMENTARY_CHARS = 1_200
COMPOSER = "qlwork offline composer"


def _offline_step(inp: ModelInput) -> ToolCalls | FinalMessage | None:
    from .offline.engine import OfflineBackend  # the rule engine: only when a fallback is needed

    try:
        return OfflineBackend().next_step(inp)
    except Exception as exc:  # a fallback must never turn a bad answer into a crash
        log.warning("offline fallback failed: %s", redact(f"{type(exc).__name__}: {exc}"))
        return None


def planned_calls(inp: ModelInput) -> ToolCalls | None:
    """The offline plan's calls for the question (registry tools of the run only), or None when the
    run already called tools or the question needs none."""
    if inp.run_items or not inp.tools:
        return None
    step = _offline_step(replace(inp, client_tools=[]))
    names = {t.name for t in inp.tools}
    if not isinstance(step, ToolCalls):
        return None
    calls = [ToolCallRequest(f"call_plan_{inp.turn}_{i}", c.name, c.arguments)
             for i, c in enumerate(step.calls) if c.name in names]
    return ToolCalls(calls, usage=None) if calls else None


def composed(inp: ModelInput, model_text: str | None, problem: ModelBehaviorError | str) -> TradingResponse:
    """The answer composed from the run's tool outputs, with the model's text as commentary."""
    step = _offline_step(replace(inp, client_tools=[], repair=None, rejected=None))
    response = None
    if isinstance(step, FinalMessage):
        try:
            response = parse_response(step.text)
        except ModelBehaviorError as exc:
            log.warning("offline composer gave no TradingResponse: %s", exc)
    tools_used = list(dict.fromkeys(call.name for call, _ in inp.run_items))
    if response is None:
        response = TradingResponse(analysis_type="model_answer_unusable", insights=[
            "The model's answer could not be used and no tool output was available to compose one from; "
            "ask again, or use the offline backend."])
    commentary = redact(" ".join((model_text or "").split()))[:COMMENTARY_CHARS] or None
    reason = getattr(problem, "message", None) or str(problem)
    response.composed = Composed(by=COMPOSER, reason=f"The model's answer was not a valid TradingResponse after one "
                                 f"repair turn ({reason[:300]})", from_tools=tools_used, model_commentary=commentary)
    return response


def shape(inp: ModelInput, backend: Any) -> ModelInput:
    """``inp`` as a small-context model gets it: compact, with only the planned tools (see module doc)."""
    window = getattr(backend, "context_window", None)
    if not isinstance(window, int) or window > COMPACT_WINDOW:
        return inp
    inp.compact = True
    if inp.tools:  # the tools the question's plan needs, plus any the run has called already
        plan = planned_calls(replace(inp, run_items=[]))
        if plan is not None:
            wanted = {c.name for c in plan.calls} | {call.name for call, _ in inp.run_items}
            inp.tools = [t for t in inp.tools if t.name in wanted]
    return inp
