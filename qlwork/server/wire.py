"""qlwork objects -> Assistants v2 JSON (what the openai SDK parses), and message input -> parts.

The one real translation is message content: qlwork stores an assistant answer as a ``json`` part
(the TradingResponse) plus a rendered ``text`` part. On the wire the answer is a single text part
whose value is the TradingResponse JSON, so ``json.loads(msg.content[0].text.value)`` works; the
rendered text is left out (it is derived from the JSON).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

from ..assistant import model_turns, run_controls
from ..assistant.objects import Assistant, Message, Run, RunStep, Thread
from .errors import APIError

BUILTIN_CALLS = ("code_interpreter", "file_search")
TOOL_RESOURCES = "_qlwork_tool_resources"  # metadata key holding the object's tool_resources

# qlwork's run error codes -> the Assistants last_error codes (the qlwork code stays in the message)
RUN_ERROR_CODES = {"rate_limit": "rate_limit_exceeded", "rate_limit_exceeded": "rate_limit_exceeded",
                   "invalid_prompt": "invalid_prompt"}


def text(value: str) -> dict:
    return {"type": "text", "text": {"value": value, "annotations": []}}


def assistant_out(a: Assistant) -> dict:
    return {"id": a.id, "object": "assistant", "created_at": a.created_at, "name": a.name,
            "description": a.description, "model": a.model, "instructions": a.instructions,
            "tools": [tool_out(t) for t in a.tools], "tool_resources": tool_resources(a.metadata),
            "metadata": public_metadata(a.metadata), "temperature": None, "top_p": None,
            "response_format": _response_format(a.response_format), "backend": a.backend}


def _response_format(value: Any) -> Any:
    if isinstance(value, dict) and value.get("type") in ("text", "json_object", "json_schema"):
        return value if value.get("type") != "json_schema" or "json_schema" in value else "auto"
    return "auto"


def tool_out(t: dict) -> dict:
    if t.get("type") == "function":
        fn = t.get("function") or {}
        out = {"name": fn.get("name"), "strict": fn.get("strict")}
        out.update({k: fn[k] for k in ("description", "parameters") if fn.get(k) is not None})
        return {"type": "function", "function": out}
    return {k: v for k, v in t.items() if not str(k).startswith("_qlwork")}


def public_metadata(meta: dict) -> dict:
    """Metadata as the client set it (qlwork-internal keys start with ``_qlwork``)."""
    return {k: v for k, v in (meta or {}).items() if not str(k).startswith("_qlwork")}


def tool_resources(meta: dict) -> dict:
    value = (meta or {}).get(TOOL_RESOURCES)
    return value if isinstance(value, dict) else {}


def thread_out(t: Thread) -> dict:
    return {"id": t.id, "object": "thread", "created_at": t.created_at, "metadata": public_metadata(t.metadata),
            "tool_resources": tool_resources(t.metadata)}


def content_out(m: Message) -> list[dict]:
    parts = [p.model_dump() for p in m.content]
    has_json = any(p["type"] == "json" for p in parts)
    out = []
    for p in parts:
        if p["type"] == "json":
            out.append(text(json.dumps(p["json"], ensure_ascii=False)))
        elif p["type"] == "text" and not (has_json and m.role == "assistant"):
            out.append({"type": "text", "text": {"value": p["text"]["value"],
                                                 "annotations": p["text"].get("annotations") or []}})
        elif p["type"] == "image_file":
            ref = {k: v for k, v in p["image_file"].items() if v is not None}
            out.append({"type": "image_file", "image_file": ref})
    return out


def message_out(m: Message) -> dict:
    return {"id": m.id, "object": "thread.message", "created_at": m.created_at, "thread_id": m.thread_id,
            "role": m.role, "status": "completed", "completed_at": m.created_at, "incomplete_at": None,
            "incomplete_details": None, "content": content_out(m),
            "attachments": [{"file_id": a.file_id, "tools": a.tools} for a in m.attachments],
            "assistant_id": m.assistant_id, "run_id": m.run_id, "metadata": public_metadata(m.metadata)}


def content_in(content: str | list) -> list[dict]:
    """API message content (a string or input parts) -> stored content parts."""
    if isinstance(content, str):
        return [text(content)]
    parts = []
    for part in content:
        if part.type == "text":
            parts.append(text(part.text))
        elif part.type == "image_file":
            parts.append({"type": "image_file", "image_file": part.image_file.model_dump(exclude_none=True)})
        else:
            raise APIError(400, "image_url content is not supported by qlwork; upload the image with "
                           "files.create(purpose='vision') and send an image_file part.",
                           code="unsupported_content", param="content")
    return parts


def run_error(run: Run) -> dict | None:
    err = run.last_error
    if err is None:
        return None
    return {"code": RUN_ERROR_CODES.get(err.code, "server_error"), "message": f"[{err.code}] {err.message}"}


RUN_OPTIONS = run_controls.RUN_OPTIONS  # run metadata key: the options as the client sent them (applied there)
RUN_OPTION_DEFAULTS = {"temperature": None, "top_p": None, "max_prompt_tokens": None, "max_completion_tokens": None,
                       "truncation_strategy": {"type": "auto", "last_messages": None}, "response_format": "auto",
                       "tool_choice": "auto", "parallel_tool_calls": True}


def run_out(r: Run) -> dict:
    terminal = r.status in ("completed", "failed", "cancelled", "incomplete", "expired")
    sent = (r.metadata or {}).get(RUN_OPTIONS)
    options = {**RUN_OPTION_DEFAULTS, **(sent if isinstance(sent, dict) else {})}
    return {"id": r.id, "object": "thread.run", "created_at": r.created_at, "thread_id": r.thread_id,
            "assistant_id": r.assistant_id, "status": r.status, "required_action": r.required_action,
            "last_error": run_error(r), "expires_at": None, "started_at": r.started_at,
            "cancelled_at": r.cancelled_at, "failed_at": r.failed_at, "completed_at": r.completed_at,
            "incomplete_details": r.incomplete_details, "model": r.model or "", "instructions": r.instructions or "",
            "tools": [tool_out(t) for t in r.tools], "metadata": public_metadata(r.metadata),
            "usage": r.usage.model_dump() if (r.usage and terminal) else None, **options,
            "backend": r.backend, "max_turns": r.max_turns}


FILE_SEARCH_CONTENT = "step_details.tool_calls[*].file_search.results[*].content"


def file_search_results(raw: str | None, with_content: bool) -> list[dict]:
    """A file_search tool output -> the Assistants ``results`` (scores scaled to 0-1; the passages'
    text only when asked for with ``include[]=`` :data:`FILE_SEARCH_CONTENT`)."""
    try:
        out = json.loads(raw or "")
    except (TypeError, ValueError):
        return []
    hits = [h for h in (out.get("results") if isinstance(out, dict) else None) or [] if isinstance(h, dict)]
    results = []
    for h, score in zip(hits, unit_scores([float(h.get("score") or 0) for h in hits])):
        item = {"file_id": str(h.get("file_id", "")), "file_name": str(h.get("filename", "")), "score": score}
        if with_content:
            item["content"] = [{"type": "text", "text": str(h.get("text") or h.get("quote") or "")}]
        results.append(item)
    return results


def unit_scores(scores: list[float]) -> list[float]:
    """Relevance scores scaled into [0, 1] (the best hit 1.0), as the API's schemas require."""
    top = max(scores, default=0.0)
    return [round(max(s, 0.0) / top, 4) if top > 0 else 0.0 for s in scores]


def _call_out(call: dict, with_content: bool = False) -> dict:
    fn = call.get("function") or {}
    name = fn.get("name")
    if name == "code_interpreter":
        try:
            code = (json.loads(fn.get("arguments") or "{}") or {}).get("code", "")
        except (ValueError, AttributeError):
            code = fn.get("arguments") or ""
        return {"id": call["id"], "type": "code_interpreter",
                "code_interpreter": {"input": code, "outputs": interpreter_outputs(fn.get("output"))}}
    if name == "file_search":
        return {"id": call["id"], "type": "file_search",
                "file_search": {"ranking_options": {"ranker": "auto", "score_threshold": 0.0},
                                "results": file_search_results(fn.get("output"), with_content)}}
    return {"id": call["id"], "type": "function",
            "function": {"name": name, "arguments": fn.get("arguments"), "output": fn.get("output")}}


def interpreter_outputs(raw: str | None) -> list[dict]:
    """A code_interpreter tool output -> Assistants outputs: one ``logs`` entry (printed text, the
    last value, the error) and an ``image`` entry per figure, by file id."""
    if raw is None:
        return []
    try:
        out = json.loads(raw)
    except (TypeError, ValueError):
        out = None
    if not isinstance(out, dict) or "stdout" not in out:  # an error from the tool, or foreign text
        return [{"type": "logs", "logs": raw}]
    exception = (out.get("exception") or {}).get("traceback")
    parts = [out.get("stdout"), out.get("stderr"), out.get("result"), exception, *(out.get("notes") or [])]
    logs = "\n".join(p.rstrip("\n") for p in parts if p)
    images = [{"type": "image", "image": {"file_id": i["file_id"]}} for i in out.get("images") or [] if i.get("file_id")]
    return ([{"type": "logs", "logs": logs}] if logs else []) + images


def step_out(s: RunStep, include: list[str] | None = None) -> dict:
    """A run step; ``include`` (the ``include[]`` query) may ask for file_search result content."""
    details = s.step_details.model_dump()
    if details["type"] == "tool_calls":
        with_content = FILE_SEARCH_CONTENT in (include or [])
        details = {"type": "tool_calls", "tool_calls": [_call_out(c, with_content) for c in details["tool_calls"]]}
    return {"id": s.id, "object": "thread.run.step", "created_at": s.created_at, "run_id": s.run_id,
            "thread_id": s.thread_id, "assistant_id": s.assistant_id, "type": s.type, "status": s.status,
            "step_details": details, "last_error": s.last_error.model_dump() if s.last_error else None,
            "expired_at": None, "cancelled_at": s.cancelled_at, "completed_at": s.completed_at,
            "failed_at": s.failed_at, "metadata": model_turns.public(s.metadata),
            "usage": s.usage.model_dump() if s.usage else None}


def page(items: Iterable[dict], has_more: bool) -> dict:
    data = list(items)
    return {"object": "list", "data": data, "first_id": data[0]["id"] if data else "",
            "last_id": data[-1]["id"] if data else "", "has_more": has_more}


def deleted(kind: str, id_: str) -> dict:
    return {"id": id_, "object": f"{kind}.deleted", "deleted": True}
