"""Write qlwork/data/research/nifty50_technical_outlook.pdf: a small synthetic research note (3 pages).

A minimal PDF writer (Helvetica, one text stream per page) so no PDF library is needed to build it.
Run: python scripts/make_research_pdf.py
"""

from __future__ import annotations

import textwrap
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "qlwork" / "data" / "research" / "nifty50_technical_outlook.pdf"
LABEL = "Synthetic research note for qlwork demos. Not real market research and not investment advice."

PAGES = [
    ("NIFTY 50 technical outlook - November 2026", [
        LABEL,
        "This note reviews the NIFTY 50 index after the October correction and the November recovery. "
        "Page 2 covers the key chart levels and momentum readings. "
        "Page 3 covers sector rotation and the risks to the view.",
        "The index fell about 8 percent from the September high to the October low near 23,600 and has since "
        "recovered to 25,850. Volumes were higher on up days than on down days during the recovery.",
    ]),
    ("Technical analysis: support and resistance levels", [
        "Support: the first NIFTY 50 support level is 25,400, the top of the early November range. The second "
        "support zone is 24,900 to 25,000, where the 50-day moving average sits. The October low at 23,600 is "
        "major support.",
        "Resistance: NIFTY 50 faces resistance at 26,000, the September swing high, and then at 26,350. A close "
        "above 26,000 with rising volume would confirm the uptrend.",
        "Momentum: the 14-day RSI (Wilder smoothing) is near 62. A reading above 70 would signal overbought "
        "conditions; the last such reading was in September. The daily MACD is above its signal line.",
    ]),
    ("Sector rotation and risks", [
        "Banks and IT services led the November recovery, while metals and energy lagged. Banks carry the "
        "largest index weight, so the index rarely breaks out without them.",
        "Risks: a stronger dollar, foreign portfolio outflows and a weak earnings season could push the index "
        "back toward the 24,900 support zone. A weekly close below 24,900 would invalidate the bullish view.",
        LABEL,
    ]),
]


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def _stream(title: str, paragraphs: list[str]) -> bytes:
    lines = ["BT", "/F2 15 Tf", "56 790 Td", f"({_escape(title)}) Tj", "/F1 11 Tf", "15 TL", "T*"]
    for para in paragraphs:
        for line in textwrap.wrap(para, 88):
            lines += ["T*", f"({_escape(line)}) Tj"]
        lines.append("T*")
    lines.append("ET")
    return "\n".join(lines).encode("latin-1")


def build() -> bytes:
    n = len(PAGES)
    page_ids = [5 + 2 * i for i in range(n)]
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{' '.join(f'{p} 0 R' for p in page_ids)}] /Count {n} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
    ]
    for i, (title, paras) in enumerate(PAGES):
        content = _stream(title, paras)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R "
                       f"/F2 4 0 R >> >> /Contents {page_ids[i] + 1} 0 R >>".encode())
        objects.append(f"<< /Length {len(content)} >>\nstream\n".encode() + content + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info << /Title (NIFTY 50 technical outlook) "
            f"/Author (qlwork synthetic research) >> >>\nstartxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)


if __name__ == "__main__":
    OUT.write_bytes(build())
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
