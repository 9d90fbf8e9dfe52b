"""SDKBackend: what the ``openai`` and ``openai-chat`` backends share (options, fallbacks, budget)."""

from __future__ import annotations

import re
from typing import Any, Callable

from ...errors import BackendError, QlworkError
from ..response import wants_trading_response
from .base import FinalMessage, ModelInput, ToolCalls
from .openai_base import (Connection, backend_error, cancellable, check_env_name, is_refusal, log, make_client,
                          refusal_reason, with_retries)


THINK_BLOCK = re.compile(r"<think>.*?</think>\s*", re.DOTALL)


def strip_thinking(text: str) -> str:
    """Drop ``<think>...</think>`` blocks some local reasoning models put in their content."""
    return THINK_BLOCK.sub("", text or "").strip()


class SDKBackend:
    """Common part of the ``openai`` and ``openai-chat`` backends (see those modules).

    Options: ``model``, ``base_url``, ``api_key_env`` (default OPENAI_API_KEY), ``timeout`` (s),
    ``max_retries``, ``backoff``/``max_backoff`` (s), ``stream``, ``context_window`` (tokens),
    ``max_output_tokens``, ``tools_enabled``, ``history`` (send earlier messages), ``response_format``
    (json_schema | json_object | text), ``allow_no_key``, ``temperature``, ``on_delta``, ``client``,
    ``vision`` (send PNG/JPEG files of user messages as image input; default True).
    A server that refuses a feature with HTTP 400/422 (stream_options, tools, images, response_format) gets
    the request again without it; the fallback sticks for this backend and is logged once.
    """

    name = "sdk"
    default_model = ""
    supports_streaming = True
    FORMAT_MODES = ("json_schema", "json_object", "text")
    schema_in_prompt = False

    def __init__(self, model: str | None = None, base_url: str | None = None, api_key_env: str | None = None,
                 timeout: float = 60.0, max_retries: int = 2, backoff: float = 0.5, max_backoff: float = 8.0,
                 stream: bool = True, context_window: int = 32_000, max_output_tokens: int | None = None,
                 tools_enabled: bool = True, history: bool = True, response_format: str = "json_schema",
                 allow_no_key: bool = False, temperature: float | None = None,
                 on_delta: Callable[[str], None] | None = None, client: Any = None, vision: bool = True,
                 **unused: Any) -> None:
        self.model = model or self.default_model
        if not self.model:
            raise BackendError(f"No model set for the {self.name} backend.",
                               fix="Set model (e.g. gpt-4.1-mini for OpenAI, qwen3 for Ollama, the deployment "
                                   "name for Azure).", code="missing_model", setting="model")
        if response_format not in self.FORMAT_MODES:
            raise BackendError(f"response_format {response_format!r} is not one of {', '.join(self.FORMAT_MODES)}.",
                               fix="Use json_schema (default), json_object or text.", code="invalid_setting",
                               setting="response_format")
        if unused:
            log.debug("%s backend ignores options %s", self.name, sorted(unused))
        self.conn = Connection(self.name, self.model, base_url or None,
                               check_env_name(api_key_env or "OPENAI_API_KEY"), float(timeout), int(max_retries),
                               float(backoff), float(max_backoff), bool(allow_no_key))
        self.client = client if client is not None else make_client(self.conn)
        self.stream = bool(stream)
        self.stream_usage = True
        self.context_window = int(context_window)
        self.max_output_tokens = max_output_tokens
        self.tools_supported = bool(tools_enabled)
        self.history = bool(history)
        self.format_mode = response_format
        self.temperature = temperature
        self.on_delta = on_delta
        self.fallbacks: list[str] = []
        self._tools_sent = False
        self.vision = bool(vision)
        self._images_sent = False

    @property
    def base_url(self) -> str | None:
        return self.conn.base_url

    # -- shared steps ------------------------------------------------------------------------
    def next_step(self, inp: ModelInput) -> ToolCalls | FinalMessage:
        while True:
            try:
                return with_retries(self.conn, lambda: cancellable(lambda: self._attempt(inp), inp.should_stop),
                                    inp.should_stop)
            except QlworkError:
                raise
            except Exception as exc:
                if is_refusal(exc) and self._adapt(refusal_reason(exc)):
                    continue
                raise backend_error(exc, self.conn) from exc

    def _attempt(self, inp: ModelInput) -> ToolCalls | FinalMessage:  # pragma: no cover - abstract
        raise NotImplementedError

    def _adapt(self, reason: str) -> bool:
        """Drop the feature a 400/422 complains about; False when nothing is left to drop."""
        if "context" in reason and ("length" in reason or "window" in reason or "too long" in reason):
            return False
        if self.stream and self.stream_usage and "stream_options" in reason:
            self.stream_usage = False
            return self._fell_back("stream_options (usage while streaming)")
        if self._images_sent and any(w in reason for w in ("image", "vision", "multimodal", "multi-modal")):
            self.vision = False
            return self._fell_back("image input (images are now named in a text note)")
        if self._tools_sent and "tool" in reason and "format" not in reason:
            self.tools_supported = False
            return self._fell_back("tools (the model will answer without calling tools)")
        if self.format_mode != "text":
            self.format_mode = self.FORMAT_MODES[self.FORMAT_MODES.index(self.format_mode) + 1]
            return self._fell_back(f"response_format, now {self.format_mode} with the schema in the prompt")
        if self._tools_sent:
            self.tools_supported = False
            return self._fell_back("tools")
        return False

    def _fell_back(self, what: str) -> bool:
        self.fallbacks.append(what)
        log.warning("%s backend: the server at %s refused %s; retrying without it", self.name,
                    self.conn.where, what.split(" (")[0].split(",")[0])
        return True

    def transcript(self, inp: ModelInput):
        from .transcript import CHARS_PER_TOKEN, build_transcript, schema_note

        reserve = (self.max_output_tokens or 4096) * CHARS_PER_TOKEN
        tools = sum(len(str(t.parameters_schema())) + len(t.description) + 40 for t in inp.tools)
        budget = max(6_000, self.context_window * CHARS_PER_TOKEN - reserve - tools)
        trading = wants_trading_response(inp.assistant)
        note = schema_note() if trading and (self.schema_in_prompt or self.format_mode != "json_schema") else None
        t = build_transcript(inp, budget, extra_system=note, history=self.history, images=self.vision)
        self._images_sent = any(turn.images for turn in t.turns)
        return t

    def format_for(self, inp: ModelInput) -> str:
        """The answer format to ask for: TradingResponse (``format_mode``) for the trading assistant,
        plain text for any other (see :func:`~qlwork.assistant.response.wants_trading_response`)."""
        return self.format_mode if wants_trading_response(inp.assistant) else "text"

    def tool_specs(self, inp: ModelInput) -> list[dict]:
        """Function specs: registry tools in strict form, client-side tools as declared."""
        if not self.tools_supported:
            return []
        specs = [t.function_schema(strict=True) for t in inp.tools]
        specs += [{**{k: v for k, v in spec.items() if k in ("name", "description", "parameters")}, "strict": False}
                  for spec in inp.client_tools]  # declared by the caller: not necessarily strict-ready
        return specs

    def emit(self, inp: ModelInput, text: str) -> None:
        callback = inp.on_delta or self.on_delta
        if callback is not None and text:
            callback(text)


def usage_dict(prompt: Any, completion: Any, total: Any = None) -> dict:
    p, c = int(prompt or 0), int(completion or 0)
    return {"prompt_tokens": p, "completion_tokens": c, "total_tokens": int(total or 0) or p + c}
