"""Errors in OpenAI's envelope: ``{"error": {"message", "type", "param", "code"}}``.

Statuses: 400 bad input, 401 missing or bad key, 404 unknown id (or another user's), 409 a run
already active on the thread, 413 upload too large, 422 content qlwork cannot use, 429 too many
queued runs, 500 only for qlwork's own bugs (never for bad input).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..errors import BackendError, InputError, QlworkError

log = logging.getLogger("qlwork.server")

TYPES = {400: "invalid_request_error", 401: "invalid_request_error", 403: "permission_denied_error",
         404: "invalid_request_error", 405: "invalid_request_error", 409: "conflict_error",
         413: "invalid_request_error", 422: "invalid_request_error", 429: "rate_limit_error",
         500: "server_error", 503: "server_error"}

STATUS_BY_CODE = {"not_found": 404, "run_active": 409, "file_too_large": 413, "unprocessable": 422,
                  "unsupported_file_type": 422, "unsupported_encoding": 422, "not_searchable": 422,
                  "image_too_large": 422, "file_too_complex": 422, "corrupt_file": 422, "encrypted_file": 422,
                  "shutting_down": 503, "parser_busy": 503,
                  "rate_limit_exceeded": 429}


class APIError(Exception):
    """An error answered to the client as-is."""

    def __init__(self, status: int, message: str, *, code: str | None = None, param: str | None = None,
                 type: str | None = None, headers: dict | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param = status, message, code, param
        self.type = type or TYPES.get(status, "invalid_request_error")
        self.headers = headers

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}


def not_found(kind: str, id_: str, param: str | None = None) -> APIError:
    return APIError(404, f"No {kind} found with id '{id_}'.", code="not_found", param=param)


def from_qlwork(exc: QlworkError, param: str | None = None) -> APIError:
    """Map a library error: InputError by its ``code`` detail, BackendError to 400."""
    code = exc.details.get("code") if isinstance(exc.details.get("code"), str) else None
    status = STATUS_BY_CODE.get(code or "", 400)
    message = exc.message + (f" Fix: {exc.fix}" if exc.fix else "")
    if isinstance(exc, BackendError):
        code = code or "backend_error"
    elif not isinstance(exc, InputError):
        code = code or type(exc).__name__
    return APIError(status, message, code=code, param=param)


def _response(err: APIError) -> JSONResponse:
    return JSONResponse(err.body(), status_code=err.status, headers=err.headers)


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request.", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p not in ("body", "query", "path", "header")]
    param = ".".join(loc) or None
    detail = "; ".join(f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body') or 'body'}: {e.get('msg')}"
                       for e in errors[:5])
    return f"Invalid request: {detail}.", param


def install(app: FastAPI) -> None:
    """Register the handlers that turn every failure into the OpenAI envelope."""

    @app.exception_handler(APIError)
    async def _api(_: Request, exc: APIError) -> JSONResponse:
        return _response(exc)

    @app.exception_handler(QlworkError)
    async def _qlwork(_: Request, exc: QlworkError) -> JSONResponse:
        return _response(from_qlwork(exc))

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = _validation_message(exc)
        return _response(APIError(400, message, code="invalid_request", param=param))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "Request failed."
        if exc.status_code == 404:
            message = "Unknown endpoint. See /openapi.json for the API."
        return _response(APIError(exc.status_code, message, code=None, headers=getattr(exc, "headers", None)))

    @app.exception_handler(Exception)
    async def _bug(_: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error")
        return _response(APIError(500, f"Internal server error ({type(exc).__name__}).", code="server_error"))
