"""NSE trading symbols: normalisation, lookup and suggestions for unknown ones.

Below both ``portfolio/`` and ``market/`` (base layer): a holdings file and a provider agree on what a
symbol is. Symbols are NSE trading symbols (``RELIANCE``, ``TCS``, ``NIFTY 50`` for the index). An
exchange prefix (``NSE:``, ``BSE:``, Kite's quote-key convention) is accepted everywhere:
:func:`normalise_symbol` drops it for matching, :func:`split_exchange` / :func:`resolve_listings` keep it
so a provider can price the listing asked for (``BSE:SBIN`` on BSE, ``nse:sbin`` on NSE).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from .config import BENCHMARK
from .errors import InputError

QUOTE_KEY_PREFIX = "NSE:"
"""Quotes are keyed ``NSE:SYMBOL`` (Kite's ``i=EXCHANGE:SYMBOL`` convention)."""
EXCHANGES = ("NSE", "BSE")
"""Cash-equity exchanges a holding or a price may be on."""
PREFIXES = ("NSE", "BSE", "NFO", "BFO", "CDS", "BCD", "MCX", "NCO")
"""Kite's exchange names, recognised as an ``EXCHANGE:`` prefix (only :data:`EXCHANGES` are priced)."""


_WS = re.compile(r"\s+")
_PREFIX = re.compile(rf"^({'|'.join(PREFIXES)})\s*:\s*")


def split_exchange(symbol: str) -> tuple[str | None, str]:
    """``(exchange or None, symbol)``: ``"bse:sbin"`` -> ``("BSE", "SBIN")``, ``"TCS"`` -> ``(None, "TCS")``
    (upper-case, trimmed, inner whitespace collapsed)."""
    text = _WS.sub(" ", str(symbol).strip()).upper()
    match = _PREFIX.match(text)
    if match is None:
        return None, text
    return match.group(1), text[match.end():].strip()


def normalise_symbol(symbol: str) -> str:
    """Upper-case, trimmed, inner whitespace collapsed, an ``NSE:``/``BSE:`` prefix removed."""
    return split_exchange(symbol)[1]


def _key(symbol: str) -> str:
    return normalise_symbol(symbol).replace(" ", "")


def symbol_lookup(known: Iterable[str]) -> dict[str, str]:
    """Map of lookup key (upper-case, no spaces) -> canonical symbol for ``known``."""
    return {_key(s): str(s) for s in known}


def suggest_symbols(symbol: str, known: Iterable[str], n: int = 3, names: dict[str, str] | None = None) -> list[str]:
    """Close matches for an unknown symbol, best first: difflib on symbols, then prefixes, then
    (when ``names`` maps symbol -> company name) difflib on company names ("INFOSIS" -> INFY)."""
    lookup = symbol_lookup(known)
    key = _key(symbol)
    hits = [lookup[h] for h in difflib.get_close_matches(key, list(lookup), n=n, cutoff=0.6)]
    if not hits:  # prefix match helps short inputs such as "HDFC" -> HDFCBANK
        hits = [lookup[k] for k in lookup if key and (k.startswith(key) or key.startswith(k))][:n]
    if names:
        by_name = {_key(v): k for k, v in names.items() if k in lookup.values()}
        for match in difflib.get_close_matches(key, list(by_name), n=n, cutoff=0.7):
            if by_name[match] not in hits:
                hits.append(by_name[match])
    return hits[:n]


def unknown_symbol_text(symbol: str, known: Iterable[str], names: dict[str, str] | None = None) -> str:
    """``'XYZ' is not a known NSE symbol (did you mean A, B?)``."""
    hints = suggest_symbols(symbol, known, names=names)
    text = f"{symbol!r} is not a known NSE symbol"
    return text + (f" (did you mean {', '.join(hints)}?)" if hints else "")


def resolve_symbols(symbols, known: Iterable[str], *, names: dict[str, str] | None = None) -> list[str]:
    """Validate ``symbols`` against ``known`` and return their canonical spellings.

    ``symbols`` is one string (comma-separated allowed) or an iterable of strings. Matching ignores
    case, surrounding/inner whitespace and an ``NSE:`` prefix (``"nse:reliance"`` -> ``RELIANCE``,
    ``"nifty50"`` -> ``NIFTY 50``). Duplicates are dropped, order kept. Unknown symbols raise one
    :class:`InputError` naming each with close-match suggestions (``names``, symbol -> company name,
    adds suggestions by company name).
    """
    known = list(known)
    if symbols is None:
        raise InputError("No symbols given.", fix='Pass NSE trading symbols, e.g. ["RELIANCE", "TCS"].')
    if isinstance(symbols, str):
        items = [s for s in symbols.split(",")]
    else:
        try:
            items = list(symbols)
        except TypeError:
            raise InputError(f"symbols must be a string or a list of strings, not {type(symbols).__name__}.",
                             fix='Pass e.g. ["RELIANCE", "TCS"].') from None
    lookup = symbol_lookup(known)
    out: list[str] = []
    unknown: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise InputError(f"Symbol {item!r} is not a string.", fix='Pass symbols as text, e.g. "TCS".')
        if not item.strip():
            continue
        hit = lookup.get(_key(item))
        if hit is None:
            unknown.append(item.strip())
        elif hit not in out:
            out.append(hit)
    if unknown:
        parts = [unknown_symbol_text(s, known, names) for s in unknown]
        suggestions = {s: suggest_symbols(s, known, names=names) for s in unknown}
        sample = ", ".join(sorted(s for s in known if s != BENCHMARK)[:6])
        raise InputError(
            "Unknown symbol" + ("s" if len(unknown) > 1 else "") + ": " + "; ".join(parts) + ".",
            fix=f"Use NSE trading symbols from the provider's instruments() (e.g. {sample}) "
                f"or {BENCHMARK!r} for the index.",
            unknown=unknown, suggestions=suggestions,
        )
    if not out:
        raise InputError("No symbols given.", fix='Pass NSE trading symbols, e.g. ["RELIANCE", "TCS"].')
    return out


def resolve_listings(symbols, known: Iterable[str], *, names: dict[str, str] | None = None
                     ) -> list[tuple[str, str | None]]:
    """Like :func:`resolve_symbols`, keeping the exchange each symbol was asked on:
    ``[(canonical symbol, "NSE" | "BSE" | None)]`` (None: no prefix, the provider's default listing).
    The first prefix given for a symbol wins."""
    resolved = resolve_symbols(symbols, known, names=names)
    items = [s for s in symbols.split(",")] if isinstance(symbols, str) else list(symbols)
    lookup = symbol_lookup(known)
    asked: dict[str, str | None] = {}
    for item in items:
        exchange, bare = split_exchange(item)
        hit = lookup.get(bare.replace(" ", ""))
        if hit is not None and asked.get(hit) is None:
            asked[hit] = exchange
    return [(s, asked.get(s)) for s in resolved]
