"""Coverage: did the answer answer the question that was asked? Recorded next to grounding.

Used by the runner on every completed answer (any backend) and by ``qlwork eval``. :func:`request_for`
reads the question with the offline engine's parser (:func:`qlwork.assistant.offline.intent.read_request`:
task, symbols, "those"/"it" resolved from the last answer, period, benchmark, files named, sizing,
code, plot). :func:`check` then looks at the run's tool calls and the answer: the period carried into
a tool call, a benchmark figure present, each named symbol addressed, the ranking or size present,
the named note searched, the user's code run as written, the plot drawn, and not a word-for-word
repeat of an earlier answer. The :class:`Coverage` record lists each part covered or not (with why),
is stored in the answer (``TradingResponse.coverage``), the run (``_qlwork_coverage``) and the message
metadata, and an answer that covers none of a request says "I can't answer that with my tools" and
what it can do instead (:func:`attach`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RUN_KEY = "_qlwork_coverage"
CANNOT = "I can't answer that with my tools"
CAN_INSTEAD = ("compare your portfolio or symbols with NIFTY 50 over 1W to 3Y, rank holdings by risk or return, "
               "review the portfolio, give signals, prices, risk and backtests, search attached notes and run code")
TRADING_DAYS = {"W": 5, "M": 21, "Y": 252}


class Part(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    covered: bool
    detail: str = ""


class Coverage(BaseModel):
    """What the question asked for (``request``) and which parts the answer covered.

    ``status``: ``covered`` (every part), ``partial``, ``none`` (no part: the answer says it cannot
    answer), ``nothing_asked`` (no checkable part, e.g. a greeting)."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["covered", "partial", "none", "nothing_asked"]
    request: dict = Field(default_factory=dict)
    parts: list[Part] = Field(default_factory=list)
    summary: str = ""

    def on(self, metadata: dict) -> dict:
        """``metadata`` (a run's) with this record added under :data:`RUN_KEY`."""
        return {**metadata, RUN_KEY: self.model_dump(mode="json")}

    def metadata(self) -> dict[str, str]:
        """Short string values for a message's metadata (512 characters a value); none when nothing
        checkable was asked (the run's metadata keeps the record)."""
        if self.status == "nothing_asked":
            return {}
        return {"coverage": _clip(self.summary), "coverage_status": self.status,
                "coverage_request": _clip(json.dumps(self.request, sort_keys=True))}


def _clip(text: str, limit: int = 512) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


# -- the request ------------------------------------------------------------------------------------

def request_for(messages: list, market) -> dict:
    """The structured request of the last user message in ``messages`` (see the module docstring)."""
    from .offline.entities import answer_entities, message_text
    from .offline.intent import read_request

    users = [m for m in messages if m.role == "user"]
    if not users:
        return {}
    inst = market.instruments()
    stocks = inst[inst["instrument_type"] == "EQ"]
    sectors, symbols = sorted(set(stocks["sector"])), set(inst["tradingsymbol"])
    sector_of = dict(zip(stocks["tradingsymbol"], stocks["sector"]))
    indices = sorted(inst.loc[inst["instrument_type"] == "INDEX", "tradingsymbol"])
    as_of = getattr(market, "default_as_of", None) or market.last_date()
    intent = read_request(message_text(users[-1]), sectors, symbols, indices,
                          entities=answer_entities(messages[:messages.index(users[-1])], symbols, sector_of, sectors),
                          has_attachments=bool(users[-1].attachments), has_files=any(m.attachments for m in users),
                          as_of=as_of)
    req = intent.request
    req.as_of = req.as_of or as_of.isoformat()
    return req.to_dict()


# -- the check ----------------------------------------------------------------------------------------

def _text(answer: dict) -> str:
    bits = [str(i) for i in answer.get("insights") or []]
    bits += [f"{r.get('symbol')} {r.get('reason')}" for r in answer.get("recommendations") or [] if isinstance(r, dict)]
    bits += [f"{k} {v}" for k, v in (answer.get("risk_metrics") or {}).items()]
    return " ".join(bits)


def _shown(value: float, text: str, metrics: dict) -> bool:
    """``value`` (a fraction) appears in the answer: as a percentage (2 or 1 decimals), as is, or as a metric."""
    if any(isinstance(v, (int, float)) and abs(v - value) < 5e-5 for v in metrics.values()):
        return True
    forms = {f"{v * 100:.2f}%" for v in (value, abs(value))} | {f"{v * 100:.1f}%" for v in (value, abs(value))} \
        | {f"{value:g}", f"{value:.4f}"}  # "fell 8.21%" shows -0.0821 too
    return any(f in text for f in forms) or any(f.replace("-", "−") in text for f in forms)


def _names_sector(sector: str, text: str) -> bool:
    """``text`` names ``sector``: its NSE name, or an everyday word for it ("IT", "tech", "banks")."""
    from ..market.sectors import SECTOR_ALIASES

    low = text.lower()
    words = [w for w, fragments in SECTOR_ALIASES.items() if any(f in sector.lower() for f in fragments)]
    return sector.lower() in low or any(re.search(rf"(?<![a-z]){re.escape(w)}(?![a-z])", low) for w in words
                                        if w != "it") or bool(words and "it" in words and re.search(r"\bIT\b", text))


def _period_used(period: str, as_of: str | None, calls: list[tuple[str, dict, Any]]) -> str | None:
    """The tool that carried ``period`` (as ``period``, a matching ``start``, ``lookback_days`` or
    ``backtest_years``), or None."""
    from ..analytics.periods import normalise_period, period_start

    want = normalise_period(period)
    start = period_start(dt.date.fromisoformat(as_of), want).isoformat() if as_of else None
    span = re.fullmatch(r"(\d+)([WMY])", want)
    days = int(span.group(1)) * TRADING_DAYS[span.group(2)] if span else None
    for name, args, _ in calls:
        if str(args.get("period", "")).upper() == want or (start and str(args.get("start", "")) in
                                                           (start, _next_day(start))):
            return name
        if days and isinstance(args.get("lookback_days"), int) and abs(args["lookback_days"] - days) <= 0.1 * days:
            return name
        if span and span.group(2) == "Y" and args.get("backtest_years") == int(span.group(1)):
            return name
        if want in str(args.get("code", "")) or (start and start in str(args.get("code", ""))):
            return name
    return None


def _next_day(iso: str) -> str:
    return (dt.date.fromisoformat(iso) + dt.timedelta(days=1)).isoformat()


def check(request: dict, answer: dict, calls: list[tuple[str, dict, Any]], earlier: list[dict] = ()) -> Coverage:
    """Which parts of ``request`` the answer covered, given the run's ``calls`` as (tool name,
    arguments, output) and the thread's ``earlier`` answers."""
    parts: list[Part] = []
    text, metrics = _text(answer), answer.get("risk_metrics") or {}
    outputs = [(n, o) for n, _, o in calls if isinstance(o, dict) and "error" not in o]
    task = request.get("task")
    if request.get("period"):
        used = _period_used(request["period"], request.get("as_of"), calls)
        parts.append(Part(name="period", covered=used is not None,
                          detail=f"{request['period']} in {used}" if used else
                          f"no tool call used {request.get('period_text') or request['period']}"))
    if request.get("benchmark") or task == "compare" and not request.get("symbols"):
        bench = request.get("benchmark") or "NIFTY 50"
        figures = [o["benchmark_return"] for n, o in outputs if isinstance(o.get("benchmark_return"), (int, float))]
        figures += [d.get("period_return") for n, o in outputs for s, d in (o.get("data") or {}).items()
                    if s == bench and isinstance(d, dict) and isinstance(d.get("period_return"), (int, float))]
        shown = any(_shown(v, text, metrics) for v in figures)
        if task != "compare" and not shown:  # e.g. beta to an index: the index carried into the call counts
            shown = any(str(a.get("benchmark", "")).upper() == bench.upper() for _, a, _ in calls)
        parts.append(Part(name="benchmark", covered=shown, detail=f"{bench} return shown" if shown
                          else f"no {bench} return in the answer"))
    if task == "help" and (request.get("symbols") or request.get("sectors")):  # e.g. "Who is the CEO of INFY?"
        subject = ", ".join(request.get("symbols") or request.get("sectors"))
        return _record(request, [Part(name="question", covered=False, detail=f"about {subject}: needs facts my "
                                      "tools do not have (people, news, corporate events)")])
    named = {s for s in request.get("symbols") or []
             if re.search(rf"(?<![A-Za-z0-9&-]){re.escape(s)}(?![A-Za-z0-9&-])", text, re.IGNORECASE)}
    for sym in request.get("symbols") or []:
        parts.append(Part(name=sym, covered=sym in named, detail="" if sym in named else f"{sym} not addressed"))
    if task not in ("help", "search_notes", "run_code") and not request.get("symbols"):
        for sector in request.get("sectors") or []:
            said = _names_sector(sector, text)
            parts.append(Part(name=sector, covered=said, detail="" if said else f"{sector} not addressed"))
    if task == "rank":
        ranked = [o for n, o in outputs if n == "rank_holdings" and o.get("ranking")]
        ok = bool(ranked) and ranked[-1]["ranking"][0]["symbol"] in text
        parts.append(Part(name="ranking", covered=ok, detail=f"by {ranked[-1]['metric']}" if ok else "no ranking shown"))
    if request.get("sizing"):
        sized = re.search(r"\b\d[\d,]*\s+(?:shares|units)\b|\bINR\s?[\d,]+(?:\.\d+)?\s+(?:more|to buy|of)\b", text)
        why = next((d.get("why") for d in (answer.get("extra") or {}).get("not_done") or []
                    if isinstance(d, dict) and d.get("part") == "sizing"), None)
        parts.append(Part(name="sizing", covered=bool(sized), detail="" if sized else why or "no size given"))
    if request.get("files"):
        hits = [r for n, o in outputs if n == "file_search" for r in o.get("results") or []]
        wanted = [f.lower() for f in request["files"]]
        match = [r for r in hits if any(w in str(r.get("filename", "")).lower() for w in wanted) or wanted == ["note"]]
        cited = [r for r in match if str(r.get("citation", "")) in text]
        parts.append(Part(name="files", covered=bool(cited), detail=f"quoted {cited[0]['filename']}" if cited else
                          f"no passage from {', '.join(request['files'])} quoted"))
    if request.get("code"):
        ran = [o for n, a, o in calls if n == "code_interpreter" and str(a.get("code", "")).strip() == request["code"].strip()]
        ok = bool(ran) and isinstance(ran[0], dict) and ran[0].get("status") == "ok"
        parts.append(Part(name="code", covered=ok, detail="ran as written" if ok else
                          "your code did not run as written" if not ran else f"ran: {ran[0].get('status')}"))
    if request.get("plot"):
        images = [i for n, o in outputs if n == "code_interpreter" for i in o.get("images") or []]
        parts.append(Part(name="plot", covered=bool(images), detail="" if images else "no chart was drawn"))
    same = [e for e in earlier if e.get("insights") and e.get("insights") == answer.get("insights")
            and e.get("recommendations") == answer.get("recommendations")]
    if same and parts:
        parts.append(Part(name="new answer", covered=False, detail="repeats an earlier answer word for word"))
    return _record(request, parts)


def _record(request: dict, parts: list[Part]) -> Coverage:
    if not parts:
        return Coverage(status="nothing_asked", request=request, summary="")
    done = sum(p.covered for p in parts)
    status = "covered" if done == len(parts) else "none" if done == 0 else "partial"
    marks = " ".join(f"{p.name} {'✓' if p.covered else '✗'}" + ("" if p.covered or not p.detail else f" ({p.detail})")
                     for p in parts)
    return Coverage(status=status, request=request, parts=parts, summary=f"answers: {marks}")


def _json(text: Any) -> Any:
    try:
        return json.loads(text) if isinstance(text, (str, bytes)) else text
    except ValueError:
        return text


def describe(record: Any) -> str:
    """One line for people (widget, threads show): ``"Coverage: answers: benchmark ✓ period ✓ ..."``."""
    c = record.model_dump() if isinstance(record, BaseModel) else record
    if not isinstance(c, dict) or not c.get("summary"):
        return ""
    return f"Coverage: {c['summary']}."


def attach(response, messages: list, run_items: list, context) -> Coverage:
    """Check ``response`` (a TradingResponse) against the question, store the record on it, and make
    an answer covering none of the request say so first. Returns the record."""
    from ..tools.context import market_of

    try:
        request = request_for(messages, market_of(context))
    except Exception as exc:  # noqa: BLE001 - a provider that cannot list instruments: record why
        request = {"task": "unknown", "error": f"{type(exc).__name__}: {exc}"[:200]}
    calls = [(req.name, a if isinstance(a := _json(req.arguments), dict) else {}, _json(out)) for req, out in run_items]
    earlier = [p["json"] for m in messages if m.role == "assistant" for p in
               (x if isinstance(x, dict) else x.model_dump() for x in m.content or []) if p.get("type") == "json"]
    record = check(request, response.model_dump(mode="json"), calls, earlier)
    if record.status == "none" and not any(CANNOT in i for i in response.insights):
        missing = "; ".join(f"{p.name}: {p.detail}" for p in record.parts if p.detail)
        response.insights.insert(0, f"{CANNOT} as asked ({missing}). What I can do instead: {CAN_INSTEAD}.")
    response.coverage = record
    return record
