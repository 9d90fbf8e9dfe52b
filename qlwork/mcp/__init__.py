"""``qlwork mcp``: qlwork's read-only tools, resources and prompts for any MCP client (Claude Desktop,
VS Code, Jupyter AI, Cursor), built on the official ``mcp`` SDK. See docs/mcp.md.

- :mod:`.server`     the SDK ``Server``, stdio and streamable HTTP (bearer keys), :func:`run_stdio`, :func:`run_http`
- :mod:`.tools`      the registry's tools with their schemas; errors as MCP tool errors
- :mod:`.resources`  portfolios, the latest weekly report, research notes
- :mod:`.prompts`    weekly review, sector deep-dive, explain a recommendation
- :mod:`.scope`      one user's files, provider and portfolio arguments
"""

from __future__ import annotations

from typing import Any

__all__ = ["Host", "build_server", "run_stdio", "run_http"]


def __getattr__(name: str) -> Any:  # lazy: importing qlwork.mcp must not import the SDK
    if name == "Host":
        from .scope import Host

        return Host
    if name in ("build_server", "run_stdio", "run_http"):
        from . import server

        return getattr(server, name)
    raise AttributeError(name)
