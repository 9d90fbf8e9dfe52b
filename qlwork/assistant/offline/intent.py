"""Reading what a user asks for, deterministically (used by the offline rule engine).

An :class:`Intent` names the kind of question (portfolio review, sector view, strategy, risk,
signals, market data, help), the sector and symbols it mentions, and the strategy style. Sectors and
symbols are matched against the provider's universe, so "tech" finds the "Information Technology"
industry (NSE's names, :data:`qlwork.market.sectors.SECTOR_ALIASES`) and "reliance" finds RELIANCE.
Follow-up questions inherit the sector of the previous turn ("and a strategy for it?").

:func:`read_request` reads the whole structured request (:class:`.request.Request`: task, entities with
"those" / "it" resolved from earlier answers, period, benchmark, files, ranking metric, sizing, code)
and sets the kind the engine answers with (``benchmark``, ``rank``, ``explain`` besides the above).
The runner's coverage check reads every question with it, on every backend.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...market.sectors import SECTOR_ALIASES, match_sector
from .request import PRONOUN, SIZING, Request, find_benchmark, find_code, find_files, find_period, find_rank

# words that name a sector ("tech", "banks", "pharma") -> NSE industry names: see qlwork.market.sectors
SECTOR_WORDS = SECTOR_ALIASES

# upper-case words that are not symbols
NOT_SYMBOLS = {"I", "A", "AI", "IT", "NSE", "BSE", "NIFTY", "VAR", "CVAR", "RSI", "MACD", "ETF", "SMA",
               "EMA", "ATR", "P&L", "PNL", "INR", "OK", "FMCG", "PSU", "NBFC", "IPO", "USD", "MY", "ME",
               # titles, ratios, reporting words and institutions that analysts write in capitals
               "CEO", "CFO", "CTO", "COO", "CIO", "MD", "PE", "P/E", "PB", "EPS", "NAV", "YOY", "QOQ", "MOM",
               "YTD", "MTD", "TTM", "FY", "ROE", "ROCE", "ROI", "ROA", "EBITDA", "PAT", "GDP", "CPI", "RBI",
               "SEBI", "FII", "DII", "FPI", "GST", "ESG", "AGM", "EGM", "SIP", "LTP", "OHLC", "CAGR", "USA",
               "US", "UK", "EU", "AUM", "NPA", "DCF", "API", "AND", "THE", "FOR", "WHO", "WHAT", "HOW", "WHY"}
"""Upper-case words that are not symbols, unless a known symbol among them is the only candidate."""

OUT_OF_SCOPE = re.compile(r"\b(ceo|cfo|chairman|chairperson|founder|founded|headquarter\w*|management|board of "
                          r"directors|news|headline\w*|dividend\w*|earnings call|employees|who is|who's|who are)\b",
                          re.IGNORECASE)
"""Questions about a company that the tools cannot answer (people, news, corporate facts)."""

KEYWORDS = {
    "strategy": ("strategy", "strategies", "backtest", "back-test", "momentum", "mean reversion",
                 "mean-reversion", "reversion", "systematic"),
    "risk": ("risk", "var ", "value at risk", "drawdown", "volatility", "beta", "sharpe", "sortino", "cvar"),
    "signals": ("signal", "buy", "sell", "should i", "entry", "exit", "trade", "rsi", "macd", "technical"),
    "market_data": ("price", "quote", "chart", "candles", "history", "trend", "performance of"),
    "portfolio": ("portfolio", "holdings", "analy", "review", "health", "allocation", "diversif",
                  "rebalance", "how am i doing", "positions"),
    "compare": ("last week", "compare", "changed", "change since", "versus last"),
    # files and code (answered by compose_files with file_search / code_interpreter)
    "code": ("correlation", "correlate", "covariance", "regression", "python", "pandas", "run code",
             "in code", "plot ", "histogram", "rolling "),
    "files": ("attached", "attachment", "uploaded", "research note", "my notes", "the notes", "the pdf",
              "this pdf", "the document", "the report say", "the csv", "this csv", "the image", "this chart",
              "the chart i", "screenshot"),
}


CUT_RISK = re.compile(r"\b(?:sell|trim|reduce|cut|lower|bring down|de-?risk)\b.{0,40}\b(?:risk|volatility|var)\b|"
                      r"\b(?:risk|volatility)\b.{0,30}\b(?:sell|trim)\b|\bde-?risk\b", re.IGNORECASE)
"""Asking what to sell or trim to lower the portfolio's risk (kind ``cut_risk``)."""


@dataclass
class Intent:
    """What the user asked for: ``kind`` (how the engine answers) plus the sector, symbols and strategy
    style mentioned; :func:`read_request` adds the rest of the structured request (see :class:`Request`)."""

    kind: str
    sector: str | None = None
    symbols: list[str] = field(default_factory=list)
    style: str = "momentum"
    mentions_sector_word: str | None = None
    request: "Request | None" = None


def _has(text: str, words) -> bool:
    return any(w in text for w in words)


def find_sector(text: str, sectors: list[str]) -> tuple[str | None, str | None]:
    """(provider sector label, the word used) for the first sector word in ``text``."""
    low = f" {text.lower()} "
    for word in sorted(SECTOR_WORDS, key=len, reverse=True):
        if re.search(rf"(?<![a-z]){re.escape(word)}(?![a-z])", low):
            # "IT" is also a pronoun: only count it when written in capitals
            if word == "it" and not re.search(r"\bIT\b", text):
                continue
            label = match_sector(word, sectors)
            if label is not None:
                return label, word
    return None, None


def find_symbols(text: str, symbols: set[str]) -> list[str]:
    """Symbols named in ``text``: known ones in any case, and unknown capitalised tickers
    (so the tool can reply with a suggestion)."""
    found: list[str] = []
    common: list[str] = []  # known symbols that are also common words (IT, PE): kept only when alone
    for token in re.findall(r"[A-Za-z][A-Za-z0-9&\-]{1,19}", text):
        up = token.upper()
        if up in symbols and (token.isupper() or len(up) >= 3):
            (common if up in NOT_SYMBOLS else found).append(up)
        elif token.isupper() and len(token) >= 3 and up not in NOT_SYMBOLS and up not in symbols:
            found.append(up)
    return list(dict.fromkeys(found or [c for c in common if c not in ("IT", "I", "A")]))


def read_intent(text: str, sectors: list[str], symbols: set[str], previous: Intent | None = None,
                has_attachments: bool = False) -> Intent:
    """Classify one user message. ``previous`` is the last turn's intent, for follow-ups;
    ``has_attachments`` says the message carries files (a request about them unless it names code)."""
    low = text.lower()
    sector, word = find_sector(text, sectors)
    named = find_symbols(text, symbols)
    if _has(low, KEYWORDS["files"]):
        return Intent(kind="files", sector=sector, symbols=named, mentions_sector_word=word)
    if _has(low, KEYWORDS["code"]):
        return Intent(kind="code", sector=sector, symbols=named, mentions_sector_word=word)
    style = "mean_reversion" if _has(low, ("mean reversion", "mean-reversion", "reversion", "oversold bounce")) \
        else "momentum"
    if sector is None and previous is not None and re.search(r"\b(it|them|those|that sector|these)\b", low) \
            and _has(low, KEYWORDS["strategy"] + KEYWORDS["signals"] + KEYWORDS["risk"]):
        sector = previous.sector
    if OUT_OF_SCOPE.search(text) and not _has(low, KEYWORDS["strategy"] + KEYWORDS["risk"] + KEYWORDS["signals"]
                                               + KEYWORDS["market_data"] + KEYWORDS["portfolio"]):
        kind = "help"  # e.g. "Who is the CEO of INFY?": say what it understood and what it can do instead
    elif CUT_RISK.search(text):
        kind = "cut_risk"  # "What should I sell to cut risk?": holdings ranked by risk contribution
    elif _has(low, KEYWORDS["compare"]):
        kind = "compare"
    elif _has(low, KEYWORDS["strategy"]):
        kind = "strategy"
    elif sector and not named:
        kind = "sector"
    elif _has(low, KEYWORDS["risk"]):
        kind = "risk"
    elif named and _has(low, KEYWORDS["signals"]):
        kind = "signals"
    elif named:
        kind = "market_data"
    elif _has(low, KEYWORDS["signals"]):
        kind = "signals"
    elif _has(low, KEYWORDS["portfolio"]):
        kind = "portfolio"
    else:
        kind = "files" if has_attachments else "help"  # "what is in here?" with a file attached
    return Intent(kind=kind, sector=sector, symbols=named, style=style, mentions_sector_word=word)


_COMPARE = re.compile(r"\b(compare\w*|vs\.?|versus|against|relative to|outperform\w*|underperform\w*|beat(?:en|ing)?|"
                      r"lag(?:ged|ging)?|how did|how has|how have|performance|perform\w*|returns?)\b", re.IGNORECASE)
_CHANGES = re.compile(r"\b(last week'?s?|changed|change since|versus last|since (?:the )?last (?:analysis|review|time)|"
                      r"previous (?:analysis|review))\b", re.IGNORECASE)
_SELL = re.compile(r"\b(sell|trim|cut|reduce|exit)\b", re.IGNORECASE)
_KIND_TASK = {"portfolio": "review", "strategy": "backtest", "market_data": "prices", "signals": "signals",
              "risk": "risk", "sector": "sector", "compare": "changes", "files": "search_notes", "code": "run_code",
              "help": "help", "cut_risk": "trim"}


def read_request(text: str, sectors: list[str], symbols: set[str], indices: list[str] | tuple = (),
                 previous: Intent | None = None, entities: dict | None = None, has_attachments: bool = False,
                 has_files: bool = False, as_of=None) -> Intent:
    """Read one question into an :class:`Intent` whose ``request`` is the structured :class:`Request`.

    ``entities`` are the symbols and sectors of the thread's earlier answers (``{"symbols": [...],
    "sector": ..., "by_sector": {sector: [symbols]}}``, latest answer first) for "those", "it", "them"
    and "the IT stocks you mentioned"; ``has_files``: the thread has attached files (a question naming
    a note searches them); ``indices``: the provider's index names (benchmarks)."""
    entities = entities or {}
    code = find_code(text)
    if code is not None:
        req = Request(task="run_code", code=code, plot=bool(re.search(r"\bplot|chart|savefig|\.show\(", code)))
        return Intent(kind="code", request=req)
    intent = read_intent(text, sectors, symbols, previous, has_attachments=has_attachments)
    low = text.lower()
    period, period_text = find_period(text, as_of)
    # an index is a benchmark when compared with ("vs NIFTY 50"), not when it is the subject ("NIFTY 50 levels")
    bench = find_benchmark(text, list(indices)) if _COMPARE.search(text) else None
    files = find_files(text)
    metric, order = find_rank(text)
    req = Request(task=_KIND_TASK.get(intent.kind, intent.kind), symbols=list(intent.symbols),
                  sectors=[intent.sector] if intent.sector else [], period=period, period_text=period_text,
                  benchmark=bench, files=files, plot=bool(re.search(r"\b(plot|chart|graph|draw)\b", low)),
                  sizing=bool(SIZING.search(text)), explain=bool(re.search(r"\bwhy\b", low)),
                  portfolio=bool(re.search(r"\b(portfolio|my holdings|my stocks|my positions|what i (?:already )?hold)\b", low)))
    # pronouns: the previous answer's symbols ("IT" in capitals is the sector, not "it")
    pronoun = PRONOUN.search(re.sub(r"\bIT\b", "", text).lower())
    mentioned = re.search(r"\b(you )?(mentioned|said|listed|named|recommended|suggested)\b|\bearlier\b", low)
    if mentioned and intent.sector and entities.get("by_sector", {}).get(intent.sector):
        earlier = entities["by_sector"][intent.sector]
        req.resolved = {"words": f"the {intent.mentions_sector_word or intent.sector} stocks mentioned earlier",
                        "symbols": list(earlier)}
        req.symbols = list(dict.fromkeys(req.symbols + earlier))
        if pronoun and entities.get("symbols"):
            head = [s for s in entities["symbols"] if s not in earlier][:1]
            if head:
                req.symbols = head + [s for s in req.symbols if s not in head]
                req.resolved["pronoun"] = {"word": pronoun.group(1), "symbols": head}
    elif pronoun and not intent.symbols and (entities.get("symbols") or entities.get("sector")) \
            and (not req.portfolio or re.search(r"\b(of|among) (those|these|them)\b", low)):
        word = pronoun.group(1)
        picked = list(entities.get("symbols") or [])
        if word in ("it", "its", "that one") and picked:
            picked = picked[:1]
        req.symbols = picked
        if not intent.sector and entities.get("sector") and not picked:
            req.sectors = [entities["sector"]]
        req.resolved = {"pronoun": word, "symbols": picked, **({"sector": entities["sector"]}
                                                               if entities.get("sector") else {})}
    intent.symbols = req.symbols if req.symbols else intent.symbols
    kind = intent.kind
    if files and has_files and kind not in ("code",):
        kind, req.task = "files", "search_notes"
    elif kind == "help" and not req.symbols:
        pass
    elif req.sizing or (req.explain and req.symbols):
        kind, req.task = "explain", "size" if req.sizing else "explain"
    elif metric is not None and kind not in ("files", "code"):
        kind, req.task, req.metric, req.order = "rank", "rank", metric, order
    elif kind not in ("files", "code") and _COMPARE.search(text) and (bench or period or len(req.symbols) > 1
                                                                      or (req.symbols and req.resolved)) \
            and not (kind == "compare" and _CHANGES.search(text) and not bench):
        kind, req.task = "benchmark", "compare"
    elif kind == "portfolio" and period:
        kind, req.task = "benchmark", "compare"  # "how did my portfolio do over 6 months?"
    if req.task == "changes":
        req.period = req.period_text = None  # "since last week" means since the last analysis here
    if req.task in ("signals", "review", "risk") and _SELL.search(text):
        req.task = "trim" if re.search(r"\b(trim|cut|reduce)\b", low) else "sell"
    intent.kind = kind
    intent.request = req
    return intent
