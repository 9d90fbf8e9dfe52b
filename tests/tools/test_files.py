"""File objects: upload, content sniffing, size limit, parsing and clear errors."""

from __future__ import annotations

import io
import json

import pytest

from qlwork.errors import InputError
from qlwork.portfolio import load_portfolio
from qlwork.tools import file_parsing
from qlwork.tools.file_search import RESEARCH_DIR
from qlwork.tools.files import FileStore, thread_attachments

PDF = RESEARCH_DIR / "nifty50_technical_outlook.pdf"
KNOWN = ["TCS", "INFY", "WIPRO", "HCLTECH", "RELIANCE", "HDFCBANK"]


@pytest.fixture()
def fs(tmp_path):
    return FileStore(tmp_path / "files")


def png_bytes(size=(64, 32)) -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", size, "white").save(buf, format="PNG")
    return buf.getvalue()


def test_upload_stores_bytes_and_metadata(fs):
    obj = fs.create(b"symbol,quarter,eps\nTCS,Q2FY27,34.5\n", "../../etc/e.csv")
    assert obj.id.startswith("file_") and obj.filename == "e.csv" and obj.bytes == 35
    assert obj.kind == "csv" and obj.mime_type == "text/csv" and len(obj.sha256) == 64
    assert fs.content(obj.id).startswith(b"symbol") and fs.path(obj.id).parent.parent == fs.root
    assert fs.get(obj.id) == obj and [f.id for f in fs.list()] == [obj.id]
    assert FileStore(fs.root).get(obj.id).sha256 == obj.sha256  # persisted in files.db
    fs.delete(obj.id)
    with pytest.raises(InputError, match="No file"):
        fs.get(obj.id)


def test_size_limit_and_empty_file(tmp_path, monkeypatch):
    small = FileStore(tmp_path / "f", max_bytes=100)
    with pytest.raises(InputError) as err:
        small.create(b"x" * 101, "big.txt")
    assert err.value.details["code"] == "file_too_large" and "limit is 100" in str(err.value)
    with pytest.raises(InputError, match="empty"):
        small.create(b"", "e.csv")
    monkeypatch.setenv("QLWORK_MAX_FILE_BYTES", "10")
    assert FileStore(tmp_path / "g").max_bytes == 10
    assert FileStore(tmp_path / "h", max_bytes=None).max_bytes == 10


def test_type_is_sniffed_from_content_not_extension(fs):
    pdf = fs.create(PDF.read_bytes(), "prices.csv")
    assert pdf.kind == "pdf"
    assert "PDF content despite its extension" in fs.parse(pdf.id)["note_type"]
    assert fs.create(png_bytes(), "notes.txt").kind == "png"
    assert fs.create(b'{"a": 1}', "data.bin").kind == "json"
    assert fs.create(b"# title\nsome text", "x.md").kind == "text"
    with pytest.raises(InputError, match="unsupported type"):
        fs.create(b"\x00\x01\x02binary", "blob.csv")


def test_bundled_research_pdf_parses(fs):
    parsed = fs.parse(fs.upload(PDF).id)
    assert parsed["kind"] == "pdf" and parsed["page_count"] == 3
    assert "Synthetic research note for qlwork demos" in parsed["pages"][0]
    assert "support level is 25,400" in parsed["pages"][1]
    assert all(p.suffix in (".md", ".pdf") for p in RESEARCH_DIR.iterdir())
    for note in RESEARCH_DIR.glob("*.md"):
        assert "Synthetic research note for qlwork demos" in note.read_text()


def test_encrypted_and_corrupt_pdfs_get_clear_errors(fs):
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for page in PdfReader(PDF).pages:
        writer.add_page(page)
    writer.encrypt(user_password="secret", algorithm="RC4-128")
    buf = io.BytesIO()
    writer.write(buf)
    enc = fs.create(buf.getvalue(), "locked.pdf")
    with pytest.raises(InputError, match="encrypted PDF") as err:
        fs.parse(enc.id)
    assert err.value.details["code"] == "encrypted_file" and "without a password" in err.value.fix
    bad = fs.create(PDF.read_bytes()[:300], "broken.pdf")
    with pytest.raises(InputError, match="not a readable PDF") as err:
        fs.parse(bad.id)
    assert err.value.details["code"] == "corrupt_file"


def test_images_report_size_and_reject_corruption(fs):
    obj = fs.create(png_bytes((120, 80)), "chart.png")
    parsed = fs.parse(obj.id)
    assert (parsed["kind"], parsed["width"], parsed["height"]) == ("png", 120, 80)
    part = fs.image_input(obj.id)
    assert part["type"] == "input_image" and part["image_url"].startswith("data:image/png;base64,")
    with pytest.raises(InputError, match="not an image"):
        fs.image_input(fs.create(b"a,b\n1,2\n3,4\n", "t.csv").id)
    broken = fs.create(png_bytes()[:40], "broken.png")
    with pytest.raises(InputError, match="not a readable image"):
        fs.parse(broken.id)


def test_portfolio_csv_uses_portfolio_validation(fs, tmp_path):
    text = "tradingsymbol,exchange,quantity,average_price\nTCS,NSE,10,3000\nINFY,NSE,abc,1500\n"
    obj = fs.create(text.encode(), "holdings.csv")
    with pytest.raises(InputError) as ours:
        fs.parse(obj.id)
    path = tmp_path / "holdings.csv"
    path.write_text(text)
    with pytest.raises(InputError) as theirs:
        load_portfolio(path)
    assert ours.value.details["row"] == theirs.value.details["row"] == 3
    assert ours.value.details["field"] == theirs.value.details["field"] == "quantity"
    assert "holdings.csv" in str(ours.value)
    good = fs.create(b"symbol,qty,avg_price\nTCS,10,3000\n", "p.csv")
    assert fs.parse(good.id)["portfolio"]["symbols"] == ["TCS"]
    js = fs.create(json.dumps({"holdings": [{"tradingsymbol": "INFY", "quantity": 5, "average_price": 1500}]}).encode(), "p.json")
    assert fs.parse(js.id)["content"] == "portfolio"


def test_earnings_csv_validation_names_row_and_field(fs):
    sample = fs.upload(RESEARCH_DIR.parent / "samples" / "earnings_q2fy27.csv")
    parsed = fs.parse(sample.id, known_symbols=KNOWN)
    assert parsed["content"] == "earnings" and parsed["earnings"]["rows"] == 6
    assert parsed["earnings"]["metrics"] == ["revenue", "net_profit", "eps", "yoy_growth"]
    bad = fs.create(b"symbol,quarter,revenue,eps\nTCS,Q2FY27,100,3.5\nINFOSIS,Q2FY27,ten,1.0\n", "earn.csv")
    with pytest.raises(InputError) as err:
        fs.parse(bad.id, known_symbols=KNOWN)
    msg = str(err.value)
    assert "earn.csv has 2 problems" in msg and "row 3" in msg and "'revenue'" in msg and "INFOSIS" in msg
    assert err.value.details["row"] == 3 and err.value.details["file"] == "earn.csv"


def test_json_errors_and_generic_table(fs):
    bad = fs.create(b'{"holdings": [1, }', "p.json")
    with pytest.raises(InputError, match=r"not valid JSON: .* line 1, column") as err:
        fs.parse(bad.id)
    assert err.value.details["code"] == "invalid_json"
    table = fs.create(b"date,close\n2026-11-19,10.5\n2026-11-20,11\n", "px.csv")
    summary = fs.parse(table.id)["table"]
    assert summary["rows"] == 2 and summary["numeric"]["close"] == {"min": 10.5, "max": 11.0, "mean": 10.75}
    with pytest.raises(InputError, match="UTF-16"):
        file_parsing.decode_text(b"\xff\xfea\x00", "x.csv")


def test_thread_attachments_flatten_tool_types():
    class A:
        def __init__(self, fid, tools):
            self.file_id, self.tools = fid, tools

    class M:
        id, attachments = "msg_1", [A("file_1", [{"type": "file_search"}, {"type": "code_interpreter"}])]

    assert thread_attachments([M()]) == [{"file_id": "file_1", "tools": ["file_search", "code_interpreter"],
                                          "message_id": "msg_1"}]
