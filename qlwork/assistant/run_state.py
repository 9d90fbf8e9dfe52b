"""What one execution of a run carries between turns of the run loop (:mod:`.runner`): the run and its
objects, the tools offered, the messages sent, this run's tool calls and outputs, usage, the turn count
and which repair, correction or fallback turns were spent."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..tools.registry import Tool, ToolContext
from .backends.base import ToolCallRequest
from .objects import Assistant, Message, Run, Thread, Usage


@dataclass
class RunState:
    run: Run
    assistant: Assistant
    thread: Thread
    tools: dict[str, Tool]
    client_tools: dict[str, dict]
    context: ToolContext
    messages: list[Message]
    prior_tool_outputs: list[dict]
    run_items: list[tuple[ToolCallRequest, str]] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    turn: int = 0
    repair: str | None = None
    rejected: str | None = None
    repaired: bool = False
    planned: bool = False  # the offline plan was run for a model that called no tool
    corrected: bool = False  # a grounding correction turn was sent
    model_turn: dict | None = None  # the latest model turn's record (model_turns.record)

    def used(self, name: str) -> None:
        if (name in self.tools or name in self.client_tools) and name not in self.tools_used:
            self.tools_used.append(name)
