"""A CAMS summary Consolidated Account Statement PDF written for tests, in the layout casparser's CAMS
summary parser reads (issuer marker ``CAMSCASWS``, the "Consolidated Account Summary" heading, a header
row of Folio No. / ISIN / Scheme Name / Cost Value / Unit Balance / NAV Date / NAV / Market Value /
Registrar, one row per scheme under AMC headings, a Total row), encrypted with a password as real CAS
PDFs are (with pypdf). Hand-written PDF operators, Helvetica; no real statement is copied."""

from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter

# column: (left x of the header label, header text, right-aligned?)
COLUMNS = [(20, "Folio No.", False), (70, "ISIN", False), (135, "Scheme Name", False), (385, "Cost Value", True),
           (446, "Unit Balance", True), (500, "NAV Date", False), (585, "NAV", True), (636, "Market Value", True),
           (690, "Registrar", False)]
SIZE = 6.0
# Helvetica advance widths (per 1000 em) of the characters used here; others count as 556
_WIDTHS = {**{c: 556 for c in "0123456789"}, ".": 278, ",": 278, "-": 333, " ": 278, "/": 278, ":": 278,
           **{c: 667 for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}, "I": 278, "M": 833, "W": 944, "J": 500,
           **{c: 556 for c in "abcdeghnopqu"}, "f": 278, "i": 222, "j": 222, "l": 222, "t": 278, "r": 333,
           "m": 833, "w": 722, "s": 500, "v": 500, "x": 500, "y": 500, "z": 500, "k": 500}


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _width(text: str, size: float = SIZE) -> float:
    return sum(_WIDTHS.get(c, 556) for c in text) * size / 1000


def _text(x: float, y: float, text: str, size: float = SIZE) -> str:
    return f"BT /F1 {size} Tf {x:.2f} {y:.2f} Td ({_escape(text)}) Tj ET\n"


def cas_pdf(schemes: list[dict], *, password: str, as_on: str = "20-Nov-2026",
            investor: str = "TEST INVESTOR") -> bytes:
    """``schemes``: dicts with amc, folio, isin, code, name, cost, units, nav_date, nav, value, rta."""
    ops = [_text(30, 800, "CAMSCASWS"), _text(30, 780, f"Consolidated Account Summary as on {as_on}", 10),
           _text(30, 760, "Email Id : investor@example.com"), _text(30, 750, investor),
           _text(30, 740, "12 TEST ROAD, PUNE 411001"), _text(30, 730, "Mobile : +919800000000")]
    y = 715.0
    header_x = {}
    for x, label, right in COLUMNS:
        ops.append(_text(x, y, label))
        header_x[label] = (x, x + _width(label), right)
    y -= 16
    amc = None
    for s in schemes:
        if s["amc"] != amc:
            amc = s["amc"]
            ops.append(_text(30, y, amc))
            y -= 12
        cells = {"Folio No.": s["folio"], "ISIN": s["isin"], "Scheme Name": f"{s['code']}-{s['name']}",
                 "Cost Value": f"{s['cost']:,.2f}", "Unit Balance": f"{s['units']:,.3f}", "NAV Date": s["nav_date"],
                 "NAV": f"{s['nav']:,.4f}", "Market Value": f"{s['value']:,.2f}", "Registrar": s["rta"]}
        for label, value in cells.items():
            lo, hi, right = header_x[label]
            ops.append(_text(hi - _width(value) if right else lo, y, value))
        y -= 12
    ops.append(_text(150, y, "Total"))
    ops.append(_text(header_x["Market Value"][1] - _width("1.00"), y, "1.00"))
    content = "".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 760 842] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length " + str(len(content)).encode() + b" >>\nstream\n" + content + b"\nendstream",
    ]
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{i} 0 obj\n".encode() + obj + b"\nendobj\n")
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for off in offsets:
        out.write(f"{off:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode())
    writer = PdfWriter()
    for page in PdfReader(io.BytesIO(out.getvalue())).pages:
        writer.add_page(page)
    writer.encrypt(user_password=password, owner_password=None, algorithm="AES-128")
    final = io.BytesIO()
    writer.write(final)
    return final.getvalue()


SAMPLE = [
    {"amc": "PPFAS Mutual Fund", "folio": "12345678", "isin": "INF879O01027", "code": "PP001ZG",
     "name": "Parag Parikh Flexi Cap Fund - Direct Plan Growth", "cost": 31175.0, "units": 500.123,
     "nav_date": "19-Nov-2026", "nav": 88.412, "value": 44217.07, "rta": "CAMS"},
    {"amc": "HDFC Mutual Fund", "folio": "7654321", "isin": "INF179KB1HP9", "code": "HLFGTN",
     "name": "HDFC Liquid Fund - Direct Plan - Growth Option", "cost": 46500.0, "units": 10.0,
     "nav_date": "19-Nov-2026", "nav": 5102.77, "value": 51027.7, "rta": "CAMS"},
    {"amc": "HDFC Mutual Fund", "folio": "7654321", "isin": "INF179K01WA6", "code": "HGFGT",
     "name": "HDFC Balanced Advantage Fund - Direct Plan - Growth Option", "cost": 20000.0, "units": 40.5,
     "nav_date": "19-Nov-2026", "nav": 560.25, "value": 22690.13, "rta": "CAMS"},
]
