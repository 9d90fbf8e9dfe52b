"""The parts of a question beyond its kind: period, benchmark, files named, metric, literal code, anaphora.

:class:`Request` is the structured record of what was asked (see :func:`.intent.read_request`): the
task (review, compare, explain, rank, size, sell, trim, search_notes, run_code, backtest, prices,
signals, risk, sector, changes, help), the symbols and sectors (pronouns such as "those", "it" and
"them" resolved from the thread's last answer), the period ("over 1 year" -> ``1Y``, "YTD", "since
March" -> the first of the latest March, "last 6 months" -> ``6M``), the benchmark, the files named
("my Kotak note"), the ranking metric, the literal code to run, and the parts an answer must cover.
The runner records it next to grounding (``qlwork.assistant.coverage``) on every backend.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import asdict, dataclass, field

TASKS = ("review", "compare", "explain", "rank", "size", "sell", "trim", "search_notes", "run_code", "backtest",
         "prices", "signals", "risk", "sector", "changes", "help")


@dataclass
class Request:
    """What a question asked for. ``period`` is canonical ("1Y", "YTD", "2026-03-01" = since);
    ``period_text`` the words it came from; ``resolved`` the pronoun resolved and to what."""

    task: str
    symbols: list[str] = field(default_factory=list)
    sectors: list[str] = field(default_factory=list)
    period: str | None = None
    period_text: str | None = None
    benchmark: str | None = None
    files: list[str] = field(default_factory=list)
    metric: str | None = None
    order: str | None = None
    """Ranking order: ``riskiest_first`` / ``asc_risk`` (safest first) for risk metrics, ``desc`` / ``asc``."""
    code: str | None = None
    plot: bool = False
    sizing: bool = False
    portfolio: bool = False
    explain: bool = False
    resolved: dict | None = None
    as_of: str | None = None
    universe: dict = field(default_factory=dict, repr=False)
    """Engine-only: symbol -> sector of the symbols asked about (not recorded)."""
    sector_stocks: dict = field(default_factory=dict, repr=False)
    """Engine-only: the provider's stocks of each sector asked about (not recorded)."""

    def to_dict(self) -> dict:
        """The record (``coverage.request``): the fields that are set, engine-only ones left out."""
        return {k: v for k, v in asdict(self).items()
                if v not in (None, [], False, {}) and k not in ("universe", "sector_stocks")}


MONTHS = {m.lower(): i for i, m in enumerate(("January", "February", "March", "April", "May", "June", "July",
                                               "August", "September", "October", "November", "December"), 1)}
MONTHS.update({k[:3]: v for k, v in list(MONTHS.items())})
_WORD_NUMBERS = {"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "nine": 9,
                 "twelve": 12}
_NUM = r"(\d{1,2}|a|an|one|two|three|four|five|six|nine|twelve)"
_SPAN = re.compile(rf"\b(?:over|for|in|during|within|past|last|previous|trailing|the)\s+(?:the\s+)?(?:past\s+|last\s+)?"
                   rf"{_NUM}?\s*-?\s*(week|month|year|yr)s?\b", re.IGNORECASE)
_SHORT = re.compile(r"(?<![\w-])(\d{1,2})\s?([WMY])(?![\w-])")
_YTD = re.compile(r"\b(ytd|year[- ]to[- ]date|this year|so far this year)\b", re.IGNORECASE)
_SINCE = re.compile(r"\bsince\s+(?:the\s+start\s+of\s+|early\s+|)(" + "|".join(sorted(MONTHS, key=len, reverse=True))
                    + r")\.?(?:\s+(\d{4}))?\b", re.IGNORECASE)
_SINCE_DATE = re.compile(r"\bsince\s+(\d{4}-\d{2}-\d{2})\b", re.IGNORECASE)


def find_period(text: str, as_of: dt.date | None = None) -> tuple[str | None, str | None]:
    """(canonical period, the words used) for the first period in ``text``, or (None, None).
    "since March" is the first of the latest March on or before ``as_of`` (default: today)."""
    if m := _SINCE_DATE.search(text):
        return m.group(1), m.group(0)
    if m := _SINCE.search(text):
        day = as_of or dt.date.today()
        month = MONTHS[m.group(1).lower()]
        year = int(m.group(2)) if m.group(2) else (day.year if month <= day.month else day.year - 1)
        return dt.date(year, month, 1).isoformat(), m.group(0)
    if m := _YTD.search(text):
        return "YTD", m.group(0)
    if m := _SHORT.search(text):
        return f"{int(m.group(1))}{m.group(2).upper()}", m.group(0)
    for m in _SPAN.finditer(text):
        count = m.group(1)
        n = _WORD_NUMBERS.get(count.lower(), None) if count and not count.isdigit() else int(count or 1)
        unit = {"week": "W", "month": "M", "year": "Y", "yr": "Y"}[m.group(2).lower()]
        if n and unit == "M" and n % 12 == 0:
            n, unit = n // 12, "Y"
        if n and 1 <= n <= 20:
            # "compare with last week" asks what changed since the last analysis, not a 1-week return
            if unit == "W" and re.search(r"\blast week'?s?\s+(analysis|review|report|answer)", text, re.IGNORECASE):
                continue
            return f"{n}{unit}", m.group(0)
    return None, None


def find_benchmark(text: str, indices: list[str]) -> str | None:
    """The index named in ``text`` (the provider's index names, longest first; "nifty", "the index",
    "the market" and "benchmark" mean NIFTY 50 when the provider has it)."""
    squeezed = re.sub(r"\s+", " ", text.upper())
    for name in sorted(indices, key=len, reverse=True):
        if re.search(rf"(?<![A-Z0-9]){re.escape(name.upper())}(?![A-Z0-9])", squeezed) \
                or re.search(rf"(?<![A-Z0-9]){re.escape(name.upper().replace(' ', ''))}(?![A-Z0-9])", squeezed):
            return name
    if re.search(r"\b(nifty|the index|the market|benchmark|sensex)\b", text, re.IGNORECASE):
        return "NIFTY 50" if "NIFTY 50" in indices or not indices else indices[0]
    return None


_FILE_NAMED = re.compile(r"\b(?:my|the|this|that|attached|uploaded)\s+([A-Za-z][\w&.-]{1,30}(?:\s+[A-Z][\w&.-]{1,30})?)\s+"
                         r"(note|notes|report|pdf|document|research|memo|file|presentation|deck)\b", re.IGNORECASE)
_GENERIC = {"research", "broker", "pdf", "attached", "uploaded", "latest", "new", "last", "weekly", "own", "the"}


def find_files(text: str) -> list[str]:
    """Names of files the question points at ("my Kotak note" -> ["Kotak"]; "the note" -> ["note"])."""
    named = [" ".join(w for w in m.group(1).split() if w.lower() not in _GENERIC) for m in _FILE_NAMED.finditer(text)]
    named = [n for n in named if n]
    if named:
        return list(dict.fromkeys(named))
    if re.search(r"\b(my|the|this|attached)\s+(note|notes|pdf|document|memo|research note)\b", text, re.IGNORECASE):
        return ["note"]
    return []


_FENCE = re.compile(r"```(?:python|py)?\s*\n(.*?)```", re.DOTALL | re.IGNORECASE)
_RUN_CODE = re.compile(r"^\s*(?:please\s+)?run(?:\s+this)?\s+code\s*:\s*(.+)$", re.DOTALL | re.IGNORECASE)


def find_code(text: str) -> str | None:
    """Code the user wrote: the first fenced block, or what follows "Run code:". Run as written."""
    if m := _FENCE.search(text):
        return m.group(1).rstrip() or None
    if m := _RUN_CODE.match(text):
        return m.group(1).strip() or None
    return None


METRIC_WORDS = (("max_drawdown", ("drawdown",)), ("beta", ("beta", "market sensitiv")), ("var_95", ("var", "value at risk")),
                ("sharpe_ratio", ("sharpe", "risk-adjusted", "risk adjusted")),
                ("return", ("return", "performer", "performing", "gained", "best", "worst")),
                ("weight", ("weight", "largest position", "biggest position", "largest holding", "biggest holding")),
                ("volatility", ("risk", "volatil", "riskiest", "swing")))
_RANK = re.compile(r"\b(which|what)\b.{0,40}\b(highest|lowest|most|least|riskiest|safest|best|worst|largest|biggest|"
                   r"smallest|deepest|greatest|top|bottom)\b|\brank\w*\b|\btop\s+\d+\b|\border\b.{0,20}\bby\b", re.IGNORECASE)


def find_rank(text: str) -> tuple[str | None, str]:
    """(metric, order) when the question asks for a ranking ("which of those has the highest risk?"),
    else (None, "")."""
    if not _RANK.search(text):
        return None, ""
    low = text.lower()
    metric = next((name for name, words in METRIC_WORDS if any(re.search(rf"\b{re.escape(w)}", low) for w in words)),
                  "volatility")
    worst = re.search(r"\b(lowest|least|safest|worst|smallest|bottom)\b", low)
    if metric in ("volatility", "beta", "max_drawdown", "var_95"):
        order = "asc_risk" if worst else "riskiest_first"
    else:
        order = "asc" if worst else "desc"
    return metric, order


SIZING = re.compile(r"\bhow\s+(?:much|many)\b|\bposition size|\bsize\s+(?:of\s+)?(?:the|a|my)?\s*position|\bhow big\b",
                    re.IGNORECASE)
PRONOUN = re.compile(r"\b(those|these|them|they|it|its|that one|these stocks|those stocks|the ones)\b")
"""Pronouns that point at the previous answer's symbols ("it" only when written lower-case: "IT" is a sector)."""
