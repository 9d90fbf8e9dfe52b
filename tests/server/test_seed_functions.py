"""Client function tools, seed style, on the offline engine: the platform declares functions named
like the engine's tools, runs them itself, and the answer is built from what it submitted."""

from __future__ import annotations

import json
import pytest

from qlwork.assistant.response import TradingResponse


@pytest.fixture()
def live(served_live):
    """This module's flows run against a real ``qlwork serve`` subprocess."""
    return served_live


def fn(name: str, **properties) -> dict:
    return {"type": "function", "function": {"name": name, "description": f"The platform's {name}.",
                                             "parameters": {"type": "object", "properties": properties}}}


STRING = {"type": "string"}
PLATFORM_TOOLS = [fn("analyze_portfolio", portfolio_id=STRING, user_id=STRING),
                  fn("calculate_risk_metrics", portfolio_id=STRING),
                  fn("place_order", symbol=STRING)]  # unknown to the engine: never called
OUTPUTS = {"analyze_portfolio": {"overall_score": 7.25, "risk_level": "moderate",
                                 "recommendations": [{"action": "rebalance", "symbol": "TCS", "reason": "Overweight 18%",
                                                      "confidence": 0.8, "timeframe": "1 month"}],
                                 "insights": ["Platform book value 12.5 lakh"]},
           "calculate_risk_metrics": {"risk_metrics": {"sharpe_ratio": 1.31, "max_drawdown": -0.083},
                                      "note": "from the platform risk engine"}}


def _waiting(client, **run_kw):
    assistant = client.beta.assistants.create(model="gpt-4o", name="seed", tools=PLATFORM_TOOLS)
    thread = client.beta.threads.create(metadata={"user_id": "u-42", "portfolio_id": "pf-789"})
    client.beta.threads.messages.create(thread.id, role="user", content="Analyze my portfolio")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id, **run_kw)
    return assistant, thread, run


def test_requires_action_with_the_engine_arguments_then_answer_from_outputs(live):
    client = live.client("seed-fn-a")
    _, thread, run = _waiting(client)
    assert run.status == "requires_action", run.last_error
    calls = run.required_action.submit_tool_outputs.tool_calls
    assert {c.function.name for c in calls} == {"analyze_portfolio", "calculate_risk_metrics"}  # never place_order
    args = {c.function.name: json.loads(c.function.arguments) for c in calls}
    assert args["analyze_portfolio"] == {"portfolio_id": "pf-789", "user_id": "u-42"}  # filled from metadata
    assert args["calculate_risk_metrics"] == {"portfolio_id": "pf-789"}

    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id,
        tool_outputs=[{"tool_call_id": c.id, "output": json.dumps(OUTPUTS[c.function.name])} for c in calls])
    assert done.status == "completed", done.last_error
    answer = TradingResponse.model_validate(json.loads(
        client.beta.threads.messages.list(thread.id, limit=1).data[0].content[0].text.value))
    assert answer.overall_score == 7.25 and answer.risk_level == "moderate"
    assert answer.recommendations[0].symbol == "TCS" and answer.recommendations[0].reason == "Overweight 18%"
    assert answer.risk_metrics == {"sharpe_ratio": 1.31, "max_drawdown": -0.083}
    assert "Platform book value 12.5 lakh" in answer.insights
    assert {c["call_id"] for c in answer.extra["client_outputs"]} == {c.id for c in calls}  # traceable
    assert set(answer.conversation_context.tools_used) == {"analyze_portfolio", "calculate_risk_metrics"}


def test_run_level_tools_and_non_json_output(live):
    client = live.client("seed-fn-b")
    assistant = client.beta.assistants.create(model="gpt-4o")  # the engine's own tools
    thread = client.beta.threads.create(metadata={"portfolio_id": "pf-1"})
    client.beta.threads.messages.create(thread.id, role="user", content="What is the risk of my portfolio?")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id,
                                                   tools=[fn("calculate_risk_metrics", portfolio=STRING)])
    assert run.status == "requires_action"
    (call,) = run.required_action.submit_tool_outputs.tool_calls
    assert json.loads(call.function.arguments) == {"portfolio": "pf-1"}
    done = client.beta.threads.runs.submit_tool_outputs_and_poll(
        run_id=run.id, thread_id=thread.id, tool_outputs=[{"tool_call_id": call.id, "output": "volatility 14%"}])
    assert done.status == "completed", done.last_error
    answer = json.loads(client.beta.threads.messages.list(thread.id, limit=1).data[0].content[0].text.value)
    assert answer["analysis_type"] == "risk_analysis"
    assert "calculate_risk_metrics: volatility 14%" in answer["insights"]


def test_only_unknown_functions_declared_are_never_called(live):
    client = live.client("seed-fn-c")
    assistant = client.beta.assistants.create(model="gpt-4o", tools=[fn("place_order", symbol=STRING)])
    thread = client.beta.threads.create(metadata={"portfolio_id": "sample:diversified"})
    client.beta.threads.messages.create(thread.id, role="user", content="Buy TCS for me")
    run = client.beta.threads.runs.create_and_poll(thread_id=thread.id, assistant_id=assistant.id)
    assert run.status == "completed" and run.required_action is None
    steps = client.beta.threads.runs.steps.list(run.id, thread_id=thread.id).data
    assert [s.type for s in steps] == ["message_creation"]
