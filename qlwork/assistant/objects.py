"""Assistants-style objects: Assistant, Thread, Message, Run, RunStep, ToolCall.

Shapes follow OpenAI's (retired) Assistants API so clients written for it map one to one: prefixed
ids (``asst_``, ``thread_``, ``msg_``, ``run_``, ``step_``, ``call_``), an ``object`` field naming the
type, ``created_at`` in Unix seconds, and ``metadata`` dicts. qlwork adds ``backend`` (which model
backend drives a run) and ``max_turns``.
"""

from __future__ import annotations

import secrets
import time
import warnings
from typing import Annotated, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, field_validator

ID_PREFIXES = ("asst", "thread", "msg", "run", "step", "call", "file")


def new_id(prefix: str) -> str:
    """A fresh id like ``run_3f9c...`` (prefix + 24 random hex characters)."""
    if prefix not in ID_PREFIXES:
        raise ValueError(f"Unknown id prefix {prefix!r}; use one of {', '.join(ID_PREFIXES)}.")
    return f"{prefix}_{secrets.token_hex(12)}"


def now() -> int:
    """Current time in Unix seconds (the ``created_at`` convention)."""
    return int(time.time())


class _Object(BaseModel):
    model_config = ConfigDict(extra="ignore")


# -- run status machine ------------------------------------------------------------------------

RunStatus = Literal["queued", "in_progress", "requires_action", "cancelling", "cancelled",
                    "failed", "completed", "incomplete", "expired"]
StepStatus = Literal["in_progress", "cancelled", "failed", "completed", "expired"]

TERMINAL_STATUSES: frozenset[str] = frozenset({"cancelled", "failed", "completed", "incomplete", "expired"})
ACTIVE_STATUSES: frozenset[str] = frozenset({"queued", "in_progress", "requires_action", "cancelling"})

ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    "queued": frozenset({"in_progress", "cancelling", "cancelled", "failed", "expired"}),
    "in_progress": frozenset({"requires_action", "cancelling", "cancelled", "completed", "failed",
                              "incomplete", "expired"}),
    "requires_action": frozenset({"in_progress", "cancelling", "cancelled", "failed", "expired"}),
    "cancelling": frozenset({"cancelled", "failed", "expired"}),
    **{status: frozenset() for status in TERMINAL_STATUSES},
}
"""Legal moves of a run's status; terminal statuses have none."""


# -- assistant and thread ----------------------------------------------------------------------

class Assistant(_Object):
    id: str = Field(default_factory=lambda: new_id("asst"))
    object: Literal["assistant"] = "assistant"
    created_at: int = Field(default_factory=now)
    name: str | None = None
    description: str | None = None
    model: str = "offline-rules"
    backend: str = "offline"
    instructions: str | None = None
    tools: list[dict] = Field(default_factory=list)
    response_format: dict | str | None = None
    metadata: dict = Field(default_factory=dict)


class Thread(_Object):
    """A conversation. ``metadata`` carries user_id, portfolio_id, risk_profile, investment_horizon."""

    id: str = Field(default_factory=lambda: new_id("thread"))
    object: Literal["thread"] = "thread"
    created_at: int = Field(default_factory=now)
    user_id: str | None = None
    assistant_id: str | None = None
    metadata: dict = Field(default_factory=dict)


# -- messages ----------------------------------------------------------------------------------

class TextValue(_Object):
    value: str
    annotations: list[dict] = Field(default_factory=list)


class TextPart(_Object):
    type: Literal["text"] = "text"
    text: TextValue


with warnings.catch_warnings():  # a field named "json" shadows the deprecated BaseModel.json()
    warnings.simplefilter("ignore", UserWarning)

    class JsonPart(_Object):
        type: Literal["json"] = "json"
        json: dict  # type: ignore[assignment]


class ImageFileRef(_Object):
    file_id: str
    detail: Literal["auto", "low", "high"] | None = None


class ImageFilePart(_Object):
    type: Literal["image_file"] = "image_file"
    image_file: ImageFileRef


class FileRef(_Object):
    file_id: str
    filename: str | None = None


class FilePart(_Object):
    type: Literal["file"] = "file"
    file: FileRef


ContentPart = Annotated[Union[TextPart, JsonPart, ImageFilePart, FilePart], Field(discriminator="type")]


class Attachment(_Object):
    file_id: str
    tools: list[dict] = Field(default_factory=list)


def text_part(value: str) -> dict:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def json_part(data: dict) -> dict:
    return {"type": "json", "json": data}


class Message(_Object):
    id: str = Field(default_factory=lambda: new_id("msg"))
    object: Literal["thread.message"] = "thread.message"
    created_at: int = Field(default_factory=now)
    thread_id: str
    role: Literal["user", "assistant"]
    content: list[ContentPart] = Field(default_factory=list)
    attachments: list[Attachment] = Field(default_factory=list)
    run_id: str | None = None
    assistant_id: str | None = None
    metadata: dict = Field(default_factory=dict)

    @property
    def text(self) -> str:
        """All text parts joined by blank lines."""
        return "\n\n".join(p.text.value for p in self.content if isinstance(p, TextPart))

    @property
    def data(self) -> dict | None:
        """The first json part, if any (the TradingResponse of an assistant answer)."""
        return next((p.json for p in self.content if isinstance(p, JsonPart)), None)


# -- runs and steps ----------------------------------------------------------------------------

class Usage(_Object):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0

    def plus(self, other: dict | None) -> "Usage":
        """Sum with a backend's usage dict (missing keys count as 0)."""
        if not other:
            return self
        p = int(other.get("prompt_tokens") or 0)
        c = int(other.get("completion_tokens") or 0)
        t = int(other.get("total_tokens") or 0) or p + c
        return Usage(prompt_tokens=self.prompt_tokens + p, completion_tokens=self.completion_tokens + c,
                     total_tokens=self.total_tokens + t)


class RunError(_Object):
    code: str
    message: str


class Run(_Object):
    id: str = Field(default_factory=lambda: new_id("run"))
    object: Literal["thread.run"] = "thread.run"
    created_at: int = Field(default_factory=now)
    thread_id: str
    assistant_id: str
    status: RunStatus = "queued"
    model: str | None = None
    backend: str | None = None
    instructions: str | None = None
    tools: list[dict] = Field(default_factory=list)
    usage: Usage | None = None
    started_at: int | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    cancelled_at: int | None = None
    last_error: RunError | None = None
    incomplete_details: dict | None = None
    max_turns: int = 10
    turns: int = 0
    required_action: dict | None = None
    metadata: dict = Field(default_factory=dict)

    @property
    def grounding(self) -> dict | None:
        """How the answer's figures traced to tool outputs (``qlwork.assistant.grounding.Grounding``
        as a dict), once the run completed or was rejected for them; kept in internal metadata."""
        from .grounding import RUN_KEY

        value = self.metadata.get(RUN_KEY)
        return value if isinstance(value, dict) else None


class FunctionCall(_Object):
    name: str
    arguments: str
    output: str | None = None


class ToolCall(_Object):
    """One function call inside a ``tool_calls`` step; ``output`` is JSON text once answered."""

    id: str = Field(default_factory=lambda: new_id("call"))
    type: Literal["function"] = "function"
    function: FunctionCall
    duration_ms: float | None = None
    error: dict | None = None


class ToolCallsDetails(_Object):
    type: Literal["tool_calls"] = "tool_calls"
    tool_calls: list[ToolCall] = Field(default_factory=list)


class MessageCreation(_Object):
    message_id: str


class MessageCreationDetails(_Object):
    type: Literal["message_creation"] = "message_creation"
    message_creation: MessageCreation


StepDetails = Annotated[Union[ToolCallsDetails, MessageCreationDetails], Field(discriminator="type")]


class RunStep(_Object):
    id: str = Field(default_factory=lambda: new_id("step"))
    object: Literal["thread.run.step"] = "thread.run.step"
    created_at: int = Field(default_factory=now)
    run_id: str
    thread_id: str
    assistant_id: str | None = None
    type: Literal["tool_calls", "message_creation"]
    status: StepStatus = "in_progress"
    step_details: StepDetails
    last_error: RunError | None = None
    completed_at: int | None = None
    failed_at: int | None = None
    cancelled_at: int | None = None
    usage: Usage | None = None
    metadata: dict = Field(default_factory=dict)  # qlwork's model-turn record (assistant/model_turns.py)

    @field_validator("metadata", mode="before")
    @classmethod
    def _no_metadata(cls, value: object) -> object:  # steps stored before schema version 5 have NULL
        return {} if value is None else value

    @property
    def tool_calls(self) -> list[ToolCall]:
        details = self.step_details
        return details.tool_calls if isinstance(details, ToolCallsDetails) else []


__all__ = [
    "ACTIVE_STATUSES", "ALLOWED_TRANSITIONS", "TERMINAL_STATUSES", "Assistant", "Attachment",
    "ContentPart", "FunctionCall", "JsonPart", "Message", "MessageCreationDetails", "Run", "RunError",
    "RunStatus", "RunStep", "StepStatus", "TextPart", "Thread", "ToolCall", "ToolCallsDetails", "Usage",
    "json_part", "new_id", "now", "text_part",
]
