"""One request-body limit for every route, enforced before the body is read.

ASGI middleware: a request whose ``Content-Length`` is over the route's limit answers 413 at once,
without reading a byte of the body; a chunked body (no Content-Length) is counted as it arrives and
refused as soon as it passes the limit, so the server never buffers more than the limit. The limit is
``QLWORK_MAX_BODY_BYTES`` (default 4 MB) for JSON routes and the file limit (``QLWORK_MAX_FILE_BYTES``
plus multipart overhead) for ``POST /v1/files``. The 413 names the limit and the setting.
"""

from __future__ import annotations

import os
from typing import Any

from .common import JSON
from .errors import APIError

DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


def max_body_bytes() -> int:
    """``QLWORK_MAX_BODY_BYTES`` (default 4 MB): the largest JSON request body accepted."""
    raw = os.environ.get("QLWORK_MAX_BODY_BYTES", "").strip()
    try:
        value = int(raw) if raw else DEFAULT_MAX_BODY_BYTES
    except ValueError:
        value = DEFAULT_MAX_BODY_BYTES
    return value if value > 0 else DEFAULT_MAX_BODY_BYTES


def route_limit(method: str, path: str) -> tuple[int, APIError]:
    """The body limit of a request and the 413 answered over it."""
    if method == "POST" and path.rstrip("/") == "/v1/files":
        from .files import UPLOAD_MARGIN, upload_limit

        limit = upload_limit()
        return limit, APIError(413, f"The upload is larger than the limit of {limit - UPLOAD_MARGIN:,} bytes per "
                                    "file (QLWORK_MAX_FILE_BYTES).", code="file_too_large", param="file")
    limit = max_body_bytes()
    return limit, APIError(413, f"The request body is larger than the limit of {limit:,} bytes "
                                "(QLWORK_MAX_BODY_BYTES).", code="request_too_large", param="body")


class BodySizeLimit:
    """ASGI middleware enforcing :func:`route_limit` on every HTTP request (see the module docstring)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        limit, error = route_limit(scope["method"], scope["path"])
        length = dict(scope.get("headers") or []).get(b"content-length")
        try:
            too_big = length is not None and int(length) > limit
        except ValueError:
            too_big = False
        if too_big:
            return await _refuse(scope, receive, send, error)
        seen, refused = 0, False

        async def counting_receive() -> dict:
            nonlocal seen, refused
            if refused:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:  # a chunked body past the limit: answer now, end the app's reading
                    refused = True
                    await _refuse(scope, receive, send, error)
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: dict) -> None:
            if not refused:
                await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except Exception:
            if not refused:
                raise


async def _refuse(scope: dict, receive: Any, send: Any, error: APIError) -> None:
    await JSON(error.body(), status_code=413, headers={"connection": "close"})(scope, receive, send)
