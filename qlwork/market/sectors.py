"""Sectors from NSE's own industry classification (the ``Industry`` column of the NIFTY 500 list).

Kite Connect has no sector field, so qlwork labels a symbol with NSE's industry for it: the list ships
as package data (``qlwork/data/nse/ind_nifty500list.csv``, see the README beside it) and ``qlwork sectors
update`` (:func:`update_sectors`) refreshes it from NSE into ``$QLWORK_HOME/data/nse/``, which then takes
precedence. A symbol in neither is :data:`UNCLASSIFIED`; indices are ``"Index"``. The demo universe
uses the bundled copy only, so demo data stays reproducible while demo and live speak one vocabulary.

:data:`SECTOR_ALIASES` maps everyday words ("IT", "tech", "banks", "pharma") to fragments of NSE's
industry names, for the offline engine's intent reading and for tools given a sector by name.
"""

from __future__ import annotations

import csv
import datetime as dt
import functools
import io
import json
import re
from pathlib import Path

from ..config import home
from ..errors import InputError, ProviderError
from ..fileio import atomic_write

UNCLASSIFIED = "Unclassified"
"""The sector of a symbol NSE's list does not classify (left out of sector-balance scoring)."""
INDEX = "Index"
FILE_NAME = "ind_nifty500list.csv"
BUNDLED = Path(__file__).resolve().parents[1] / "data" / "nse" / FILE_NAME
NSE_URL = f"https://nsearchives.nseindia.com/content/indices/{FILE_NAME}"
"""Where NSE publishes the NIFTY 500 list (refreshed at each index review)."""
COLUMNS = ("Company Name", "Industry", "Symbol", "ISIN Code")
MIN_ROWS = 100
MAX_BYTES = 2_000_000

# everyday word -> fragments of NSE industry names, tried in order (a fragment matches from a word start)
SECTOR_ALIASES: dict[str, tuple[str, ...]] = {
    "it": ("information tech",), "tech": ("information tech",), "technology": ("information tech",),
    "software": ("information tech",), "infotech": ("information tech",),
    "bank": ("financial",), "banks": ("financial",), "banking": ("financial",), "psu bank": ("financial",),
    "financial": ("financial",), "finance": ("financial",), "nbfc": ("financial",), "insurance": ("financial",),
    "pharma": ("healthcare",), "healthcare": ("healthcare",), "drug": ("healthcare",), "hospital": ("healthcare",),
    "auto": ("automobile",), "automobile": ("automobile",), "cars": ("automobile",),
    "fmcg": ("fast moving",), "consumer staples": ("fast moving",),
    "energy": ("oil gas", "power"), "oil": ("oil gas",), "gas": ("oil gas",), "power": ("power",),
    "metal": ("metals",), "metals": ("metals",), "steel": ("metals",), "mining": ("metals",),
    "cement": ("construction materials",), "infrastructure": ("construction",), "infra": ("construction",),
    "construction": ("construction",), "telecom": ("telecommunication",), "consumer": ("consumer",),
    "capital goods": ("capital goods",), "chemicals": ("chemicals",), "realty": ("realty",),
    "real estate": ("realty",), "media": ("media",), "textiles": ("textiles",),
}


def match_sector(name: str, sectors) -> str | None:
    """The label in ``sectors`` that ``name`` means: the same label in any case, else the first label an
    alias of ``name`` (:data:`SECTOR_ALIASES`) matches ("IT" -> "Information Technology"); None if none."""
    labels = [str(s) for s in sectors]
    key = " ".join(str(name or "").lower().split())
    exact = [s for s in labels if s.lower() == key]
    if exact:
        return exact[0]
    for frag in SECTOR_ALIASES.get(key, ()):
        for label in labels:
            if re.search(rf"\b{re.escape(frag)}", re.sub(r"[^a-z ]", " ", label.lower())):
                return label
    return None


def refreshed_path() -> Path:
    """Where ``qlwork sectors update`` stores NSE's list (``$QLWORK_HOME/data/nse/``)."""
    return home() / "data" / "nse" / FILE_NAME


def parse_list(text: str, where: str) -> dict[str, dict[str, str]]:
    """``{"symbol": {SYMBOL: industry}, "isin": {ISIN: industry}}`` from the CSV text of NSE's list;
    InputError naming ``where`` when it is not that list."""
    rows = list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))
    header = {str(k).strip() for k in (rows[0].keys() if rows else [])}
    missing = [c for c in COLUMNS if c not in header]
    if missing or len(rows) < MIN_ROWS:
        raise InputError(f"{where} is not NSE's NIFTY 500 list (missing columns {missing} or fewer than "
                         f"{MIN_ROWS} rows: {len(rows)}).",
                         fix=f"Use NSE's {FILE_NAME} (columns {', '.join(COLUMNS)}).", file=where)
    by_symbol, by_isin = {}, {}
    for row in rows:
        row = {str(k).strip(): str(v or "").strip() for k, v in row.items() if k is not None}
        industry = row.get("Industry")
        if not industry:
            continue
        if row.get("Symbol"):
            by_symbol[row["Symbol"].upper()] = industry
        if row.get("ISIN Code"):
            by_isin[row["ISIN Code"].upper()] = industry
    return {"symbol": by_symbol, "isin": by_isin}


@functools.lru_cache(maxsize=8)
def _load(path: str, mtime_ns: int) -> dict[str, dict[str, str]]:
    return parse_list(Path(path).read_text(encoding="utf-8-sig"), path)


def bundled_industries() -> dict[str, dict[str, str]]:
    """The bundled list's tables (what the demo universe uses)."""
    return _load(str(BUNDLED), BUNDLED.stat().st_mtime_ns)


def industries() -> dict[str, dict[str, str]]:
    """The refreshed list's tables if ``qlwork sectors update`` stored a readable one, else the bundled."""
    path = refreshed_path()
    if path.exists():
        try:
            return _load(str(path), path.stat().st_mtime_ns)
        except (OSError, UnicodeDecodeError, InputError):
            pass  # a damaged refresh never hides the bundled list
    return bundled_industries()


def industry_of(symbol: str, isin: str | None = None, table: dict | None = None) -> str:
    """NSE's industry for ``isin`` (preferred: one ISIN across exchanges) or ``symbol``; else Unclassified."""
    table = table or industries()
    if isin and str(isin).upper() in table["isin"]:
        return table["isin"][str(isin).upper()]
    return table["symbol"].get(str(symbol).upper(), UNCLASSIFIED)


def source() -> dict:
    """Which list is in use: ``{"path", "bundled", "symbols"}`` plus the refresh's ``fetched_at`` and ``url``."""
    path = refreshed_path()
    meta_path = path.with_suffix(".json")
    in_use = industries()
    bundled = in_use is bundled_industries()
    out = {"path": str(BUNDLED if bundled else path), "bundled": bundled, "symbols": len(in_use["symbol"])}
    if not bundled and meta_path.exists():
        try:
            out.update({k: v for k, v in json.loads(meta_path.read_text()).items() if k in ("fetched_at", "url")})
        except (OSError, ValueError):
            pass
    return out


def update_sectors(url: str | None = None, *, timeout: float = 20.0) -> dict:
    """Download NSE's NIFTY 500 list from ``url``, check it, and store it as the list in use.

    ProviderError (offline, HTTP error, too large) or InputError (not the list) with a fix; on any error
    the list in use (the bundled one, or an earlier refresh) is kept unchanged.
    """
    import requests

    url = url or NSE_URL
    kept = "the sector list in use is kept (" + ("bundled copy" if source()["bundled"] else "earlier refresh") + ")"
    try:
        with requests.get(url, timeout=timeout, stream=True,
                          headers={"User-Agent": "Mozilla/5.0 (qlwork sectors update)", "Accept": "text/csv"}) as r:
            if r.status_code != 200:
                raise ProviderError(f"NSE answered HTTP {r.status_code} for {url}; {kept}.",
                                    fix="Retry later, or pass --url with the list's current address.", url=url)
            data = b""
            for chunk in r.iter_content(65536):
                data += chunk
                if len(data) > MAX_BYTES:
                    raise ProviderError(f"{url} sent more than {MAX_BYTES} bytes; {kept}.",
                                        fix="Check the --url: NSE's list is about 50 kB.", url=url)
    except requests.RequestException as exc:
        raise ProviderError(f"Could not download NSE's industry list from {url} ({type(exc).__name__}); {kept}.",
                            fix="Check the internet connection (NSE's site must be reachable), then retry; "
                                "qlwork works offline with the list in use.", url=url) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise InputError(f"{url} did not send UTF-8 CSV text; {kept}.", fix="Check the --url.", url=url) from None
    table = parse_list(text, url)
    path = refreshed_path()
    atomic_write(path, text)
    fetched = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    atomic_write(path.with_suffix(".json"), json.dumps({"url": url, "fetched_at": fetched,
                                                        "symbols": len(table["symbol"])}))
    industries_in = sorted(set(table["symbol"].values()))
    return {"path": str(path), "url": url, "fetched_at": fetched, "symbols": len(table["symbol"]),
            "industries": len(industries_in)}
