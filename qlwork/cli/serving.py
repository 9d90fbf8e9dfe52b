"""``qlwork serve`` (the Assistants API server and its keys) and ``qlwork mcp`` (the MCP server)."""

from __future__ import annotations

import sys

from ..errors import InputError


def cmd_serve(args) -> int:
    from ..server.serve import serve

    return serve(host=args.host, port=args.port, backend=args.backend, workers=args.workers, threads=args.threads,
                 tls=args.behind_tls, access_log=args.access_log, grace_seconds=args.grace_seconds,
                 lease_seconds=args.lease_seconds, action_timeout=args.action_timeout,
                 model=args.model)


def cmd_serve_keys_create(args) -> int:
    from ..server.keys import create_key

    info, secret = create_key(args.user, name=args.name)
    print(f"API key {info.id} for user {info.user_id} (shown once; store it now):")
    print(secret)
    return 0


def cmd_serve_keys_list(args) -> int:
    from ..assistant.render import table
    from ..server.keys import list_keys

    rows = [k.to_dict() | {"status": "active" if k.active else "revoked"} for k in list_keys(args.user)]
    print(table(rows, [("id", "Key id"), ("user_id", "User"), ("hint", "Key"), ("status", "Status"),
                       ("created_at", "Created")]) if rows else "no keys")
    return 0


def cmd_serve_keys_revoke(args) -> int:
    from ..server.keys import revoke_key

    info = revoke_key(args.key_id)
    print(f"revoked {info.id} (user {info.user_id})")
    return 0


def cmd_mcp(args) -> int:
    from ..market.kite_auth import check_user
    from ..mcp import Host, run_http, run_stdio

    if args.http and args.user:
        raise InputError("--user is for stdio; over --http each request's key names its user.",
                         fix="Drop --user, or drop --http.")
    host = Host(provider=args.provider, reports_dir=args.reports_dir, allow_code=args.allow_code, remote=args.http)
    if args.http:
        print(f"qlwork mcp: streamable HTTP on http://127.0.0.1:{args.port}/mcp (bearer keys from "
              "`qlwork serve keys create --user ID`)", file=sys.stderr)
        run_http(host, port=args.port)
    else:
        run_stdio(host, check_user(args.user))
    return 0


def register_mcp(sub) -> None:
    p = sub.add_parser("mcp", help="serve qlwork's read-only tools, resources and prompts to MCP clients "
                       "(Claude Desktop, VS Code, Jupyter AI); see docs/mcp.md")
    p.add_argument("--http", action="store_true", help="streamable HTTP on 127.0.0.1 with bearer keys from "
                   "`qlwork serve keys create --user ID` (default: stdio for one local user)")
    p.add_argument("--port", type=int, default=8766, help="HTTP port (default: 8766)")
    p.add_argument("--user", default=None, help="stdio only: the qlwork user served (default: the OS user name)")
    p.add_argument("--provider", choices=["demo", "kite"], default="demo",
                   help="market data: demo (synthetic, default) or kite (each user's own `qlwork kite login`)")
    p.add_argument("--reports-dir", default="reports",
                   help="root of the weekly reports, as `qlwork reports run --output-dir` (default: reports)")
    p.add_argument("--allow-code", action="store_true",
                   help="also offer code_interpreter (Python in qlwork's sandboxed kernel)")
    p.set_defaults(func=cmd_mcp)


def register_serve(sub) -> None:
    serve = sub.add_parser("serve", help="serve the Assistants API (openai SDK compatible) on this machine")
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default: 127.0.0.1, this machine only)")
    serve.add_argument("--port", type=int, default=8765, help="port (default: 8765)")
    serve.add_argument("--backend", default="offline", help="default backend: offline | openai | openai-chat")
    serve.add_argument("--model", default=None, help="model of the default backend (e.g. gpt-4.1-mini, qwen3), used "
                       "when the assistant, run and user preferences name none")
    serve.add_argument("--workers", type=int, default=1,
                       help="server processes sharing the port and the store (default: 1); see docs/server.md")
    serve.add_argument("--threads", type=int, default=4, help="runs executed at once per process (default: 4)")
    serve.add_argument("--grace-seconds", type=float, default=30.0,
                       help="on SIGTERM/SIGINT, how long runs in flight may take to finish (default: 30)")
    serve.add_argument("--lease-seconds", type=float, default=30.0,
                       help="a dead server's runs are taken over after this long (default: 30)")
    serve.add_argument("--action-timeout", type=float, default=600.0,
                       help="seconds a requires_action run waits for tool outputs before it expires (default: 600)")
    serve.add_argument("--behind-tls", action="store_true", help="a TLS proxy is in front (silences the warning)")
    serve.add_argument("--access-log", action="store_true", help="log every request")
    serve.set_defaults(func=cmd_serve)
    ssub = serve.add_subparsers(dest="serve_command")
    keys = ssub.add_parser("keys", help="create, list or revoke API keys")
    keysub = keys.add_subparsers(dest="keys_command", required=True)
    p = keysub.add_parser("create", help="create a key for a user (printed once; stored hashed)")
    p.add_argument("--user", required=True, help="the user the key acts as")
    p.add_argument("--name", default=None, help="a label for the key")
    p.set_defaults(func=cmd_serve_keys_create)
    p = keysub.add_parser("list", help="list keys (ids and hints, never the keys)")
    p.add_argument("--user", default=None, help="only this user's keys")
    p.set_defaults(func=cmd_serve_keys_list)
    p = keysub.add_parser("revoke", help="revoke a key by id")
    p.add_argument("key_id")
    p.set_defaults(func=cmd_serve_keys_revoke)
