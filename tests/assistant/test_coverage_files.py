"""Attached-note questions and code the user writes, through the real runner and the sandboxed kernel:
a note named in the question is searched first; "Run code: ..." and fenced blocks run as written;
canned code uses the tools' Wilder RSI on the same bars, the window asked for, draws the plot asked
for with the SYNTHETIC DATA line; the answer shows its code as code."""

from __future__ import annotations

import io
import json

import pytest

from qlwork.assistant.session import Session
from qlwork.tools import code_interpreter as ci
from qlwork.tools.file_search import RESEARCH_DIR
from qlwork.tools.files import file_store
from qlwork.widget.render import answer_html
from qlwork.widget.steps import steps_html
from qlwork.assistant.render import audit_markdown, tool_calls

KOTAK_LINES = ["Kotak Institutional Equities - Indian IT services, December 2026 (synthetic demo note)", "",
               "Key risks:", "1. A US recession cutting discretionary technology spending.",
               "2. Rupee appreciation against the dollar compressing margins.",
               "3. Visa costs and client concentration in banking and financial services."]


def _pdf(lines: list[str]) -> bytes:
    """A one-page PDF with real text (matplotlib's PDF backend), parsed like any uploaded PDF."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.backends.backend_pdf import PdfPages

    buf = io.BytesIO()
    with PdfPages(buf) as pdf:
        fig = plt.figure(figsize=(8.27, 11.69))
        for i, line in enumerate(lines):
            fig.text(0.08, 0.92 - i * 0.03, line, fontsize=11)
        pdf.savefig(fig)
        plt.close(fig)
    return buf.getvalue()


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    mp = pytest.MonkeyPatch()
    path = tmp_path_factory.mktemp("home")
    mp.setenv("QLWORK_HOME", str(path))
    yield path
    ci.default_pool().shutdown()
    mp.undo()


@pytest.fixture(autouse=True)
def _home(home, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(home))


@pytest.fixture(scope="module")
def session(home):
    from qlwork.assistant.store import Store

    s = Session("analyst", store=Store(home / "qlwork.db"), portfolio="sample:diversified", new_thread=True)
    yield s
    s.store.close()


def calls(answer):
    return [(c.function.name, json.loads(c.function.arguments or "{}"), json.loads(c.function.output))
            for c in answer.tool_calls]


def parts(answer) -> dict[str, bool]:
    return {p.name: p.covered for p in answer.response.coverage.parts}


def test_a_question_about_a_named_note_searches_that_note_first(session, home):
    fs = file_store()
    kotak = fs.create(_pdf(KOTAK_LINES), "kotak_it_note.pdf")
    other = fs.upload(RESEARCH_DIR / "nifty50_technical_outlook.pdf")
    session.ask("Here are my notes.", attachments=[{"file_id": f.id, "tools": [{"type": "file_search"}]}
                                                  for f in (other, kotak)])
    answer = session.ask("What are the key risks listed in my Kotak note?")
    ((name, args, out),) = calls(answer)
    assert name == "file_search" and args["file_ids"] == [kotak.id]  # that note, not the portfolio's risk metrics
    assert out["files_searched"] == ["kotak_it_note.pdf"]
    text = " ".join(answer.response.insights)
    assert "US recession" in text and "[kotak_it_note.pdf p.1]" in text
    assert answer.response.coverage.request["files"] == ["Kotak"] and parts(answer) == {"files": True}
    follow = session.ask("What does the note say about margins?")  # "the note": every attached note
    assert calls(follow)[0][0] == "file_search" and "Rupee appreciation" in " ".join(follow.response.insights)


def test_run_code_runs_the_users_code_as_written(session):
    code = "print(get_historical_prices('TCS').tail())"
    answer = session.ask(f"Run code: {code}")
    ((name, args, out),) = calls(answer)
    assert name == "code_interpreter" and args == {"code": code} and out["status"] == "ok"
    assert "2026-11-20" in out["stdout"] and out["stdout"].strip()[:200] in answer.response.insights[0]
    assert parts(answer) == {"code": True}
    assert answer.response.extra["code"] == [code] and "synthetic" in answer.response.data_source
    html = answer_html(answer.response)
    assert '<pre class="qlwork-code"' in html and "get_historical_prices(&#x27;TCS&#x27;).tail()" in html
    steps = steps_html(tool_calls([s.model_dump() for s in answer.steps]))
    assert '<pre class="qlwork-code" ' in steps and "&quot;code&quot;" not in steps  # code as code, not JSON text


def test_a_fenced_block_runs_literally_and_its_error_is_reported(session):
    answer = session.ask("Can you run this?\n```python\nvalues = [1, 2, 3]\nprint(sum(values) / 0)\n```")
    ((name, args, out),) = calls(answer)
    assert args["code"] == "values = [1, 2, 3]\nprint(sum(values) / 0)" and out["status"] == "error"
    assert "ZeroDivisionError" in " ".join(answer.response.insights)
    assert parts(answer) == {"code": False}  # ran, but did not finish: not covered, and said so
    assert "Code run:\n    values = [1, 2, 3]\n    print(sum(values) / 0)" in answer.text  # qlwork chat's text
    trail = audit_markdown(session.store.audit(session.thread_id))  # qlwork threads show
    assert "  ```python\n  values = [1, 2, 3]\n  print(sum(values) / 0)\n  ```" in trail
    assert "- `code_interpreter() -> ok" in trail  # the arguments line no longer carries the code as JSON


def test_plot_rsi_uses_the_signals_wilder_rsi_and_labels_synthetic_data(session):
    signals = session.ask("Signals for TCS")
    rsi_signal = next(r for r in calls(signals)[0][2]["signals"][0]["reasons"] if r.startswith("RSI"))
    answer = session.ask("Run code to plot RSI of TCS")
    ((name, args, out),) = calls(answer)
    assert "from qlwork.analytics import rsi" in args["code"] and "rolling(" not in args["code"]
    assert "SYNTHETIC_LABEL" in args["code"]
    data = json.loads(out["stdout"].strip().splitlines()[-1])
    assert data["synthetic"] is True and data["bars"] == 300
    assert rsi_signal.split()[1] == f"{data['rsi']:.1f}"  # e.g. "RSI 65.4 neutral": the same Wilder RSI
    assert len(out["images"]) == 1 and answer.response.extra["image_file_ids"] == [out["images"][0]["file_id"]]
    assert parts(answer) == {"TCS": True, "plot": True}


def test_correlation_over_a_year_uses_that_window(session):
    answer = session.ask("What is the correlation of TCS and INFY over 1 year?")
    ((name, args, out),) = calls(answer)
    data = json.loads(out["stdout"].strip().splitlines()[-1])
    assert "'2025-11-20'" in args["code"] and data["period"] == "1 year"
    assert data["start"] == "2025-11-21" and data["end"] == "2026-11-20" and data["days"] > 240
    assert f"over 1 year ({data['start']} to {data['end']}" in answer.response.insights[0]
    assert answer.response.coverage.status == "covered" and parts(answer)["period"]
