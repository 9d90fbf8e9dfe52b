"""The offline engine with files and code: attach a CSV, a PDF and a PNG to a thread and ask about them."""

from __future__ import annotations

import io
import json
import re

import pytest

from qlwork.assistant.offline.intent import read_intent
from qlwork.assistant.session import Session
from qlwork.tools import code_interpreter as ci
from qlwork.tools.file_search import RESEARCH_DIR
from qlwork.tools.files import file_store

SAMPLES = RESEARCH_DIR.parent / "samples"


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("home")
    mp.setenv("QLWORK_HOME", str(path))
    yield path
    ci.default_pool().shutdown()
    mp.undo()


@pytest.fixture(scope="module")
def session(home):
    from qlwork.assistant.store import Store

    s = Session("analyst", store=Store(home / "qlwork.db"), new_thread=True)
    yield s
    s.store.close()


@pytest.fixture(autouse=True)
def _home(home, monkeypatch):  # the assistant conftest points QLWORK_HOME elsewhere; keep the module's
    monkeypatch.setenv("QLWORK_HOME", str(home))


def _png() -> bytes:
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (300, 200), "white").save(buf, format="PNG")
    return buf.getvalue()


def _attach(file_id: str, *tools: str) -> list[dict]:
    return [{"file_id": file_id, "tools": [{"type": t} for t in tools]}]


def _numbers(text: str) -> set[str]:
    return set(re.findall(r"\d+\.\d+", text))


def _outputs(answer) -> str:
    return " ".join(c.function.output or "" for c in answer.tool_calls)


def test_intents_for_files_and_code():
    sectors, symbols = ["IT"], {"TCS", "INFY"}
    assert read_intent("analyze the attached earnings CSV", sectors, symbols).kind == "files"
    assert read_intent("what do my research notes say about support levels", sectors, symbols).kind == "files"
    assert read_intent("compute the 20-day correlation of TCS and INFY", sectors, symbols).kind == "code"
    assert read_intent("anything here?", sectors, symbols, has_attachments=True).kind == "files"
    assert read_intent("Signals for TCS", sectors, symbols).kind == "signals"


def test_csv_pdf_png_on_one_thread(session):
    fs = file_store()
    csv = fs.upload(SAMPLES / "earnings_q2fy27.csv")
    pdf = fs.upload(RESEARCH_DIR / "nifty50_technical_outlook.pdf")
    png = fs.create(_png(), "nifty_chart.png")

    a = session.ask("Analyze the attached earnings CSV", attachments=_attach(csv.id, "code_interpreter"))
    assert [c.function.name for c in a.tool_calls] == ["code_interpreter"]
    assert a.response.analysis_type == "earnings_analysis"
    assert any("[earnings_q2fy27.csv]" in i and "HDFCBANK 0.089" in i for i in a.response.insights)
    assert _numbers(" ".join(a.response.insights[:-1])) <= _numbers(_outputs(a))  # figures come from the tool

    b = session.ask("What does the attached PDF say about NIFTY 50 support and resistance levels?",
                    attachments=_attach(pdf.id, "file_search"))
    assert [c.function.name for c in b.tool_calls] == ["file_search"]
    first = b.response.insights[0]
    assert first.endswith("[nifty50_technical_outlook.pdf p.2]") and "25,400" in first
    assert b.response.extra["citations"][0]["page"] == 2
    assert b.response.conversation_context.tools_used == ["file_search"]

    c = session.ask("What does this chart show?", attachments=_attach(png.id, "code_interpreter"))
    assert [c_.function.name for c_ in c.tool_calls] == ["code_interpreter"]
    text = " ".join(c.response.insights)
    assert "300x200 PNG" in text and "cannot read charts" in text and "CSV" in text

    # a later question without attachments searches every file_search file of the thread
    d = session.ask("What do my research notes say about support levels?")
    assert [x.function.name for x in d.tool_calls] == ["file_search"]
    assert "[nifty50_technical_outlook.pdf p." in d.response.insights[0]


def test_correlation_code_with_figure(session):
    a = session.ask("Compute the 20-day correlation of TCS and INFY")
    call = a.tool_calls[0]
    assert call.function.name == "code_interpreter" and "rolling(20).corr" in json.loads(call.function.arguments)["code"]
    out = json.loads(call.function.output)
    data = json.loads(out["stdout"].strip().splitlines()[-1])
    assert a.response.risk_metrics["correlation"] == data["correlation"]
    assert -1 <= data["correlation"] <= 1 and data["end"] == "2026-11-20"
    image_id = a.response.extra["image_file_ids"][0]
    assert file_store().get(image_id).kind == "png"
    assert any(f"{data['correlation']}" in i for i in a.response.insights)


def test_research_notes_without_files_use_the_labelled_sample_library(home):
    from qlwork.assistant.store import Store

    s = Session("newcomer", store=Store(home / "other.db"), new_thread=True)
    a = s.ask("What do my research notes say about NIFTY 50 technical analysis support resistance levels?")
    assert [c.function.name for c in a.tool_calls] == ["file_search"]
    assert "synthetic research notes" in a.response.insights[0]
    assert any("[nifty50_technical_outlook.pdf p.2]" in i for i in a.response.insights)
    s.store.close()


def test_invalid_earnings_file_reports_the_validation_error(session):
    bad = file_store().create(b"symbol,quarter,revenue\nTCS,Q2FY27,abc\n", "bad_earnings.csv")
    a = session.ask("Analyze the attached earnings CSV", attachments=_attach(bad.id, "code_interpreter"))
    text = " ".join(a.response.insights)
    assert "InputError" in text and "row 2" in text and "'revenue'" in text
