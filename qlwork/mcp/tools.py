"""qlwork's tools over MCP: schemas from the tool registry, calls through ``Tool.run``.

The input schema of each tool is the registry's (the same one the assistant and the Assistants server
send to models); results carry the tool's output as ``structuredContent`` and as JSON text. A bad
argument, an unknown portfolio or a provider failure comes back as a tool error (``isError``) whose
structured content is the registry's error: ``{"error": {"type", "message", "fix", "errors": [{"field",
"problem", "allowed"}]}}`` or, for range checks, ``field`` and ``allowed`` on the error itself.
"""

from __future__ import annotations

import json
from typing import Any

import anyio
import mcp_types as types
from mcp.shared.exceptions import MCPError

from ..errors import QlworkError
from ..tools.registry import REGISTRY, Tool
from .resources import hide_paths
from .scope import PORTFOLIO_FIELD, Host

READ_ONLY_TOOLS = ("analyze_portfolio", "get_market_data", "generate_trading_signals", "calculate_risk_metrics",
                   "compare_with_benchmark", "rank_holdings", "file_search")
CODE_TOOL = "code_interpreter"
REMOTE_PORTFOLIO_HELP = ('Portfolio: "sample:<name>", one of your file ids (file_..., see the qlwork://portfolios '
                         'resources) or "kite" (your Kite holdings); omit only if the tool can work without one.')


def enabled_tools(host: Host) -> list[Tool]:
    """The registry's tools this server offers (code_interpreter only with ``allow_code``)."""
    from ..tools import file_search, trading  # noqa: F401 - importing registers the tools

    names = list(READ_ONLY_TOOLS)
    if host.allow_code:
        from ..tools import code_interpreter  # noqa: F401

        names.append(CODE_TOOL)
    return [REGISTRY.get(n) for n in names]


def tool_list(host: Host) -> list[types.Tool]:
    out = []
    for tool in enabled_tools(host):
        schema = tool.parameters_schema()
        prop = schema.get("properties", {}).get(PORTFOLIO_FIELD)
        if host.remote and prop is not None:
            prop["description"] = REMOTE_PORTFOLIO_HELP
        code = tool.name == CODE_TOOL
        out.append(types.Tool(
            name=tool.name, description=tool.description, input_schema=schema,
            annotations=types.ToolAnnotations(read_only_hint=not code, destructive_hint=False,
                                              idempotent_hint=not code, open_world_hint=False)))
    return out


def _find(host: Host, name: str) -> Tool:
    for tool in enabled_tools(host):
        if tool.name == name:
            return tool
    offered = ", ".join(t.name for t in enabled_tools(host))
    hint = " (start qlwork mcp with --allow-code to offer it)" if name == CODE_TOOL else ""
    raise MCPError(types.INVALID_PARAMS, f"Unknown tool {name!r}{hint}. Tools: {offered}.")


def _result(output: Any, error: bool, given: dict | None = None) -> types.CallToolResult:
    text = json.dumps(output, default=str, ensure_ascii=False)
    if error:  # an error's text may quote a file's place on the server: clients see <server> instead
        text = hide_paths(text, keep=tuple(v for v in (given or {}).values() if isinstance(v, str)))
    return types.CallToolResult(content=[types.TextContent(text=text)], structured_content=json.loads(text),
                                is_error=error)


def run_tool(host: Host, user: str, name: str, arguments: dict | None) -> types.CallToolResult:
    """Run tool ``name`` for ``user`` (blocking; the server calls it in a worker thread)."""
    tool = _find(host, name)
    scope = host.scope(user)
    args = dict(arguments or {})
    stored_path = None
    try:
        if PORTFOLIO_FIELD in args and PORTFOLIO_FIELD in tool.args_model.model_fields:
            given = args[PORTFOLIO_FIELD]
            args[PORTFOLIO_FIELD] = scope.resolve_portfolio(given)
            if args[PORTFOLIO_FIELD] != given:
                stored_path = (args[PORTFOLIO_FIELD], given)
        ctx = scope.context(name)
    except QlworkError as exc:
        return _result({"error": exc.to_dict()}, True, arguments)
    result = tool.run(args, ctx)
    output = result.output
    if stored_path is not None:  # name the file by its id, never by its place on the server
        output = json.loads(result.output_json().replace(json.dumps(stored_path[0])[1:-1], stored_path[1]))
    return _result(output, result.error is not None, arguments)


async def call_tool(host: Host, user: str, name: str, arguments: dict | None) -> types.CallToolResult:
    _find(host, name)  # an unknown tool is a protocol error, not a tool error
    return await anyio.to_thread.run_sync(run_tool, host, user, name, arguments)
