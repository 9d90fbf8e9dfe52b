"""The main job on embedded defaults: a three-turn conversation with the offline engine on a sample
portfolio and synthetic demo data, printed with the tool calls behind each answer."""

from __future__ import annotations

from typing import Callable

from ..assistant.render import answer_text, holdings_table, score_breakdown, steps_text, tool_calls

DEMO_QUESTIONS = (
    "Analyze my portfolio",
    "What about the technology sector?",
    "Generate a strategy for tech stocks",
)
SYNTHETIC_NOTICE = ("NOTE: demo market data is SYNTHETIC (generated, not real NSE prices). "
                    "Research output, not investment advice; no orders are placed.")


def run_conversation(session, questions=DEMO_QUESTIONS, echo: Callable[[str], None] = print) -> list:
    """Ask ``questions`` in order on ``session``; echo each answer and its tool calls. Returns answers."""
    answers = []
    for i, question in enumerate(questions, 1):
        echo(f"\n=== Turn {i}: {question}")
        answer = session.ask(question)
        steps = [s.model_dump() for s in answer.steps]
        calls = tool_calls(steps)
        for call in calls:
            if call["name"] == "analyze_portfolio" and not call.get("error"):
                echo("\nHoldings:\n" + holdings_table(call["output"]))
        echo("\n" + answer_text(answer.response.model_dump(), breakdown=score_breakdown(calls)))
        echo("\nHow this answer was made:\n" + steps_text(steps))
        answers.append(answer)
    return answers


def main(portfolio: str = "sample:diversified", user_id: str | None = None,
         echo: Callable[[str], None] = print) -> list:
    """Run the demo conversation on a fresh thread for ``user_id`` (default: :func:`qlwork.config.default_user`)."""
    from .. import open_session
    from ..config import default_user

    user_id = user_id or default_user()
    session = open_session(user_id, backend="offline", portfolio=portfolio, new_thread=True)
    echo(SYNTHETIC_NOTICE)
    echo(f"User {user_id}, portfolio {portfolio}, thread {session.thread_id}, backend offline (rule engine)")
    answers = run_conversation(session, echo=echo)
    echo(f"\nFull audit trail: qlwork threads show {session.thread_id}")
    return answers
