"""``openai`` backend: the OpenAI Responses API through the official SDK.

Each turn sends the whole (budgeted) context statelessly (``store=False``): instructions, the
thread's messages as input items (PNG/JPEG files of user messages as ``input_image`` data URLs),
this run's ``function_call`` / ``function_call_output`` items paired by ``call_id``, the registry's
function tools in strict form (parallel calls allowed) and ``text.format`` = strict JSON schema of
TradingResponse. Streamed text deltas go to ``on_delta``; token usage is returned with every step
and summed on the run by the runner.
"""

from __future__ import annotations

import json
from typing import Any

from ..response import response_json_schema
from .base import FinalMessage, ModelInput, ToolCallRequest, ToolCalls
from .openai_base import StopCheck, StreamInterrupted
from .sdk_backend import SDKBackend, usage_dict
from ...errors import BackendError, ModelBehaviorError


def _input_message(turn) -> dict:
    """A transcript turn as an input message; a user turn with images gets input_text + input_image parts."""
    if not turn.images:
        return {"role": turn.role, "content": turn.text}
    parts: list[dict] = [{"type": "input_text", "text": turn.text}] if turn.text else []
    parts += [{"type": "input_image", "image_url": image["url"], "detail": image.get("detail") or "auto"}
              for image in turn.images]
    return {"role": turn.role, "content": parts}


class OpenAIResponsesBackend(SDKBackend):
    """Responses API backend (``get_backend("openai", model=..., ...)``; options in SDKBackend)."""

    name = "openai"
    default_model = "gpt-4.1-mini"

    def payload(self, inp: ModelInput) -> dict:
        """The ``responses.create`` arguments for this turn."""
        t = self.transcript(inp)
        items: list[dict] = [_input_message(turn) for turn in t.turns]
        for call in t.calls:
            items.append({"type": "function_call", "call_id": call.id, "name": call.name,
                          "arguments": call.arguments})
            items.append({"type": "function_call_output", "call_id": call.id, "output": call.output})
        if t.rejected:
            items.append({"role": "assistant", "content": t.rejected})
        if t.repair:
            items.append({"role": "user", "content": t.repair})
        params: dict[str, Any] = {"model": self.model, "input": items, "store": False}
        if t.system:
            params["instructions"] = t.system
        tools = self.tool_specs(inp)
        if tools:
            params["tools"] = [{"type": "function", **spec} for spec in tools]
            params["parallel_tool_calls"] = True
        mode, given = self.format_for(inp), self.given_format(inp)
        if given is not None:  # a non-trading assistant's run asked for its own format: sent as given
            inner = given.get("json_schema") or {}
            params["text"] = {"format": {"type": "json_schema", **inner} if given["type"] == "json_schema" else given}
        elif mode == "json_schema":
            params["text"] = {"format": {"type": "json_schema", "name": "TradingResponse",
                                         "schema": response_json_schema(strict=True), "strict": True}}
        elif mode == "json_object":
            params["text"] = {"format": {"type": "json_object"}}
        params.update(self.sampling(inp, "max_output_tokens"))
        if tools and inp.options.get("tool_choice") and "tool_choice" not in self.caps.dropped:
            choice = inp.options["tool_choice"]
            params["tool_choice"] = {"type": "function", "name": choice["function"]["name"]} \
                if isinstance(choice, dict) else choice
        return self.sent(params, response_format="text" in params, stream=self.stream)

    def _attempt(self, inp: ModelInput) -> ToolCalls | FinalMessage:
        params = self.payload(inp)
        if not self.stream:
            return self._step(self.client.responses.create(**params))
        check = StopCheck(inp.should_stop)
        final, done_items = None, []
        with self.client.responses.create(**params, stream=True) as events:
            for event in events:
                check()
                kind = getattr(event, "type", "")
                if kind == "response.output_text.delta":
                    self.emit(inp, getattr(event, "delta", "") or "")
                elif kind == "response.output_item.done":
                    done_items.append(event.item)
                elif kind in ("response.completed", "response.incomplete", "response.failed"):
                    final = event.response
                    break
                elif kind == "error":
                    raise BackendError(f"The model server reported an error while streaming: "
                                       f"{getattr(event, 'message', None) or 'no details'}.",
                                       fix="Ask again; if it persists check the model setting.", code="stream_error")
        if final is not None:
            return self._step(final)
        if done_items:
            return self._from_items(done_items, None)
        raise StreamInterrupted("The response stream ended before the model finished.")

    def _step(self, response: Any) -> ToolCalls | FinalMessage:
        if getattr(response, "status", None) == "failed":
            error = getattr(response, "error", None)
            raise BackendError(f"The model failed to answer: {getattr(error, 'message', None) or 'no details'}.",
                               fix="Ask again; if it persists check the model setting.", code="model_failed")
        usage = getattr(response, "usage", None)
        used = usage_dict(getattr(usage, "input_tokens", 0), getattr(usage, "output_tokens", 0),
                          getattr(usage, "total_tokens", 0)) if usage is not None else None
        return self._from_items(getattr(response, "output", None) or [], used)

    def _from_items(self, output: list, usage: dict | None) -> ToolCalls | FinalMessage:
        calls, texts, refusals = [], [], []
        for item in output:
            kind = getattr(item, "type", None)
            if kind == "function_call":
                arguments = item.arguments if isinstance(item.arguments, str) else json.dumps(item.arguments)
                calls.append(ToolCallRequest(item.call_id or getattr(item, "id", "") or "", item.name or "", arguments))
            elif kind == "message":
                for part in getattr(item, "content", None) or []:
                    if getattr(part, "type", None) == "output_text":
                        texts.append(part.text or "")
                    elif getattr(part, "type", None) == "refusal":
                        refusals.append(getattr(part, "refusal", "") or "")
        if calls:
            return ToolCalls(calls, usage=usage)
        if refusals and not any(texts):
            raise ModelBehaviorError(f"The model refused to answer: {' '.join(refusals)[:300]}",
                                     fix="Rephrase the question.", code="refusal")
        return FinalMessage("".join(texts), usage=usage)
