"""The client configurations in docs/mcp.md are valid JSON and start `qlwork mcp` with options it has."""

from __future__ import annotations

import json
import re
from pathlib import Path

from qlwork.cli.commands import build_parser

DOC = Path(__file__).resolve().parents[2] / "docs" / "mcp.md"


def _stdio_servers() -> list[tuple[str, dict]]:
    blocks = re.findall(r"```json\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.S)
    servers = []
    for block in blocks:
        config = json.loads(block)  # each snippet pastes as it is
        for name, server in {**config.get("mcpServers", {}), **config.get("servers", {})}.items():
            servers.append((name, server))
    return servers


def test_every_client_snippet_runs_qlwork_mcp_with_known_options():
    servers = _stdio_servers()
    stdio = [(n, s) for n, s in servers if "command" in s]
    assert len(stdio) >= 4, servers  # Claude Desktop, VS Code, Jupyter AI, Cursor
    for name, server in stdio:
        assert server["command"].endswith("/bin/qlwork"), (name, server)
        args = build_parser().parse_args(server["args"])  # exits (SystemExit) on an unknown option
        assert args.command == "mcp" and not args.http, (name, server)
    remote = [s for _, s in servers if "url" in s]
    assert remote and all(s["url"].endswith("/mcp") and "Bearer" in s["headers"]["Authorization"] for s in remote)
