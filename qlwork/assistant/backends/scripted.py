"""ScriptedBackend: plays a fixed list of steps, for tests (qlwork's and anyone's)."""

from __future__ import annotations

import copy
import json
import threading
from typing import Callable, Union

from ...errors import BackendError
from ..objects import new_id
from .base import FinalMessage, ModelInput, ToolCallRequest, ToolCalls

ScriptItem = Union[ToolCalls, FinalMessage, BaseException, Callable[[ModelInput], "ToolCalls | FinalMessage"]]


class ScriptedBackend:
    """Returns ``steps`` in order: a step object, a callable of ModelInput, or an exception to raise.

    Every ModelInput received is kept in ``inputs`` (a shallow copy with its own lists).
    """

    supports_streaming = False

    def __init__(self, steps: list[ScriptItem] | None = None, name: str = "scripted",
                 model: str = "scripted") -> None:
        self.name = name
        self.model = model
        self.steps = list(steps or [])
        self.inputs: list[ModelInput] = []
        self._lock = threading.Lock()

    def next_step(self, inp: ModelInput) -> ToolCalls | FinalMessage:
        with self._lock:
            snapshot = copy.copy(inp)
            snapshot.messages, snapshot.run_items = list(inp.messages), list(inp.run_items)
            snapshot.prior_tool_outputs = list(inp.prior_tool_outputs)
            self.inputs.append(snapshot)
            if not self.steps:
                raise BackendError(f"ScriptedBackend ran out of steps at turn {inp.turn}.",
                                   code="script_exhausted")
            item = self.steps.pop(0)
        if isinstance(item, BaseException):
            raise item
        if callable(item) and not isinstance(item, (ToolCalls, FinalMessage)):
            item = item(inp)
        return item


def call(name: str, arguments: str | dict = "{}", id: str | None = None) -> ToolCallRequest:
    """Shorthand for a ToolCallRequest (dict arguments are JSON-encoded)."""
    text = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return ToolCallRequest(id=id or new_id("call"), name=name, arguments=text)
