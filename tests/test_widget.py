"""AssistantChat (qlwork.widget) and its HTML rendering (qlwork.widget.render), driven through send()."""

from __future__ import annotations

import json
import re
import threading

import ipywidgets as widgets
import pytest

from qlwork.assistant.backends.base import FinalMessage, ToolCalls
from qlwork.assistant.backends.scripted import ScriptedBackend, call
from qlwork.errors import BackendError, InputError
from qlwork.widget import AssistantChat
from qlwork.widget import render as R
from qlwork.widget import steps as S
from qlwork import formatting as F

PORTFOLIO = "sample:diversified"


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))


def answer_json(**overrides) -> str:
    data = {"analysis_type": "portfolio_health", "overall_score": 7.5, "risk_level": "moderate",
            "recommendations": [{"action": "rebalance", "symbol": "RELIANCE", "reason": "Overweight <15%>",
                                 "confidence": 0.85, "timeframe": "1-3 days"}],
            "insights": ["Diversified across sectors"], "risk_metrics": {"max_drawdown": -0.05, "beta": 0.8}}
    return json.dumps({**data, **overrides})


def scripted_chat(steps, **kw) -> AssistantChat:
    return AssistantChat(user_id=kw.pop("user_id", "tester"), backend=ScriptedBackend(steps), portfolio=PORTFOLIO,
                         **kw)


def turns(chat):
    return list(chat.conversation.children)


def accordions(chat):
    found = []

    def walk(w):
        if isinstance(w, widgets.Accordion):
            found.append(w)
        for child in getattr(w, "children", ()):
            walk(child)
    walk(chat.conversation)
    return found


# -- offline engine through the widget ----------------------------------------------------------

def test_send_renders_offline_answer_with_steps():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    seen = []
    chat.observe(lambda change: seen.append(change["new"]), "busy")
    answer = chat.send("Analyze my portfolio")

    assert seen == [True, False]
    assert answer.run.status == "completed" and chat.last_answer is answer
    html = chat.transcript_html()
    score = answer.response.overall_score
    assert f"Score {score:g}/10" in html
    assert f"Risk: {F.label(answer.response.risk_level)}" in html and "qlwork-score-breakdown" in html
    assert html.count("qlwork-score-component") >= 5 and "Diversification" in html and "Trend" in html
    assert "Value (INR)" in html and "qlwork-holdings" in html  # the CLI's holdings table, Indian grouping
    assert html.count('<tr class="qlwork-rec">') == len(answer.response.recommendations) > 0
    for rec in answer.response.recommendations:
        assert rec.symbol in html
    assert "Insights" in html and "Risk metrics" in html and "synthetic" in html
    assert "Analyze my portfolio" in turns(chat)[0].value  # the user's turn comes first

    (acc,) = accordions(chat)
    assert acc.titles[0].startswith("How this answer was made (2 tool calls")
    assert acc.selected_index is None  # collapsed until opened
    steps = acc.children[0].value
    assert "analyze_portfolio" in steps and "calculate_risk_metrics" in steps and " ms<" in steps

    header = chat.header.value
    for text in ("analyst", answer.run.thread_id, "offline", "Model:</span> offline rule engine", "synthetic demo data"):
        assert text in header
    assert chat.input.value == "" and not chat.send_button.disabled and chat.cancel_button.disabled


def test_header_names_the_data_source_before_the_first_answer():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    assert "synthetic demo data (not real market prices)" in chat.header.value
    assert "known after the first answer" not in chat.header.value.split("Data:")[1]


def test_chart_shown_for_series_output():
    pytest.importorskip("qlwork.charts")
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    chat.send("Show me the price history of RELIANCE and TCS")
    images = [w for w in turns(chat)[-1].children if isinstance(w, widgets.Image)]
    assert images and images[0].format == "png" and images[0].value[:8] == b"\x89PNG\r\n\x1a\n"


def test_code_interpreter_figure_shown_under_answer():
    """A figure the model draws with code_interpreter is shown as the stored PNG; a deleted one is skipped."""
    pytest.importorskip("qlwork.charts")
    from qlwork.tools import code_interpreter as ci
    from qlwork.tools.files import file_store

    code = "plt.plot([1, 3, 2]); plt.title('TCS vs INFY'); plt.show()\n6 * 7"
    chat = scripted_chat([ToolCalls([call("code_interpreter", {"code": code})]), FinalMessage(answer_json())],
                         user_id="plotter")
    try:
        answer = chat.send("Plot TCS against INFY")
    finally:
        ci.default_pool().shutdown()
    [ref] = json.loads(answer.tool_calls[0].function.output)["images"]
    png = file_store().content(ref["file_id"])
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    children = turns(chat)[-1].children
    images = [w for w in children if isinstance(w, widgets.Image)]
    assert [(i.value, i.format) for i in images] == [(png, "png")] and "qlwork-code-figure" in images[0]._dom_classes
    assert children.index(images[0]) == 1  # under the answer card, above the steps
    again = AssistantChat(user_id="plotter", backend=ScriptedBackend([]))  # reopened: shown from the store
    assert [w.value for w in turns(again)[-1].children if isinstance(w, widgets.Image)] == [png]
    file_store().delete(ref["file_id"])
    again = AssistantChat(user_id="plotter", backend=ScriptedBackend([]))  # deleted file: skipped, no crash
    assert not [w for w in turns(again)[-1].children if isinstance(w, widgets.Image)]
    assert "Score 7.5/10" in again.transcript_html()


def test_send_button_and_enter_use_the_same_path():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    chat.input.value = "Analyze my portfolio"
    chat.send_button.click()
    assert chat.wait(30).run.status == "completed"
    chat.input.value = "What is my risk?"
    chat.input._handle_string_msg(None, {"event": "submit"}, [])  # what the browser sends on Enter
    chat.wait(30)
    users = [t.value for t in turns(chat) if "qlwork-user" in t._dom_classes]
    assert len(users) == 2 and "What is my risk?" in users[1]
    assert len(accordions(chat)) == 2 and not chat.busy


# -- errors ------------------------------------------------------------------------------------

def test_backend_error_is_readable_and_widget_stays_usable():
    chat = scripted_chat([BackendError("The model server at http://127.0.0.1:9 is unreachable.",
                                       fix="Start the server or choose backend='offline'."),
                          FinalMessage(answer_json())])
    seen = []
    chat.observe(lambda change: seen.append(change["new"]), "busy")
    assert chat.send("Review my portfolio") is None
    last = turns(chat)[-1]
    error = last.children[0].value
    assert "qlwork-error" in error and "unreachable" in error and "Fix:" in error
    assert "Traceback" not in chat.transcript_html()
    assert seen == [True, False] and not chat.send_button.disabled

    answer = chat.send("Try again")
    assert answer.response.overall_score == 7.5
    assert "Score 7.5/10" in chat.transcript_html()


def test_unexpected_exception_shows_one_line(monkeypatch):
    chat = scripted_chat([RuntimeError("socket exploded\n  at some frame")])
    chat.send("Review my portfolio")
    error = turns(chat)[-1].children[0].value
    assert "Unexpected error" in error and "RuntimeError: socket exploded" in error
    assert "some frame" not in error and "Traceback" not in error


def test_failed_run_shows_its_steps():
    chat = scripted_chat([ToolCalls([call("calculate_risk_metrics", {})]), BackendError("Bad API key.")])
    chat.send("Review my risk")
    (acc,) = accordions(chat)
    assert "1 tool call" in acc.titles[0]
    assert "calculate_risk_metrics" in acc.children[0].value and "status failed" in acc.children[0].value


def test_empty_question_and_unknown_backend():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    assert chat.send("   ") is None
    assert "Type a question" in chat.status.value and not chat.busy
    assert not [t for t in turns(chat) if "qlwork-user" in t._dom_classes]

    bad = AssistantChat(user_id="analyst", backend="no-such-backend", portfolio=PORTFOLIO)
    assert bad.send("Analyze my portfolio") is None
    assert "qlwork-error" in turns(bad)[-1].children[0].value and not bad.busy


def test_user_id_required():
    with pytest.raises(InputError):
        AssistantChat()


# -- threads and history -----------------------------------------------------------------------

def test_history_restored_on_reopen():
    first = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    answer = first.send("Analyze my portfolio")
    thread_id = first.session.thread_id

    again = AssistantChat(user_id="analyst")  # a new notebook session on the same QLWORK_HOME
    assert again.session.thread_id == thread_id
    html = again.transcript_html()
    assert "Analyze my portfolio" in html and f"Score {answer.response.overall_score:g}/10" in html
    assert html.count('<tr class="qlwork-rec">') == len(answer.response.recommendations)
    (acc,) = accordions(again)
    assert "analyze_portfolio" in acc.children[0].value
    assert "offline rule engine" in again.header.value and "synthetic" in again.header.value


def test_failed_run_restored_on_reopen():
    chat = scripted_chat([BackendError("Server down.")], user_id="u2")
    chat.send("Review my portfolio")
    again = AssistantChat(user_id="u2", backend=ScriptedBackend([]))
    html = again.transcript_html()
    assert "Review my portfolio" in html and "Server down." in html


def test_thread_picker_new_and_switch():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    chat.send("Analyze my portfolio")
    old = chat.session.thread_id
    chat.new_button.click()
    new = chat.session.thread_id
    assert new != old and "New conversation" in chat.transcript_html()
    assert [v for _, v in chat.thread_picker.options] == [new, old]
    assert chat.thread_picker.value == new
    assert "Analyze my portfolio" in chat.thread_picker.options[1][0]

    chat.thread_picker.value = old  # the user picks the earlier thread
    assert chat.session.thread_id == old and "Analyze my portfolio" in chat.transcript_html()
    assert old in chat.header.value


# -- attachments -------------------------------------------------------------------------------

def test_csv_attachment_becomes_thread_portfolio():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    csv = b"tradingsymbol,exchange,quantity,average_price\nTCS,NSE,10,3500\nINFY,NSE,20,1400\n"
    saved = chat.attach("my holdings.csv", csv)
    assert "my holdings.csv" in chat.attachment_label.value
    answer = chat.send("Analyze my portfolio")
    assert chat.attachment_label.value == ""
    assert chat.session.thread.metadata["portfolio_id"] == saved["path"]
    assert answer.message is not None
    assert "2 holdings" in chat.transcript_html()
    assert "Attached: my holdings.csv" in turns(chat)[0].value
    stored = chat.session.history()[0]
    assert [a.file_id for a in stored.attachments] == [saved["file_id"]]
    # reopening the thread keeps the uploaded portfolio and shows the file name
    again = AssistantChat(user_id="analyst")
    assert "Attached: my holdings.csv" in again.transcript_html()


def test_bad_csv_attachment_is_a_clear_error():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    chat.attach("broken.csv", b"symbol,qty\nTCS,ten\n")
    chat.input.value = "Analyze my portfolio"
    assert chat.send(chat.input.value) is None
    error = turns(chat)[-1].value
    assert "qlwork-error" in error and "broken.csv is not a usable portfolio" in error and "Fix:" in error
    assert chat.input.value == "Analyze my portfolio"  # kept for a retry
    assert not [t for t in turns(chat) if "qlwork-user" in t._dom_classes] and not chat.busy
    assert chat.send("Analyze my portfolio").run.status == "completed"  # usable afterwards


def test_attached_pdf_is_searched_and_cited():
    """A document uploaded through the widget lands in the file store and file_search reads it."""
    from qlwork.tools.file_search import RESEARCH_DIR
    from qlwork.tools.files import file_store

    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    pdf = (RESEARCH_DIR / "nifty50_technical_outlook.pdf").read_bytes()
    saved = chat.attach("outlook.pdf", pdf)
    assert saved["kind"] == "pdf" and file_store().content(saved["file_id"]) == pdf
    answer = chat.send("What does the attached PDF say about NIFTY 50 support and resistance levels?")
    assert [c.function.name for c in answer.tool_calls] == ["file_search"]
    assert "[outlook.pdf p.2]" in answer.response.insights[0]
    stored = chat.session.history()[0].attachments[0]
    assert stored.file_id == saved["file_id"] and [t["type"] for t in stored.tools] == ["file_search"]
    assert "Attached: outlook.pdf" in AssistantChat(user_id="analyst").transcript_html()  # name after reopening


def test_unsupported_upload_is_refused_clearly():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    assert chat.attach("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256))) is None
    assert "tool.exe" in chat.status.value and chat.attachment_label.value == ""


def test_upload_widget_attaches_file():
    chat = AssistantChat(user_id="analyst", portfolio=PORTFOLIO)
    chat.upload.set_state({"value": [{"name": "notes.txt", "type": "text/plain", "size": 5,
                                      "last_modified": 0, "content": memoryview(b"hello")}]})
    assert "notes.txt" in chat.attachment_label.value and chat.upload.value == ()
    chat.remove_button.click()
    assert chat.attachment_label.value == ""


# -- streaming and cancel ----------------------------------------------------------------------

def test_streamed_text_appears_in_pending_answer():
    chat = None
    seen = {}

    def stream(inp):
        for part in ("Looking at ", "your holdings", "..."):
            inp.on_delta(part)
        seen["pending"] = turns(chat)[-1].children[0].value
        return FinalMessage(answer_json())

    # an answer without a tool call gets the offline plan's tools run and one more turn (the runner)
    chat = scripted_chat([stream, lambda inp: FinalMessage(answer_json())])
    chat.send("Review my portfolio")
    assert "Looking at your holdings..." in seen["pending"] and "qlwork-pending" in seen["pending"]
    assert "Score 7.5/10" in turns(chat)[-1].children[0].value


def test_streamed_json_shows_completed_text_fields_never_raw_json():
    chat = None
    seen = []
    answer = answer_json(insights=["Diversified across sectors", "Top sector IT at 24%"])

    def stream(inp):
        for cut in range(0, len(answer), 7):  # fragments that split keys, strings and numbers
            inp.on_delta(answer[cut:cut + 7])
            seen.append(turns(chat)[-1].children[0].value)
        return FinalMessage(answer)

    chat = scripted_chat([stream, lambda inp: FinalMessage(answer)])  # the second turn follows the plan's tools
    chat.send("Review my portfolio")
    assert seen and all('"analysis_type"' not in html and "{" not in html for html in seen)
    assert any("Drafting the answer" in html for html in seen)
    assert "- Diversified across sectors" in seen[-1] and "- Top sector IT at 24%" in seen[-1]
    assert "- REBALANCE RELIANCE: Overweight &lt;15%&gt;" in seen[-1]
    assert "Score 7.5/10" in turns(chat)[-1].children[0].value


def test_tool_progress_lines_and_a_real_spinner_while_working():
    import time

    chat = None
    seen = {}

    def final(inp):
        deadline = time.monotonic() + 10  # the watcher polls the stored steps every 0.25 s
        while time.monotonic() < deadline and "analyze_portfolio done in" not in turns(chat)[-1].children[0].value:
            time.sleep(0.05)
        seen["pending"], seen["status"] = turns(chat)[-1].children[0].value, chat.status.value
        return FinalMessage(answer_json())

    chat = scripted_chat([ToolCalls([call("analyze_portfolio")]), final])
    chat.send("Review my portfolio")
    assert re.search(r"analyze_portfolio done in [0-9.]+ m?s<", seen["pending"])
    assert "fa-spinner" in seen["pending"] and "fa-spinner" in seen["status"] and "\u23f3" not in seen["status"]
    assert "Working on your question" in seen["status"]
    assert chat.status.value == ""  # cleared when the answer is in


def test_cancel_while_running():
    started, release = threading.Event(), threading.Event()

    def slow(inp):
        started.set()
        release.wait(10)
        return FinalMessage(answer_json())

    chat = scripted_chat([slow])
    chat.input.value = "Review my portfolio"
    chat.send_button.click()
    assert started.wait(10) and chat.busy
    assert chat.send("Another question") is None and "still being answered" in chat.status.value
    assert not chat.cancel_button.disabled and chat.send_button.disabled
    assert chat.cancel_button.click() is None and "Cancelling" in chat.status.value
    release.set()
    answer = chat.wait(10)
    assert answer.run.status == "cancelled" and not chat.busy
    assert "No answer: the run was cancelled" in turns(chat)[-1].children[0].value


def test_existing_session_gets_stream_callback():
    from qlwork import open_session

    session = open_session("sam", backend=ScriptedBackend([lambda inp: (inp.on_delta("partial"),
                                                                        FinalMessage(answer_json()))[1]]),
                           portfolio=PORTFOLIO)
    chat = AssistantChat(session=session)
    assert chat.session is session and chat.send("Hi").response.overall_score == 7.5


# -- pure rendering ----------------------------------------------------------------------------

def test_render_escapes_everything():
    html = R.answer_html(json.loads(answer_json(insights=["<script>alert(1)</script>"],
                                                data_source="demo & test")))
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "Overweight &lt;15%&gt;" in html and "demo &amp; test" in html
    assert "-5.00%" in html and "0.8" in html and "85%" in html
    assert "<b>hi" not in R.user_html("<b>hi</b>") and "&lt;b&gt;hi&lt;/b&gt;" in R.user_html("<b>hi</b>")
    assert R.answer_html(None, "plain <text>").count("&lt;text&gt;") == 1


def test_render_steps_and_errors():
    calls = [{"name": "get_market_data", "arguments": '{"symbols": ["TCS"]}', "duration_ms": 12.34,
              "output": json.dumps({"series": {"dates": [1, 2]}, "rows": [1, 2, 3], "as_of": "2026-11-20"}),
              "error": None},
             {"name": "analyze_portfolio", "arguments": "{}", "duration_ms": 1500.0, "output": None,
              "error": {"type": "InputError", "message": "No portfolio <given>.", "fix": "Attach one."}}]
    assert S.steps_title(calls) == "How this answer was made (2 tool calls, 1.51 s, 1 error)"
    html = S.steps_html(calls, {"id": "run_1", "status": "completed", "backend": "x", "model": "y"})
    assert "get_market_data" in html and "rows: 3 items" in html and "as_of=2026-11-20" in html
    assert "12.3 ms" in html and "No portfolio &lt;given&gt;. Fix: Attach one." in html and "model y" in html
    assert S.output_summary(None) == "(no output)" and S.output_summary("[1, 2]") == "2 items"
    assert R.describe_error(BackendError("Key rejected.", fix="Set OPENAI_API_KEY.")) == (
        "The model backend failed", "Key rejected.", "Set OPENAI_API_KEY.")
    assert R.describe_error(ValueError("bad\nsecond line"))[1] == "ValueError: bad"
    assert R.format_metric("max_drawdown", -0.2601) == "-26.01%" and R.format_metric("beta", 0.97) == "0.97"
