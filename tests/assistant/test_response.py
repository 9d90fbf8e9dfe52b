"""TradingResponse validation, parsing, schema and rendering."""

import json

import pytest

from qlwork.assistant.response import (KNOWN_RISK_METRICS, TradingResponse, parse_response, render_text,
                                       response_json_schema)
from qlwork.errors import ModelBehaviorError

VALID = {"analysis_type": "portfolio_health", "overall_score": 7.5, "risk_level": "moderate",
         "recommendations": [{"action": "rebalance", "symbol": "RELIANCE", "reason": "Overweight (15% vs 8%)",
                              "confidence": 0.85, "timeframe": "1-3 days"}],
         "insights": ["Good diversification"], "risk_metrics": {"max_drawdown": 0.05, "sharpe_ratio": 1.2, "beta": 0.8},
         "conversation_context": {"thread_id": "thread_1", "message_id": "msg_1", "tools_used": ["analyze_portfolio"]}}


def test_design_example_parses():
    r = parse_response(json.dumps(VALID))
    assert r.overall_score == 7.5 and r.recommendations[0].action == "rebalance"
    assert r.risk_metrics == {"max_drawdown": 0.05, "sharpe_ratio": 1.2, "beta": 0.8}
    assert r.conversation_context.tools_used == ["analyze_portfolio"]


def test_fenced_and_prose_wrapped_json():
    text = "Here you go:\n```json\n" + json.dumps(VALID) + "\n```\nThanks"
    assert parse_response(text).analysis_type == "portfolio_health"
    assert parse_response("Answer: " + json.dumps(VALID) + " done").risk_level == "moderate"


def test_minimal_non_portfolio_answer():
    r = parse_response('{"analysis_type": "market_overview", "insights": ["x"]}')
    assert r.overall_score is None and r.risk_level is None and r.recommendations == []


@pytest.mark.parametrize("patch, field", [
    ({"risk_metrics": {"max_drawdown": "5%"}}, "risk_metrics.max_drawdown"),
    ({"overall_score": 11}, "overall_score"),
    ({"overall_score": "7.5"}, "overall_score"),
    ({"risk_level": "extreme"}, "risk_level"),
    ({"recommendations": [{**VALID["recommendations"][0], "action": "yolo"}]}, "recommendations.0.action"),
    ({"recommendations": [{**VALID["recommendations"][0], "confidence": 1.5}]}, "recommendations.0.confidence"),
    ({"recommendations": [{**VALID["recommendations"][0], "confidence": True}]}, "recommendations.0.confidence"),
    ({"surprise": 1}, "surprise"),
])
def test_invalid_fields_are_listed(patch, field):
    with pytest.raises(ModelBehaviorError) as info:
        parse_response(json.dumps({**VALID, **patch}))
    assert field in str(info.value)
    assert info.value.details["code"] == "invalid_response"
    assert any(e["field"] == field for e in info.value.details["errors"])


def test_not_json_and_not_object():
    with pytest.raises(ModelBehaviorError, match="not valid JSON"):
        parse_response("I think you should buy TCS")
    with pytest.raises(ModelBehaviorError, match="JSON object"):
        parse_response("[1, 2]")
    with pytest.raises(ModelBehaviorError, match="analysis_type"):
        parse_response("{}")


def test_nulls_from_strict_models_are_tolerated():
    data = {**VALID, "risk_metrics": {**{k: None for k in KNOWN_RISK_METRICS}, "beta": 0.8},
            "extra": None, "data_source": None}
    r = parse_response(json.dumps(data))
    assert r.risk_metrics == {"beta": 0.8}


def test_strict_schema_is_openai_strict():
    schema = response_json_schema(strict=True)
    assert "conversation_context" not in schema["properties"] and "extra" not in schema["properties"]

    def check(node):
        if isinstance(node, dict):
            if node.get("type") == "object":
                assert node.get("additionalProperties") is False, node
                assert set(node["required"]) == set(node["properties"]), node
            for v in node.values():
                check(v)
        elif isinstance(node, list):
            for v in node:
                check(v)
    check(schema)
    assert schema["properties"]["insights"] == {"items": {"type": "string"}, "type": "array"}
    loose = response_json_schema(strict=False)
    assert "extra" in loose["properties"] and "conversation_context" not in loose["properties"]


def test_render_text_is_readable():
    text = render_text(TradingResponse.model_validate({**VALID, "disclaimer": "Research, not advice."}))
    assert "score 7.5/10" in text and "REBALANCE RELIANCE" in text and "85%" in text
    assert "max_drawdown 0.05" in text and text.endswith("Research, not advice.")
