"""``qlwork`` command line: one thin function per command over the library."""

from __future__ import annotations

import argparse
import json
import sys

from . import __version__
from .byoai_cli import add_model_arguments, register_eval
from .errors import QlworkError


def cmd_demo(args) -> int:
    from .demo import main

    main(portfolio=args.portfolio, user_id=args.user)
    return 0


def cmd_chat(args) -> int:
    from . import open_session
    from .assistant.render import answer_text, steps_text

    from .byoai_cli import backend_options

    session = open_session(args.user, backend=args.backend, portfolio=args.portfolio,
                           thread_id=args.thread, new_thread=args.new, backend_options=backend_options(args))
    print(f"qlwork chat: user {args.user}, thread {session.thread_id}, backend {args.backend}. "
          "Type a question; 'exit' or Ctrl-D quits.")
    while True:
        try:
            text = input("you> ").strip()
        except EOFError:
            print()
            return 0
        if text.lower() in ("exit", "quit"):
            return 0
        if not text:
            continue
        try:
            answer = session.ask(text)
        except QlworkError as exc:
            print(f"error: {exc}")
            continue
        print(answer_text(answer.response.model_dump()))
        if args.steps:
            print(steps_text([s.model_dump() for s in answer.steps]))


def _store():
    from .assistant.store import Store

    return Store()


def cmd_threads_list(args) -> int:
    from .assistant.render import table

    threads = _store().list_threads(user_id=args.user, limit=args.limit)
    rows = [{"id": t.id, "user": (t.metadata or {}).get("user_id"), "created_at": t.created_at,
             "portfolio": (t.metadata or {}).get("portfolio_id")} for t in threads]
    print(table(rows, [("id", "Thread"), ("user", "User"), ("portfolio", "Portfolio"), ("created_at", "Created")])
          if rows else "no threads")
    return 0


def cmd_threads_show(args) -> int:
    from .assistant.render import audit_markdown

    print(audit_markdown(_store().audit(args.thread_id)))
    return 0


def cmd_threads_export(args) -> int:
    from .assistant.render import audit_markdown

    audit = _store().audit(args.thread_id)
    text = json.dumps(audit, indent=2, default=str) if args.format == "json" else audit_markdown(audit)
    if args.output:
        with open(args.output, "w", encoding="utf-8") as fh:
            fh.write(text + "\n")
        print(f"wrote {args.output}")
    else:
        print(text)
    return 0


def cmd_kite_login(args) -> int:
    from .market.kite_auth import complete_login, login_url

    token = args.request_token
    if not token:
        print("Open this URL in a browser, log in, then paste the request_token (or the whole redirect URL):")
        print(login_url())
        token = input("request_token or redirect URL: ")
    status = complete_login(token)
    print(f"Logged in to Kite as {status['user_id']}; token valid until {status['expiry']} "
          f"(stored in {status['path']}, mode 0600).")
    return 0


def cmd_kite_status(args) -> int:
    from .market.kite_auth import token_status

    status = token_status()
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    elif status["valid"]:
        print(f"Kite token for {status['user_id']} valid until {status['expiry']} ({status['path']}).")
    else:
        print(f"No valid Kite token ({status['reason']}): run `qlwork kite login`.")
    return 0 if status["valid"] else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qlwork", description="Research workbench with an AI trading assistant "
                                     "for Indian equities. Read-only on the broker; research output, not advice.")
    parser.add_argument("--version", action="version", version=f"qlwork {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="three-turn assistant conversation on a sample portfolio (offline, synthetic data)")
    p.add_argument("--portfolio", default="sample:diversified", help="portfolio source (default: sample:diversified)")
    p.add_argument("--user", default="demo", help="user id (default: demo)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("chat", help="talk to the assistant in the terminal")
    p.add_argument("--user", default="analyst", help="user id (default: analyst)")
    p.add_argument("--backend", default="offline", help="offline | openai | openai-chat (default: offline)")
    p.add_argument("--portfolio", default="sample:diversified", help="portfolio source for a new thread")
    p.add_argument("--thread", default=None, help="continue this thread id (default: the user's latest)")
    p.add_argument("--new", action="store_true", help="start a new thread")
    p.add_argument("--steps", action="store_true", help="print the tool calls behind each answer")
    add_model_arguments(p)
    p.set_defaults(func=cmd_chat)
    register_eval(sub)

    threads = sub.add_parser("threads", help="list, show or export stored threads (the audit trail)")
    tsub = threads.add_subparsers(dest="threads_command", required=True)
    p = tsub.add_parser("list", help="list threads, newest first")
    p.add_argument("--user", default=None, help="only this user's threads")
    p.add_argument("--limit", type=int, default=20, help="how many (default: 20)")
    p.set_defaults(func=cmd_threads_list)
    p = tsub.add_parser("show", help="print a thread's messages, runs, steps and tool calls")
    p.add_argument("thread_id")
    p.set_defaults(func=cmd_threads_show)
    p = tsub.add_parser("export", help="export a thread's audit trail")
    p.add_argument("thread_id")
    p.add_argument("--format", choices=["json", "md"], default="json", help="json or md (default: json)")
    p.add_argument("--output", "-o", default=None, help="write to this file instead of stdout")
    p.set_defaults(func=cmd_threads_export)

    kite = sub.add_parser("kite", help="Zerodha Kite Connect login (read-only market data and holdings)")
    ksub = kite.add_subparsers(dest="kite_command", required=True)
    p = ksub.add_parser("login", help="print the login URL and store the access token "
                        "(needs KITE_API_KEY and KITE_API_SECRET in the environment)")
    p.add_argument("request_token", nargs="?", default=None,
                   help="request_token or the full redirect URL (prompted for if omitted)")
    p.set_defaults(func=cmd_kite_login)
    p = ksub.add_parser("status", help="whether a valid Kite token is stored (never prints the token)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_kite_status)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except QlworkError as exc:
        print(f"qlwork: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
