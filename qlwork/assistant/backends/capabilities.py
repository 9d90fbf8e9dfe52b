"""What a model server accepts, learnt from its answers and remembered per server and model.

A server that does not support a request parameter answers 400/422 (or, like llama.cpp's Python
server, 500 with a pydantic validation message) naming the field. :func:`refused_feature` reads
which field that was; only then is the request sent again without it (an answer that names nothing
qlwork sent is an error, never retried blindly). Each refusal is remembered for the process, keyed by
(backend, server URL, model), so the next backend built for the same server starts from what works.

The ladders, strongest first: structured output ``json_schema -> json_object -> instructions``
(the schema in the prompt only), tool calls ``native -> text`` (one JSON object written as the
whole reply, see :func:`~qlwork.assistant.backends.openai_chat.text_tool_calls`), streaming
``on -> off`` (also when streamed answers carry no token usage: usage is worth more than live text),
usage while streaming ``on -> off``. :meth:`Capabilities.record` is what the runner stores on every
run step made from a model turn.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field

FEATURES = ("json_schema", "json_object", "tools", "stream", "stream_options", "images",
            "temperature", "top_p", "max_tokens", "parallel_tool_calls", "tool_choice")
"""Everything qlwork may drop from a request after a refusal."""

FIXES = {
    "json_schema": "nothing to do: qlwork asks for json_object instead (a server with json_schema support, "
                   "e.g. OpenAI or Ollama, enforces the answer's shape).",
    "json_object": "nothing to do: the schema goes in the prompt and answers are validated and repaired.",
    "tools": "nothing to do: tools are described in the prompt and called as JSON text; a server with native "
             "tool calls works better (llama.cpp: --jinja; vLLM: --enable-auto-tool-choice).",
    "stream": "nothing to do: answers arrive whole instead of streamed.",
}

_FIELDS: list[tuple[str, re.Pattern]] = [  # first match wins: the most specific names first
    ("stream_options", re.compile(r"stream_options|include_usage")),
    ("parallel_tool_calls", re.compile(r"parallel_tool_calls")),
    ("tool_choice", re.compile(r"tool_choice")),
    ("response_format", re.compile(r"response_format|json_schema|json_object|text\.format|\bformat\b")),
    ("images", re.compile(r"image|vision|multimodal|multi-modal")),
    ("tools", re.compile(r"\btools?\b|function.?call")),
    ("temperature", re.compile(r"temperature")),
    ("top_p", re.compile(r"top_p")),
    ("max_tokens", re.compile(r"max_tokens|max_output_tokens|max_completion_tokens")),
    ("stream", re.compile(r"\bstream(ing)?\b")),
]


_VALIDATION_500 = re.compile(r"validation error|input should be|not supported|unsupported|unrecognized|"
                             r"extra inputs|not permitted|does not support", re.IGNORECASE)


_WINDOW = re.compile(r"(?:context window of|maximum context length is|context length of|n_ctx[=: ]+)\s*(\d{3,7})",
                     re.IGNORECASE)


def context_window_in(message: str) -> int | None:
    """The context size (tokens) a context-length error states (llama.cpp, vLLM, OpenAI wording)."""
    found = _WINDOW.search(message or "")
    return int(found.group(1)) if found else None


def is_validation_message(message: str) -> bool:
    """True when a server's error message (of an HTTP 500) says a request parameter is not accepted."""
    return bool(_VALIDATION_500.search(message or ""))


def refused_feature(status: int | None, message: str, sent: dict[str, bool]) -> str | None:
    """The request parameter a refusal names, among those ``sent`` (name -> was it in the request).

    ``response_format`` stands for the structured-output mode sent. 400/422 naming a sent field
    count; a 500 counts only with a validation message (a crash is retried, a refusal is not).
    """
    if status not in (400, 422, 500):
        return None
    text = (message or "").lower()
    if status == 500 and not is_validation_message(text):
        return None
    if "context" in text and any(w in text for w in ("length", "window", "too long")):
        return None  # the conversation is too long: not a feature to drop
    for name, pattern in _FIELDS:
        if sent.get(name) and pattern.search(text):
            return name
    return None


@dataclass
class Capabilities:
    """What one server and model accepted so far (see the module docstring)."""

    structured_output: str = "json_schema"  # json_schema | json_object | instructions
    tools: str = "native"  # native | text | off
    streaming: bool = True
    stream_usage: bool = True
    images: bool = True
    dropped: list[str] = field(default_factory=list)  # sampling parameters refused (temperature, ...)
    refused: list[dict] = field(default_factory=list)  # {"feature", "status", "message"}
    usage_reported: bool | None = None
    context_window: int | None = None  # tokens, when the server said so (a context-length error)

    def refuse(self, feature: str, status: int | None, message: str) -> str:
        """Step down after ``feature`` was refused; returns what qlwork now does instead."""
        if feature == "response_format":
            feature = "json_schema" if self.structured_output == "json_schema" else "json_object"
            self.structured_output = "json_object" if feature == "json_schema" else "instructions"
            now = f"structured output now {self.structured_output} with the schema in the prompt"
        elif feature == "tools":
            self.tools, now = "text", "tools now described in the prompt and called as JSON text"
        elif feature == "stream":
            self.streaming, now = False, "answers now arrive whole (no streaming)"
        elif feature == "stream_options":
            self.stream_usage, now = False, "no usage while streaming"
        elif feature == "images":
            self.images, now = False, "images now named in a text note"
        else:
            if feature not in self.dropped:
                self.dropped.append(feature)
            now = f"{feature} no longer sent"
        self.refused.append({"feature": feature, "status": status, "message": message[:300]})
        return now

    def record(self) -> dict:
        """The step record: the modes in force and what the server refused."""
        out = {"structured_output": self.structured_output, "tools": self.tools, "streaming": self.streaming,
               "stream_usage": self.stream_usage, "usage_reported": self.usage_reported}
        if self.dropped:
            out["dropped"] = list(self.dropped)
        if self.refused:
            out["refused"] = [r["feature"] for r in self.refused]
        if self.context_window:
            out["context_window"] = self.context_window
        return out

    def summary(self) -> str:
        """One line for people: ``structured output json_object, tools text, streaming on``."""
        line = (f"structured output {self.structured_output}, tools {self.tools}, "
                f"streaming {'on' if self.streaming else 'off'}")
        if self.refused:
            line += "; refused by the server: " + ", ".join(dict.fromkeys(r["feature"] for r in self.refused))
        return line


_CACHE: dict[tuple[str, str, str], Capabilities] = {}
_LOCK = threading.Lock()


def for_server(backend: str, where: str, model: str) -> Capabilities:
    """The process-wide :class:`Capabilities` of (backend, server URL, model), shared by every backend
    built for it (created on first use)."""
    key = (backend, where.rstrip("/"), model)
    with _LOCK:
        caps = _CACHE.get(key)
        if caps is None:
            caps = _CACHE[key] = Capabilities()
        return caps


def forget() -> None:
    """Drop everything learnt (tests; a server that was upgraded)."""
    with _LOCK:
        _CACHE.clear()
