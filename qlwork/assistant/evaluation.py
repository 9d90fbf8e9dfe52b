"""Evaluation harness: fixed scenario conversations, each answer scored on five checks.

Each :class:`Scenario` runs on a fresh thread in a temporary store on the demo market. Every turn
is checked for: ``schema`` (the run completed with a valid TradingResponse), ``traceable`` (every
figure appears in a tool output of the run or the thread, see :func:`untraceable_figures`),
``tools`` (the expected tools were called), ``consistent`` (recommended symbols come from tool
outputs; no buy/add on a symbol the signals mark sell, nor sell/reduce on a buy signal, without a
reason that says so) and, where a scenario names words, ``relevant`` (the answer mentions one).
Latency and token use are recorded. ``qlwork eval`` prints the table and writes the JSON.
"""

from __future__ import annotations

import bisect
import json
import re
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import QlworkError


@dataclass(frozen=True)
class Scenario:
    name: str
    questions: tuple[str, ...]
    tools: tuple[tuple[str, ...], ...]  # expected tool names per turn
    portfolio: str = "sample:diversified"
    mention: tuple[str, ...] = ()  # the last answer mentions one of these (case-insensitive)


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("seed_conversation", ("Analyze my portfolio", "What about the technology sector?",
                                   "Generate a strategy for tech stocks"),
             (("analyze_portfolio", "calculate_risk_metrics"), ("generate_trading_signals",),
              ("generate_trading_signals",))),
    Scenario("concentrated_portfolio", ("Is my portfolio too concentrated?",), (("analyze_portfolio",),),
             portfolio="sample:concentrated"),
    Scenario("sector_question", ("How do banks look right now?",), (("generate_trading_signals",),),
             mention=("bank",)),
    Scenario("risk_question", ("What is the volatility and max drawdown of my portfolio?",),
             (("calculate_risk_metrics",),), portfolio="sample:smallcap_highvol"),
    Scenario("strategy_request", ("Backtest a mean reversion strategy on pharma stocks",),
             (("generate_trading_signals",),), mention=("pharma", "reversion")),
    Scenario("unknown_symbol", ("Give me signals for XYZCORP",), (("generate_trading_signals",),),
             mention=("XYZCORP",)),
    Scenario("bad_file_path", ("Analyze my portfolio",), (("analyze_portfolio",),),
             portfolio="/nonexistent/holdings.csv", mention=("holdings.csv", "does not exist", "not found")),
    Scenario("signals_for_symbols", ("Signals for RELIANCE and TCS",), (("generate_trading_signals",),),
             mention=("RELIANCE", "TCS")),
    Scenario("near_cash_portfolio", ("Analyze my portfolio",), (("analyze_portfolio",),),
             portfolio="sample:near_cash"),
    Scenario("greeting", ("Hello! What can you do?",), ((),)),
    Scenario("symbol_risk", ("What is the beta of HDFCBANK and ICICIBANK?",), (("calculate_risk_metrics",),),
             mention=("HDFCBANK", "ICICIBANK")),
    Scenario("price_trend", ("Show me the price trend of INFY",), (("get_market_data",),), mention=("INFY",)),
    Scenario("compare_follow_up", ("Analyze my portfolio", "What changed since last week?"),
             (("analyze_portfolio",), ("analyze_portfolio",)), portfolio="sample:it_heavy"),
)

# -- figure tracing -----------------------------------------------------------------------------

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_EXEMPT = re.compile(r"\bNIFTY(?:\s+NEXT)?\s*50\b|\bSENSEX\b|\(\s*0\s*[-–]\s*(?:1|10|100)\s*\)|"
                     r"\b0\s*[-–]\s*(?:1|10|100)\b(?!\.\d)|/\s*10\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{2,3})+|\d+)(?:\.\d+)?(?:\s?%)?(?![\w])")
NUMERIC_TEXT_FIELDS = ("insights", "recommendations", "extra")
"""Where figures are looked for in an answer (plus overall_score and risk_metrics)."""


def _walk(value: Any, strings: list[str], numbers: list[float], keys: bool = False) -> None:
    if isinstance(value, bool) or value is None:
        return
    if isinstance(value, (int, float)):
        numbers.append(float(value))
    elif isinstance(value, str):
        strings.append(value)
    elif isinstance(value, dict):
        for k, v in value.items():
            if keys:
                strings.append(str(k))
            _walk(v, strings, numbers, keys)
    elif isinstance(value, (list, tuple)):
        for v in value:
            _walk(v, strings, numbers, keys)


def _tokens(text: str) -> list[tuple[str, float, int, bool]]:
    """(shown text, absolute value, decimals, is_percent) for each figure in ``text``."""
    text = _EXEMPT.sub(" ", _DATE.sub(" ", text))
    out = []
    for m in _NUMBER.finditer(text):
        shown = m.group(0).strip()
        digits = shown.lstrip("-+−").rstrip("%").strip().replace(",", "")
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        out.append((shown, abs(float(digits)), decimals, shown.endswith("%")))
    return out


class _Reference:
    """All numbers and ISO dates in a set of tool outputs (numbers inside strings included)."""

    def __init__(self, outputs: list[Any]) -> None:
        strings: list[str] = []
        numbers: list[float] = []
        for out in outputs:
            if isinstance(out, str):
                try:
                    out = json.loads(out)
                except ValueError:
                    pass
            _walk(out, strings, numbers, keys=True)
        self.dates = {d for s in strings for d in _DATE.findall(s)}
        values = [abs(n) for n in numbers] + [t[1] for s in strings for t in _tokens(s)]
        self.plain = sorted(values)
        self.percent = sorted(v * 100 for v in values)

    @staticmethod
    def _near(pool: list[float], x: float, tol: float) -> bool:
        i = bisect.bisect_left(pool, x - tol)
        return i < len(pool) and pool[i] <= x + tol

    def has(self, x: float, decimals: int, percent: bool) -> bool:
        if x == 0:
            return True
        tol = 0.5 * 10 ** -decimals + 1e-9
        if decimals == 0 and x < 100 and not percent:
            tol = 1e-9  # small whole numbers must appear exactly
        if percent and self._near(self.percent, x, tol):
            return True
        return self._near(self.plain, x, tol)


def untraceable_figures(answer: dict, tool_outputs: list[Any]) -> list[str]:
    """Figures in ``answer`` not found in ``tool_outputs`` (``"where: figure"`` strings).

    Checked: overall_score, recommendation confidences, risk_metrics, numbers in ``extra``, and
    figures written in insights, recommendation reasons and strings of ``extra``. A figure matches a
    tool number shown as is or as a percentage (0.0523 -> "5.23%"), sign-flipped, rounded to the
    shown precision (whole numbers under 100 must match exactly), with thousands separators; ISO
    dates must appear as strings. Zero, index names (NIFTY 50) and scale notation (0-10, /10) are
    exempt. Numbers inside tool output strings count as tool figures.
    """
    ref = _Reference(tool_outputs)
    problems: list[str] = []

    def number(where: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        shown = repr(float(value)) if isinstance(value, float) else str(value)
        decimals = len(shown.split(".")[1]) if "." in shown and "e" not in shown else 0
        if not ref.has(abs(float(value)), decimals, False):
            problems.append(f"{where}: {value}")

    def words(where: str, text: str) -> None:
        for date in _DATE.findall(text):
            if date not in ref.dates:
                problems.append(f"{where}: {date}")
        for shown, x, decimals, percent in _tokens(text):
            if not ref.has(x, decimals, percent):
                problems.append(f"{where}: {shown}")

    number("overall_score", answer.get("overall_score"))
    for key, value in (answer.get("risk_metrics") or {}).items():
        number(f"risk_metrics.{key}", value)
    for i, rec in enumerate(answer.get("recommendations") or []):
        number(f"recommendations[{i}].confidence", rec.get("confidence"))
        words(f"recommendations[{i}].reason", str(rec.get("reason", "")))
    for i, insight in enumerate(answer.get("insights") or []):
        words(f"insights[{i}]", str(insight))
    strings: list[str] = []
    numbers: list[float] = []
    _walk(answer.get("extra") or {}, strings, numbers)
    for value in numbers:
        number("extra", value)
    for text in strings:
        words("extra", text)
    return problems


# -- consistency ----------------------------------------------------------------------------------

_SELL_OK = re.compile(r"sell|despite|against|contrar|revers", re.IGNORECASE)
_BUY_OK = re.compile(r"buy|despite|overweight|rebalanc|concentrat|target|weight|risk|profit", re.IGNORECASE)


def inconsistent_recommendations(answer: dict, tool_outputs: list[Any]) -> list[str]:
    """Recommendations at odds with the tools: unknown symbols, or acting against the latest signal
    for a symbol without a reason that says why."""
    signals: dict[str, str] = {}
    blob = json.dumps(tool_outputs, default=str)
    for out in tool_outputs:
        if isinstance(out, dict):
            for s in out.get("signals") or []:
                if isinstance(s, dict) and "symbol" in s:
                    signals[s["symbol"]] = s.get("action", "")
    problems = []
    for rec in answer.get("recommendations") or []:
        sym, action, reason = rec.get("symbol", ""), rec.get("action"), str(rec.get("reason", ""))
        if f'"{sym}"' not in blob:
            problems.append(f"{action} {sym}: symbol not in any tool output")
        elif action in ("buy", "add") and signals.get(sym) == "sell" and not _SELL_OK.search(reason):
            problems.append(f"{action} {sym}: signals say sell and the reason does not address it")
        elif action in ("sell", "reduce") and signals.get(sym) == "buy" and not _BUY_OK.search(reason):
            problems.append(f"{action} {sym}: signals say buy and the reason does not address it")
    return problems


# -- running ---------------------------------------------------------------------------------------

@dataclass
class TurnResult:
    question: str
    status: str
    checks: dict[str, bool]
    problems: list[str] = field(default_factory=list)
    tools_used: list[str] = field(default_factory=list)
    latency_ms: float = 0.0
    tokens: int = 0

    @property
    def passed(self) -> bool:
        return all(self.checks.values())


@dataclass
class ScenarioResult:
    name: str
    turns: list[TurnResult]

    @property
    def passed(self) -> bool:
        return all(t.passed for t in self.turns)


@dataclass
class EvalReport:
    backend: str
    model: str
    scenarios: list[ScenarioResult]

    @property
    def checks_passed(self) -> int:
        return sum(sum(t.checks.values()) for s in self.scenarios for t in s.turns)

    @property
    def checks_total(self) -> int:
        return sum(len(t.checks) for s in self.scenarios for t in s.turns)

    @property
    def score(self) -> float:
        """Share of all checks passed (0-1)."""
        return self.checks_passed / self.checks_total if self.checks_total else 0.0

    @property
    def scenario_score(self) -> float:
        return sum(s.passed for s in self.scenarios) / len(self.scenarios) if self.scenarios else 0.0

    def to_dict(self) -> dict:
        return {"backend": self.backend, "model": self.model, "score": round(self.score, 4),
                "scenario_score": round(self.scenario_score, 4), "checks_passed": self.checks_passed,
                "checks_total": self.checks_total,
                "scenarios": [{"name": s.name, "passed": s.passed, "turns": [asdict(t) for t in s.turns]}
                              for s in self.scenarios]}

    def table(self) -> str:
        rows = [("scenario", "turn", "schema", "traceable", "tools", "consistent", "relevant", "ms", "tokens")]
        for s in self.scenarios:
            for i, t in enumerate(s.turns, 1):
                mark = {True: "ok", False: "FAIL", None: "-"}
                rows.append((s.name, str(i), *(mark[t.checks.get(c)] for c in
                                               ("schema", "traceable", "tools", "consistent", "relevant")),
                             f"{t.latency_ms:.0f}", str(t.tokens)))
        widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
        lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
        lines.insert(1, "  ".join("-" * w for w in widths))
        lines.append(f"\n{self.backend} ({self.model}): {self.checks_passed}/{self.checks_total} checks "
                     f"({self.score:.0%}), {sum(s.passed for s in self.scenarios)}/{len(self.scenarios)} scenarios")
        for s in self.scenarios:
            for i, t in enumerate(s.turns, 1):
                for p in t.problems:
                    lines.append(f"  {s.name} turn {i}: {p}")
        return "\n".join(lines)


def _score_turn(session, question: str, expected: tuple[str, ...], mention: tuple[str, ...]) -> TurnResult:
    from .response import TradingResponse

    start = time.perf_counter()
    try:
        answer = session.ask(question)
        run, data, error = answer.run, (answer.message.data if answer.message else None), None
    except QlworkError as exc:
        run = session.store.get_run(exc.details["run_id"]) if exc.details.get("run_id") else None
        data, error = None, str(exc)
    latency = (time.perf_counter() - start) * 1000
    steps = session.store.list_steps(run.id) if run else []
    calls = [c for s in steps for c in s.tool_calls]
    prior = [c.function.output for rid, c in session.store.completed_tool_calls(session.thread_id)
             if run is None or rid != run.id]
    outputs = [c.function.output for c in calls] + prior
    problems = [error] if error else []
    checks: dict[str, bool] = {"schema": False, "traceable": False, "tools": False, "consistent": False}
    if data is not None:
        try:
            TradingResponse.model_validate(data)
            checks["schema"] = True
        except ValueError as exc:
            problems.append(f"schema: {exc}")
        parsed = [json.loads(o) if isinstance(o, str) else o for o in outputs if o is not None]
        untraced = untraceable_figures(data, parsed)
        checks["traceable"] = not untraced
        problems += [f"untraceable {u}" for u in untraced]
        inconsistent = inconsistent_recommendations(data, parsed)
        checks["consistent"] = not inconsistent
        problems += inconsistent
        if mention:
            text = json.dumps(data, ensure_ascii=False).lower()
            checks["relevant"] = any(m.lower() in text for m in mention)
            if not checks["relevant"]:
                problems.append(f"answer mentions none of {list(mention)}")
    elif run is not None and not error:
        problems.append(f"run {run.status}")
    used = list(dict.fromkeys(c.function.name for c in calls))
    missing = [t for t in expected if t not in used]
    checks["tools"] = data is not None and not missing
    if missing:
        problems.append(f"expected tools not called: {missing}")
    tokens = run.usage.total_tokens if run and run.usage else 0
    return TurnResult(question, run.status if run else "error", checks, problems, used, round(latency, 1), tokens)


def run_eval(backend: Any = "offline", *, model: str | None = None, base_url: str | None = None,
             api_key_env: str | None = None, options: dict | None = None,
             scenarios: tuple[Scenario, ...] | list[Scenario] = SCENARIOS, workdir: str | Path | None = None,
             max_turns: int = 8) -> EvalReport:
    """Run ``scenarios`` on ``backend`` (a name or a Backend) and score every answer."""
    from .backends.base import get_backend
    from .session import Session
    from .store import Store
    from ..market import get_provider

    if isinstance(backend, str):
        opts = dict(options or {})
        if backend != "offline":
            opts.update({k: v for k, v in {"model": model, "base_url": base_url, "api_key_env": api_key_env}.items()
                         if v is not None})
        backend = get_backend(backend, **opts)
    market = get_provider("demo")
    results = []
    with tempfile.TemporaryDirectory(prefix="qlwork-eval-") as tmp:
        store = Store(Path(workdir or tmp) / "eval.db")
        try:
            for sc in scenarios:
                session = Session("eval", backend=backend, store=store, market=market, portfolio=sc.portfolio,
                                  new_thread=True, max_turns=max_turns)
                turns = []
                for i, question in enumerate(sc.questions):
                    expected = sc.tools[i] if i < len(sc.tools) else ()
                    mention = sc.mention if i == len(sc.questions) - 1 else ()
                    turns.append(_score_turn(session, question, expected, mention))
                results.append(ScenarioResult(sc.name, turns))
        finally:
            store.close()
    return EvalReport(getattr(backend, "name", "?"), getattr(backend, "model", "?"), results)
