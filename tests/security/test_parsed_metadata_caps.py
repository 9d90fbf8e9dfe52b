"""Issue 32 item 6: a PDF's own metadata is capped (a 15 MB title came back whole).

The attack PDF carries a 2 MB title and 200 metadata keys; parsed through the real sandboxed parser
process (``parse_isolated``), the title is cut at 1,000 characters with a note and at most 32 keys
come back.
"""

from __future__ import annotations

import io

import pytest

from qlwork.tools.file_parsing import META_KEYS, META_VALUE_CHARS
from qlwork.tools.parse_process import parse_isolated

pypdf = pytest.importorskip("pypdf")


def test_huge_pdf_title_and_many_keys_are_capped():
    writer = pypdf.PdfWriter()
    writer.add_blank_page(width=200, height=200)
    writer.add_metadata({"/Title": "T" * 2_000_000, **{f"/K{i}": f"v{i}" for i in range(200)}})
    buf = io.BytesIO()
    writer.write(buf)
    parsed = parse_isolated(buf.getvalue(), "huge_title.pdf", "pdf")
    meta = parsed["metadata"]
    assert len(meta) <= META_KEYS
    assert meta["title"].startswith("T" * META_VALUE_CHARS) and "cut: 1,999,000 more characters" in meta["title"]
    assert all(len(v) < META_VALUE_CHARS + 60 for v in meta.values())
