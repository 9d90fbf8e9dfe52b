"""Run the server with uvicorn, warning when it is reachable beyond this machine without TLS."""

from __future__ import annotations

import ipaddress
import logging
import sys
from typing import TextIO

LOOPBACK_NAMES = ("localhost",)

log = logging.getLogger("qlwork.server")


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str, tls: bool = False) -> str | None:
    """A warning for a bind address other machines can reach, unless TLS is in front."""
    if is_loopback(host) or tls:
        return None
    return (f"qlwork serve is listening on {host}, reachable from other machines, and speaks plain HTTP: "
            "API keys and portfolio data would cross the network unencrypted. Put a TLS-terminating proxy "
            "(nginx, Caddy) in front, or bind to 127.0.0.1.")


def serve(host: str = "127.0.0.1", port: int = 8765, backend: str = "offline", workers: int = 4,
          tls: bool = False, log_level: str = "info", access_log: bool = False, out: TextIO = sys.stderr,
          model: str | None = None) -> None:
    """Serve the Assistants API until interrupted (``tls``: a TLS proxy is in front; ``access_log``:
    log every request, off by default as it costs ~0.2 ms a request)."""
    import uvicorn

    from .app import create_app
    from .keys import KeyStore

    app = create_app(backend=backend, workers=workers, model=model)
    warning = exposure_warning(host, tls)
    if warning:
        print(f"WARNING: {warning}", file=out)
    if not KeyStore(app.state.qlwork.store).list(include_revoked=False):
        print("note: no API keys yet; create one with `qlwork serve keys create --user ID`.", file=out)
    print(f"qlwork Assistants API on http://{host}:{port}/v1 (backend {backend}"
          f"{f', model {model}' if model else ''}; OpenAPI at /openapi.json)",
          file=out)
    uvicorn.run(app, host=host, port=port, log_level=log_level, access_log=access_log)
