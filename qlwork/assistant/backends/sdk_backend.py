"""SDKBackend: what the ``openai`` and ``openai-chat`` backends share (options, fallbacks, budget)."""

from __future__ import annotations

import re
from typing import Any, Callable

import openai

from ...errors import BackendError, QlworkError
from ..response import wants_trading_response
from .base import FinalMessage, ModelInput, ToolCalls
from .capabilities import context_window_in, for_server, refused_feature
from .openai_base import (Connection, backend_error, cancellable, check_env_name, log, make_client, server_message,
                          with_retries)
from .transcript import COMPACT_WINDOW


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
    A server that refuses a parameter (HTTP 400/422, or 500 with a validation message, naming it: see
    :mod:`.capabilities`) gets the request again without it; the fallback is logged and remembered for
    the process per server and model (``caps``), so later backends start from what works.
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
        self.caps = for_server(self.name, self.conn.where, self.model)  # shared: what this server refused
        self._stream, self._tools, self._vision, self._format = bool(stream), bool(tools_enabled), bool(vision), \
            response_format
        self._window = int(context_window)
        self.max_output_tokens = max_output_tokens
        self.history = bool(history)
        self.temperature = temperature
        self.on_delta = on_delta
        self.fallbacks: list[str] = []
        self._sent: dict[str, bool] = {}
        self._images_sent = False

    # the settings as asked for, weakened by what the server refused (capabilities.Capabilities)
    @property
    def stream(self) -> bool:
        return self._stream and self.caps.streaming

    @property
    def stream_usage(self) -> bool:
        return self.caps.stream_usage

    @property
    def tools_supported(self) -> bool:
        return self._tools and self.caps.tools == "native"

    @property
    def context_window(self) -> int:
        """Tokens: the setting, or less once the server stated its own (``caps.context_window``)."""
        return min(self._window, self.caps.context_window or self._window)

    @property
    def vision(self) -> bool:
        return self._vision and self.caps.images

    @property
    def format_mode(self) -> str:
        learnt = {"instructions": "text"}.get(self.caps.structured_output, self.caps.structured_output)
        return max(self._format, learnt, key=self.FORMAT_MODES.index)

    def capabilities(self) -> dict:
        """What the runner records on the step of each model turn (modes in force, refusals)."""
        record = self.caps.record()
        record["structured_output"] = {"text": "instructions"}.get(self.format_mode, self.format_mode)
        record["tools"] = "native" if self.tools_supported else ("text" if self._tools else "off")
        record["streaming"] = self.stream
        return record

    @property
    def base_url(self) -> str | None:
        return self.conn.base_url

    # -- shared steps ------------------------------------------------------------------------
    def next_step(self, inp: ModelInput) -> ToolCalls | FinalMessage:
        while True:
            try:
                step = with_retries(self.conn, lambda: cancellable(lambda: self._attempt(inp), inp.should_stop),
                                    inp.should_stop, refused=self._refused)
            except QlworkError:
                raise
            except Exception as exc:
                if self._adapt(exc):
                    inp.compact = inp.compact or self.context_window <= COMPACT_WINDOW
                    continue
                raise unsupported_error(exc, self) from exc
            if step.usage is None and self.stream:  # e.g. llama-cpp-python: no usage in streams, so stream no more
                log.warning("%s backend: the server at %s reports no token usage while streaming; answers now "
                            "arrive whole so usage is recorded", self.name, self.conn.where)
                self.caps.refuse("stream", None, "no token usage in streamed answers")
            self.caps.usage_reported = step.usage is not None or self.caps.usage_reported
            return step

    def _attempt(self, inp: ModelInput) -> ToolCalls | FinalMessage:  # pragma: no cover - abstract
        raise NotImplementedError

    def _refused(self, exc: BaseException) -> str | None:
        """The parameter of the last request that ``exc`` says the server does not accept."""
        status = getattr(exc, "status_code", None) if isinstance(exc, openai.APIStatusError) else None
        return refused_feature(status, server_message(exc), self._sent)

    def _adapt(self, exc: BaseException) -> bool:
        """Drop the parameter a refusal names (see :func:`refused_feature`); False when it names
        nothing qlwork sent."""
        window = context_window_in(server_message(exc)) if isinstance(exc, openai.APIStatusError) else None
        if window and window < self.context_window:  # the server said how small it is: fit the prompt to it
            self.caps.context_window = window
            self.fallbacks.append(f"context_window ({window} tokens, said by the server)")
            log.warning("%s backend: the server at %s has a %d-token context; retrying with a prompt that fits",
                        self.name, self.conn.where, window)
            return True
        feature = self._refused(exc)
        if feature is None:
            return False
        now = self.caps.refuse(feature, getattr(exc, "status_code", None), server_message(exc))
        name = self.caps.refused[-1]["feature"]
        self.fallbacks.append(f"{name} ({now})")
        log.warning("%s backend: the server at %s refused %s; retrying without it (%s)", self.name, self.conn.where,
                    f"response_format {name}" if name in ("json_schema", "json_object") else name, now)
        return True

    def sent(self, params: dict, **features: bool) -> dict:
        """Note which refusable parameters ``params`` carries (for :meth:`_refused`); returns it."""
        keys = ("tools", "stream", "stream_options", "temperature", "top_p", "parallel_tool_calls", "tool_choice")
        self._sent = {k: k in params for k in keys}
        self._sent["max_tokens"] = any(k in params for k in ("max_tokens", "max_output_tokens"))
        self._sent["images"] = self._images_sent
        self._sent.update(features)
        for name in self.caps.dropped:
            params.pop(name, None)
        return params

    def transcript(self, inp: ModelInput):
        from .transcript import CHARS_PER_TOKEN, build_transcript, compact_schema_note, schema_note, tool_protocol_note

        reserve = (self.max_output_tokens or (512 if inp.compact else 4096)) * CHARS_PER_TOKEN
        tools = sum(len(str(t.parameters_schema())) + len(t.description) + 40 for t in inp.tools)
        budget = max(3_000 if inp.compact else 6_000, self.context_window * CHARS_PER_TOKEN - reserve - tools)
        trading = wants_trading_response(inp.assistant)
        in_prompt = trading and (self.schema_in_prompt or self.format_mode != "json_schema")
        notes = [(compact_schema_note() if inp.compact else schema_note()) if in_prompt else None]
        if self._tools and self.caps.tools == "text" and (inp.tools or inp.client_tools):
            notes.append(tool_protocol_note(inp.tools, inp.client_tools))
        note = "\n\n".join(n for n in notes if n) or None
        t = build_transcript(inp, budget, extra_system=note, history=self.history, images=self.vision,
                             compact=inp.compact)
        self._images_sent = any(turn.images for turn in t.turns)
        return t

    def format_for(self, inp: ModelInput) -> str:
        """The answer format to ask for: TradingResponse (``format_mode``) for the trading assistant,
        plain text for any other (see :func:`~qlwork.assistant.response.wants_trading_response`)."""
        return self.format_mode if wants_trading_response(inp.assistant) else "text"

    def given_format(self, inp: ModelInput) -> dict | None:
        """A non-trading assistant's own ``response_format`` (json_schema/json_object; the run's over the
        assistant's), else None."""
        given = inp.options.get("response_format") or getattr(inp.assistant, "response_format", None)
        if wants_trading_response(inp.assistant) or not isinstance(given, dict) or given.get("type") == "text":
            return None
        if given.get("type") == "json_schema" and self.format_mode != "json_schema":
            return {"type": "json_object"} if self.format_mode == "json_object" else None
        return given if self.format_mode != "text" else None

    def sampling(self, inp: ModelInput, max_key: str) -> dict:
        """temperature, top_p and the answer's token cap: the run's controls over the backend's settings."""
        out: dict[str, Any] = {}
        temperature = inp.options.get("temperature", self.temperature)
        if temperature is not None:
            out["temperature"] = temperature
        if inp.options.get("top_p") is not None:
            out["top_p"] = inp.options["top_p"]
        caps = [c for c in (self.max_output_tokens, inp.options.get("max_tokens")) if c]
        if caps:
            out[max_key] = min(caps)
        return out

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


def unsupported_error(exc: BaseException, backend: SDKBackend) -> Exception:
    """The BackendError for a failed request; after fallbacks it also says what the server refused."""
    error = backend_error(exc, backend.conn)
    if not backend.caps.refused or "unsupported" in error.details:
        return error
    refused = list(dict.fromkeys(r["feature"] for r in backend.caps.refused))
    return BackendError(f"{error.message} The server had already refused: {', '.join(refused)}.", fix=error.fix,
                        **{**error.details, "unsupported": refused})
