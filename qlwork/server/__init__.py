"""``qlwork serve``: an Assistants-API-compatible HTTP server (FastAPI + uvicorn).

Code written for OpenAI's retired Assistants API (``client.beta.assistants``, ``client.beta.threads``)
runs against qlwork by changing ``base_url`` and ``api_key``. See docs/server.md.

- :func:`create_app` builds the ASGI app (app.py); :func:`serve` runs it with uvicorn (serve.py).
- :func:`create_key`, :func:`list_keys`, :func:`revoke_key` manage bearer keys (keys.py).
"""

from __future__ import annotations

from typing import Any

__all__ = ["create_app", "serve", "create_key", "list_keys", "revoke_key"]


def __getattr__(name: str) -> Any:  # lazy: importing qlwork.server must not import FastAPI
    if name == "create_app":
        from .app import create_app

        return create_app
    if name == "serve":
        from .serve import serve

        return serve
    if name in ("create_key", "list_keys", "revoke_key"):
        from . import keys

        return getattr(keys, name)
    raise AttributeError(name)
