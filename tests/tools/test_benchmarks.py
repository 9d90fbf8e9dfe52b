"""Any index the provider has is a benchmark: per question (the tools' ``benchmark`` argument) and per
user (``ToolContext.benchmark``, set from users.toml / thread metadata); NIFTY 50 stays the default."""

from __future__ import annotations

import pytest

from qlwork.market import DemoMarketData
from qlwork.market.base import index_symbols
from qlwork.tools.registry import ToolContext
from qlwork.tools.trading import analyze_portfolio, calculate_risk_metrics


@pytest.fixture(scope="module")
def market():
    return DemoMarketData()


def test_demo_indices(market):
    names = index_symbols(market)
    assert names[0] == "NIFTY 50"
    assert {"NIFTY 500", "NIFTY BANK", "NIFTY IT", "NIFTY MIDCAP 150", "NIFTY SMALLCAP 250"} <= set(names)
    bank = market.benchmark_sector_weights("NIFTY BANK")
    assert list(bank) == ["Financial Services"] and bank["Financial Services"] == pytest.approx(1.0)
    it = market.benchmark_weights("NIFTY IT")
    assert sum(it.values()) == pytest.approx(1.0) and "TCS" in it and "INFY" in it and len(it) > 10
    assert market.benchmark_sector_weights() == market.benchmark_sector_weights("NIFTY 50")


def test_benchmark_per_question_and_per_user(market):
    ctx = ToolContext(market=market, portfolio="sample:diversified", as_of="2026-11-20")
    default = analyze_portfolio.tool.run({"lookback_days": 120}, ctx).output
    bank = analyze_portfolio.tool.run({"lookback_days": 120, "benchmark": "nifty bank"}, ctx).output
    assert default["benchmark"] == "NIFTY 50" and bank["benchmark"] == "NIFTY BANK"
    assert bank["risk_metrics"]["beta"] != default["risk_metrics"]["beta"]
    assert any("beta to NIFTY BANK" in i for i in bank["insights"])
    user = ToolContext(market=market, portfolio="sample:diversified", as_of="2026-11-20", benchmark="NIFTY MIDCAP 150")
    risk = calculate_risk_metrics.tool.run({"lookback_days": 120}, user).output
    assert risk["benchmark"] == "NIFTY MIDCAP 150"
    bad = calculate_risk_metrics.tool.run({"lookback_days": 120, "benchmark": "TCS"}, ctx)
    assert bad.error is not None and "not an index" in str(bad.error) and "NIFTY BANK" in str(bad.error)


def test_a_threads_benchmark_reaches_the_tools(tmp_path):
    """users.toml's benchmark is recorded on the review thread; every tool call of the thread uses it."""
    import qlwork
    from qlwork.assistant.render import tool_calls
    from qlwork.assistant.store import Store

    store = Store(tmp_path / "store.db")
    session = qlwork.open_session("asha", store=store, portfolio="sample:diversified", new_thread=True)
    store.update_thread_metadata(session.thread_id, {"benchmark": "NIFTY BANK"})
    assert session._context(store.get_thread(session.thread_id)).benchmark == "NIFTY BANK"
    answer = session.ask("Analyze my portfolio")
    calls = tool_calls([s.model_dump(mode="json") for s in answer.steps])
    analysis = next(c["output"] for c in calls if c["name"] == "analyze_portfolio")
    assert analysis["benchmark"] == "NIFTY BANK"
    store.close()
