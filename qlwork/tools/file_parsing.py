"""Type sniffing and parsing of uploaded files: CSV / JSON (portfolios, earnings, tables), PDF, PNG/JPEG, text.

The type comes from the content (magic bytes, then a UTF-8 / JSON / CSV check), never from the
extension. Portfolios go through the same validation as :func:`qlwork.portfolio.load_portfolio`;
earnings tables get the same style of errors (file, row, field, fix). Encrypted or corrupt files raise
:class:`~qlwork.errors.InputError` with a clear message.
"""

from __future__ import annotations

import csv
import io
import json
import math
import struct
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from ..errors import InputError
from .office_files import EXTENSIONS as OFFICE_EXTENSIONS, MIME as OFFICE_MIME, OFFICE_KINDS, sniff_office

KINDS = ("pdf", "png", "jpeg", "csv", "json", "text", *OFFICE_KINDS)
MIME = {"pdf": "application/pdf", "png": "image/png", "jpeg": "image/jpeg", "csv": "text/csv",
        "json": "application/json", "text": "text/plain", **OFFICE_MIME}
EXTENSIONS = {"pdf": {".pdf"}, "png": {".png"}, "jpeg": {".jpg", ".jpeg"}, "csv": {".csv"},
              "json": {".json"}, "text": {".txt", ".md", ".markdown", ".text", ""}, **OFFICE_EXTENSIONS}
EARNINGS_METRICS = ("revenue", "net_profit", "eps", "ebitda", "operating_margin", "net_margin", "yoy_growth",
                    "revenue_growth", "profit_growth", "pat", "sales", "guidance")
EARNINGS_PERIOD = ("quarter", "period", "fiscal_quarter", "fy_quarter", "date", "result_date")


def sniff(data: bytes, filename: str = "") -> str:
    """The file kind from its content: pdf, png, jpeg, json, csv or text. Raises for unsupported binaries."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    office = sniff_office(data, filename)
    if office is not None:
        return office
    text = decode_text(data, filename)
    stripped = text.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            json.loads(text)
            return "json"
        except json.JSONDecodeError:
            if Path(filename).suffix.lower() == ".json":
                return "json"  # parse() reports the syntax error with its position
    if _looks_like_csv(text):
        return "csv"
    return "text"


def decode_text(data: bytes, filename: str = "file") -> str:
    """UTF-8 text of ``data`` or an InputError saying why it is not text."""
    name = filename or "file"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{name} is encoded as UTF-16, not UTF-8.", fix="Save it as UTF-8.", file=name,
                         code="unsupported_encoding")
    if b"\x00" in data[:4096]:
        raise InputError(f"{name} is a binary file of an unsupported type (supported: PDF, PNG, JPEG, CSV, "
                         "JSON, text, XLSX, DOCX).", fix="Upload a PDF, PNG, JPEG, CSV, JSON, text, XLSX or DOCX file.", file=name,
                         code="unsupported_file_type")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise InputError(f"{name} is not valid UTF-8 (byte 0x{data[exc.start]:02x} at position {exc.start}, "
                         f"line {line}).", fix="Save it as UTF-8 (in Excel: 'CSV UTF-8').", file=name, row=line,
                         code="unsupported_encoding") from None


def _looks_like_csv(text: str) -> bool:
    lines = [ln for ln in text.splitlines()[:20] if ln.strip()]
    if len(lines) < 2 or "," not in lines[0]:
        return False
    counts = [len(r) for r in csv.reader(io.StringIO("\n".join(lines)))]
    return counts[0] >= 2 and sum(c == counts[0] for c in counts) >= max(2, int(0.8 * len(counts)))


def extension_mismatch(kind: str, filename: str) -> bool:
    """True when the file's extension names another type than its content."""
    suffix = Path(filename).suffix.lower()
    return bool(suffix) and suffix not in EXTENSIONS.get(kind, set())


# -- parsing -------------------------------------------------------------------------------------

BINARY_KINDS = ("pdf", "png", "jpeg", *OFFICE_KINDS)
"""Kinds parsed by third-party decoders (pypdf, Pillow, openpyxl, python-docx): untrusted, so capped and parsed out of process."""


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(float(raw))
    except ValueError:
        raise InputError(f"{name}={raw!r} is not a number.", fix=f"Set {name} to a positive number.",
                         setting=name) from None
    if value <= 0:
        raise InputError(f"{name}={raw!r} must be positive.", fix=f"Set {name} to a positive number.", setting=name)
    return value


@dataclass(frozen=True)
class Limits:
    """Caps for one parse. ``from_env()`` reads QLWORK_PARSE_MAX_PAGES (500), QLWORK_PARSE_MAX_CHARS
    (2,000,000), QLWORK_PARSE_TIMEOUT (30 s), QLWORK_PARSE_MEMORY_MB (1024) and
    QLWORK_MAX_IMAGE_PIXELS (40,000,000)."""

    max_pages: int = 500
    max_chars: int = 2_000_000
    timeout: float = 30.0
    memory_mb: int = 1024
    max_pixels: int = 40_000_000

    @classmethod
    def from_env(cls) -> "Limits":
        return cls(max_pages=_env_int("QLWORK_PARSE_MAX_PAGES", cls.max_pages),
                   max_chars=_env_int("QLWORK_PARSE_MAX_CHARS", cls.max_chars),
                   timeout=float(_env_int("QLWORK_PARSE_TIMEOUT", int(cls.timeout))),
                   memory_mb=_env_int("QLWORK_PARSE_MEMORY_MB", cls.memory_mb),
                   max_pixels=_env_int("QLWORK_MAX_IMAGE_PIXELS", cls.max_pixels))


def parse(data: bytes, filename: str, kind: str | None = None, known_symbols: Iterable[str] | None = None) -> dict:
    """Parse a file's bytes into a JSON-serialisable summary (``kind`` plus type-specific fields), here,
    under the caps of :class:`Limits`. Untrusted PDFs and images go through
    :func:`qlwork.tools.parse_process.parse_isolated` instead (``FileStore.parse`` does)."""
    kind = kind or sniff(data, filename)
    if kind in BINARY_KINDS:
        return parse_binary(data, filename, kind)
    text = decode_text(data, filename)
    if kind == "json":
        return parse_json(text, filename, known_symbols)
    if kind == "csv":
        return parse_csv(text, filename, known_symbols)
    return {"kind": "text", "pages": [text], "characters": len(text), "lines": text.count("\n") + 1}


def parse_binary(data: bytes, filename: str, kind: str, limits: Limits | None = None) -> dict:
    """A PDF or image parsed here under ``limits`` (default :meth:`Limits.from_env`; the parser process
    of :mod:`qlwork.tools.parse_process` calls this)."""
    limits = limits or Limits.from_env()
    if kind == "pdf":
        return parse_pdf(data, filename, max_pages=limits.max_pages, max_chars=limits.max_chars)
    if kind in OFFICE_KINDS:
        from . import office_files

        return getattr(office_files, f"parse_{kind}")(data, filename, max_chars=limits.max_chars)
    return parse_image(data, filename, max_pixels=limits.max_pixels)


def check_image_header(data: bytes, filename: str, max_pixels: int) -> tuple[int, int]:
    """Width and height from a PNG/JPEG header, without decoding pixels; InputError (naming the
    limit, QLWORK_MAX_IMAGE_PIXELS) when width x height is over ``max_pixels``."""
    from PIL import Image, UnidentifiedImageError

    try:
        if data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR":
            width, height = struct.unpack(">II", data[16:24])
        else:
            with Image.open(io.BytesIO(data)) as img:  # lazy: reads the header only
                width, height = img.size
    except Image.DecompressionBombError:
        width = height = max_pixels + 1  # Pillow refused even the header's size: far over any cap
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, struct.error) as exc:
        raise InputError(f"{filename} is not a readable image (damaged or truncated: {exc}).",
                         fix="Export the image again as PNG or JPEG and upload it.", file=filename,
                         code="corrupt_file") from None
    if width * height > max_pixels:
        raise InputError(f"{filename} is {width}x{height} pixels ({width * height:,}); the limit is {max_pixels:,} "
                         "pixels (QLWORK_MAX_IMAGE_PIXELS).", fix="Upload a smaller image (scale it down).",
                         file=filename, code="image_too_large", limit="QLWORK_MAX_IMAGE_PIXELS")
    return width, height


def parse_pdf(data: bytes, filename: str, max_pages: int | None = None, max_chars: int | None = None) -> dict:
    """Text per page of a PDF (pypdf). Encrypted (with a password) or corrupt PDFs raise InputError, and
    so do PDFs over ``max_pages`` pages or ``max_chars`` characters of text (the limit is named)."""
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError, PyPdfError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            try:
                opened = reader.decrypt("")
            except Exception:  # noqa: BLE001 - unsupported encryption is reported like a password
                opened = 0
            if not opened:
                raise InputError(f"{filename} is an encrypted PDF; qlwork cannot read password-protected files.",
                                 fix="Upload a copy saved without a password.", file=filename, code="encrypted_file")
        count = len(reader.pages)
        if max_pages is not None and count > max_pages:
            raise InputError(f"{filename} has {count:,} pages; the limit is {max_pages:,} (QLWORK_PARSE_MAX_PAGES).",
                             fix="Upload the pages you need as a shorter PDF.", file=filename,
                             code="file_too_complex", limit="QLWORK_PARSE_MAX_PAGES")
        pages, total = [], 0
        for page in reader.pages:
            pages.append((page.extract_text() or "").strip())
            total += len(pages[-1])
            if max_chars is not None and total > max_chars:
                raise InputError(f"{filename} has more than {max_chars:,} characters of text (QLWORK_PARSE_MAX_CHARS).",
                                 fix="Upload a shorter document.", file=filename, code="file_too_complex",
                                 limit="QLWORK_PARSE_MAX_CHARS")
        info = reader.metadata or {}
    except InputError:
        raise
    except (PdfReadError, PyPdfError, ValueError, KeyError, TypeError, AttributeError, OSError) as exc:
        raise InputError(f"{filename} is not a readable PDF (it looks damaged or truncated: {exc}).",
                         fix="Re-export or re-download the PDF and upload it again.", file=filename,
                         code="corrupt_file") from None
    meta = capped_metadata({k.lstrip("/").lower(): str(v) for k, v in dict(info).items()
                            if isinstance(v, (str, int, float))})
    out = {"kind": "pdf", "page_count": len(pages), "pages": pages, "metadata": meta,
           "characters": sum(len(p) for p in pages)}
    if not any(pages):
        out["note"] = "No extractable text (a scanned PDF?): the pages are images."
    return out


META_KEYS, META_KEY_CHARS, META_VALUE_CHARS = 32, 64, 1000


def capped_metadata(meta: dict) -> dict:
    """A file's own metadata (title, author, ...) is untrusted: at most 32 keys of 64 characters, values
    cut at 1,000 characters with a note (a 15 MB PDF title came back whole)."""
    out = {}
    for key, value in list(meta.items())[:META_KEYS]:
        value = str(value)
        if len(value) > META_VALUE_CHARS:
            value = value[:META_VALUE_CHARS] + f"... [cut: {len(value) - META_VALUE_CHARS:,} more characters]"
        out[str(key)[:META_KEY_CHARS]] = value
    return out


def parse_image(data: bytes, filename: str, max_pixels: int | None = None) -> dict:
    """Size, mode and metadata of a PNG or JPEG (Pillow); the pixels are decoded (to check the file)
    only after the header's size passed ``max_pixels`` (see :func:`check_image_header`)."""
    from PIL import Image, UnidentifiedImageError

    if max_pixels is not None:
        check_image_header(data, filename, max_pixels)
    try:
        with Image.open(io.BytesIO(data)) as img:
            img.verify()
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            fmt, (width, height), mode = img.format, img.size, img.mode
            info = {k: v for k, v in img.info.items() if isinstance(v, (str, int, float)) and len(str(v)) < 500}
            dpi = img.info.get("dpi")
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{filename} is not a readable image (damaged or truncated: {exc}).",
                         fix="Export the image again as PNG or JPEG and upload it.", file=filename,
                         code="corrupt_file") from None
    out = {"kind": "png" if fmt == "PNG" else "jpeg", "format": fmt, "width": width, "height": height,
           "mode": mode, "metadata": info}
    if dpi:
        out["dpi"] = [round(float(d), 1) for d in dpi]
    return out


def _portfolio_summary(pf, fmt: str) -> dict:
    holdings = pf.to_records() if hasattr(pf, "to_records") else []
    return {"kind": fmt, "content": "portfolio", "portfolio": {"name": pf.name, "holdings": len(pf.holdings),
            "symbols": pf.symbols, "records": holdings}}


def parse_csv(text: str, filename: str, known_symbols: Iterable[str] | None = None) -> dict:
    """A CSV as a validated portfolio, a validated earnings table, or a generic table summary."""
    from ..portfolio import ALIASES, REQUIRED_FIELDS, portfolio_from_csv_text, normalise_header

    rows = list(csv.reader(io.StringIO(text)))
    header = next((r for r in rows if any(c.strip() for c in r)), None)
    if header is None:
        raise InputError(f"{filename} is empty.", fix="Upload a CSV with a header row.", file=filename,
                         code="empty_file")
    names = [normalise_header(h) for h in header]
    fields = {ALIASES.get(n) for n in names}
    if all(f in fields for f in REQUIRED_FIELDS):
        pf = portfolio_from_csv_text(text, filename, known_symbols=known_symbols, name=Path(filename).stem, source=filename)
        return _portfolio_summary(pf, "csv")
    records = [dict(zip(names, r)) for r in rows[rows.index(header) + 1:] if any(c.strip() for c in r)]
    if _is_earnings(names):
        return {"kind": "csv", "content": "earnings", **validate_earnings(records, filename, known_symbols, csv_rows=True)}
    return {"kind": "csv", "content": "table", **_table_summary(names, records)}


def parse_json(text: str, filename: str, known_symbols: Iterable[str] | None = None) -> dict:
    """JSON as a validated portfolio (the portfolio JSON shapes), earnings, or a generic document."""
    from ..portfolio import portfolio_from_json

    try:
        obj = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{filename} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}.",
                         fix="Correct the JSON syntax at that position.", file=filename, row=exc.lineno,
                         column=exc.colno, code="invalid_json") from None
    items = obj.get("earnings") if isinstance(obj, dict) and "earnings" in obj else obj
    if isinstance(items, list) and items and all(isinstance(i, dict) for i in items) \
            and _is_earnings([str(k).strip().lower() for k in items[0]]):
        recs = [{str(k).strip().lower(): v for k, v in i.items()} for i in items]
        return {"kind": "json", "content": "earnings", **validate_earnings(recs, filename, known_symbols)}
    if isinstance(obj, list) or (isinstance(obj, dict) and ("holdings" in obj or "status" in obj)):
        pf = portfolio_from_json(obj, filename, known_symbols=known_symbols, name=None, source=filename,
                            default_name=Path(filename).stem)
        return _portfolio_summary(pf, "json")
    keys = list(obj)[:50] if isinstance(obj, dict) else []
    return {"kind": "json", "content": "document", "keys": keys, "characters": len(text),
            "pages": [json.dumps(obj, indent=1, ensure_ascii=False)[:200_000]]}


def _is_earnings(names: list[str]) -> bool:
    has_symbol = any(n in ("symbol", "tradingsymbol", "ticker", "company") for n in names)
    return has_symbol and any(n in EARNINGS_PERIOD for n in names) and any(n in EARNINGS_METRICS for n in names)


def _number(raw: Any) -> float | None:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None
    if isinstance(raw, bool):
        raise ValueError("boolean")
    if isinstance(raw, (int, float)):
        value = float(raw)
    else:
        value = float(str(raw).replace(",", "").replace("\u20b9", "").replace("%", "").strip())
    if not math.isfinite(value):
        raise ValueError("not finite")
    return value


def validate_earnings(records: list[dict], filename: str, known_symbols: Iterable[str] | None = None,
                      csv_rows: bool = False) -> dict:
    """Check an earnings table (symbol, period, numeric metrics); every problem names row and field."""
    from ..symbols import suggest_symbols, symbol_lookup
    from ..portfolio import RowProblems

    problems = RowProblems(filename)
    known = list(known_symbols) if known_symbols is not None else None
    lookup = symbol_lookup(known) if known is not None else None
    sym_key = next(k for k in ("symbol", "tradingsymbol", "ticker", "company") if k in records[0]) if records else "symbol"
    period_key = next((k for k in EARNINGS_PERIOD if records and k in records[0]), "quarter")
    metrics = [k for k in (records[0] if records else {}) if k in EARNINGS_METRICS and k != "guidance"]
    clean: list[dict] = []
    for i, rec in enumerate(records, start=2 if csv_rows else 1):
        symbol = str(rec.get(sym_key) or "").strip().upper()
        if not symbol:
            problems.add(i, sym_key, "is empty", "Give every row an NSE symbol.")
            continue
        if lookup is not None and symbol.replace(" ", "") not in lookup and symbol not in lookup.values():
            hint = suggest_symbols(symbol, known)
            problems.add(i, sym_key, f"unknown symbol {symbol!r}" + (f" (did you mean {', '.join(hint)}?)" if hint else ""),
                         "Use NSE trading symbols such as TCS or INFY.")
        if not str(rec.get(period_key) or "").strip():
            problems.add(i, period_key, "is empty", "Give every row its quarter, e.g. Q2FY26.")
        row = {"symbol": symbol, "period": str(rec.get(period_key) or "").strip()}
        for m in metrics:
            try:
                row[m] = _number(rec.get(m))
            except (TypeError, ValueError):
                problems.add(i, m, f"{rec.get(m)!r} is not a number", "Write numbers like 1234.5 (no units).")
        clean.append(row)
    if not records:
        problems.add(None, None, "has no data rows", "Add one row per company and quarter.")
    problems.raise_if_any()
    return {"earnings": {"rows": len(clean), "symbols": sorted({r["symbol"] for r in clean}),
                         "periods": sorted({r["period"] for r in clean}), "metrics": metrics, "records": clean[:500]}}


def _table_summary(names: list[str], records: list[dict]) -> dict:
    numeric = {}
    for n in names:
        values = []
        for r in records:
            try:
                v = _number(r.get(n))
            except (TypeError, ValueError):
                values = None
                break
            if v is not None:
                values.append(v)
        if values:
            numeric[n] = {"min": min(values), "max": max(values), "mean": round(sum(values) / len(values), 6)}
    return {"table": {"columns": names, "rows": len(records), "numeric": numeric, "head": records[:5]}}
