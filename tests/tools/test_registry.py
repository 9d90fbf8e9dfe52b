"""The @tool registry: schema from signature + docstring, validation errors a model can act on."""

import json
from typing import Literal

import pytest

from qlwork.errors import InputError
from qlwork.tools.registry import Registry, ToolContext, parse_docstring, tool


@pytest.fixture()
def sample_tool():
    reg = Registry()

    @tool(registry=reg)
    def scale(ctx: ToolContext, symbols: list[str], window: int = 14, mode: Literal["fast", "slow"] = "fast"):
        """Scale some symbols.

        Longer text that is not part of the description.

        Args:
            symbols: NSE trading symbols,
                e.g. TCS.
            window: Look-back in trading days.
        Returns:
            A dict.
        """
        if window == 99:
            raise RuntimeError("boom")
        return {"symbols": symbols, "window": window, "mode": mode, "as_of": ctx.as_of}

    return reg, scale.tool


def test_schema_comes_from_signature_and_docstring(sample_tool):
    reg, t = sample_tool
    assert reg.names() == ["scale"]
    schema = t.parameters_schema()
    assert t.description == "Scale some symbols."
    assert set(schema["properties"]) == {"symbols", "window", "mode"}  # ctx is hidden
    assert schema["required"] == ["symbols"]
    assert schema["properties"]["symbols"]["description"] == "NSE trading symbols, e.g. TCS."
    assert schema["properties"]["mode"]["enum"] == ["fast", "slow"]
    assert schema["additionalProperties"] is False


def test_strict_schema_requires_everything_and_allows_null(sample_tool):
    _, t = sample_tool
    strict = t.parameters_schema(strict=True)
    assert strict["required"] == ["symbols", "window", "mode"]
    assert {"type": "null"} in strict["properties"]["window"]["anyOf"]
    assert "default" not in json.dumps(strict)
    # null for an optional means "use the default"
    assert t.run({"symbols": ["TCS"], "window": None, "mode": None}).output["window"] == 14


def test_context_is_injected(sample_tool):
    _, t = sample_tool
    out = t.run('{"symbols": ["INFY"]}', ToolContext(as_of="2026-11-20")).output
    assert out == {"symbols": ["INFY"], "window": 14, "mode": "fast", "as_of": "2026-11-20"}


@pytest.mark.parametrize(
    "arguments, code, field",
    [
        ("{not json", "invalid_json", None),
        ("[1, 2]", "invalid_json", None),
        ("{}", "invalid_arguments", "symbols"),
        ('{"symbols": ["TCS"], "window": "abc"}', "invalid_arguments", "window"),
        ('{"symbols": ["TCS"], "extra": 1}', "invalid_arguments", "extra"),
        ('{"symbols": ["TCS"], "mode": "medium"}', "invalid_arguments", "mode"),
    ],
)
def test_bad_arguments_become_structured_errors(sample_tool, arguments, code, field):
    _, t = sample_tool
    result = t.run(arguments)
    assert result.error is not None and result.output == {"error": result.error}
    assert result.error["code"] == code
    assert result.error["fix"]
    if field:
        fields = [e["field"] for e in result.error["errors"]]
        assert field in fields
    if field == "mode":
        assert "'fast' or 'slow'" in result.error["errors"][0]["allowed"]
    if field == "extra":
        assert result.error["errors"][0]["allowed_fields"] == ["mode", "symbols", "window"]


def test_tool_exception_is_captured_not_raised(sample_tool):
    _, t = sample_tool
    result = t.run({"symbols": ["TCS"], "window": 99})
    assert result.error["type"] == "RuntimeError"
    assert "boom" in result.error["message"]
    assert result.duration >= 0


def test_unknown_tool_lists_available(sample_tool):
    reg, _ = sample_tool
    with pytest.raises(InputError, match="Available tools: scale"):
        reg.get("nope")


def test_parse_docstring_without_args():
    assert parse_docstring("One line.") == ("One line.", {})
    assert parse_docstring(None) == ("", {})
