"""The offline engine: a deterministic rule engine that plays the model's part, no network, no key.

It is not a language model and says so (model name ``offline-rules``). Turn one reads the user's
intent and plans tool calls; turn two composes a TradingResponse from the tool outputs of the run
and earlier runs in the thread. Every figure it writes is copied from a tool output.
"""

from __future__ import annotations

import datetime as dt
import json

from ..response import wants_trading_response
from ..backends.base import FinalMessage, ModelInput, ToolCallRequest, ToolCalls
from .compose import compose, finish
from .compose_client import KNOWN as CLIENT_KNOWN, client_arguments, compose_client
from .compose_files import FILE_KINDS, files_step
from .compose_request import REQUEST_KINDS
from .entities import answer_entities, message_text
from .intent import Intent, read_intent, read_request
from .plan_request import plan_request


ONLY_PORTFOLIO_QUESTIONS = (
    "This assistant runs on qlwork's offline rule engine, which only answers portfolio and market questions "
    "(portfolio review, risk, signals, sectors, strategies); for anything else configure a model: "
    "`qlwork serve --backend openai-chat --model M` (or `--backend openai`), or create the assistant with "
    "\"backend\": \"openai-chat\" and a model.")


class OfflineBackend:
    """Rule-based backend; the default. Deterministic for the same thread and data."""

    name = "offline"
    model = "offline-rules"
    supports_streaming = False

    def __init__(self, market=None, **_: object) -> None:
        self._market = market
        self._known: tuple[tuple, tuple[list[str], set[str]]] | None = None

    # -- universe --------------------------------------------------------------------------
    def _universe(self, inp: ModelInput) -> tuple[list[str], set[str]]:
        return self._catalogue(inp)[:2]

    def _catalogue(self, inp: ModelInput) -> tuple[list[str], set[str], list[str], dict[str, str], dt.date | None]:
        """(sectors, symbols, index names, symbol -> sector, analysis date) of the provider."""
        market = self._market
        if market is None:
            from ...market import get_provider

            market = self._market = get_provider((inp.thread.metadata or {}).get("provider", "demo"),
                                                 user_id=inp.thread.user_id)
        key = (id(market), dt.date.today())  # instrument lists change at most daily
        if self._known is None or self._known[0] != key:
            inst = market.instruments()
            stocks = inst[inst["instrument_type"] == "EQ"]
            indices = sorted(inst.loc[inst["instrument_type"] == "INDEX", "tradingsymbol"])
            as_of = getattr(market, "default_as_of", None)
            self._known = key, (sorted(set(stocks["sector"])), set(inst["tradingsymbol"]), indices,
                                dict(zip(stocks["tradingsymbol"], stocks["sector"])), as_of)
        return self._known[1]

    def _intents(self, inp: ModelInput) -> tuple[str, Intent]:
        sectors, symbols, indices, sector_of, as_of = self._catalogue(inp)
        users = [m for m in inp.messages if m.role == "user"]
        previous = None
        for m in users[-3:-1]:  # the last two earlier questions, oldest first, to carry a sector over
            prev = read_intent(message_text(m), sectors, symbols, previous)
            previous = prev if prev.sector or previous is None else previous
        text = message_text(users[-1]) if users else ""
        meta_as_of = (inp.thread.metadata or {}).get("as_of")
        intent = read_request(text, sectors, symbols, indices, previous,
                              entities=answer_entities(inp.messages, symbols, sector_of, sectors),
                              has_attachments=bool(users and users[-1].attachments),
                              has_files=any(m.attachments for m in users),
                              as_of=_date(meta_as_of) or as_of)
        if intent.sector is None and intent.kind == "strategy" and previous and previous.sector \
                and not intent.symbols and not _mentions_portfolio(text):
            intent.sector = previous.sector
        if intent.request is not None:
            intent.request.as_of = (_date(meta_as_of) or as_of or dt.date.today()).isoformat()
            intent.request.universe = {s: sector_of.get(s) for s in intent.request.symbols}
            intent.request.sector_stocks = {sec: sorted(k for k, v in sector_of.items() if v == sec)
                                            for sec in intent.request.sectors}
        return text, intent

    # -- protocol --------------------------------------------------------------------------
    def next_step(self, inp: ModelInput) -> ToolCalls | FinalMessage:
        text, intent = self._intents(inp)
        # client-declared functions with the engine's tool names are called too (requires_action)
        client = {c.get("name"): c for c in inp.client_tools or [] if c.get("name") in CLIENT_KNOWN}
        available = {t.name for t in inp.tools} | set(client)
        if intent.kind == "help" and not wants_trading_response(inp.assistant):
            return FinalMessage(ONLY_PORTFOLIO_QUESTIONS)  # any other assistant: one clear line, as text
        if intent.kind in FILE_KINDS:  # files and code: planned and composed in compose_files
            return files_step(intent, text, inp, available)
        if not inp.run_items:
            calls = [c for c in plan(intent, inp) if c[0] in available]
            meta = inp.thread.metadata or {}
            calls = [(n, client_arguments(a, client[n], meta) if n in client else a) for n, a in calls]
            if calls:
                return ToolCalls([ToolCallRequest(id=f"call_offline_{inp.turn}_{i}", name=name,
                                                  arguments=json.dumps(args, sort_keys=True))
                                  for i, (name, args) in enumerate(calls)])
        if any(req.name in client for req, _ in inp.run_items):  # answered by the platform's own tools
            return FinalMessage(json.dumps(compose_client(intent, inp.run_items), ensure_ascii=False))
        outputs = [(req.name, _loads(req.arguments), _loads(out)) for req, out in inp.run_items]
        if intent.kind in REQUEST_KINDS:
            answer = finish(REQUEST_KINDS[intent.kind](intent, outputs, inp.prior_tool_outputs or []), intent.kind,
                            text, outputs)
        else:
            answer = compose(intent, text, outputs, inp.prior_tool_outputs or [], sorted(available))
        return FinalMessage(json.dumps(answer, ensure_ascii=False))


def _date(value) -> dt.date | None:
    try:
        return dt.date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _mentions_portfolio(text: str) -> bool:
    return any(w in text.lower() for w in ("portfolio", "my holdings", "my stocks"))


def _loads(text):
    if isinstance(text, (dict, list)):
        return text
    try:
        return json.loads(text)
    except (TypeError, json.JSONDecodeError):
        return {"error": {"message": str(text)}}


def _has_prior(inp: ModelInput, tool_name: str) -> bool:
    return any(p.get("name") == tool_name and "error" not in (p.get("output") or {})
               for p in inp.prior_tool_outputs or [])


def plan(intent: Intent, inp: ModelInput) -> list[tuple[str, dict]]:
    """Tool calls for an intent. Independent calls are returned together (they run concurrently)."""
    kind = intent.kind
    if kind in ("benchmark", "rank", "explain") or (intent.request and intent.request.period):
        planned = plan_request(intent, inp)
        if planned is not None:
            return planned
    if kind in ("portfolio", "compare"):
        return [("analyze_portfolio", {}), ("calculate_risk_metrics", {})]
    if kind == "sector":
        calls = [("generate_trading_signals", {"sector": intent.sector})]
        if not _has_prior(inp, "analyze_portfolio"):
            calls.append(("analyze_portfolio", {}))
        return calls
    if kind == "strategy":
        args: dict = {"strategy": intent.style}
        if intent.symbols:
            args["symbols"] = intent.symbols
        elif intent.sector:
            args["sector"] = intent.sector
        return [("generate_trading_signals", args)]
    if kind == "cut_risk":
        return [("calculate_risk_metrics", {})]
    if kind == "risk":
        return [("calculate_risk_metrics", {"symbols": intent.symbols} if intent.symbols else {})]
    if kind == "signals":
        if intent.symbols:
            return [("generate_trading_signals", {"symbols": intent.symbols})]
        if intent.sector:
            return [("generate_trading_signals", {"sector": intent.sector})]
        calls = [("generate_trading_signals", {})]  # the holdings' signals, checked against the portfolio
        return calls if _has_prior(inp, "analyze_portfolio") else calls + [("analyze_portfolio", {})]
    if kind == "market_data":
        return [("get_market_data", {"symbols": intent.symbols, "limit": 5}),
                ("generate_trading_signals", {"symbols": intent.symbols})]
    return []
