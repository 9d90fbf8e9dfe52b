"""The symbols and sectors earlier answers in a thread were about, for follow-ups ("which of those ...?").

Read from the stored answers themselves (any backend): the symbols of recommendations, of
``extra.entities`` (the offline engine records what it answered about) and those named in insights,
latest answer first; the sector an answer was about; and the symbols seen per sector.
"""

from __future__ import annotations

from .intent import find_sector, find_symbols


def message_text(message) -> str:
    """Plain text of a stored message (text parts joined)."""
    parts = []
    for part in message.content or []:
        p = part if isinstance(part, dict) else part.model_dump()
        if p.get("type") == "text":
            text = p.get("text")
            parts.append(text.get("value", "") if isinstance(text, dict) else str(text))
    return "\n".join(parts)


def _answer_json(message) -> dict | None:
    for part in message.content or []:
        p = part if isinstance(part, dict) else part.model_dump()
        if p.get("type") == "json" and isinstance(p.get("json"), dict):
            return p["json"]
    return None


def entities_of(answer: dict, symbols: set[str], sectors: list[str]) -> tuple[list[str], str | None]:
    """(symbols, sector) one answer was about: recorded entities first, then recommendations, then
    known symbols named in its insights (engine notes and tool errors skipped)."""
    extra = answer.get("extra") or {}
    recorded = extra.get("entities") if isinstance(extra.get("entities"), dict) else {}
    found = [s for s in recorded.get("symbols") or [] if isinstance(s, str)]
    found += [r.get("symbol") for r in answer.get("recommendations") or [] if isinstance(r, dict)]
    text = " ".join(i for i in answer.get("insights") or [] if isinstance(i, str) and "could not run" not in i)
    found += [s for s in find_symbols(text, symbols) if s in symbols]
    sector = recorded.get("sector") if isinstance(recorded.get("sector"), str) else find_sector(text, sectors)[0]
    return [s for s in dict.fromkeys(found) if s in symbols], sector


def answer_entities(messages, symbols: set[str], sector_of: dict[str, str], sectors: list[str]) -> dict:
    """``{"symbols", "sector", "by_sector"}``: the last answer's symbols and sector, and every earlier
    answer's symbols grouped by their sector (latest first)."""
    answers = [a for a in (_answer_json(m) for m in messages if m.role == "assistant") if a]
    if not answers:
        return {}
    last_symbols, last_sector = entities_of(answers[-1], symbols, sectors)
    by_sector: dict[str, list[str]] = {}
    for answer in reversed(answers):
        for sym in entities_of(answer, symbols, sectors)[0]:
            sec = sector_of.get(sym)
            if sec and sym not in by_sector.setdefault(sec, []):
                by_sector[sec].append(sym)
    return {"symbols": last_symbols, "sector": last_sector, "by_sector": by_sector}
