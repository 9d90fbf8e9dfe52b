"""``qlwork`` command line: one thin function per command over the library."""

from __future__ import annotations

import argparse
import json
import sys

from .. import __version__
from ..config import default_user
from ..errors import QlworkError
from .byoai import add_model_arguments, register_eval
from .db import register_db
from .holdings import EXAMPLES as HOLDINGS_EXAMPLES, register_holdings
from .serving import register_mcp, register_serve


def check_portfolio(source: str | None) -> None:
    """Load a ``--portfolio`` source once at start, so an unknown sample or a bad file is said before the
    first question (``kite`` is checked when the provider opens)."""
    if source and source.strip().lower() != "kite":
        from ..portfolio import load_portfolio

        load_portfolio(source)


def cmd_demo(args) -> int:
    from .demo import main

    check_portfolio(args.portfolio)
    main(portfolio=args.portfolio, user_id=args.user or default_user())
    return 0


DEFAULT_PORTFOLIO = "sample:diversified"


def cmd_chat(args) -> int:
    from .. import open_session
    from ..assistant.progress import ConsoleProgress, RunWatcher
    from ..assistant.render import answer_text, score_breakdown, steps_text, tool_calls
    from ..market import provider_name
    from . import terminal as T
    from .byoai import backend_options

    # --portfolio only changes a reopened thread when given; a new thread defaults to DEFAULT_PORTFOLIO
    args.user = args.user or default_user()
    check_portfolio(args.portfolio)
    progress = ConsoleProgress()
    session = open_session(args.user, backend=args.backend, portfolio=args.portfolio, provider=args.provider,
                           default_portfolio=DEFAULT_PORTFOLIO, thread_id=args.thread, new_thread=args.new,
                           backend_options=backend_options(args), on_delta=progress.delta)
    market = session.market_provider()  # a missing Kite login fails here, before the first question
    portfolio = (session.thread.metadata or {}).get("portfolio_id") or session.portfolio
    colour = T.use_colour()
    say = lambda text: print(T.fit(text))  # noqa: E731 - wrapped to the terminal, never mid-word
    say(f"qlwork chat: user {args.user}, thread {session.thread_id}, backend {args.backend}, "
        f"provider {provider_name(market)}, portfolio {portfolio}. Type a question; /help lists commands; "
        "'exit' or Ctrl-D quits.")
    while True:
        try:
            text = input(T.paint("you> ", "cyan", colour) if colour else "you> ").strip()
        except EOFError:
            print()
            return 0
        command = text.lower()
        if command in T.EXIT:
            return 0
        if not text:
            continue
        if command in T.CLEAR:
            T.clear_screen()
            continue
        if command == "/help":
            say(T.help_text())
            continue
        if command == "/new":
            session.new_thread()
            say(f"New thread {session.thread_id} (portfolio {(session.thread.metadata or {}).get('portfolio_id')}).")
            continue
        if command.startswith("/") and " " not in command:
            say(f"Unknown command {text}. {T.help_text()}")
            continue
        progress.reset()
        watcher = RunWatcher(session.store, session.thread_id, progress.tools).start()
        try:
            answer = session.ask(text)
        except QlworkError as exc:
            say(T.paint("error:", "red", colour) + f" {exc}")
            continue
        finally:
            watcher.stop()
        steps = [s.model_dump() for s in answer.steps]
        if answer.response is not None:
            body = answer_text(answer.response.model_dump(), breakdown=score_breakdown(tool_calls(steps)))
            print(T.style_answer(T.fit(body), colour))
        else:  # e.g. incomplete (max_turns reached): no structured answer, say why
            say(answer.text)
        if args.steps:
            say(steps_text(steps))


def _store():
    from ..assistant.store import Store

    return Store()


def cmd_threads_list(args) -> int:
    from ..assistant.render import table
    from ..formatting import when

    threads = _store().list_threads(user_id=args.user, limit=args.limit)
    # the owner (the API key's user, or the session's), never metadata a client may set to anything
    rows = [{"id": t.id, "user": t.user_id or "", "created_at": when(t.created_at),
             "portfolio": (t.metadata or {}).get("portfolio_id"), "label": _metadata_user(t)} for t in threads]
    columns = [("id", "Thread"), ("user", "User"), ("portfolio", "Portfolio"), ("created_at", "Created")]
    if any(r["label"] for r in rows):
        columns.insert(2, ("label", "metadata user_id (client-set)"))
    print(table(rows, columns) if rows else "no threads")
    return 0


def _metadata_user(thread) -> str:
    """The thread's ``metadata.user_id`` when it differs from its owner (a client's own label)."""
    label = (thread.metadata or {}).get("user_id")
    return "" if label in (None, "", thread.user_id) else str(label)


def cmd_threads_show(args) -> int:
    from ..assistant.render import audit_markdown

    print(audit_markdown(_store().audit(args.thread_id)))
    return 0


def cmd_threads_recover(args) -> int:
    store = _store()
    if args.thread:
        store.get_thread(args.thread)  # not_found error for a mistyped id
    runs = store.recover(reason="Recovered by `qlwork threads recover`" + (" --all" if args.all else "") + ".",
                         all=args.all, thread_id=args.thread)
    for run in runs:
        detail = run.last_error.message if run.last_error else ""
        print(f"{run.id} (thread {run.thread_id}) -> {run.status}: {detail}")
    print(f"recovered {len(runs)} run{'s' if len(runs) != 1 else ''}" if runs else
          "nothing to recover: no run is left active by a dead process or past its expiry")
    return 0


def cmd_threads_export(args) -> int:
    from ..assistant.render import audit_markdown

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
    from ..market.kite_auth import api_secret, check_user
    from ..market.kite_login import complete_login, login_url

    user = check_user(args.user)
    url = login_url()  # a missing KITE_API_KEY is said here, before any instruction
    api_secret()  # and a missing KITE_API_SECRET before the user logs in for nothing
    token = args.request_token
    if not token:
        print(f"Open this URL in a browser, log in as {user}'s Kite account, then paste the request_token "
              "(or the whole redirect URL):")
        print(url)
        try:
            token = input("request_token or redirect URL: ")
        except EOFError:
            token = ""  # complete_login says what to paste
    status = complete_login(token, user=user)
    print(f"Logged in to Kite account {status['user_id']} for qlwork user {user}; token valid until "
          f"{status['expiry']} (stored in {status['path']}, mode 0600).")
    return 0


def cmd_kite_status(args) -> int:
    from ..market.kite_auth import check_user, token_status

    user = check_user(args.user)
    status = token_status(user=user)
    if args.json:
        print(json.dumps(status, indent=2, default=str))
    elif status["valid"]:
        print(f"Kite token of qlwork user {user} (Kite account {status['user_id']}) valid until "
              f"{status['expiry']} ({status['path']}).")
    else:
        print(f"No valid Kite token for {user} ({status['reason']}): run `qlwork kite login --user {user}`.")
    return 0 if status["valid"] else 1


def cmd_sectors_update(args) -> int:
    from ..market.sectors import update_sectors

    result = update_sectors(args.url, timeout=args.timeout)
    print(f"Stored NSE's industry list: {result['symbols']} symbols in {result['industries']} industries from "
          f"{result['url']} ({result['path']}); it is used for sectors from now on.")
    return 0


def cmd_sectors_show(args) -> int:
    from ..market.sectors import source

    info = source()
    where = "bundled copy (January 2023)" if info["bundled"] else f"refreshed {info.get('fetched_at', '')}".strip()
    print(f"Sectors: NSE industry list, {where}, {info['symbols']} symbols ({info['path']}).")
    return 0


def cmd_reports_run(args) -> int:
    from ..market.as_of import check_as_of
    from ..reports import run_batch

    note = check_as_of(args.as_of).note  # a weekend: said before the batch starts
    if note:
        print(f"note: {note}", file=sys.stderr)
    users = [u.strip() for u in args.users.split(",") if u.strip()] if args.users else None
    result = run_batch(args.as_of, users=users, workers=args.workers, config=args.config, executor=args.executor,
                       scheduler=args.scheduler, force=args.force, output_dir=args.output_dir,
                       progress=not args.no_progress, formats=args.format)
    print(result.summary())
    return 0 if result.ok else 1


EXAMPLES = {
    "demo": ["qlwork demo", "qlwork demo --portfolio sample:it_heavy --user asha"],
    "chat": ["qlwork chat --new", "qlwork chat --user asha --provider kite --portfolio kite",
             "qlwork chat --backend openai-chat --base-url http://127.0.0.1:11434/v1 --model llama3.1"],
    "eval": ["qlwork eval", "qlwork eval --backend openai-chat --base-url http://127.0.0.1:8000/v1 --model M -o out.json"],
    "threads list": ["qlwork threads list --user asha --limit 5"],
    "threads show": ["qlwork threads show thread_0123abcd"],
    "threads export": ["qlwork threads export thread_0123abcd --format md -o audit.md"],
    "threads recover": ["qlwork threads recover", "qlwork threads recover --thread thread_0123abcd"],
    "kite login": ["export KITE_API_KEY=... KITE_API_SECRET=...", "qlwork kite login --user asha"],
    "kite status": ["qlwork kite status --user asha --json"],
    **HOLDINGS_EXAMPLES,
    "sectors update": ["qlwork sectors update"],
    "sectors show": ["qlwork sectors show"],
    "reports run": ["qlwork reports run --as-of 2026-11-20",
                    "qlwork reports run --as-of 2026-11-20 --users asha,dev --workers 2 --force"],
    "serve": ["qlwork serve keys create --user platform", "qlwork serve --port 8765"],
    "serve keys create": ["qlwork serve keys create --user platform --name ci"],
    "serve keys list": ["qlwork serve keys list --user platform"],
    "serve keys revoke": ["qlwork serve keys revoke key_0123abcd"],
}
"""Examples shown under each command's ``--help`` (keys are the command path)."""


def _describe(parser: argparse.ArgumentParser, path: str = "") -> None:
    """Give every subcommand a description (its one-line help) and its examples, recursively."""
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help for a in action._choices_actions}
        for name, child in action.choices.items():
            key = f"{path} {name}".strip()
            child.description = child.description or helps.get(name)
            if key in EXAMPLES and not child.epilog:
                child.epilog = "examples:\n" + "\n".join(f"  {line}" for line in EXAMPLES[key])
                child.formatter_class = argparse.RawDescriptionHelpFormatter
            _describe(child, key)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qlwork", description="Research workbench with an AI trading assistant "
                                     "for Indian equities. Read-only on the broker; research output, not advice.")
    parser.add_argument("--version", action="version", version=f"qlwork {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="three-turn assistant conversation on a sample portfolio (offline, synthetic data)")
    p.add_argument("--portfolio", default="sample:diversified", help="portfolio source (default: sample:diversified)")
    p.add_argument("--user", default=None, help="user id (default: $QLWORK_USER, else the OS user name)")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("chat", help="talk to the assistant in the terminal (inside: /help, /new, clear, exit)")
    p.add_argument("--user", default=None, help="user id (default: $QLWORK_USER, else the OS user name)")
    p.add_argument("--backend", default="offline", help="offline | openai | openai-chat (default: offline)")
    p.add_argument("--portfolio", default=None,
                   help=f"portfolio source: sets a new thread's (default: {DEFAULT_PORTFOLIO}); on a reopened "
                   "thread changes it only when given")
    p.add_argument("--provider", default=None,
                   help="market data: demo | kite (your Kite login for --user, read-only; --portfolio kite reads "
                        "its holdings); default: QLWORK_PROVIDER, else provider in qlwork.toml, else demo")
    p.add_argument("--thread", default=None, help="continue this thread id (default: the user's latest)")
    p.add_argument("--new", action="store_true", help="start a new thread")
    p.add_argument("--steps", action="store_true", help="print the tool calls behind each answer")
    add_model_arguments(p)
    p.set_defaults(func=cmd_chat)
    register_eval(sub)
    register_db(sub)

    threads = sub.add_parser("threads", help="list, show, export or recover stored threads (the audit trail)")
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
    p = tsub.add_parser("recover", help="fail runs left active by a dead process and expire runs waiting too "
                        "long for tool outputs, so their threads take questions again (prints what changed)")
    p.add_argument("--thread", default=None, help="only this thread (default: every thread)")
    p.add_argument("--all", action="store_true",
                   help="also fail active runs of live processes (only when no qlwork process is running)")
    p.set_defaults(func=cmd_threads_recover)

    kite = sub.add_parser("kite", help="Zerodha Kite Connect login (read-only market data and holdings)")
    ksub = kite.add_subparsers(dest="kite_command", required=True)
    p = ksub.add_parser("login", help="print the login URL and store the access token "
                        "(needs KITE_API_KEY and KITE_API_SECRET in the environment)")
    p.add_argument("request_token", nargs="?", default=None,
                   help="request_token or the full redirect URL (prompted for if omitted)")
    p.add_argument("--user", default=None, help="qlwork user id the token is stored for (default: the OS user "
                   "name); the batch reads kite_tokens/<user>.json")
    p.set_defaults(func=cmd_kite_login)
    p = ksub.add_parser("status", help="whether a valid Kite token is stored (never prints the token)")
    p.add_argument("--user", default=None, help="qlwork user id (default: the OS user name)")
    p.add_argument("--json", action="store_true", help="print the status as JSON")
    p.set_defaults(func=cmd_kite_status)

    sectors = sub.add_parser("sectors", help="NSE industry classification used as sectors (bundled NIFTY 500 list)")
    ssub = sectors.add_subparsers(dest="sectors_command", required=True)
    p = ssub.add_parser("update", help="download NSE's current NIFTY 500 list into $QLWORK_HOME (needs internet; "
                        "on failure the list in use is kept)")
    p.add_argument("--url", default=None, help="address of the list (default: NSE's ind_nifty500list.csv)")
    p.add_argument("--timeout", type=float, default=20.0, help="seconds to wait for NSE (default: 20)")
    p.set_defaults(func=cmd_sectors_update)
    p = ssub.add_parser("show", help="which industry list is in use (bundled or refreshed)")
    p.set_defaults(func=cmd_sectors_show)

    reports = sub.add_parser("reports", help="weekly per-user portfolio review reports (papermill batch)")
    rsub = reports.add_subparsers(dest="reports_command", required=True)
    p = rsub.add_parser("run", help="run the review notebook per user into reports/<as_of>/ with an index")
    p.add_argument("--as-of", required=True, help="review date YYYY-MM-DD (e.g. 2026-11-20; dd-mm-yyyy such as "
                   "20-11-2026 when unambiguous); a weekend or holiday uses the last trading day before it")
    p.add_argument("--users", default=None, help="comma-separated user ids (default: all in the config)")
    p.add_argument("--workers", type=int, default=None, help="parallel kernels (default: number of CPU cores)")
    p.add_argument("--config", default=None, help="users config TOML (default: the sample users)")
    p.add_argument("--executor", choices=["local", "dask"], default="local",
                   help="local threads or a Dask cluster (workers on other machines need the same QLWORK_HOME "
                        "and portfolio paths on a shared filesystem, or QLWORK_DATABASE_URL set like the client's)")
    p.add_argument("--scheduler", default=None, help="Dask scheduler address tcp://... (default: a LocalCluster)")
    p.add_argument("--force", action="store_true", help="re-run users whose inputs are unchanged")
    p.add_argument("--output-dir", default="reports", help="output root (default: reports)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--format", default="html", help="html (default), html,pdf (also portfolio_review.pdf per user, "
                                                     "printed by the system Chromium, /usr/bin/chromium) or "
                                                     "html,pdf,xlsx (also portfolio_review.xlsx, an Excel workbook)")
    p.set_defaults(func=cmd_reports_run)
    register_serve(sub)
    register_mcp(sub)
    register_holdings(sub)
    _describe(parser)
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
    except BrokenPipeError:  # `qlwork threads show ... | head`: the reader has gone; stop quietly
        _silence_stdout()
        return 141


def _silence_stdout() -> None:
    """Point stdout at /dev/null so the interpreter's final flush does not raise again."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass

