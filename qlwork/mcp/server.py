"""The MCP server of ``qlwork mcp``: the official ``mcp`` SDK's low-level ``Server`` with qlwork's tools,
resources and prompts, over stdio (one local user) or streamable HTTP on 127.0.0.1 (one user per key).

Over HTTP every request carries ``Authorization: Bearer <key>`` with a key from ``qlwork serve keys
create --user ID``; the SDK's bearer middleware checks it through :class:`KeyVerifier` (the key's
SHA-256 digest looked up in the store, as ``qlwork serve`` does) and answers 401 otherwise. The server is
stateless: each request is served for the user of its own key, so no session can be borrowed.
"""

from __future__ import annotations

from typing import Any

import anyio
import mcp_types as types
from mcp.server import Server
from mcp.server.auth.provider import AccessToken
from mcp.shared.exceptions import MCPError

from .. import __version__
from ..server.keys import KeyStore, digest
from .prompts import get_prompt, list_prompts
from .jsonrpc import InvalidRequestMiddleware, answer_invalid, interposed_streams
from .resources import list_resources, read_resource, resource_templates
from .scope import Host
from .tools import call_tool, tool_list

DEFAULT_PORT = 8766
INSTRUCTIONS = ("qlwork: read-only research tools for Indian-equity portfolios (NSE). Tools analyse portfolios, "
                "fetch daily candles, compute signals, backtests and risk metrics, and search research notes; "
                "none places, modifies or cancels orders. Resources hold your portfolios, your latest weekly "
                "report and research notes. Outputs are research, not investment advice; demo data is synthetic.")


class KeyVerifier:
    """The SDK's ``TokenVerifier`` over qlwork's API keys: a key's user becomes the token's ``client_id``."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys

    async def verify_token(self, token: str) -> AccessToken | None:
        user = await anyio.to_thread.run_sync(self.keys.authenticate, token)
        if user is None:
            return None
        return AccessToken(token=digest(token), client_id=user, scopes=[])


def _user_of(ctx: Any, fixed: str | None) -> str:
    if fixed is not None:
        return fixed
    request = getattr(ctx, "request", None)
    auth = request.scope.get("user") if request is not None else None
    token = getattr(auth, "access_token", None)
    if token is None or not token.client_id:
        raise MCPError(types.INVALID_REQUEST, "Not authenticated: send Authorization: Bearer <key from "
                       "`qlwork serve keys create --user ID`>.")
    return token.client_id


def build_server(host: Host, user: str | None = None) -> Server:
    """The MCP server for ``host``: every request is served for ``user`` (stdio) or for the user of the
    request's bearer key (HTTP, ``user=None``)."""

    async def on_list_tools(ctx, params) -> types.ListToolsResult:
        _user_of(ctx, user)
        return types.ListToolsResult(tools=tool_list(host))

    async def on_call_tool(ctx, params: types.CallToolRequestParams) -> types.CallToolResult:
        return await call_tool(host, _user_of(ctx, user), params.name, params.arguments)

    async def on_list_resources(ctx, params) -> types.ListResourcesResult:
        scope = host.scope(_user_of(ctx, user))
        return types.ListResourcesResult(resources=await anyio.to_thread.run_sync(list_resources, scope))

    async def on_list_resource_templates(ctx, params) -> types.ListResourceTemplatesResult:
        _user_of(ctx, user)
        return types.ListResourceTemplatesResult(resource_templates=resource_templates())

    async def on_read_resource(ctx, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        scope = host.scope(_user_of(ctx, user))
        return await anyio.to_thread.run_sync(read_resource, scope, params.uri)

    async def on_list_prompts(ctx, params) -> types.ListPromptsResult:
        _user_of(ctx, user)
        return types.ListPromptsResult(prompts=list_prompts())

    async def on_get_prompt(ctx, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        _user_of(ctx, user)
        return get_prompt(params.name, params.arguments)

    return Server("qlwork", version=__version__, title="qlwork research tools", instructions=INSTRUCTIONS,
                  on_list_tools=on_list_tools, on_call_tool=on_call_tool, on_list_resources=on_list_resources,
                  on_list_resource_templates=on_list_resource_templates,
                  on_read_resource=on_read_resource, on_list_prompts=on_list_prompts, on_get_prompt=on_get_prompt)


def run_stdio(host: Host, user: str) -> None:
    """Serve ``user`` over this process's stdin/stdout until the client closes them."""
    from mcp.server.stdio import stdio_server

    server = build_server(host, user)

    async def main() -> None:
        async with stdio_server() as (read, write):
            forward, receive = interposed_streams()  # invalid JSON-RPC lines get their error reply
            async with anyio.create_task_group() as tg:
                tg.start_soon(answer_invalid, read, write, forward)
                await server.run(receive, write, server.create_initialization_options())
                tg.cancel_scope.cancel()

    anyio.run(main)


def http_app(host: Host, port: int = DEFAULT_PORT):
    """The streamable-HTTP ASGI app (endpoint ``/mcp``), bearer keys required."""
    from mcp.server.auth.settings import AuthSettings

    server = build_server(host, None)
    return InvalidRequestMiddleware(server.streamable_http_app(
        stateless_http=True, host="127.0.0.1", token_verifier=KeyVerifier(host.keys),
        auth=AuthSettings(issuer_url=f"http://127.0.0.1:{port}", resource_server_url=None)))


def run_http(host: Host, port: int = DEFAULT_PORT, access_log: bool = False) -> None:
    """Serve streamable HTTP on 127.0.0.1:``port`` (this machine only) until interrupted."""
    import uvicorn

    uvicorn.run(http_app(host, port), host="127.0.0.1", port=port, log_level="warning", access_log=access_log)
