"""Reading what a user asks for, deterministically (used by the offline rule engine).

An :class:`Intent` names the kind of question (portfolio review, sector view, strategy, risk,
signals, market data, help), the sector and symbols it mentions, and the strategy style. Sectors and
symbols are matched against the provider's universe, so "tech" finds the "Information Technology"
industry (NSE's names, :data:`qlwork.market.sectors.SECTOR_ALIASES`) and "reliance" finds RELIANCE.
Follow-up questions inherit the sector of the previous turn ("and a strategy for it?").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ...market.sectors import SECTOR_ALIASES, match_sector

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
    """What the user asked for: ``kind`` plus the sector, symbols and strategy style mentioned."""

    kind: str
    sector: str | None = None
    symbols: list[str] = field(default_factory=list)
    style: str = "momentum"
    mentions_sector_word: str | None = None


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
