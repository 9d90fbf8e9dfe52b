"""qlwork.assistant.progress: tool lines from stored steps, drafts from partial JSON answers."""

from __future__ import annotations

from qlwork.assistant.progress import ConsoleProgress, draft, draft_lines, tool_lines

STEP = {"status": "in_progress", "created_at": 100, "step_details": {"type": "tool_calls", "tool_calls": [
    {"function": {"name": "analyze_portfolio"}},
    {"function": {"name": "get_market_data"}, "duration_ms": 12.4},
    {"function": {"name": "generate_trading_signals"}, "duration_ms": 3.0, "error": {"message": "unknown symbol"}},
]}}


def test_tool_lines_say_what_runs_for_how_long_and_what_ended():
    assert tool_lines([STEP], now=101.5) == ["Running analyze_portfolio (1.5 s)", "get_market_data done in 12 ms",
                                             "generate_trading_signals failed: unknown symbol"]
    message = {"status": "completed", "created_at": 1, "step_details": {"type": "message_creation"}}
    assert tool_lines([message]) == []


def test_draft_reads_only_completed_strings_of_a_partial_answer():
    partial = '{"overall_score": 7.1, "insights": ["Diversified \\"well\\"", "Top sector IT at 2'
    assert draft(partial) == {"insights": ['Diversified "well"'], "recommendations": []}
    more = partial + ('4%"], "recommendations": [{"action": "reduce", "symbol": "TCS", "reason": "Overweight"}, '
                      '{"action": "add", "symbol": "INFY", "reas')
    assert draft_lines(more) == ['- Diversified "well"', "- Top sector IT at 24%", "- REDUCE TCS: Overweight"]
    assert draft_lines("Sure, looking at it") == ["Sure, looking at it"]  # prose passes through
    assert draft_lines('{"analysis_type": "port') == []  # nothing complete: nothing shown, never raw JSON


def test_console_progress_prints_each_event_once():
    printed = []
    progress = ConsoleProgress(printed.append)
    progress.tools(["Running analyze_portfolio (0.1 s)"])
    progress.tools(["Running analyze_portfolio (1.1 s)"])
    progress.tools(["analyze_portfolio done in 1.2 s"])
    for fragment in ('{"insights": ["One"', ', "Two"]', "}"):
        progress.delta(fragment)
    assert printed == ["  ... Running analyze_portfolio", "  ... analyze_portfolio done in 1.2 s", "  - One", "  - Two"]
