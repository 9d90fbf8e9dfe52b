"""Request bodies (validated) and response shapes (documented) of the Assistants v2 API.

Requests follow OpenAI's limits (metadata: at most 16 string pairs, keys <= 64 and values <= 512
characters) so code that worked against OpenAI validates here; parameters qlwork does not use
(temperature, top_p, truncation_strategy, ...) are accepted, echoed on the run as sent, and not applied. Response models describe
the wire shapes for the OpenAPI spec; handlers build the JSON in :mod:`qlwork.server.wire`.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_\-.:]+$")]
Key = Annotated[str, StringConstraints(max_length=64)]
Value = Annotated[str, StringConstraints(max_length=512)]
LongText = Annotated[str, StringConstraints(max_length=256_000)]


class _In(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        """No NUL byte in any text (PostgreSQL cannot store one; SQLite would cut text at it): 400 naming the
        field, for every store."""
        if _has_nul(value):
            raise ValueError("must not contain NUL bytes (\\u0000); remove them")
        return value


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return any(_has_nul(v) for v in value)
    return False


INTERNAL_PREFIX = "_qlwork"  # metadata keys qlwork keeps for itself (e.g. the stored tool_resources)


def _check_metadata(value: dict | None) -> dict | None:
    if value is not None and len(value) > 16:
        raise ValueError("metadata has at most 16 keys")
    reserved = sorted(k for k in value or {} if str(k).startswith(INTERNAL_PREFIX))
    if reserved:
        raise ValueError(f"metadata keys starting with {INTERNAL_PREFIX!r} are reserved for qlwork: {reserved}")
    return value


class FunctionDef(_In):
    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
    description: Annotated[str, StringConstraints(max_length=8192)] | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionTool(_In):
    type: Literal["function"]
    function: FunctionDef


class CodeInterpreterTool(_In):
    type: Literal["code_interpreter"]


class FileSearchTool(_In):
    type: Literal["file_search"]
    file_search: dict[str, Any] | None = None


ToolIn = Annotated[Union[FunctionTool, CodeInterpreterTool, FileSearchTool], Field(discriminator="type")]


class TextIn(_In):
    type: Literal["text"]
    text: LongText


class ImageFileRefIn(_In):
    file_id: Id
    detail: Literal["auto", "low", "high"] | None = None


class ImageFileIn(_In):
    type: Literal["image_file"]
    image_file: ImageFileRefIn


class ImageUrlRefIn(_In):
    url: Annotated[str, StringConstraints(max_length=4096)]
    detail: Literal["auto", "low", "high"] | None = None


class ImageUrlIn(_In):
    type: Literal["image_url"]
    image_url: ImageUrlRefIn


ContentIn = Annotated[Union[TextIn, ImageFileIn, ImageUrlIn], Field(discriminator="type")]


class AttachmentToolIn(_In):
    type: Literal["code_interpreter", "file_search"]


class AttachmentIn(_In):
    file_id: Id
    tools: list[AttachmentToolIn] | None = None


class CodeInterpreterResources(_In):
    file_ids: Annotated[list[Id], Field(max_length=100)] | None = None


class VectorStoreSpec(_In):
    """A vector store to create on the fly (``tool_resources.file_search.vector_stores``)."""
    file_ids: Annotated[list[Id], Field(max_length=100)] | None = None
    chunking_strategy: dict[str, Any] | None = None
    metadata: dict[Key, Value] | None = None


class FileSearchResources(_In):
    vector_store_ids: Annotated[list[Id], Field(max_length=16)] | None = None
    vector_stores: Annotated[list[VectorStoreSpec], Field(max_length=16)] | None = None


class ToolResources(_In):
    """``tool_resources`` of an assistant or thread (Assistants v2 shape)."""
    code_interpreter: CodeInterpreterResources | None = None
    file_search: FileSearchResources | None = None


class _WithMetadata(_In):
    metadata: dict[Key, Value] | None = None

    @field_validator("metadata")
    @classmethod
    def metadata_size(cls, value: dict | None) -> dict | None:
        return _check_metadata(value)


class MessageCreate(_WithMetadata):
    role: Literal["user", "assistant"]
    content: LongText | Annotated[list[ContentIn], Field(min_length=1, max_length=32)]
    attachments: Annotated[list[AttachmentIn], Field(max_length=32)] | None = None


class MessageUpdate(_WithMetadata):
    pass


class AssistantCreate(_WithMetadata):
    model: Annotated[str, StringConstraints(max_length=256)] | None = None
    name: Annotated[str, StringConstraints(max_length=256)] | None = None
    description: Annotated[str, StringConstraints(max_length=512)] | None = None
    instructions: LongText | None = None
    tools: Annotated[list[ToolIn], Field(max_length=128)] | None = None
    tool_resources: ToolResources | None = None
    response_format: Union[Literal["auto"], dict[str, Any]] | None = None
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    backend: Literal["offline", "openai", "openai-chat"] | None = Field(
        None, description="qlwork: model backend for this assistant (default: the user's preference, else the "
                          "server's --backend).")


class AssistantUpdate(AssistantCreate):
    pass


class ThreadCreate(_WithMetadata):
    messages: Annotated[list[MessageCreate], Field(max_length=32)] | None = None
    tool_resources: ToolResources | None = None


class ThreadUpdate(_WithMetadata):
    tool_resources: ToolResources | None = None


class TruncationStrategy(_In):
    type: Literal["auto", "last_messages"]
    last_messages: Annotated[int, Field(ge=1)] | None = None


class RunCreate(_WithMetadata):
    assistant_id: Id
    model: Annotated[str, StringConstraints(max_length=256)] | None = None
    instructions: LongText | None = None
    additional_instructions: LongText | None = None
    additional_messages: Annotated[list[MessageCreate], Field(max_length=32)] | None = None
    tools: Annotated[list[ToolIn], Field(max_length=128)] | None = None
    stream: bool | None = None
    # accepted and echoed on the run as sent (qlwork's runner does not use them)
    temperature: Annotated[float, Field(ge=0, le=2)] | None = None
    top_p: Annotated[float, Field(ge=0, le=1)] | None = None
    max_prompt_tokens: Annotated[int, Field(ge=256)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=16)] | None = None
    truncation_strategy: TruncationStrategy | None = None
    tool_choice: Union[Literal["none", "auto", "required"], dict[str, Any]] | None = None
    parallel_tool_calls: bool | None = None
    response_format: Union[Literal["auto"], dict[str, Any]] | None = None
    max_turns: Annotated[int, Field(ge=1, le=50)] | None = Field(
        None, description="qlwork: model turns before the run ends incomplete (default 10).")


class ThreadAndRunCreate(RunCreate):
    thread: ThreadCreate | None = None
    tool_resources: ToolResources | None = None


class RunUpdate(_WithMetadata):
    pass


class ToolOutputIn(_In):
    tool_call_id: Id
    output: Annotated[str, StringConstraints(max_length=512_000)] = ""


class SubmitToolOutputs(_In):
    tool_outputs: Annotated[list[ToolOutputIn], Field(min_length=1, max_length=128)]
    stream: bool | None = None


# -- response shapes (documentation) ----------------------------------------------------------

class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


class ErrorBody(_Out):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(_Out):
    error: ErrorBody


class AssistantOut(_Out):
    id: str
    object: Literal["assistant"]
    created_at: int
    name: str | None = None
    description: str | None = None
    model: str
    instructions: str | None = None
    tools: list[dict[str, Any]]
    metadata: dict[str, Any]


class ThreadOut(_Out):
    id: str
    object: Literal["thread"]
    created_at: int
    metadata: dict[str, Any]
    tool_resources: dict[str, Any] | None = None


class MessageOut(_Out):
    id: str
    object: Literal["thread.message"]
    created_at: int
    thread_id: str
    role: Literal["user", "assistant"]
    status: str
    content: list[dict[str, Any]]
    attachments: list[dict[str, Any]] | None = None
    assistant_id: str | None = None
    run_id: str | None = None
    metadata: dict[str, Any]


class RunOut(_Out):
    id: str
    object: Literal["thread.run"]
    created_at: int
    thread_id: str
    assistant_id: str
    status: str
    required_action: dict[str, Any] | None = None
    last_error: dict[str, Any] | None = None
    model: str | None = None
    instructions: str | None = None
    tools: list[dict[str, Any]]
    metadata: dict[str, Any]
    usage: dict[str, Any] | None = None


class RunStepOut(_Out):
    id: str
    object: Literal["thread.run.step"]
    created_at: int
    run_id: str
    thread_id: str
    type: Literal["tool_calls", "message_creation"]
    status: str
    step_details: dict[str, Any]


class DeletedOut(_Out):
    id: str
    object: str
    deleted: bool


class ListOut(_Out):
    object: Literal["list"]
    data: list[dict[str, Any]]
    first_id: str | None = None
    last_id: str | None = None
    has_more: bool


ERRORS = {status: {"model": ErrorResponse} for status in (400, 401, 404, 409, 413, 422, 429)}
"""Documented error responses of every endpoint."""


def documented(model: type[BaseModel], *extra: int) -> dict:
    """``responses=`` for a route answering ``model`` (or the errors)."""
    return {200: {"model": model}, **ERRORS}
