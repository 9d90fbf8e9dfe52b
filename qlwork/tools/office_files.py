"""Excel workbooks (.xlsx) and Word documents (.docx): recognised from their content and read as text
for file_search (openpyxl, python-docx). Both are zip archives of XML from untrusted uploads, so they are
parsed in the capped parser process like PDFs (:mod:`qlwork.tools.parse_process`), with the archive's
total uncompressed size checked first (a zip bomb is refused before anything inflates it).

Text layout: a workbook gives one page per sheet (``[sheet Holdings]`` then one line per row, cells
separated by tabs, values as stored); a document gives one page of its paragraphs and table rows.
"""

from __future__ import annotations

import io
import zipfile

from ..errors import InputError

OFFICE_KINDS = ("xlsx", "docx")
MIME = {"xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document"}
EXTENSIONS = {"xlsx": {".xlsx"}, "docx": {".docx"}}
MAX_INFLATED_RATIO = 200  # uncompressed size at most this many times the upload (and under max_chars x 20)


def sniff_office(data: bytes, filename: str = "") -> str | None:
    """``"xlsx"`` or ``"docx"`` when ``data`` is such an archive (by its parts, not its name), else None; a
    damaged archive named .xlsx/.docx is an InputError saying so."""
    if not data.startswith(b"PK\x03\x04"):
        return None
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            names = set(archive.namelist())
    except (zipfile.BadZipFile, ValueError, OSError):
        suffix = filename.lower().rsplit(".", 1)[-1] if "." in filename else ""
        if suffix in OFFICE_KINDS:
            what = "an Excel workbook" if suffix == "xlsx" else "a Word document"
            raise InputError(f"{filename} looks like {what}, but the archive is damaged (cut short or corrupted).",
                             fix="Save it again and re-upload it.", code="unreadable_file", file=filename) from None
        return None
    if "[Content_Types].xml" not in names:
        return None
    if "xl/workbook.xml" in names:
        return "xlsx"
    if "word/document.xml" in names:
        return "docx"
    return None


def _check_archive(data: bytes, filename: str, max_chars: int) -> None:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        inflated = sum(info.file_size for info in archive.infolist())
    if inflated > max(len(data) * MAX_INFLATED_RATIO, 1) or inflated > max_chars * 20:
        raise InputError(f"{filename} unpacks to {inflated:,} bytes, too large to read.",
                         fix="Upload a smaller workbook or document (or save it as CSV / PDF).",
                         code="file_too_large", file=filename)


def _clip(pages: list[str], max_chars: int) -> tuple[list[str], bool]:
    out, used = [], 0
    for page in pages:
        if used + len(page) > max_chars:
            out.append(page[:max(0, max_chars - used)])
            return out, True
        out.append(page)
        used += len(page)
    return out, False


def parse_xlsx(data: bytes, filename: str, max_chars: int = 2_000_000) -> dict:
    """``{"kind": "xlsx", "pages": [one text per sheet], "sheets": [names], ...}`` (cell values, not formulas)."""
    import openpyxl

    _check_archive(data, filename, max_chars)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - a damaged workbook is bad input, said as such
        raise InputError(f"{filename} is not a readable Excel workbook ({type(exc).__name__}).",
                         fix="Open and save it again in Excel, or upload it as CSV.", code="unreadable_file",
                         file=filename) from None
    pages, names, used = [], [], 0
    try:
        for sheet in book.worksheets:
            lines = [f"[sheet {sheet.title}]"]
            for row in sheet.iter_rows(values_only=True):
                cells = ["" if v is None else str(v) for v in row]
                while cells and not cells[-1]:
                    cells.pop()
                if cells:
                    lines.append("\t".join(cells))
                    used += len(lines[-1])
                if used > max_chars:
                    break
            pages.append("\n".join(lines))
            names.append(sheet.title)
            if used > max_chars:
                break
    finally:
        book.close()
    pages, clipped = _clip(pages, max_chars)
    return {"kind": "xlsx", "pages": pages, "sheets": names, "characters": sum(map(len, pages)), "truncated": clipped}


def parse_docx(data: bytes, filename: str, max_chars: int = 2_000_000) -> dict:
    """``{"kind": "docx", "pages": [the document's text], ...}``: paragraphs, then each table's rows."""
    import docx

    _check_archive(data, filename, max_chars)
    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:  # noqa: BLE001
        raise InputError(f"{filename} is not a readable Word document ({type(exc).__name__}).",
                         fix="Open and save it again in Word, or upload it as PDF.", code="unreadable_file",
                         file=filename) from None
    lines = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        for row in table.rows:
            lines.append("\t".join(cell.text.strip() for cell in row.cells))
    pages, clipped = _clip(["\n".join(lines)], max_chars)
    return {"kind": "docx", "pages": pages, "paragraphs": len(document.paragraphs), "tables": len(document.tables),
            "characters": len(pages[0]), "truncated": clipped}
