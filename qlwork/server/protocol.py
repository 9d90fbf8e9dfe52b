"""uvicorn's HTTP protocol with a deadline for request headers, against half-open requests.

uvicorn closes idle keep-alive connections but waits for ever on a connection whose request headers
never complete; a few thousand such connections (3000 half-sent requests were held for 30 s and more)
use up descriptors and, with ``limit_concurrency``, turn real clients away. Here a connection whose
headers are not complete within ``QLWORK_HTTP_HEADER_TIMEOUT`` seconds (default 10) of its opening or
of its previous response is closed. The connection cap is ``QLWORK_HTTP_MAX_CONNECTIONS`` (default
1000; uvicorn answers 503 beyond it). For public use put nginx or Caddy in front (docs/server.md).
"""

from __future__ import annotations

import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

DEFAULT_HEADER_TIMEOUT = 10.0
DEFAULT_MAX_CONNECTIONS = 1000


def _env_number(name: str, default: float) -> float:
    try:
        value = float(os.environ.get(name, "").strip() or default)
    except ValueError:
        return default
    return value if value > 0 else default


def header_timeout() -> float:
    return _env_number("QLWORK_HTTP_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT)


def max_connections() -> int:
    return int(_env_number("QLWORK_HTTP_MAX_CONNECTIONS", DEFAULT_MAX_CONNECTIONS))


class HeaderDeadlineProtocol(HttpToolsProtocol):
    """Closes a connection whose request headers are not complete in time (see the module docstring)."""

    def connection_made(self, transport: Any) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._deadline = None
        self._arm()

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(header_timeout(), self._expired)

    def _disarm(self) -> None:
        if getattr(self, "_deadline", None) is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        if not self.transport.is_closing():
            self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if getattr(self, "_deadline", None) is None:
            self._arm()  # a later request on a kept-alive connection gets its own deadline

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)
