"""`qlwork mcp --http` (streamable HTTP on 127.0.0.1) with the mcp SDK's own client: bearer keys from
`qlwork serve keys`, one user per key, portfolio arguments that never name a server path, tool errors
that name the field, and two users who see nothing of each other."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
from mcp_harness import http_client, http_server, payload

mcp = pytest.importorskip("mcp")
ASHA_MARKERS = ("ASHA-REPORT-4242", "ASHA-REVIEW-7731", "ASHA-ENTRY", "zephyrcanary", "asha_holdings", "asha_desk_note",
                "widget_holdings")


@pytest.fixture(scope="module")
def server(world):
    with http_server(world) as url:
        yield url


def test_keys_are_required_and_checked(server, world):
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    headers = {"accept": "application/json, text/event-stream"}
    for key in (None, "qlw-not-a-key", world.keys["revoked"], "Basic " + world.keys["asha"]):
        auth = {} if key is None else {"authorization": key if key.startswith("Basic") else f"Bearer {key}"}
        response = httpx.post(server, json=init, headers={**headers, **auth}, timeout=10)
        assert response.status_code == 401, (key, response.text)
        assert "www-authenticate" in response.headers
    ok = httpx.post(server, json=init, headers={**headers, "authorization": f"Bearer {world.keys['asha']}"},
                    timeout=10)
    assert ok.status_code == 200



def test_tools_over_http_and_no_server_paths(server, world):
    async def main():
        async with http_client(server, world.keys["asha"]) as c:
            tools = {t.name: t for t in (await c.list_tools()).tools}
            assert "code_interpreter" not in tools
            described = tools["analyze_portfolio"].input_schema["properties"]["portfolio"]["description"]
            assert "file path" not in described and "sample:<name>" in described
            mine = payload(await c.call_tool("analyze_portfolio", {"portfolio": world.files["asha_holdings.csv"]}))
            widget = payload(await c.call_tool("calculate_risk_metrics",
                                               {"portfolio": world.files["widget_holdings.csv"]}))
            refused = {}
            for value in (str(world.home / "files" / world.files["asha_holdings.csv"] / "asha_holdings.csv"),
                          "/etc/passwd", "../qlwork.db", world.files["ravi_holdings.csv"], "file_000000000000000000000000"):
                result = await c.call_tool("analyze_portfolio", {"portfolio": value})
                assert result.is_error
                refused[value] = payload(result)["error"]
            return mine, widget, refused

    mine, widget, refused = anyio.run(main)
    assert {h["symbol"] for h in mine["holdings"]} == {"TCS", "INFY", "ITC"}
    assert widget["subject"] == "portfolio" and widget["metrics"]
    assert str(world.home) not in json.dumps([mine, widget])
    for value, error in refused.items():
        assert error["field"] == "portfolio" and error["got"] == value
        assert set(error["allowed"]) == {"sample:concentrated", "sample:diversified", "sample:it_heavy",
                                         "sample:near_cash", "sample:smallcap_highvol",
                                         world.files["asha_holdings.csv"], world.files["widget_holdings.csv"]}
    # ravi's real file id answers exactly like an id that does not exist: nothing to probe
    ravi, none = refused[world.files["ravi_holdings.csv"]], refused["file_000000000000000000000000"]
    assert ravi["message"].replace(world.files["ravi_holdings.csv"], "X") == none["message"].replace(
        "file_000000000000000000000000", "X")


def test_bad_arguments_are_tool_errors_naming_the_field(server, world):
    cases = [
        ("get_market_data", {"symbols": ["TCS"], "limit": 0}, "limit", "1..500"),
        ("get_market_data", {"limit": 5}, "symbols", None),
        ("analyze_portfolio", {"portfolio": "sample:diversified", "risk_profile": "reckless"}, "risk_profile",
         "'conservative', 'moderate' or 'aggressive'"),
        ("analyze_portfolio", {"portfolio": "sample:diversified", "as_of": "2031-01-01"}, "as_of", "<= "),
        ("generate_trading_signals", {"symbols": ["TCS"], "strategy": "astrology"}, "strategy",
         "'rules', 'momentum' or 'mean_reversion'"),
        ("calculate_risk_metrics", {"symbols": ["TCS"], "confidence": 2}, "confidence", "0.8..0.995"),
        ("file_search", {"query": "levels", "max_results": 99}, "max_results", "1..20"),
        ("file_search", {"query": "levels", "path": "/etc"}, "path", None),
    ]

    async def main():
        async with http_client(server, world.keys["asha"]) as c:
            out = [await c.call_tool(name, args) for name, args, _, _ in cases]
            with pytest.raises(mcp.MCPError, match="Unknown tool 'place_order'"):
                await c.call_tool("place_order", {"symbol": "TCS"})
            return out

    for (name, args, field, allowed), result in zip(cases, anyio.run(main)):
        assert result.is_error, (name, args)
        error = payload(result)["error"]
        named = error.get("errors") or [error]  # validation errors list each field; range checks name one
        entry = next(e for e in named if e.get("field") == field)
        if allowed is not None:
            assert allowed in str(entry.get("allowed")), (name, error)
        if field == "path":
            assert "query" in entry["allowed_fields"]


def test_another_users_key_sees_nothing_of_the_first(server, world):
    async def as_user(user):
        seen = []
        async with http_client(server, world.keys[user]) as c:
            resources = [r.uri for r in (await c.list_resources()).resources]
            seen.append(json.dumps(resources))
            for uri in resources:
                seen += [x.text for x in (await c.read_resource(uri)).contents]
            search = payload(await c.call_tool("file_search", {"query": "zephyrcanary thesis basket"}))
            seen.append(json.dumps({k: v for k, v in search.items() if k != "query"}))  # the query echoes the word
            if user == "ravi":
                for name in ("asha_holdings.csv", "asha_desk_note.md", "widget_holdings.csv"):
                    with pytest.raises(mcp.MCPError, match="not found"):  # the same answer as for no such file
                        await c.read_resource(f"qlwork://portfolios/file/{world.files[name]}")
                with pytest.raises(mcp.MCPError, match="not found"):
                    await c.read_resource("qlwork://reports/latest/review.json")  # ravi's report has no notebook
        return resources, "\n".join(seen), search

    asha_resources, asha_text, asha_search = anyio.run(as_user, "asha")
    ravi_resources, ravi_text, ravi_search = anyio.run(as_user, "ravi")
    markers = ASHA_MARKERS + tuple(world.files[n] for n in ("asha_holdings.csv", "asha_desk_note.md",
                                                             "widget_holdings.csv"))
    for marker in markers:
        assert marker in asha_text, marker  # the first user sees her own files, report and notes ...
        assert marker not in ravi_text, marker  # ... and the second none of them
    assert asha_search["results"][0]["file_id"] == world.files["asha_desk_note.md"]
    assert ravi_search["results"] == [] and ravi_search["files_searched"] == ["ravi_holdings.csv"]
    assert f"qlwork://portfolios/file/{world.files['ravi_holdings.csv']}" in ravi_resources
    assert "RAVI-REPORT-5151" in ravi_text and "RAVI-ENTRY" in ravi_text  # ravi's own report and manifest entry
    assert "RAVI-REPORT-5151" not in asha_text and "RAVI-ENTRY" not in asha_text


def test_resource_uris_cannot_leave_their_folders_and_foreign_origins_are_refused(server, world):
    async def main():
        async with http_client(server, world.keys["ravi"]) as c:
            for uri in ("qlwork://research/../../config.py", "qlwork://research/..%2F..%2Fconfig.py",
                        "qlwork://reports/latest/../../asha/portfolio_review.html", "file:///etc/passwd",
                        "qlwork://portfolios/file/../../qlwork.db", "qlwork://portfolios/sample/../../errors"):
                with pytest.raises(mcp.MCPError, match="not found"):
                    await c.read_resource(uri)

    anyio.run(main)
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
    headers = {"accept": "application/json, text/event-stream", "authorization": f"Bearer {world.keys['asha']}"}
    for extra in ({"host": "evil.example:80"}, {"origin": "http://evil.example"}):  # DNS rebinding / a web page
        response = httpx.post(server, json=init, headers={**headers, **extra}, timeout=10)
        assert response.status_code in (400, 403, 421), (extra, response.status_code)
