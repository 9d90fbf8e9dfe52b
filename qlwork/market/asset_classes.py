"""Asset classes of instruments: stocks, cash-like funds, commodities, index funds, other funds.

A symbol is classified, in order, by the shipped table of common NSE ETFs
(``qlwork/data/funds/etfs.csv``), then by Kite's instrument fields: a ``name`` naming a liquid /
1D-rate / money-market / overnight fund is ``cash``, gold or silver ``commodity``, a known index
(NIFTY 50, NIFTY BANK, NIFTY NEXT 50, NIFTY IT ...) with ETF/BEES/INDEX ``index_fund``; any other
ETF, BeES or fund (``instrument_type`` other than EQ, or those words in the name or symbol) is
``fund`` (an unclassified fund, never counted as a stock); the rest are ``equity``.

Index funds look through to their index's sector weights: NIFTY 50 from the provider
(``benchmark_sector_weights``), others from ``qlwork/data/funds/index_sectors.csv`` (approximate).
"""

from __future__ import annotations

import csv
import functools
import re
from pathlib import Path

from ..analytics.lookthrough import CASH, COMMODITIES, UNKNOWN_FUND

__all__ = ["ETF_TABLE", "INDEX_TABLE", "classify", "index_sectors", "sector_label"]

_DATA = Path(__file__).resolve().parents[1] / "data" / "funds"
ETF_TABLE = _DATA / "etfs.csv"
INDEX_TABLE = _DATA / "index_sectors.csv"
NIFTY_50 = "NIFTY 50"

_CASH = re.compile(r"\bliquid\b|\b1d rate\b|money market|overnight", re.IGNORECASE)
_COMMODITY = re.compile(r"\bgold\b|\bsilver\b", re.IGNORECASE)
_FUND = re.compile(r"\betf\b|bees\b|\bfund\b|\bindex\b", re.IGNORECASE)
_INDICES = (("NIFTY NEXT 50", re.compile(r"next\s*50|junior", re.I)), ("NIFTY PSU BANK", re.compile(r"psu\s*bank", re.I)),
            ("NIFTY BANK", re.compile(r"nifty\s*bank|bank\s*bees", re.I)), ("NIFTY IT", re.compile(r"nifty\s*it\b", re.I)),
            ("NIFTY PHARMA", re.compile(r"nifty\s*pharma", re.I)), (NIFTY_50, re.compile(r"nifty\s*50|niftybees", re.I)))


@functools.lru_cache(maxsize=1)
def _etfs() -> dict[str, dict]:
    with ETF_TABLE.open(encoding="utf-8") as fh:
        return {r["symbol"].upper(): {"asset_class": r["asset_class"], "index": r["index"] or None, "name": r["name"]}
                for r in csv.DictReader(fh)}


@functools.lru_cache(maxsize=1)
def _indices() -> dict[str, dict]:
    out: dict[str, dict] = {}
    with INDEX_TABLE.open(encoding="utf-8") as fh:
        for r in csv.DictReader(fh):
            entry = out.setdefault(r["index"], {"sectors": {}, "constituents": int(r["constituents"])})
            entry["sectors"][r["sector"]] = float(r["weight"])
    return out


def _from_fields(symbol: str, name: str, instrument_type: str) -> dict:
    text = f"{symbol} {name}"
    fundlike = instrument_type not in ("", "EQ") or bool(_FUND.search(text)) or symbol.endswith(("BEES", "IETF"))
    if not fundlike:
        return {"asset_class": "equity", "index": None}
    if _CASH.search(text):
        return {"asset_class": "cash", "index": None}
    if _COMMODITY.search(text):
        return {"asset_class": "commodity", "index": None}
    for index, pattern in _INDICES:
        if pattern.search(text):
            return {"asset_class": "index_fund", "index": index}
    return {"asset_class": "fund", "index": None}


def classify(symbols, instruments=None) -> dict[str, dict]:
    """``{symbol: {"asset_class", "index", "source"}}``; ``instruments`` is the provider's instrument
    frame (Kite columns ``tradingsymbol``, ``name``, ``instrument_type``), optional."""
    fields: dict[str, tuple[str, str]] = {}
    if instruments is not None and len(instruments):
        cols = instruments.columns
        names = instruments["name"] if "name" in cols else [""] * len(instruments)
        types = instruments["instrument_type"] if "instrument_type" in cols else ["EQ"] * len(instruments)
        fields = {str(s).upper(): (str(n or ""), str(t or "EQ"))
                  for s, n, t in zip(instruments["tradingsymbol"], names, types)}
    table = _etfs()
    out = {}
    for sym in symbols:
        key = str(sym).upper()
        if key in table:
            row = table[key]
            out[sym] = {"asset_class": row["asset_class"], "index": row["index"], "source": "qlwork ETF table"}
        else:
            name, itype = fields.get(key, ("", "EQ"))
            out[sym] = {**_from_fields(key, name, itype), "source": "instrument name and type"}
    return out


def index_sectors(index: str, benchmark_sector_weights: dict[str, float] | None = None) -> tuple[dict, int] | None:
    """(sector -> weight summing to 1, number of constituents) of ``index``, or None when unknown.
    NIFTY 50 uses ``benchmark_sector_weights`` (the provider's)."""
    if index == NIFTY_50:
        if not benchmark_sector_weights:
            return None
        total = sum(benchmark_sector_weights.values())
        return {k: v / total for k, v in benchmark_sector_weights.items()}, 50
    entry = _indices().get(index)
    return (dict(entry["sectors"]), entry["constituents"]) if entry else None


def sector_label(asset_class: str, index: str | None, sector: str) -> str:
    """What a holding's sector column shows: its NSE industry (stocks), the bucket name for cash,
    commodities and unknown funds, ``"Index fund (NIFTY BANK)"`` for index funds."""
    if asset_class == "cash":
        return CASH
    if asset_class == "commodity":
        return COMMODITIES
    if asset_class == "index_fund":
        return f"Index fund ({index})"
    if asset_class == "fund":
        return UNKNOWN_FUND
    return sector
