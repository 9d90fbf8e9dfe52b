"""Grounding: every figure of an answer traced to the tool outputs of its run and thread.

Used by the runner on every completed run (any backend) and by ``qlwork eval``. :func:`check` finds
the figures of a TradingResponse (scores, confidences, risk metrics, and numbers, percentages and ISO
dates written in insights, reasons and ``extra``), looks each up among the numbers and dates of the
tool outputs (rules in :func:`untraceable_figures`), and lists recommendations at odds with the
tools (:func:`inconsistent_recommendations`). The result is a :class:`Grounding`, stored in the
answer (``TradingResponse.grounding``), the run (``Run.grounding``) and the message metadata.

Policy (``QLWORK_GROUNDING``, ``[qlwork] grounding`` in qlwork.toml, or an assistant's
``metadata["grounding"]``): ``repair`` (default) sends the model one correction naming the
problems and checks the new answer; still ungrounded, it is shown flagged. ``flag`` shows the first
answer flagged, with no extra model call. ``reject`` also asks for one correction, and fails the run
(``ungrounded_answer``) if the problems remain.
"""

from __future__ import annotations

import bisect
import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..config import GROUNDING_POLICIES as POLICIES, grounding_policy

__all__ = ["DEFAULT_POLICY", "NUMERIC_TEXT_FIELDS", "POLICIES", "RUN_KEY", "Check", "Grounding", "Reference", "Untraced",
           "check", "correction", "decide", "describe", "failure_message", "inconsistent_recommendations", "policy_for",
           "summary_line", "trace", "untraceable_figures"]

DEFAULT_POLICY = "repair"
RUN_KEY = "_qlwork_grounding"
"""Key of the grounding record in ``Run.metadata`` (``_qlwork`` keys are hidden from API clients)."""

# -- figures --------------------------------------------------------------------------------------

_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
_EXEMPT = re.compile(r"\bNIFTY(?:\s+NEXT)?\s*50\b|\bSENSEX\b|\(\s*0\s*[-–]\s*(?:1|10|100)\s*\)|"
                     r"\b0\s*[-–]\s*(?:1|10|100)\b(?!\.\d)|/\s*10\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\w.])[-+−]?(?:\d{1,3}(?:,\d{2,3})+|\d+)(?:\.\d+)?(?:\s?%|\s?pp\b)?(?![\w])")
_SCAN = re.compile(f"(?P<date>{_DATE.pattern})|(?P<exempt>{_EXEMPT.pattern})|(?P<figure>{_NUMBER.pattern})",
                   re.IGNORECASE)
"""What :func:`_tokens` finds after removing dates and exempt notation, in a single scan."""
SIZE_FIELDS = ("weight", "target_weight", "amount_inr", "shares", "last_price", "sector_weight_after")
"""A recommendation's sizes (TradingResponse.Recommendation), traced like its confidence."""
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


def _collect(value: Any, strings: list[str], numbers: list[float]) -> None:
    """Every string (dict keys included) and number in ``value``, in no particular order (fast path
    of :func:`_walk` for parsed JSON: only containers go through the stack)."""
    if not isinstance(value, (dict, list, tuple)):
        value = [value]
    stack: list = [value]
    add_string, add_number, push = strings.append, numbers.append, stack.append
    while stack:
        node = stack.pop()
        if type(node) is dict:
            strings.extend(map(str, node))
            node = node.values()
        for v in node:
            t = type(v)
            if t is str:
                add_string(v)
            elif t is float or t is int:
                add_number(v)
            elif t is dict or t is list or t is tuple:
                push(v)
            elif v is not None and not isinstance(v, bool):
                _walk(v, strings, numbers, keys=True)  # subclasses of the JSON types


def _digits(shown: str) -> str:
    return shown.strip().lstrip("-+−").removesuffix("pp").rstrip("%").strip().replace(",", "")


def _value(shown: str) -> float:
    return abs(float(_digits(shown)))


def _tokens(text: str) -> list[tuple[str, float, int, bool]]:
    """(shown text, absolute value, decimals, is_percent) for each figure in ``text``."""
    text = _EXEMPT.sub(" ", _DATE.sub(" ", text))
    out = []
    for m in _NUMBER.finditer(text):
        shown = m.group(0).strip()
        digits = _digits(shown)
        decimals = len(digits.split(".")[1]) if "." in digits else 0
        out.append((shown, abs(float(digits)), decimals, shown.endswith(("%", "pp"))))  # pp: points of a percentage
    return out


class Reference:
    """All numbers, ISO dates and whole strings in a set of tool outputs (numbers inside strings
    included), and the latest signal per symbol. Outputs may be parsed JSON or JSON text.

    Built in one pass: strings are scanned for figures as one joined text (NUL-separated, so no
    pattern spans two strings), which keeps a typical check (~40 KiB of outputs) to a few ms.
    """

    def __init__(self, outputs: list[Any]) -> None:
        strings: list[str] = []
        numbers: list[float] = []
        self.signals: dict[str, str] = {}
        for out in outputs:
            out = _parsed(out)
            _collect(out, strings, numbers)
            if isinstance(out, dict) and isinstance(out.get("signals"), list):
                self.signals.update({s["symbol"]: s.get("action", "") for s in out["signals"]
                                     if isinstance(s, dict) and isinstance(s.get("symbol"), str)})
        self.strings = set(strings)
        self.dates, shown = set(), set()
        for m in _SCAN.finditer("\x00".join(self.strings)):  # dates, exempt notation, figures: one pass
            if m.lastgroup == "date":
                self.dates.add(m.group())
            elif m.lastgroup == "figure":
                shown.add(m.group())
        values = {abs(n) for n in numbers} | {_value(f) for f in shown}
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


@dataclass
class Check:
    """What :func:`check` found: how many figures it looked at, and the problems."""

    checked: int = 0
    untraceable: list[tuple[str, str]] = field(default_factory=list)  # (where, figure as shown)
    inconsistent: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.untraceable and not self.inconsistent


def trace(answer: dict, ref: Reference) -> Check:
    """Every figure of ``answer`` looked up in ``ref`` (see :func:`untraceable_figures` for the rules)."""
    result = Check()

    def number(where: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return
        shown = repr(float(value)) if isinstance(value, float) else str(value)
        decimals = len(shown.split(".")[1]) if "." in shown and "e" not in shown else 0
        result.checked += 1
        if not ref.has(abs(float(value)), decimals, False):
            result.untraceable.append((where, str(value)))

    def words(where: str, text: str) -> None:
        for date in _DATE.findall(text):
            result.checked += 1
            if date not in ref.dates:
                result.untraceable.append((where, date))
        for shown, x, decimals, percent in _tokens(text):
            result.checked += 1
            if not ref.has(x, decimals, percent):
                result.untraceable.append((where, shown))

    number("overall_score", answer.get("overall_score"))
    for key, value in (answer.get("risk_metrics") or {}).items():
        number(f"risk_metrics.{key}", value)
    for i, rec in enumerate(answer.get("recommendations") or []):
        for key in ("confidence", *SIZE_FIELDS):
            number(f"recommendations[{i}].{key}", rec.get(key))
        words(f"recommendations[{i}].reason", str(rec.get("reason", "")))
    for i, insight in enumerate(answer.get("insights") or []):
        words(f"insights[{i}]", str(insight))
    strings: list[str] = []
    numbers: list[float] = []
    # extra.code is the code a code_interpreter call ran (shown as code): its literals are not figures
    _walk({k: v for k, v in (answer.get("extra") or {}).items() if k != "code"}, strings, numbers)
    for value in numbers:
        number("extra", value)
    for text in strings:
        words("extra", text)
    return result


def untraceable_figures(answer: dict, tool_outputs: list[Any]) -> list[str]:
    """Figures in ``answer`` not found in ``tool_outputs`` (``"where: figure"`` strings).

    Checked: overall_score, recommendation confidences, risk_metrics, numbers in ``extra``, and
    figures written in insights, recommendation reasons and strings of ``extra``. A figure matches a
    tool number shown as is or as a percentage (0.0523 -> "5.23%"), sign-flipped, rounded to the
    shown precision (whole numbers under 100 must match exactly), with thousands separators; ISO
    dates must appear as strings. Zero, index names (NIFTY 50) and scale notation (0-10, /10) are
    exempt. Numbers inside tool output strings count as tool figures.
    """
    return [f"{where}: {figure}" for where, figure in trace(answer, Reference(tool_outputs)).untraceable]


# -- consistency ----------------------------------------------------------------------------------

_SELL_OK = re.compile(r"sell|despite|against|contrar|revers", re.IGNORECASE)
_BUY_OK = re.compile(r"buy|despite|overweight|rebalanc|concentrat|target|weight|risk|profit", re.IGNORECASE)


def inconsistent_recommendations(answer: dict, tool_outputs: list[Any] | Reference) -> list[str]:
    """Recommendations at odds with the tools: symbols that are no whole string in any tool output,
    or acting against the latest signal for a symbol without a reason that says why."""
    ref = tool_outputs if isinstance(tool_outputs, Reference) else Reference(tool_outputs)
    problems = []
    for rec in answer.get("recommendations") or []:
        sym, action, reason = rec.get("symbol", ""), rec.get("action"), str(rec.get("reason", ""))
        signal = ref.signals.get(sym)
        if sym not in ref.strings:
            problems.append(f"{action} {sym}: symbol not in any tool output")
        elif action in ("buy", "add") and signal == "sell" and not _SELL_OK.search(reason):
            problems.append(f"{action} {sym}: signals say sell and the reason does not address it")
        elif action in ("sell", "reduce") and signal == "buy" and not _BUY_OK.search(reason):
            problems.append(f"{action} {sym}: signals say buy and the reason does not address it")
    return problems


def _parsed(value: Any) -> Any:
    if isinstance(value, (str, bytes)):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def check(answer: dict, tool_outputs: list[Any]) -> Check:
    """Figures and recommendations of ``answer`` (a TradingResponse dict) against ``tool_outputs``."""
    ref = Reference([o for o in tool_outputs if o is not None])
    result = trace(answer, ref)
    result.inconsistent = inconsistent_recommendations(answer, ref)
    return result


# -- the record -----------------------------------------------------------------------------------

class Untraced(BaseModel):
    model_config = ConfigDict(extra="forbid")

    where: str
    figure: str


class Grounding(BaseModel):
    """The grounding of one answer, filled by the runner (never taken from a model).

    ``status``: ``grounded`` (every figure traced, recommendations consistent, first time),
    ``repaired`` (so after one correction turn), ``flagged`` (problems remain; shown marked).
    """

    model_config = ConfigDict(extra="forbid")

    status: Literal["grounded", "repaired", "flagged"]
    checked: int = Field(ge=0)
    traced: int = Field(ge=0)
    untraceable: list[Untraced] = Field(default_factory=list)
    inconsistent: list[str] = Field(default_factory=list)
    policy: Literal["repair", "flag", "reject"] = DEFAULT_POLICY
    corrected: bool = False
    """True when the model was sent a correction turn for this answer."""
    summary: str = ""

    @classmethod
    def of(cls, result: Check, policy: str, corrected: bool) -> "Grounding":
        status = "flagged" if not result.ok else "repaired" if corrected else "grounded"
        traced = result.checked - len(result.untraceable)
        return cls(status=status, checked=result.checked, traced=traced, policy=policy, corrected=corrected,
                   untraceable=[Untraced(where=w, figure=f) for w, f in result.untraceable],
                   inconsistent=list(result.inconsistent), summary=summary_line(traced, result.checked))

    def on(self, run: Any) -> dict:
        """``run``'s metadata with this record added (under :data:`RUN_KEY`, hidden from API clients)."""
        return {**run.metadata, RUN_KEY: self.model_dump(mode="json")}

    def metadata(self) -> dict[str, str]:
        """Short string values for a message's metadata (Assistants limits: 512 characters a value)."""
        out = {"grounding": self.summary, "grounding_status": self.status}
        if self.untraceable:
            out["grounding_untraceable"] = _clip("; ".join(f"{u.where}: {u.figure}" for u in self.untraceable))
        if self.inconsistent:
            out["grounding_inconsistent"] = _clip("; ".join(self.inconsistent))
        return out


def summary_line(traced: int, checked: int) -> str:
    """``"n of m figures traced to tool outputs"`` (or that there were none to trace)."""
    if checked == 0:
        return "no figures to trace"
    return f"{traced} of {checked} figure{'s' * (checked != 1)} traced to tool outputs"


def describe(record: Any) -> str:
    """One line for people (threads show, the report's audit trail, the widget): the summary, whether
    a correction turn ran, and what stayed untraceable or inconsistent. Empty without a record."""
    g = record.model_dump() if isinstance(record, BaseModel) else record
    if not isinstance(g, dict) or not g.get("summary"):
        return ""
    text = f"Grounding: {g['summary']}"
    if g.get("status") == "repaired":
        text += ", after one correction turn"
    elif g.get("status") == "flagged":
        text += " (flagged" + ("; one correction turn did not fix it" if g.get("corrected") else "") + ")"
    untraced = [u for u in g.get("untraceable") or [] if isinstance(u, dict)]
    if untraced:
        text += "; not traced: " + ", ".join(f"{u.get('where')} {u.get('figure')}" for u in untraced)
    if g.get("inconsistent"):
        text += "; at odds with the tools: " + "; ".join(map(str, g["inconsistent"]))
    return text + "."


def _clip(text: str, limit: int = 512) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def correction(result: Check) -> str:
    """The message asking a model to fix or remove what :func:`check` found."""
    parts = []
    if result.untraceable:
        listed = "; ".join(f"{where}: {figure}" for where, figure in result.untraceable[:20])
        more = f" (and {len(result.untraceable) - 20} more)" if len(result.untraceable) > 20 else ""
        parts.append(f"these figures do not appear in any tool output of this conversation: {listed}{more}. "
                     "Replace each with the figure from a tool output (call a tool if you need it) or remove it")
    if result.inconsistent:
        parts.append("these recommendations are at odds with the tool outputs: " + "; ".join(result.inconsistent)
                     + ". Recommend only symbols from the tool outputs, and when acting against a signal say why "
                       "in the reason")
    return "; ".join(parts) + "."


def failure_message(result: Check) -> str:
    """The run error of a rejected answer (names what stayed ungrounded)."""
    bits = []
    if result.untraceable:
        bits.append(f"{len(result.untraceable)} figure(s) not found in any tool output ("
                    + "; ".join(f"{w}: {f}" for w, f in result.untraceable[:10]) + ")")
    if result.inconsistent:
        bits.append("recommendations at odds with the tools (" + "; ".join(result.inconsistent[:5]) + ")")
    return ("The answer was rejected after one correction turn: " + " and ".join(bits)
            + ". Policy 'reject' never shows such an answer; set grounding to 'repair' or 'flag' to see it marked.")


def policy_for(assistant_metadata: dict | None = None) -> str:
    """The grounding policy: the assistant's ``metadata["grounding"]``, else the settings
    (``QLWORK_GROUNDING`` / qlwork.toml, default ``repair``). A bad value is an InputError."""
    value = (assistant_metadata or {}).get("grounding")
    if value is None:
        from ..config import load_settings

        return load_settings().grounding
    return grounding_policy(value, "the assistant's metadata['grounding']")


def decide(result: Check, policy: str, corrected: bool, turns_left: bool) -> str:
    """What the runner does with a checked answer: ``accept``, ``correct`` (one correction turn) or
    ``reject`` (fail the run)."""
    if result.ok or policy == "flag":
        return "accept"
    if not corrected and turns_left:
        return "correct"
    return "reject" if policy == "reject" else "accept"
