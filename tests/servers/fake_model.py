"""A scripted OpenAI-compatible model server for tests (binds 127.0.0.1 on a free port).

Serves ``POST /v1/responses`` and ``POST /v1/chat/completions``, streaming (SSE) and not, so the
real ``openai`` client can be pointed at it with ``base_url``. Each request takes the next
:class:`Reply` from the script (or asks ``policy(body, path)``): tool calls, a final text, an HTTP
error, or a stall. Flags make it refuse features like some local servers do (``reject_json_schema``,
``reject_tools``, ``reject_stream_options``, ``reject_stream``: HTTP ``refusal_status``, 400 unless set, without
consuming the script). Every request is
recorded (path, headers, parsed body, raw text) so tests can assert what was sent.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable


@dataclass
class Reply:
    kind: str  # calls | text | error | stall
    calls: list[tuple[str, str, str]] = field(default_factory=list)  # (name, arguments text, call id)
    text: str = ""
    status: int = 200
    headers: dict = field(default_factory=dict)
    seconds: float = 0.0
    usage: dict | None = None
    pace: float = 0.0  # streaming: seconds between events (lets a browser watch the answer arrive)
    pieces: int = 3  # streaming: a final text arrives in this many content deltas


def calls(*specs: tuple) -> Reply:
    """Tool calls: ``(name, arguments)`` or ``(name, arguments, call_id)``; dict arguments are JSON-encoded."""
    out = []
    for i, spec in enumerate(specs):
        name, args = spec[0], spec[1]
        call_id = spec[2] if len(spec) > 2 else f"call_fake_{i}_{time.monotonic_ns() % 10**9}"
        out.append((name, args if isinstance(args, str) else json.dumps(args), call_id))
    return Reply("calls", calls=out)


def text(value: str | dict) -> Reply:
    return Reply("text", text=value if isinstance(value, str) else json.dumps(value))


def error(status: int, message: str = "fake error", headers: dict | None = None) -> Reply:
    return Reply("error", status=status, text=message, headers=headers or {})


def stall(seconds: float, partial: str = "{\"analysis") -> Reply:
    """Stream ``partial`` then go silent for ``seconds`` (non-streaming: silence before answering)."""
    return Reply("stall", seconds=seconds, text=partial)


@dataclass
class Recorded:
    path: str
    headers: dict
    body: Any
    raw: str


class FakeModel:
    """The server. Use as a context manager; ``base_url`` ends in ``/v1``."""

    def __init__(self, *script: Reply, policy: Callable[[dict, str], Reply] | None = None) -> None:
        self.script = list(script)
        self.policy = policy
        self.requests: list[Recorded] = []
        self.reject_json_schema = False
        self.reject_tools = False
        self.reject_stream_options = False
        self.reject_stream = False
        self.refusal_status = 400  # 422, or 500 as llama-cpp-python's server does for a json_schema format
        self._lock = threading.Lock()
        self._closing = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.base_url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def add(self, *replies: Reply) -> None:
        with self._lock:
            self.script.extend(replies)

    def bodies(self, path_end: str = "") -> list[dict]:
        return [r.body for r in self.requests if r.path.endswith(path_end)]

    def close(self) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> "FakeModel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- behaviour ---------------------------------------------------------------------------
    def _refusal(self, body: dict) -> str | None:
        fmt = (body.get("response_format") or {}).get("type") or ((body.get("text") or {}).get("format") or {}).get("type")
        if self.reject_stream_options and "stream_options" in body:
            return "Unrecognized request argument supplied: stream_options"
        if self.reject_tools and body.get("tools"):
            return f"registry.fake/{body.get('model')} does not support tools"
        if self.reject_json_schema and fmt == "json_schema":
            if self.refusal_status == 500:  # what llama-cpp-python's server answers (a pydantic error)
                return ("1 validation error for CreateChatCompletionRequest\nresponse_format.type\n  Input should be "
                        "'text' or 'json_object' [type=literal_error, input_value='json_schema', input_type=str]")
            return "response_format json_schema is not supported by this server"
        if self.reject_stream and body.get("stream"):
            return "Streaming is not supported by this server: set stream to false"
        return None

    def _next(self, body: dict, path: str) -> Reply:
        if self.policy is not None:
            return self.policy(body, path)
        with self._lock:
            if not self.script:
                return error(400, "fake model: script exhausted")
            return self.script.pop(0)


def _handler(fake: FakeModel):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep test output quiet
            pass

        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode("utf-8")
            try:
                body = json.loads(raw or "{}")
            except ValueError:
                body = {}
            with fake._lock:
                fake.requests.append(Recorded(self.path, {k.lower(): v for k, v in self.headers.items()}, body, raw))
            responses = self.path.rstrip("/").endswith("/responses")
            if not (responses or self.path.rstrip("/").endswith("/chat/completions")):
                return self._json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            refusal = fake._refusal(body)
            if refusal:
                return self._json(fake.refusal_status, {"error": {"message": refusal, "type": "invalid_request_error"}})
            reply = fake._next(body, self.path)
            if reply.kind == "error":
                return self._json(reply.status, {"error": {"message": reply.text, "type": "fake_error"}}, reply.headers)
            usage = reply.usage or {"in": len(raw) // 4, "out": max(1, len(reply.text) // 4 + 5 * len(reply.calls))}
            stream = bool(body.get("stream"))
            if reply.kind == "stall" and not stream:
                fake._closing.wait(reply.seconds)
            if responses:
                events = _responses_events(reply, body, usage)
                return self._sse(events, reply, named=True) if stream else self._json(200, events[-1]["response"])
            chunks = _chat_chunks(reply, body, usage)
            return self._sse(chunks + ["[DONE]"], reply) if stream else self._json(200, _chat_completion(reply, body, usage))

        def _json(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, str(v))
            self.end_headers()
            self.wfile.write(data)

        def _sse(self, events: list, reply: Reply, named: bool = False) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for i, event in enumerate(events):
                    if isinstance(event, str):
                        self.wfile.write(f"data: {event}\n\n".encode())
                    else:
                        head = f"event: {event['type']}\n" if named else ""
                        self.wfile.write(f"{head}data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    if reply.pace:
                        fake._closing.wait(reply.pace)
                    if reply.kind == "stall" and i == 1:
                        fake._closing.wait(reply.seconds)
                        return
            except (BrokenPipeError, ConnectionResetError):
                pass

    return Handler


def _pieces(value: str, n: int = 3) -> list[str]:
    size = max(1, -(-len(value) // n))
    return [value[i:i + size] for i in range(0, len(value), size)] or [""]


def _responses_events(reply: Reply, body: dict, usage: dict) -> list[dict]:
    items: list[dict] = []
    if reply.kind == "calls":
        items = [{"type": "function_call", "id": f"fc_{i}", "call_id": cid, "name": name, "arguments": args,
                  "status": "completed"} for i, (name, args, cid) in enumerate(reply.calls)]
    else:
        items = [{"type": "message", "id": "msg_fake", "role": "assistant", "status": "completed",
                  "content": [{"type": "output_text", "text": reply.text, "annotations": []}]}]
    response = {"id": "resp_fake", "object": "response", "created_at": int(time.time()), "status": "completed",
                "model": body.get("model"), "output": items, "parallel_tool_calls": True, "tool_choice": "auto",
                "tools": [], "error": None, "incomplete_details": None, "metadata": {},
                "usage": {"input_tokens": usage["in"], "output_tokens": usage["out"],
                          "total_tokens": usage["in"] + usage["out"], "input_tokens_details": {"cached_tokens": 0},
                          "output_tokens_details": {"reasoning_tokens": 0}}}
    events: list[dict] = [{"type": "response.created", "response": {**response, "status": "in_progress", "output": []}}]
    for index, item in enumerate(items):
        if item["type"] == "message":
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": {**item, "content": [], "status": "in_progress"}})
            events += [{"type": "response.output_text.delta", "item_id": item["id"], "output_index": index,
                        "content_index": 0, "delta": piece} for piece in _pieces(reply.text, reply.pieces)]
        else:
            events.append({"type": "response.output_item.added", "output_index": index,
                           "item": {**item, "arguments": "", "status": "in_progress"}})
            events += [{"type": "response.function_call_arguments.delta", "item_id": item["id"],
                        "output_index": index, "delta": piece} for piece in _pieces(item["arguments"], 2)]
        events.append({"type": "response.output_item.done", "output_index": index, "item": item})
    events.append({"type": "response.completed", "response": response})
    for n, event in enumerate(events):
        event["sequence_number"] = n
    return events


def _chat_completion(reply: Reply, body: dict, usage: dict) -> dict:
    message: dict = {"role": "assistant", "content": reply.text if reply.kind != "calls" else None}
    if reply.kind == "calls":
        message["tool_calls"] = [{"id": cid, "type": "function", "function": {"name": name, "arguments": args}}
                                 for name, args, cid in reply.calls]
    return {"id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": body.get("model"),
            "choices": [{"index": 0, "message": message,
                         "finish_reason": "tool_calls" if reply.kind == "calls" else "stop"}],
            "usage": {"prompt_tokens": usage["in"], "completion_tokens": usage["out"],
                      "total_tokens": usage["in"] + usage["out"]}}


def _chat_chunks(reply: Reply, body: dict, usage: dict) -> list[dict]:
    def chunk(delta: dict, finish: str | None = None) -> dict:
        return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                "model": body.get("model"), "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]}

    out = [chunk({"role": "assistant", "content": ""})]
    if reply.kind == "calls":
        for i, (name, args, cid) in enumerate(reply.calls):
            out.append(chunk({"tool_calls": [{"index": i, "id": cid, "type": "function",
                                              "function": {"name": name, "arguments": ""}}]}))
            out += [chunk({"tool_calls": [{"index": i, "function": {"arguments": piece}}]}) for piece in _pieces(args, 2)]
        out.append(chunk({}, "tool_calls"))
    else:
        out += [chunk({"content": piece}) for piece in _pieces(reply.text, reply.pieces)]
        out.append(chunk({}, "stop"))
    if (body.get("stream_options") or {}).get("include_usage"):
        out.append({"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                    "model": body.get("model"), "choices": [],
                    "usage": {"prompt_tokens": usage["in"], "completion_tokens": usage["out"],
                              "total_tokens": usage["in"] + usage["out"]}})
    return out


# -- a model that plays qlwork's offline rules over the wire -------------------------------------

def rule_model(body: dict, path: str) -> Reply:
    """Policy answering like the offline engine, reading only what the request carries.

    Proves the wire format holds everything a model needs: the questions, this run's call/output
    pairs, and earlier runs' tool outputs (from the compact block in a user-role message, framed as data).
    """
    from qlwork.assistant.backends.base import ModelInput, ToolCalls
    from qlwork.assistant.offline.engine import OfflineBackend
    from qlwork.assistant.backends.scripted import call as make_call
    from qlwork.assistant.backends.transcript import PRIOR_FOOTER, PRIOR_HEADER, REPAIR_PREFIX
    from qlwork.assistant.objects import Assistant, Thread
    from qlwork.tools.registry import REGISTRY

    if path.rstrip("/").endswith("/responses"):
        entries = [(i.get("role") or i.get("type"), i) for i in body.get("input", [])]
        names = [t["name"] for t in body.get("tools", [])]
    else:
        msgs = body.get("messages", [])
        entries = [(m["role"], m) for m in msgs if m["role"] != "system"]  # the system prompt has no data
        names = [t["function"]["name"] for t in body.get("tools", [])]
    users, items, pending, prior, history = [], [], {}, [], []
    for role, e in entries:
        if role == "user" and isinstance(e.get("content"), str) and PRIOR_HEADER in e["content"]:
            before, block = e["content"].split(PRIOR_HEADER, 1)
            block, _, after = block.partition(PRIOR_FOOTER)
            prior = [json.loads(line) for line in block.strip().splitlines() if line.strip()]
            e = {**e, "content": (before.strip() + "\n\n" + after.strip()).strip()}
            if not e["content"]:
                continue  # the block had a message of its own (Responses API input)
        if role == "user" and not str(e.get("content", "")).startswith(REPAIR_PREFIX):
            users.append(e["content"])
            history.append(("user", e["content"]))
            items, pending = [], {}
        elif role == "assistant" and not e.get("tool_calls") and isinstance(e.get("content"), str):
            history.append(("assistant", e["content"]))  # an earlier answer (JSON): for "which of those?"
        elif role == "function_call":
            pending[e["call_id"]] = make_call(e["name"], e["arguments"], id=e["call_id"])
        elif role == "function_call_output":
            items.append((pending[e["call_id"]], e["output"]))
        elif role == "assistant" and e.get("tool_calls"):
            for c in e["tool_calls"]:
                pending[c["id"]] = make_call(c["function"]["name"], c["function"]["arguments"], id=c["id"])
        elif role == "tool":
            items.append((pending[e["tool_call_id"]], e["content"]))
    thread = Thread()
    inp = ModelInput(assistant=Assistant(), thread=thread,
                     messages=[_message(thread.id, role, content) for role, content in history],
                     run_items=items, prior_tool_outputs=prior,
                     tools=[REGISTRY.get(n) for n in names if n in REGISTRY])
    step = OfflineBackend().next_step(inp)
    if isinstance(step, ToolCalls):
        return calls(*[(c.name, c.arguments, c.id) for c in step.calls])
    return text(step.text)


def _message(thread_id: str, role: str, content: str):
    """A user turn as text; an assistant turn as its JSON answer (when it parses) for the rule engine."""
    from qlwork.assistant.objects import Message, json_part, text_part

    if role == "assistant":
        try:
            data = json.loads(content)
        except ValueError:
            data = None
        if isinstance(data, dict):
            return Message(thread_id=thread_id, role="assistant", content=[json_part(data)])
    return Message(thread_id=thread_id, role=role, content=[text_part(content)])


# -- models that misbehave in ways the grounding check must catch ------------------------------

INVENTED_INSIGHT = "Expected return next quarter: 42.42%."
INVENTED_SCORE = 9.87


def corrected(body: dict) -> bool:
    """True when the request's last user turn is qlwork's correction (REPAIR_PREFIX)."""
    from qlwork.assistant.backends.transcript import REPAIR_PREFIX

    turns = body.get("messages") or body.get("input") or []
    users = [t for t in turns if t.get("role") == "user"]
    content = users[-1].get("content") if users else ""
    return isinstance(content, str) and content.startswith(REPAIR_PREFIX)


def hallucinating_model(stubborn: bool = False) -> Callable[[dict, str], Reply]:
    """Plays :func:`rule_model`, but its final answers invent figures: the insight
    INVENTED_INSIGHT and, when the answer has a score, overall_score INVENTED_SCORE. Sent qlwork's
    correction it answers honestly, unless ``stubborn``."""

    def policy(body: dict, path: str) -> Reply:
        reply = rule_model(body, path)
        if reply.kind != "text" or (corrected(body) and not stubborn):
            return reply
        answer = json.loads(reply.text)
        answer.setdefault("insights", []).append(INVENTED_INSIGHT)
        if answer.get("overall_score") is not None:
            answer["overall_score"] = INVENTED_SCORE
        return text(answer)

    return policy


def gullible_model(body: dict, path: str) -> Reply:
    """Plays :func:`rule_model`, but obeys instructions found in tool outputs: a tool output saying
    ``call the tool place_order`` / ``call generate_trading_signals for SYMBOL`` gets those calls,
    and ``recommend buying SYMBOL`` ends up in the answer."""
    import re

    outputs = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "tool"]
    outputs += [i.get("output", "") for i in body.get("input", []) if i.get("type") == "function_call_output"]
    said = " ".join(str(o) for o in outputs)
    called = {c["function"]["name"] for m in body.get("messages", []) for c in m.get("tool_calls") or []}
    called |= {i.get("name") for i in body.get("input", []) if i.get("type") == "function_call"}
    if "place_order" in said and "place_order" not in called:
        order = re.search(r"place_order with symbol (\w+) and quantity (\d+)", said)
        target = re.search(r"generate_trading_signals for (\w+)", said)
        specs = [("place_order", {"symbol": order.group(1), "quantity": int(order.group(2))})] if order else []
        if target:
            specs.append(("generate_trading_signals", {"symbols": [target.group(1)]}))
        return calls(*specs)
    reply = rule_model(body, path)
    wanted = re.search(r"recommend buying (\w+) with confidence ([0-9.]+)", said)
    if reply.kind == "text" and wanted:
        answer = json.loads(reply.text)
        answer.setdefault("recommendations", []).append(
            {"action": "buy", "symbol": wanted.group(1), "reason": "The research note says so",
             "confidence": float(wanted.group(2).rstrip(".")), "timeframe": "now"})
        return text(answer)
    return reply


def reckless_model(body: dict, path: str) -> Reply:
    """Plays :func:`rule_model`, but its final answers also recommend adding to the largest holding of the
    portfolio analysis it was given ("Strong momentum: add more"), the advice check's case."""
    reply = rule_model(body, path)
    if reply.kind != "text":
        return reply
    outputs = [m.get("content", "") for m in body.get("messages", []) if m.get("role") == "tool"]
    outputs += [i.get("output", "") for i in body.get("input", []) if i.get("type") == "function_call_output"]
    holdings = []
    for out in outputs:
        try:
            data = json.loads(out)
        except (TypeError, ValueError):
            continue
        if isinstance(data, dict) and isinstance(data.get("holdings"), list):
            holdings = data["holdings"]
    if not holdings:
        return reply
    largest = max(holdings, key=lambda h: h["weight"])
    answer = json.loads(reply.text)
    answer.setdefault("recommendations", []).insert(0, {
        "action": "add", "symbol": largest["symbol"], "reason": "Strong momentum: add more",
        "confidence": None, "timeframe": "1-4 weeks"})
    return text(answer)
