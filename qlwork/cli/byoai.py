"""CLI pieces for bring-your-own-AI: model options for ``chat`` and the ``eval`` command.

Wired into :mod:`qlwork.cli` with ``add_model_arguments(chat_parser)``, ``backend_options(args)``
and ``register_eval(subparsers)``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
from pathlib import Path


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--model``, ``--base-url``, ``--api-key-env``, ``--timeout``, ``--max-retries``."""
    parser.add_argument("--model", default=None, help="model name (openai/openai-chat), e.g. gpt-4.1-mini or qwen3")
    parser.add_argument("--base-url", default=None,
                        help="OpenAI-compatible server, e.g. http://127.0.0.1:11434/v1 (Ollama)")
    parser.add_argument("--api-key-env", default=None,
                        help="NAME of the env var holding the API key (default OPENAI_API_KEY; none needed for "
                             "a server on 127.0.0.1)")
    parser.add_argument("--timeout", type=float, default=None, help="seconds to wait for the model (default 60)")
    parser.add_argument("--max-retries", type=int, default=None, help="retries on 429/5xx/timeouts (default 2)")
    parser.add_argument("--context-window", type=int, default=None,
                        help="the model's context in tokens (default 32000; 8192 or less gets a compact prompt)")
    parser.add_argument("--max-output-tokens", type=int, default=None, help="cap on tokens per model answer")


def backend_options(args: argparse.Namespace) -> dict:
    """Backend options from the parsed arguments (only those given; none for the offline engine)."""
    if getattr(args, "backend", "offline") == "offline":
        return {}
    given = {"model": args.model, "base_url": args.base_url, "api_key_env": args.api_key_env,
             "timeout": args.timeout, "max_retries": args.max_retries,
             "context_window": getattr(args, "context_window", None),
             "max_output_tokens": getattr(args, "max_output_tokens", None)}
    return {k: v for k, v in given.items() if v is not None}


def default_eval_path(backend: str, model: str | None, day: dt.date | None = None) -> Path:
    """``$QLWORK_HOME/eval/<backend>-<model>-<date>.json`` (name made file-safe)."""
    from ..config import home

    stem = "-".join(str(x) for x in (backend, model or "default", (day or dt.date.today()).isoformat()))
    return home() / "eval" / (re.sub(r"[^A-Za-z0-9._-]+", "_", stem) + ".json")


def cmd_eval(args: argparse.Namespace) -> int:
    from ..assistant.evaluation import SCENARIOS, run_eval
    from ..errors import InputError

    names = [n.strip() for n in (args.scenarios or "").split(",") if n.strip()]
    unknown = sorted(set(names) - {s.name for s in SCENARIOS})
    if unknown:
        raise InputError(f"Unknown scenarios {unknown}.", fix="Choose from: " + ", ".join(s.name for s in SCENARIOS))
    chosen = [s for s in SCENARIOS if s.name in names] if names else SCENARIOS
    report = run_eval(args.backend, options=backend_options(args), grounding=args.grounding, advice=args.advice,
                      scenarios=chosen)
    print(report.table())
    path = Path(args.output) if args.output else default_eval_path(report.backend, report.model)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(report.to_dict(), fh, indent=2)
    print(f"wrote {path}")
    return 0 if report.score == 1.0 or not args.strict else 1


def register_eval(sub) -> argparse.ArgumentParser:
    """Add ``qlwork eval`` to the CLI's subparsers."""
    p = sub.add_parser("eval", help="score a backend on the fixed scenario conversations")
    p.add_argument("--backend", default="offline", help="offline | openai | openai-chat (default: offline)")
    add_model_arguments(p)
    p.add_argument("--output", "-o", default=None,
                   help="JSON report path (default: $QLWORK_HOME/eval/<backend>-<model>-<date>.json)")
    p.add_argument("--grounding", choices=("repair", "flag", "reject"), default=None,
                   help="grounding policy during the eval: flag scores the model's first answers, repair (the "
                        "default, from QLWORK_GROUNDING) what users are shown after one correction turn")
    p.add_argument("--advice", choices=("repair", "flag", "reject"), default=None,
                   help="advice-check policy during the eval: flag scores the model's own recommendations, repair "
                        "(the default, from QLWORK_ADVICE) what users are shown after the check rewrites them")
    p.add_argument("--scenarios", default=None,
                   help="comma-separated scenario names to run (default: all), e.g. seed_conversation,greeting")
    p.add_argument("--strict", action="store_true", help="exit 1 unless every check passes")
    p.set_defaults(func=cmd_eval)
    return p
