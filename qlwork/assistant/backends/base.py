"""The backend protocol: given the run so far, a backend returns the next step.

A step is either :class:`ToolCalls` (the runner executes them and asks again) or a
:class:`FinalMessage` (text that must parse as a TradingResponse). Backends never touch the store;
everything they may use arrives in :class:`ModelInput`.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, runtime_checkable

from ...errors import BackendError
from ...tools.registry import Tool
from ..objects import Assistant, Message, Thread


@dataclass(frozen=True)
class ToolCallRequest:
    """A call the model asked for; ``arguments`` is the raw JSON text it sent (may be invalid)."""

    id: str
    name: str
    arguments: str


@dataclass
class ToolCalls:
    calls: list[ToolCallRequest]
    usage: dict | None = None


@dataclass
class FinalMessage:
    text: str
    usage: dict | None = None


Step = ToolCalls | FinalMessage


@dataclass
class ModelInput:
    """Everything a backend sees for one turn.

    ``messages``: thread history including the new user message, trimmed to the context budget.
    ``run_items``: (call, output JSON text) pairs from earlier turns of this run, in order.
    ``prior_tool_outputs``: ``{run_id, name, arguments, output}`` dicts from earlier completed runs of
    the thread, newest last (arguments/output parsed from JSON where possible).
    ``repair``: the validation errors of the previous final answer, when one repair is requested.
    ``instructions``: the run's instructions (the assistant's unless the run overrode them).
    ``client_tools``: function specs of client-side tools (declared, not in the registry).
    ``rejected``: the previous final answer's text when ``repair`` is set (so a model can fix it).
    ``on_delta``: called with each streamed text fragment (backends that stream may use it).
    ``should_stop``: returns True once the run was cancelled; long backend calls should poll it.
    ``compact``: a small-context model's turn (assistant/fallback.py): backends send a compact prompt.
    ``options``: the run's model controls (assistant/run_controls.py): temperature, top_p, tool_choice,
    max_tokens (what is left of the run's completion budget), response_format (as the client gave it).
    """

    assistant: Assistant
    thread: Thread
    messages: list[Message]
    run_items: list[tuple[ToolCallRequest, str]] = field(default_factory=list)
    prior_tool_outputs: list[dict] = field(default_factory=list)
    tools: list[Tool] = field(default_factory=list)
    repair: str | None = None
    turn: int = 1
    instructions: str | None = None
    client_tools: list[dict] = field(default_factory=list)
    rejected: str | None = None
    on_delta: Callable[[str], None] | None = None
    should_stop: Callable[[], bool] | None = None
    compact: bool = False
    options: dict = field(default_factory=dict)

    @property
    def last_user_message(self) -> Message | None:
        return next((m for m in reversed(self.messages) if m.role == "user"), None)


@runtime_checkable
class Backend(Protocol):
    name: str
    model: str

    def next_step(self, inp: ModelInput) -> ToolCalls | FinalMessage: ...


BACKENDS: dict[str, str | Callable[..., Backend] | None] = {
    "offline": "qlwork.assistant.offline.engine:OfflineBackend",
    "scripted": "qlwork.assistant.backends.scripted:ScriptedBackend",
    "openai": "qlwork.assistant.backends.openai_responses:OpenAIResponsesBackend",
    "openai-chat": "qlwork.assistant.backends.openai_chat:OpenAIChatBackend",
}
"""Backend name -> "module:Class" (imported lazily), a factory, or None (not available yet)."""


def get_backend(name: str = "offline", **options: Any) -> Backend:
    """Build the backend called ``name`` with ``options``; raises BackendError if unavailable."""
    if name not in BACKENDS:
        raise BackendError(f"Unknown backend {name!r}. Known backends: {', '.join(sorted(BACKENDS))}.",
                           fix="Choose one of the known backends.", code="unknown_backend")
    target = BACKENDS[name]
    if target is None:
        raise BackendError(f"Backend {name!r} is not available yet in this qlwork version.",
                           fix="Use backend='offline'.", code="backend_unavailable")
    if isinstance(target, str):
        module_name, _, attr = target.partition(":")
        try:
            target = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise BackendError(f"Backend {name!r} could not be loaded from {module_name}.{attr}: {exc}.",
                               fix="Check the qlwork installation.", code="backend_unavailable") from exc
    return target(**options)
