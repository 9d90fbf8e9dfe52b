"""Shared plumbing of the two OpenAI-SDK backends: settings, API key lookup, client, retries, errors.

The key is read from the environment variable *named* by ``api_key_env`` at the moment the backend
is built; only the name is ever stored or shown. Retries are done here (the SDK's own retries are
off) so they are bounded, fast in tests and cancellable: 429, 5xx, timeouts and dropped connections
are retried with exponential backoff (``Retry-After`` honoured up to ``max_backoff``); other 4xx are
not. Every failure reaching the runner is a :class:`BackendError` that names the setting to fix.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, TypeVar
from urllib.parse import urlparse

import openai

try:  # the HTTP library under the openai SDK: httpx2 in openai 3.x, httpx before; its transport
    import httpx2 as http_lib  # errors can escape the SDK mid-stream
except ImportError:  # pragma: no cover - older openai releases
    import httpx as http_lib

from ...errors import BackendError
from ...redaction import redact
from .capabilities import is_validation_message

log = logging.getLogger("qlwork.assistant.backends")

NO_KEY_PLACEHOLDER = "not-needed"
"""Sent as the key to keyless local servers (loopback ``base_url`` or ``allow_no_key=True``)."""

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
T = TypeVar("T")


class StreamInterrupted(Exception):
    """A stream ended before the model finished (retryable)."""


class Cancelled(BackendError):
    """The run was cancelled while the backend was waiting on the model."""


OPENAI_API_URL = "https://api.openai.com/v1"


@dataclass
class Connection:
    """Where and how to reach a model server (never holds the key itself)."""

    backend: str
    model: str
    base_url: str | None = None
    api_key_env: str = "OPENAI_API_KEY"
    timeout: float = 60.0
    max_retries: int = 2
    backoff: float = 0.5
    max_backoff: float = 8.0
    allow_no_key: bool = False

    @property
    def where(self) -> str:
        """The server requests really go to: ``base_url``, else ``$OPENAI_BASE_URL`` (which the openai SDK
        uses when no base_url is given), else OpenAI's API. Errors name this URL."""
        return self.base_url or os.environ.get("OPENAI_BASE_URL", "").strip() or OPENAI_API_URL


def check_env_name(name: str) -> str:
    """``name`` if it is a plausible environment variable name; a clear error otherwise.

    A value that looks like a key itself is refused without echoing it.
    """
    if isinstance(name, str) and _ENV_NAME.match(name) and not name.lower().startswith("sk"):
        return name
    shown = "(a value that looks like a secret)" if isinstance(name, str) and (
        name.startswith("sk-") or len(name) > 40 or not _ENV_NAME.match(name)) else repr(name)
    raise BackendError(f"api_key_env must be the NAME of an environment variable, got {shown}.",
                       fix="Put the key in an environment variable (e.g. export OPENAI_API_KEY=...) and set "
                           "api_key_env to that variable's name; never put the key itself in settings.",
                       code="invalid_setting", setting="api_key_env")


def is_loopback(base_url: str | None) -> bool:
    """True when ``base_url`` points at this machine (localhost, 127.0.0.0/8, ::1)."""
    if not base_url:
        return False
    host = (urlparse(base_url).hostname or "").strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def resolve_api_key(conn: Connection) -> str:
    """The key from ``$api_key_env``; the placeholder for keyless local servers; else BackendError."""
    env = check_env_name(conn.api_key_env)
    value = os.environ.get(env, "").strip()
    if value:
        return value
    if conn.allow_no_key or is_loopback(conn.where):
        return NO_KEY_PLACEHOLDER
    raise BackendError(
        f"No API key for the {conn.backend} backend: the environment variable {env} is not set "
        f"(server {conn.where}).",
        fix=f"export {env}=<your key>, or set api_key_env to the name of the variable holding it. A local "
            "server without keys needs a loopback base_url (e.g. http://127.0.0.1:11434/v1) or allow_no_key=True.",
        code="missing_api_key", setting="api_key_env")


def make_client(conn: Connection) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for ``conn`` with the SDK's retries off (we retry ourselves)."""
    key = resolve_api_key(conn)
    kwargs: dict[str, Any] = {"api_key": key, "timeout": conn.timeout, "max_retries": 0}
    if conn.base_url:
        kwargs["base_url"] = conn.base_url
    return openai.OpenAI(**kwargs)


# -- errors -----------------------------------------------------------------------------------

def server_message(exc: BaseException) -> str:
    """The server's error message of an SDK exception (short, redacted)."""
    body = getattr(exc, "body", None)
    message = None
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else str(inner)
    text = message or getattr(exc, "message", None) or str(exc) or type(exc).__name__
    return redact(str(text))[:400]


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, openai.APIStatusError):  # a 500 carrying a validation message is a refusal, not a crash
        return exc.status_code == 429 or (exc.status_code >= 500 and not is_validation_message(server_message(exc)))
    return isinstance(exc, (openai.APIConnectionError, http_lib.TimeoutException, http_lib.TransportError,
                            StreamInterrupted))


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (openai.APITimeoutError, http_lib.TimeoutException))


def backend_error(exc: BaseException, conn: Connection, attempts: int = 1) -> BackendError:
    """A BackendError for an SDK/transport failure, naming the setting that fixes it."""
    if isinstance(exc, BackendError):
        return exc
    tries = f" after {attempts} attempt{'s' * (attempts != 1)}" if attempts > 1 else ""
    where, msg = conn.where, server_message(exc)
    if isinstance(exc, openai.APIStatusError):
        status = exc.status_code
        if status in (401, 403):
            return BackendError(f"The model server at {where} rejected the API key from ${conn.api_key_env} "
                                f"(HTTP {status}: {msg}).",
                                fix=f"Check the key in the environment variable {conn.api_key_env} (setting "
                                    "api_key_env) and that it may use this model.",
                                code="auth_failed", setting="api_key_env", status=status)
        if status == 404:
            return BackendError(f"Model {conn.model!r} or its endpoint was not found at {where} (HTTP 404: {msg}).",
                                fix="Check the model setting (for Azure: the deployment name) and base_url "
                                    "(it usually ends in /v1).", code="not_found", setting="model", status=status)
        if status == 429:
            return BackendError(f"The model server at {where} kept rate-limiting requests (HTTP 429){tries}: {msg}.",
                                fix="Wait a minute and ask again, or raise max_retries in your AI preferences.",
                                code="rate_limited", setting="max_retries", status=status)
        if status >= 500 and not is_validation_message(msg):
            return BackendError(f"The model server at {where} failed with HTTP {status}{tries}: {msg}.",
                                fix="Try again later or check the server's logs; max_retries sets how often "
                                    "qlwork retries.", code="server_error", setting="max_retries", status=status)
        if "context" in msg.lower() and any(w in msg.lower() for w in ("length", "window", "too long")):
            return BackendError(f"The conversation is too long for model {conn.model!r} (HTTP {status}: {msg}).",
                                fix="Lower context_window in your AI preferences to the model's real window, "
                                    "or start a new thread.", code="context_length", setting="context_window",
                                status=status)
        return BackendError(f"The model server at {where} refused the request (HTTP {status}): {msg}. It names "
                            "no parameter qlwork can leave out, so it was not retried.",
                            fix="Check the model and base_url settings; if the server lacks a feature, turn it off "
                                "in your AI preferences (response_format=text, tools_enabled=false, stream=false).",
                            code="request_refused", setting="model", status=status)
    if _is_timeout(exc):
        return BackendError(f"No answer from the model server at {where} within {conn.timeout:g} s{tries}.",
                            fix="Raise timeout in your AI preferences (local models can be slow) or check the server.",
                            code="timeout", setting="timeout")
    if isinstance(exc, (openai.APIConnectionError, http_lib.TransportError, StreamInterrupted)):
        cause = exc.__cause__ or exc
        return BackendError(f"Cannot reach the model server at {where}{tries}: {redact(str(cause)) or type(cause).__name__}.",
                            fix="Check base_url and that the server is running (e.g. `ollama serve`, vLLM, LM Studio).",
                            code="unreachable", setting="base_url")
    return BackendError(f"The {conn.backend} backend failed: {type(exc).__name__}: {redact(str(exc))[:400]}",
                        fix="Check the model, base_url and api_key_env settings.", code="backend_failed")


def _retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    for header, scale in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is not None:
            try:
                return float(value) / scale
            except ValueError:
                return None
    return None


def with_retries(conn: Connection, fn: Callable[[], T], should_stop: Callable[[], bool] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 refused: Callable[[BaseException], str | None] | None = None) -> T:
    """Call ``fn`` retrying 429/5xx/timeouts/dropped connections up to ``conn.max_retries`` times.

    Non-retryable exceptions, and any that ``refused`` says name an unsupported parameter, are
    re-raised unchanged (so callers can adapt); retryable ones become a BackendError once retries
    are exhausted. ``should_stop`` cancels the wait.
    """
    attempt = 0
    while True:
        if should_stop is not None and should_stop():
            raise Cancelled("The run was cancelled.", code="cancelled")
        try:
            return fn()
        except Exception as exc:
            if not _retryable(exc) or (refused is not None and refused(exc)):
                raise
            attempt += 1
            if attempt > conn.max_retries:
                raise backend_error(exc, conn, attempts=attempt) from exc
            delay = min(conn.max_backoff, conn.backoff * 2 ** (attempt - 1)) * (0.5 + random.random() / 2)
            hinted = _retry_after(exc)
            if hinted is not None:
                delay = max(delay, min(hinted, conn.max_backoff))
            log.warning("%s backend: %s; retry %d/%d in %.2fs", conn.backend,
                        redact(f"{type(exc).__name__}: {server_message(exc)}"), attempt, conn.max_retries, delay)
            _wait(delay, should_stop, sleep)


def _wait(delay: float, should_stop: Callable[[], bool] | None, sleep: Callable[[float], None]) -> None:
    end = time.monotonic() + delay
    while (left := end - time.monotonic()) > 0:
        if should_stop is not None and should_stop():
            raise Cancelled("The run was cancelled.", code="cancelled")
        sleep(min(left, 0.25))


def cancellable(fn: Callable[[], T], should_stop: Callable[[], bool] | None, every: float = 0.2) -> T:
    """Run ``fn`` in a worker thread, polling ``should_stop`` while it blocks (a stalled read cannot
    be interrupted from outside); on cancel, return at once and leave the worker to its timeout."""
    if should_stop is None:
        return fn()
    box: dict[str, Any] = {}
    done = threading.Event()

    def work() -> None:
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the caller's thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="qlwork-model-call", daemon=True).start()
    while not done.wait(every):
        if should_stop():
            raise Cancelled("The run was cancelled while the model was answering.", code="cancelled")
    if "error" in box:
        raise box["error"]
    return box["value"]


class StopCheck:
    """Polls ``should_stop`` at most every ``every`` seconds while a stream is read."""

    def __init__(self, should_stop: Callable[[], bool] | None, every: float = 0.25) -> None:
        self.should_stop, self.every, self._next = should_stop, every, 0.0

    def __call__(self) -> None:
        if self.should_stop is None:
            return
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.every
            if self.should_stop():
                raise Cancelled("The run was cancelled while the model was answering.", code="cancelled")



