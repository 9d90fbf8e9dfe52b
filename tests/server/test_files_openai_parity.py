"""The Files API as OpenAI's (issue 33), through the openai SDK against `qlwork serve`: the purposes OpenAI
accepts, Excel and Word uploads read as text for file_search, a first page of 10,000 files, and
``expires_after`` applied; file objects still validate against the Assistants v2 OpenAPI document."""

from __future__ import annotations

import io
import sqlite3
import time
from pathlib import Path

import jsonschema
import openai
import pytest
import yaml

from qlwork.errors import InputError

SPEC = Path("/work/shared/openai/assistants-v2-openapi.yaml")
NOTE = b"Sector note: banks look cheap against their ten-year average book multiple.\n"


@pytest.fixture(scope="module")
def live(served_live):
    return served_live


@pytest.fixture(scope="module")
def file_schema():
    if not SPEC.exists():
        pytest.skip(f"{SPEC} is not on this machine")
    spec = yaml.safe_load(SPEC.read_text())
    return spec["components"]["schemas"]["OpenAIFile"]


def _xlsx() -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Holdings"
    sheet.append(["tradingsymbol", "quantity", "thesis"])
    sheet.append(["HDFCBANK", 25, "quokkamarker deposit franchise"])
    book.create_sheet("Notes").append(["Rebalance every quarter", None, "pangolinword"])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _docx() -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph("Investment committee minutes: the narwhalterm stance on IT services stays neutral.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text, table.rows[0].cells[1].text = "INFY", "axolotlcell hold"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


@pytest.mark.parametrize("purpose", ["assistants", "user_data", "batch", "fine-tune", "evals", "vision"])
def test_the_purposes_openai_accepts_are_accepted(alice, purpose):
    f = alice.files.create(file=("note.txt", io.BytesIO(NOTE)), purpose=purpose)
    assert f.purpose == purpose and alice.files.retrieve(f.id).purpose == purpose
    assert (f.expires_at is not None) == (purpose == "batch")  # OpenAI: batch files expire after 30 days
    if purpose == "batch":
        assert f.expires_at == f.created_at + 30 * 86_400


def test_an_unknown_purpose_is_still_refused(alice):
    with pytest.raises(openai.BadRequestError, match="purpose 'homework' is not one of"):
        alice.files.create(file=("note.txt", io.BytesIO(NOTE)), purpose="homework")


def test_xlsx_and_docx_are_accepted_and_searchable(alice):
    book = alice.files.create(file=("holdings.xlsx", io.BytesIO(_xlsx())), purpose="assistants")
    minutes = alice.files.create(file=("minutes.docx", io.BytesIO(_docx())), purpose="user_data")
    assert book.bytes > 0 and minutes.filename == "minutes.docx"
    store = alice.vector_stores.create(name="office", file_ids=[book.id, minutes.id])
    files = {f.id: f for f in alice.vector_stores.files.list(store.id)}
    assert {f.status for f in files.values()} == {"completed"}, [f.last_error for f in files.values()]
    found = {}
    for word in ("quokkamarker", "pangolinword", "narwhalterm", "axolotlcell"):
        hits = alice.vector_stores.search(store.id, query=word).data
        assert hits, word
        found[word] = (hits[0].file_id, hits[0].content[0].text)
    assert found["quokkamarker"][0] == book.id and "HDFCBANK 25 quokkamarker" in found["quokkamarker"][1]
    assert "[sheet Notes]" in found["pangolinword"][1]
    assert found["narwhalterm"][0] == minutes.id and "INFY axolotlcell hold" in found["axolotlcell"][1]


def test_a_damaged_workbook_is_a_clear_failure(alice):
    data = _xlsx()
    with pytest.raises(openai.BadRequestError, match="broken.xlsx looks like an Excel workbook, but the "
                       "archive is damaged"):
        alice.files.create(file=("broken.xlsx", io.BytesIO(data[:len(data) // 2])), purpose="assistants")
    from qlwork.tools.office_files import parse_xlsx

    with pytest.raises(InputError, match="not a readable Excel workbook"):  # parts present, content not a workbook
        parse_xlsx(_with_part(data, "xl/workbook.xml", b"<not-a-workbook"), "odd.xlsx")


def _with_part(data: bytes, name: str, content: bytes) -> bytes:
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as src, zipfile.ZipFile(out, "w") as dst:
        for item in src.infolist():
            dst.writestr(item, content if item.filename == name else src.read(item.filename))
    return out.getvalue()


def test_list_returns_more_than_twenty_on_the_first_page(live):
    client = live.client("many_files_user")
    ids = [client.files.create(file=(f"n{i}.txt", io.BytesIO(NOTE)), purpose="assistants").id for i in range(25)]
    page = client.files.list()
    assert [f.id for f in page.data] == ids[::-1] and page.has_more is False
    assert len(client.files.list(limit=10).data) == 10


def test_expires_after_is_applied(live, alice, file_schema):
    f = alice.files.create(file=("brief.txt", io.BytesIO(NOTE)), purpose="assistants",
                           expires_after={"anchor": "created_at", "seconds": 3600})
    assert f.expires_at == f.created_at + 3600
    shown = alice.files.retrieve(f.id)
    assert shown.expires_at == f.expires_at
    jsonschema.validate(shown.model_dump(exclude_none=True), file_schema)
    jsonschema.validate(alice.files.retrieve(
        alice.files.create(file=("x.txt", io.BytesIO(NOTE)), purpose="assistants").id).model_dump(exclude_none=True),
        file_schema)
    for bad in ({"anchor": "created_at", "seconds": 60}, {"anchor": "last_active_at", "seconds": 3600}):
        with pytest.raises(openai.BadRequestError, match="expires_after"):
            alice.files.create(file=("x.txt", io.BytesIO(NOTE)), purpose="assistants", expires_after=bad)
    # an hour later (the stored expiry moved into the past, as the clock would): the file is gone
    with sqlite3.connect(Path(live.store.path) if hasattr(live.store, "path") else _db(live)) as conn:
        conn.execute("UPDATE server_file_expiry SET expires_at = ? WHERE file_id = ?", (int(time.time()) - 1, f.id))
    with pytest.raises(openai.NotFoundError):
        alice.files.retrieve(f.id)
    assert f.id not in [x.id for x in alice.files.list()]
    with pytest.raises(openai.NotFoundError):
        alice.files.content(f.id)


def _db(live) -> Path:
    import os

    return Path(os.environ["QLWORK_HOME"]) / "qlwork.db"
