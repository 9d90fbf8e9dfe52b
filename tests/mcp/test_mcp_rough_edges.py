"""MCP rough edges of issue 33, through the official `mcp` client and raw JSON-RPC on both transports:
only holdings files are offered as portfolios, errors never name the server's folders, resource templates
are listed, and a message that is not JSON-RPC 2.0 gets -32600 (-32700 for text that is not JSON)."""

from __future__ import annotations

import json
import os
import subprocess
import time

import anyio
import httpx
import pytest
from mcp_harness import http_client, http_server, mcp_command, stdio_params

mcp = pytest.importorskip("mcp")
from mcp import Client  # noqa: E402

PRICES = "date,close\n2026-11-19,100.5\n2026-11-20,101.25\n2026-11-21,99.8\n"
BAD_HOLDINGS = "tradingsymbol,exchange,quantity,average_price\nTCS,NSE,-12,3100\nINFY,NSE,abc,1450\n"
INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
    "protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


@pytest.fixture(scope="module")
def edges(world):
    """asha also uploads a price table (a CSV, not holdings) and a holdings file with bad rows."""
    from qlwork.assistant.store import Store
    from qlwork.server.keys import KeyStore
    from qlwork.tools.files import FileStore

    store = Store(world.home / "qlwork.db")
    files, keys = FileStore(world.home / "files"), KeyStore(store)
    for name, text in (("nifty_prices.csv", PRICES), ("bad_holdings.csv", BAD_HOLDINGS)):
        obj = files.create(text.encode(), name)
        keys.claim("file", obj.id, "asha")
        world.files[name] = obj.id
    store.close()
    return world


def _uri(world, name: str) -> str:
    return f"qlwork://portfolios/file/{world.files[name]}"


async def _walk(client, world) -> dict:
    listed = [r.uri for r in (await client.list_resources()).resources]
    templates = [t.uri_template for t in (await client.list_resource_templates()).resource_templates]
    errors = {}
    for name in ("nifty_prices.csv", "bad_holdings.csv"):
        with pytest.raises(mcp.MCPError) as caught:
            await client.read_resource(_uri(world, name))
        errors[name] = caught.value
    holdings = json.loads((await client.read_resource(_uri(world, "asha_holdings.csv"))).contents[0].text)
    return {"listed": listed, "templates": templates, "errors": errors, "holdings": holdings}


def _check(found: dict, world) -> None:
    assert _uri(world, "asha_holdings.csv") in found["listed"]
    assert _uri(world, "nifty_prices.csv") not in found["listed"]  # a price table is not a portfolio
    assert found["templates"] == ["qlwork://portfolios/sample/{name}", "qlwork://portfolios/file/{file_id}",
                                  "qlwork://research/{filename}"]
    prices, bad = found["errors"]["nifty_prices.csv"], found["errors"]["bad_holdings.csv"]
    assert prices.error.code == -32002 and "Resource not found" in prices.error.message
    assert bad.error.code == -32602 and "bad_holdings.csv" in bad.error.message
    for error in (prices, bad):
        text = error.error.message + json.dumps(error.error.data)
        assert str(world.home) not in text and "/files/" not in text, text
    assert {h["tradingsymbol"] for h in found["holdings"]["holdings"]} == {"TCS", "INFY", "ITC"}


def test_resources_over_stdio(edges):
    async def main():
        async with Client(stdio_params(edges, "--user", "asha", "--reports-dir", str(edges.reports))) as c:
            return await _walk(c, edges)

    _check(anyio.run(main), edges)


def test_resources_and_invalid_requests_over_http(edges):
    with http_server(edges) as url:
        async def main():
            async with http_client(url, edges.keys["asha"]) as c:
                return await _walk(c, edges)

        _check(anyio.run(main), edges)
        headers = {"accept": "application/json, text/event-stream", "authorization": f"Bearer {edges.keys['asha']}"}
        answers = {}
        for label, body in (("no method", b'{"jsonrpc": "2.0", "id": 5}'),
                            ("jsonrpc 1.0", b'{"jsonrpc": "1.0", "id": 6, "method": "tools/list"}'),
                            ("not json", b'{"jsonrpc": "2.0", "id": 7,'),
                            ("array of one number", b"[1]")):
            response = httpx.post(url, content=body, headers={**headers, "content-type": "application/json"},
                                  timeout=20)
            answers[label] = (response.status_code, response.json())
        ok = httpx.post(url, json=INIT, headers=headers, timeout=20)
    assert answers["no method"] == (400, {"jsonrpc": "2.0", "id": 5, "error": {"code": -32600, "message": (
        'Invalid Request: the message has no "method" (a request) and no "result" or "error" (a response).')}})
    assert answers["jsonrpc 1.0"] == (400, {"jsonrpc": "2.0", "id": 6, "error": {
        "code": -32600, "message": 'Invalid Request: "jsonrpc" must be "2.0", got "1.0".'}})
    assert answers["not json"][0] == 400 and answers["not json"][1]["error"]["code"] == -32700
    assert answers["array of one number"][0] == 400
    assert ok.status_code == 200  # a valid request still goes through


def test_invalid_lines_over_stdio_get_a_reply(edges):
    lines = [json.dumps(INIT),
             json.dumps({"jsonrpc": "1.0", "id": 6, "method": "tools/list"}),
             json.dumps({"jsonrpc": "2.0", "id": 5}),
             '{"jsonrpc": "2.0", "id": 7,',
             json.dumps({"jsonrpc": "2.0", "id": 8, "method": "ping"})]
    # stdin stays open until the ping's reply is read (at EOF a stdio server may stop before answering)
    proc = subprocess.Popen(mcp_command("--user", "asha"), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, **edges.env()})
    proc.stdin.write("\n".join(lines) + "\n")
    proc.stdin.flush()
    replies, deadline = [], time.monotonic() + 120
    while time.monotonic() < deadline and not any(r.get("id") == 8 for r in replies):
        line = proc.stdout.readline()
        if not line:
            break
        if line.strip():
            replies.append(json.loads(line))
    proc.stdin.close()
    try:
        proc.wait(timeout=60)
    finally:
        proc.kill()
    stderr = proc.stderr.read()
    by_id = {r.get("id"): r for r in replies}
    assert by_id[6]["error"] == {"code": -32600, "message": 'Invalid Request: "jsonrpc" must be "2.0", got "1.0".'}
    assert by_id[5]["error"]["code"] == -32600 and '"method"' in by_id[5]["error"]["message"]
    assert by_id[None]["error"]["code"] == -32700
    assert by_id[8]["result"] == {} or "result" in by_id[8]  # the server keeps serving after bad lines
    assert "Traceback" not in stderr
