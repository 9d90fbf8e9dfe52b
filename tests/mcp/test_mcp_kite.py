"""`qlwork mcp --http --provider kite` against the local fake Kite server through the real kiteconnect
client: asha logged in with the real login flow, ravi not. Each user's calls use that user's own token;
nothing but read-only endpoints is called; no secret reaches a tool output or a resource."""

from __future__ import annotations

import datetime as dt
import importlib
import json
from zoneinfo import ZoneInfo

import anyio
import pytest
from mcp_harness import World, http_client, http_server, payload

from qlwork.market.demo import DEMO_END

pytest.importorskip("mcp")
IST = ZoneInfo("Asia/Kolkata")
PLANTED = {"api_key": "PLANTEDMCPKEY3R7", "api_secret": "PLANTEDMCPSECRET8D2", "access_token": "PLANTEDMCPTOKEN6F1"}
READ_ONLY = ("/user/profile", "/portfolio/holdings", "/instruments", "/quote", "/session/token")


@pytest.fixture
def kite_world(tmp_path, monkeypatch):
    today = dt.datetime.now(IST).date()
    if today > DEMO_END:
        pytest.skip(f"the fake Kite server's data (the demo universe) ends {DEMO_END}, before today {today}")
    home = tmp_path / "home"
    monkeypatch.setenv("QLWORK_HOME", str(home))
    monkeypatch.setenv("KITE_API_KEY", PLANTED["api_key"])
    monkeypatch.setenv("KITE_API_SECRET", PLANTED["api_secret"])
    fake = importlib.import_module("fake_kite").FakeKite(today=today, **PLANTED).start()
    from qlwork.market.kite_login import complete_login
    from qlwork.server.keys import create_key

    complete_login("req_token_ok", user="asha", root=fake.url)  # the real login flow; token valid until 06:00 IST
    world = World(home=home, reports=tmp_path / "reports")
    world.keys = {user: create_key(user)[1] for user in ("asha", "ravi")}
    yield world, fake
    fake.stop()


def test_kite_holdings_and_tools_with_each_users_own_token(kite_world):
    world, fake = kite_world
    expected = {h["tradingsymbol"]: h["quantity"] + h["t1_quantity"] for h in fake.holdings
                if h["quantity"] + h["t1_quantity"] > 0}

    async def session(user):
        async with http_client(url, world.keys[user]) as c:
            uris = [r.uri for r in (await c.list_resources()).resources]
            holdings = None
            if "qlwork://portfolios/kite" in uris:
                holdings = json.loads((await c.read_resource("qlwork://portfolios/kite")).contents[0].text)
            analysis = await c.call_tool("analyze_portfolio", {"portfolio": "kite", "lookback_days": 60})
            prices = await c.call_tool("get_market_data", {"symbols": ["TCS"], "limit": 2})
            return uris, holdings, analysis, prices

    # only the API key reaches the server process: the secret is for `qlwork kite login`, done above
    with http_server(world, "--provider", "kite", KITE_ROOT=fake.url, KITE_API_KEY=PLANTED["api_key"]) as url:
        asha = anyio.run(session, "asha")
        holdings_calls = fake.count("/portfolio/holdings")
        ravi = anyio.run(session, "ravi")

    uris, holdings, analysis, prices = asha
    assert {h["tradingsymbol"]: h["quantity"] for h in holdings["holdings"]} == expected
    assert holdings["portfolio_id"] == "kite"
    out = payload(analysis)
    assert analysis.is_error is False, out
    assert {h["symbol"]: h["quantity"] for h in out["holdings"]} == expected
    assert out["data_source"]["provider"] == "kite" and out["data_source"]["synthetic"] is False
    assert payload(prices)["data"]["TCS"]["candles"][-1]["date"] <= fake.today.isoformat()

    ravi_uris, ravi_holdings, ravi_analysis, ravi_prices = ravi
    assert "qlwork://portfolios/kite" not in ravi_uris and ravi_holdings is None
    for result in (ravi_analysis, ravi_prices):  # never asha's token: ravi is told to log in himself
        assert result.is_error and "qlwork kite login --user ravi" in json.dumps(payload(result))
    assert fake.count("/portfolio/holdings") == holdings_calls

    paths = {(r.method, r.path) for r in fake.requests}
    assert all(m in ("GET", "POST") for m, _ in paths)
    assert all(p.startswith(READ_ONLY) or p.startswith("/instruments/historical/") for _, p in paths), paths
    assert all(p == "/session/token" for m, p in paths if m == "POST")  # the login, from this test process
    texts = json.dumps([holdings, payload(analysis), payload(prices), payload(ravi_analysis), payload(ravi_prices)])
    assert not [s for s in (PLANTED["access_token"], PLANTED["api_secret"]) if s in texts]
