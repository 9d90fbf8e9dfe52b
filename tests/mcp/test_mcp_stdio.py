"""`qlwork mcp` over stdio, driven by the mcp SDK's own client: a subprocess per test, serving one user."""

from __future__ import annotations

import json

import anyio
import pytest
from mcp_harness import AS_OF, payload, stdio_params

from qlwork.tools import file_search, trading  # noqa: F401 - registers the tools
from qlwork.tools.registry import REGISTRY

mcp = pytest.importorskip("mcp")
TOOLS = ["analyze_portfolio", "get_market_data", "generate_trading_signals", "calculate_risk_metrics",
         "compare_with_benchmark", "rank_holdings", "file_search"]


def test_stdio_lists_calls_and_reads_everything(world):
    from mcp import Client

    async def main():
        async with Client(stdio_params(world, "--user", "asha", "--reports-dir", str(world.reports))) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert sorted(tools) == sorted(TOOLS)  # no code_interpreter without --allow-code
            for name, t in tools.items():  # one source of schemas: the tool registry
                assert t.input_schema == REGISTRY.get(name).parameters_schema()
                assert t.annotations.read_only_hint is True and t.description == REGISTRY.get(name).description
            with pytest.raises(mcp.MCPError, match="--allow-code"):
                await c.call_tool("code_interpreter", {"code": "1"})

            calls = {
                "analyze_portfolio": {"portfolio": world.files["asha_holdings.csv"], "risk_profile": "aggressive"},
                "get_market_data": {"symbols": ["TCS", "NIFTY 50"], "limit": 3},
                "generate_trading_signals": {"symbols": ["TCS", "INFY"]},
                "calculate_risk_metrics": {"portfolio": "sample:it_heavy", "confidence": 0.99},
                "compare_with_benchmark": {"portfolio": world.files["asha_holdings.csv"], "period": "3M"},
                "rank_holdings": {"symbols": ["TCS", "INFY", "ITC"], "metric": "beta", "period": "6M"},
                "file_search": {"query": "zephyrcanary thesis"},
            }
            out = {}
            for name, args in calls.items():
                result = await c.call_tool(name, args)
                assert result.is_error is False, result.content[0].text
                out[name] = payload(result)
            held = {h["symbol"]: h["quantity"] for h in out["analyze_portfolio"]["holdings"]}
            assert held == {"TCS": 12, "INFY": 30, "ITC": 200}
            assert out["analyze_portfolio"]["risk_profile"] == "aggressive"
            assert str(world.home) not in json.dumps(out)  # the file is named by id, never by its server path
            assert [len(out["get_market_data"]["data"][s]["candles"]) for s in ("TCS", "NIFTY 50")] == [3, 3]
            assert {s["symbol"] for s in out["generate_trading_signals"]["signals"]} == {"TCS", "INFY"}
            assert "var_99" in out["calculate_risk_metrics"]["metrics"]["it_heavy"]
            assert set(out["compare_with_benchmark"]["returns"]) == {"TCS", "INFY", "ITC"}
            assert out["compare_with_benchmark"]["period"] == "3M" and out["compare_with_benchmark"]["benchmark"] == "NIFTY 50"
            assert [r["rank"] for r in out["rank_holdings"]["ranking"]] == [1, 2, 3]
            hits = out["file_search"]["results"]
            assert hits and hits[0]["file_id"] == world.files["asha_desk_note.md"], out["file_search"]
            assert out["analyze_portfolio"]["data_source"]["synthetic"] is True

            listed = [r.uri for r in (await c.list_resources()).resources]
            mine = {f"qlwork://portfolios/file/{world.files[n]}" for n in ("asha_holdings.csv", "widget_holdings.csv")}
            assert mine <= set(listed)
            assert f"qlwork://portfolios/file/{world.files['ravi_holdings.csv']}" not in listed
            assert "qlwork://portfolios/kite" not in listed  # asha has no Kite login here
            for uri in ("qlwork://portfolios/sample/diversified", "qlwork://reports/latest/portfolio_review.html",
                        "qlwork://reports/latest/review.json", "qlwork://reports/latest/manifest.json",
                        "qlwork://research/it_sector_outlook.md", "qlwork://research/nifty50_technical_outlook.pdf"):
                assert uri in listed
            texts = {}
            for uri in listed:
                contents = (await c.read_resource(uri)).contents
                assert len(contents) == 1 and contents[0].text
                texts[uri] = contents[0].text
            widget = json.loads(texts[f"qlwork://portfolios/file/{world.files['widget_holdings.csv']}"])
            assert {h["tradingsymbol"] for h in widget["holdings"]} == {"SBIN", "LT"}
            assert widget["portfolio_id"] == world.files["widget_holdings.csv"]
            assert len(json.loads(texts["qlwork://portfolios/sample/diversified"])["holdings"]) > 5
            assert "ASHA-REPORT-4242" in texts["qlwork://reports/latest/portfolio_review.html"]  # the newest date
            review = json.loads(texts["qlwork://reports/latest/review.json"])
            assert review["as_of"] == AS_OF and review["review"]["marker"] == "ASHA-REVIEW-7731"
            manifest = json.loads(texts["qlwork://reports/latest/manifest.json"])
            assert manifest["entry"]["note"] == "ASHA-ENTRY" and "RAVI-ENTRY" not in texts["qlwork://reports/latest/manifest.json"]
            assert "p.1]" in texts["qlwork://research/nifty50_technical_outlook.pdf"]

            prompts = {p.name: p for p in (await c.list_prompts()).prompts}
            assert {p.title for p in prompts.values()} == {"Weekly portfolio review", "Sector deep-dive",
                                                          "Explain this recommendation"}
            got = await c.get_prompt("sector_deep_dive", {"sector": "IT"})
            assert "sector=IT" in got.messages[0].content.text and "file_search" in got.messages[0].content.text
            got = await c.get_prompt("weekly_portfolio_review", {"portfolio": "kite"})
            assert "analyze_portfolio (portfolio=kite" in got.messages[0].content.text
            got = await c.get_prompt("explain_recommendation", {"symbol": "TCS", "recommendation": "reduce"})
            assert "reduce for TCS" in got.messages[0].content.text
            with pytest.raises(mcp.MCPError, match="missing sector"):
                await c.get_prompt("sector_deep_dive", {})

    anyio.run(main)


def test_code_interpreter_only_with_the_flag_in_the_sandbox(world):
    from mcp import Client

    async def main():
        async with Client(stdio_params(world, "--user", "asha", "--allow-code")) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert "code_interpreter" in tools and tools["code_interpreter"].annotations.read_only_hint is False
            ran = payload(await c.call_tool("code_interpreter", {"code": "import os\nx = sum(range(10))\nx"}))
            again = payload(await c.call_tool("code_interpreter", {"code": "x * 2"}))  # the same kernel per user
            net = payload(await c.call_tool("code_interpreter", {
                "code": "import socket\ntry:\n    socket.create_connection(('1.1.1.1', 53), timeout=2)\n"
                        "    print('NETWORK-OPEN')\nexcept OSError as e:\n    print('blocked', type(e).__name__)"}))
            theirs = await c.call_tool("code_interpreter", {"code": "1", "file_ids": [world.files["ravi_holdings.csv"]]})
            return ran, again, net, theirs

    ran, again, net, theirs = anyio.run(main)
    assert "45" in json.dumps(ran) and "90" in json.dumps(again)
    assert "NETWORK-OPEN" not in json.dumps(net) and "blocked" in json.dumps(net)
    assert theirs.is_error and "No file with id" in theirs.content[0].text  # another user's file: unknown
