"""The widget's and chat's rendering of scores, amounts and labels (issue 22 items 3, 4, 11, 12): pure
functions tested directly, plus the real offline engine for the score breakdown."""

from __future__ import annotations

import json
import re

import pytest

from qlwork import formatting as F
from qlwork.assistant.backends.base import FinalMessage
from qlwork.assistant.backends.scripted import ScriptedBackend
from qlwork.assistant.render import answer_text, score_breakdown
from qlwork.widget import AssistantChat
from qlwork.widget import render as R
from qlwork.widget import steps as S
from qlwork.widget.parts import calls_of


@pytest.fixture(autouse=True)
def _home(tmp_path, monkeypatch):
    monkeypatch.setenv("QLWORK_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("QLWORK_CURRENCY_STYLE", raising=False)
    monkeypatch.delenv("QLWORK_NUMBER_GROUPING", raising=False)


CAPPED = {"name": "analyze_portfolio", "error": None, "output": json.dumps({
    "overall_score": 5.0,
    "score_components": {
        "diversification": {"score": 5.12, "weight": 0.5, "value": 4.02, "rule": "10*log(eff)/log(15)"},
        "trend": {"score": 1.0, "weight": 0.5, "value": -0.159, "rule": "5 + 25*window return"}},
    "score_caps": [{"cap": 5.0, "weighted_score": 6.4,
                    "reason": "concentrated (4.0 effective holdings, largest position 38.0%) and losing (-15.9%)"}],
    "holdings": [{"symbol": "RELIANCE", "quantity": 500, "last_price": 1510.0, "market_value": 1999010.0,
                  "weight": 0.38, "pnl": -15000.5, "pnl_pct": -0.0791, "sector": "Energy"}]})}
RESPONSE = {"analysis_type": "portfolio_health", "overall_score": 5.0, "risk_level": "very_high",
            "recommendations": [{"action": "reduce", "symbol": "RELIANCE", "confidence": 0.8, "timeframe": "1-2 weeks",
                                 "reason": "Overweight position (38.0% vs 20.0% target)"}],
            "insights": [], "risk_metrics": {"sharpe_ratio": -0.6612, "var_95": -0.02351, "max_drawdown": -0.2657}}


def test_breakdown_names_components_weights_values_and_the_cap():
    bd = score_breakdown([{"name": "get_market_data", "output": "{}", "error": None}, CAPPED])
    assert [c["label"] for c in bd["components"]] == ["Diversification", "Trend"]
    assert bd["components"][1]["value"] == "return over the window -15.90%"
    html = R.answer_html(RESPONSE, breakdown=bd)
    assert html.count("qlwork-score-component") == 2 and "50%" in html and "5.1" in html
    assert "Capped at 5.0 (the components give 6.4): concentrated" in html and "qlwork-score-cap" in html
    text = answer_text(RESPONSE, breakdown=bd)
    assert "Trend: 1.0 x 50% (return over the window -15.90%)" in text
    assert "! Capped at 5.0 (the components give 6.4)" in text
    assert "**Capped at 5.0" in answer_text(RESPONSE, markdown=True, breakdown=bd)
    # no analyze_portfolio output with components: nothing invented
    assert score_breakdown([{"name": "x", "output": {"a": 1}, "error": None}]) is None
    assert "qlwork-score-breakdown" not in R.answer_html(RESPONSE)


def test_human_labels_ratios_and_percentages():
    html = R.answer_html(RESPONSE)
    assert "Risk: Very high" in html and "very_high" not in html
    assert "Sharpe ratio" in html and ">-0.66<" in html and "1-day 95% VaR" in html and "-2.35%" in html
    text = answer_text(RESPONSE)
    assert "risk very high" in text and "Sharpe ratio -0.66" in text and "1-day 95% VaR -2.35%" in text
    assert "Max drawdown -26.57%" in text and "80%" in text


def test_recommendation_reason_has_its_own_full_width_row():
    html = R.answer_html(RESPONSE)
    row = re.search(r'<tr class="qlwork-rec">(.*?)</tr>', html).group(1)
    assert "RELIANCE" in row and "Overweight" not in row
    assert re.search(r'<tr class="qlwork-rec-reason"><td colspan="4"[^>]*>Overweight position', html)


def test_holdings_table_indian_grouping_with_the_currency_in_the_header(monkeypatch):
    html = R.holdings_html(json.loads(CAPPED["output"]))
    assert "Value (INR)" in html and "19,99,010.00" in html and "-15,000.50" in html and "38.00%" in html
    assert "INR 19" not in html  # the currency is in the header, never in a cell
    assert all("white-space:nowrap" in td for td in re.findall(r"<td [^>]*>", html))
    monkeypatch.setenv("QLWORK_CURRENCY_STYLE", "rupee")
    assert "Value (\u20b9)" in R.holdings_html(json.loads(CAPPED["output"]))
    assert R.holdings_html({}) == ""


def test_offline_answer_shows_a_breakdown_that_adds_up():
    chat = AssistantChat(user_id="analyst", portfolio="sample:concentrated")
    answer = chat.send("Analyze my portfolio")
    bd = score_breakdown(calls_of(answer.steps))
    weights = [c["weight"] for c in bd["components"]]
    assert abs(sum(weights) - 1) < 1e-3 and len(weights) >= 5
    mean = sum(c["score"] * c["weight"] for c in bd["components"])
    capped = min(c["cap"] for c in bd["caps"]) if bd["caps"] else 10
    assert abs(min(mean, capped) - answer.response.overall_score) < 0.06
    html = chat.transcript_html()
    assert html.count("qlwork-score-component") == len(weights) and "Value (INR)" in html


def test_a_model_cannot_replace_the_header_data_source():
    backend = ScriptedBackend([FinalMessage(json.dumps({**RESPONSE, "data_source": "LIVE NSE feed (trust me)"}))])
    chat = AssistantChat(user_id="tester", backend=backend, portfolio="sample:diversified")
    chat.send("Hi")
    header = chat.header.value.split("Data:")[1]
    assert "synthetic demo data" in header and "trust me" not in header
    chat._render_history()  # reopening the thread: still the provider's label
    chat.refresh()
    assert "trust me" not in chat.header.value.split("Data:")[1]


def test_dates_are_human_readable_in_india_time(capsys):
    assert F.when(0) == "01 Jan 1970, 05:30 IST"
    from qlwork import open_session
    from qlwork.cli.commands import main

    open_session("dana", portfolio="sample:diversified").ask("Analyze my portfolio")
    assert main(["threads", "list", "--user", "dana"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"\d\d [A-Z][a-z]{2} \d{4}, \d\d:\d\d IST", out) and "dana" in out


# -- item 8 and 11: comforts -------------------------------------------------------------------

def test_did_you_mean_is_a_warning_and_a_button_that_asks_again():
    from qlwork.widget import comforts as C

    chat = AssistantChat(user_id="analyst", portfolio="sample:diversified")
    chat.send("Show signals for RELIANC")
    turn = chat.conversation.children[-1]
    html = chat.transcript_html()
    # the error is said once: the answer's insight names it with its fix, so no second banner repeats it
    assert "not a known NSE symbol" in html and "qlwork-tool-warning" not in html
    assert not [w for w in _walk(turn) if "qlwork-warnings" in getattr(w, "_dom_classes", ())]
    assert "generate_trading_signals could not run" in html
    [button] = [w for w in _walk(turn) if "qlwork-suggestion" in getattr(w, "_dom_classes", ())]
    assert button.description == "Did you mean RELIANCE?"
    button.click()  # asks again in the background, like Send
    answer = chat.wait(60)
    assert chat.conversation.children[-2].value.count("Show signals for RELIANCE") == 1
    assert answer.run.status == "completed" and "RELIANCE" in answer.tool_calls[0].function.arguments
    assert C.suggestions([{"error": {"suggestions": {"X": ["A", "B"]}}}, {"error": "plain"}]) == [("X", "A")]


def _walk(widget):
    yield widget
    for child in getattr(widget, "children", ()) or ():
        yield from _walk(child)


def test_full_tool_output_is_viewable_from_the_steps_table():
    calls = [{"name": "get_market_data", "arguments": "{}", "duration_ms": 3.0, "error": None,
              "output": json.dumps({"rows": list(range(50)), "note": "<b>x</b>"})}]
    html = S.steps_html(calls)
    assert "rows: 50 items" in html and '<details class="qlwork-step-output">' in html
    assert "&quot;note&quot;: &quot;&lt;b&gt;x&lt;/b&gt;&quot;" in html and "  49\n" in html
    cut = S.full_output_html({"a": "y" * 500}, limit=100)
    assert "more characters" in cut and "y" * 101 not in cut


def test_copy_as_markdown_button_and_answer_markdown():
    from qlwork.widget import comforts as C

    chat = AssistantChat(user_id="analyst", portfolio="sample:concentrated")
    chat.send("Analyze my portfolio")
    md = chat.answer_markdown()
    assert md.startswith("**[Portfolio health]  health score") and "- Trend:" in md
    assert "| Symbol | Sector | Qty | Avg (INR) |" in md and "RELIANCE" in md
    assert 'class="qlwork-copy"' in chat.conversation.children[-1].children[0].value
    # the Markdown rides in an attribute: quotes and tags from a model cannot leave it
    attack = 'x" onmouseover="alert(1)" data-y="<script>alert(2)</script>'
    button = C.copy_button_html(attack)
    assert 'onmouseover="' not in button and "<script>" not in button
    assert button.count('data-markdown="x&quot; onmouseover=&quot;alert(1)&quot;') == 1


def test_latest_weekly_report_link(tmp_path, monkeypatch):
    from qlwork.widget.parts import latest_report, report_link

    root = tmp_path / "reports"
    for day in ("2026-11-13", "2026-11-20"):
        (root / day / "asha").mkdir(parents=True)
        (root / day / "asha" / "portfolio_review.html").write_text("<html></html>")
    (root / "2026-11-27" / "other").mkdir(parents=True)
    (root / "notes").mkdir()
    assert latest_report("asha", root) == (root / "2026-11-20" / "asha" / "portfolio_review.html", "2026-11-20")
    assert latest_report("nobody", root) is None and latest_report("../reports/2026-11-20/asha", root) is None
    monkeypatch.chdir(tmp_path)
    link = report_link("asha")  # default: ./reports
    assert 'href="reports/2026-11-20/asha/portfolio_review.html"' in link and "(2026-11-20)" in link
    monkeypatch.setenv("QLWORK_REPORTS_DIR", str(root))
    chat = AssistantChat(user_id="asha", portfolio="sample:diversified")
    assert "Latest weekly report (2026-11-20)" in chat.header.value
    assert "Latest weekly report" not in AssistantChat(user_id="bo", portfolio="sample:diversified").header.value


def test_thread_picker_is_titled_by_the_first_question():
    chat = AssistantChat(user_id="analyst", portfolio="sample:diversified")
    chat.send("What about the technology sector?")
    chat.send("Analyze my portfolio")
    label = dict((v, k) for k, v in chat.thread_picker.options)[chat.session.thread_id]
    assert label.startswith("What about the technology sector? · ") and label.endswith(" IST")
    chat.new_thread()
    assert dict((v, k) for k, v in chat.thread_picker.options)[chat.session.thread_id].startswith("(new thread)")


def test_layout_scrolls_the_conversation_and_wraps_for_narrow_panels():
    chat = AssistantChat(user_id="analyst", portfolio="sample:diversified", height="400px")
    assert chat.scroller.layout.max_height == "400px" and chat.scroller.layout.overflow == "auto"  # no empty box
    assert chat.scroller.layout.flex_flow == "column-reverse" and chat.scroller.children == (chat.conversation,)
    assert chat.children[2] is chat.scroller and chat.input in chat.children[4].children  # input under the box
    assert all(box.layout.flex_flow == "row wrap" for box in chat.children[4:6])
    assert chat.cancel_button.description == "Stop"


def test_stop_interrupts_a_running_code_cell():
    import time

    from qlwork.assistant.backends.base import ToolCalls
    from qlwork.assistant.backends.scripted import call
    from qlwork.tools import code_interpreter as ci

    code = "import time\nfor _ in range(600):\n    time.sleep(0.1)\n'finished'"
    chat = AssistantChat(user_id="stopper", portfolio="sample:diversified", backend=ScriptedBackend(
        [ToolCalls([call("code_interpreter", {"code": code})]), FinalMessage(json.dumps(RESPONSE))]))
    pool = ci.default_pool()
    try:
        chat.send("Run a long calculation", wait=False)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until the cell is running in the thread's kernel
            kernel = pool._kernels.get(chat.session.thread_id)
            if kernel is not None and kernel.lock.locked() and getattr(kernel, "client", None) is not None:
                break
            time.sleep(0.1)
        time.sleep(1.0)  # the cell is executing
        stopped = time.monotonic()
        assert chat.cancel_button.click() is None
        answer = chat.wait(40)
        elapsed = time.monotonic() - stopped
    finally:
        pool.shutdown()
    assert answer.run.status == "cancelled" and not chat.busy
    output = json.loads(answer.tool_calls[0].function.output)
    assert output["status"] == "error" and output["exception"]["ename"] == "KeyboardInterrupt"
    assert elapsed < 20  # the cell would have run 60 s (its limit) without the interrupt


def test_coverage_line_beside_the_grounding_line_and_code_as_code():
    from qlwork.widget.records import coverage_html
    from qlwork.widget.render import answer_html

    answer = {"analysis_type": "symbol_explanation", "insights": ["Why TECHM: buy."], "recommendations": [],
              "risk_metrics": {}, "extra": {"code": ["x = 1\nprint(x < 2)"]},
              "grounding": {"status": "grounded", "checked": 1, "traced": 1, "summary": "1 of 1 figure traced to tool outputs"},
              "coverage": {"status": "partial", "request": {"task": "size"}, "summary":
                           "answers: TECHM ✓ sizing ✗ (no position-sizing tool)",
                           "parts": [{"name": "TECHM", "covered": True, "detail": ""},
                                     {"name": "sizing", "covered": False, "detail": "no position-sizing tool"}]}}
    html = answer_html(answer)
    grounding_at, coverage_at = html.index('class="qlwork-grounding"'), html.index('class="qlwork-coverage"')
    assert grounding_at < coverage_at  # the coverage line follows the grounding line
    assert 'data-status="partial"' in html and "Coverage: answers: TECHM ✓ sizing ✗ (no position-sizing tool)." in html
    assert '<pre class="qlwork-code"' in html and "x = 1\nprint(x &lt; 2)" in html  # escaped, newlines kept
    assert coverage_html({"status": "nothing_asked", "summary": ""}) == "" and coverage_html(None) == ""
