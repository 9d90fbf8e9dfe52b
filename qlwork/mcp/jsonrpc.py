"""JSON-RPC 2.0 envelope errors answered as the specification says, on both transports.

The SDK answers a message that is JSON but not a JSON-RPC 2.0 message (no ``method``, ``jsonrpc: "1.0"``)
with -32602 over HTTP and not at all over stdio. Here such a message gets -32600 "Invalid Request"
(-32700 for text that is not JSON), with the request's ``id`` when it has a usable one, else null.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.message import SessionMessage

PARSE_ERROR = -32700
INVALID_REQUEST = -32600


def envelope_problem(message: Any) -> str | None:
    """What makes ``message`` (parsed JSON) not a JSON-RPC 2.0 request, notification or response, or None."""
    if not isinstance(message, dict):
        return "a JSON-RPC message is a JSON object"
    if message.get("jsonrpc") != "2.0":
        return f'"jsonrpc" must be "2.0", got {json.dumps(message.get("jsonrpc"))}'
    if "method" in message:
        if not isinstance(message["method"], str) or not message["method"]:
            return '"method" must be a non-empty string'
        if "id" in message and not _usable_id(message["id"]):
            return '"id" must be a string or an integer'
        return None
    if "result" in message or "error" in message:
        return None
    return 'the message has no "method" (a request) and no "result" or "error" (a response)'


def _usable_id(value: Any) -> bool:
    return isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool))


def error_body(code: int, text: str, request_id: Any = None) -> dict:
    return {"jsonrpc": "2.0", "id": request_id if _usable_id(request_id) else None,
            "error": {"code": code, "message": text}}


def check_raw(body: bytes) -> dict | None:
    """The error reply for an HTTP body that is not one JSON-RPC 2.0 message, else None (the SDK serves it)."""
    try:
        message = json.loads(body)
    except ValueError as exc:
        return error_body(PARSE_ERROR, f"Parse error: the body is not JSON ({exc.msg}).")
    if isinstance(message, list):
        return None  # the SDK answers batches itself
    problem = envelope_problem(message)
    if problem is None:
        return None
    request_id = message.get("id") if isinstance(message, dict) else None
    return error_body(INVALID_REQUEST, f"Invalid Request: {problem}.", request_id)


class InvalidRequestMiddleware:
    """ASGI middleware in front of the streamable-HTTP app: a POST whose body is not a JSON-RPC 2.0
    message gets HTTP 400 with a -32600 (or -32700) error; everything else passes unchanged."""

    def __init__(self, app) -> None:
        self.app = app

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST":
            return await self.app(scope, receive, send)
        chunks, more = [], True
        while more:
            event = await receive()
            if event["type"] == "http.disconnect":
                return None
            chunks.append(event.get("body", b""))
            more = event.get("more_body", False)
        body = b"".join(chunks)
        reply = check_raw(body)
        if reply is not None:
            data = json.dumps(reply).encode()
            await send({"type": "http.response.start", "status": 400,
                        "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]})
            return await send({"type": "http.response.body", "body": data})
        replayed = False

        async def replay():
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return await self.app(scope, replay, send)

    def __getattr__(self, name: str):  # the SDK app's attributes (routes, state, ...) stay reachable
        return getattr(self.app, name)


def _stdio_reply(exc: Exception) -> types.JSONRPCError:
    """The error reply for a stdio line the SDK could not read (it hands over the exception only)."""
    errors = exc.errors() if hasattr(exc, "errors") else []
    if any(e.get("type") == "json_invalid" for e in errors):
        return types.JSONRPCError(jsonrpc="2.0", id=None, error=types.ErrorData(
            code=PARSE_ERROR, message="Parse error: the line is not JSON."))
    message = next((e.get("input") for e in errors if isinstance(e.get("input"), dict)), None)
    problem = envelope_problem(message) if message is not None else None
    request_id = message.get("id") if isinstance(message, dict) else None
    return types.JSONRPCError(jsonrpc="2.0", id=request_id if _usable_id(request_id) else None,
                              error=types.ErrorData(code=INVALID_REQUEST, message=f"Invalid Request: "
                                                    f"{problem or 'not a JSON-RPC 2.0 message'}."))


async def answer_invalid(read_stream, write_stream, forward) -> None:
    """Pass what ``read_stream`` (the SDK's stdio reader) yields to ``forward``; a line it could not read
    arrives as an exception and is answered on ``write_stream`` with the JSON-RPC error."""
    async with forward:
        async for item in read_stream:
            if isinstance(item, Exception):
                await write_stream.send(SessionMessage(_stdio_reply(item)))
                continue
            await forward.send(item)


def interposed_streams():
    """A plain memory stream pair (duck-compatible with the SDK's context streams)."""
    return anyio.create_memory_object_stream(0)
