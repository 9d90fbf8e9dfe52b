"""Tool calls for the structured request (:class:`.request.Request`): what was asked, with its
period and benchmark carried into every call (nothing asked for is dropped).

compare -> ``compare_with_benchmark`` (portfolio, or the symbols named / resolved, over the period,
against the benchmark); rank -> ``rank_holdings`` (the symbols resolved from "those", a sector's
stocks, or the holdings); explain / size -> signals for the symbol and the portfolio it would join;
risk, prices and backtests asked over a period get that period.
"""

from __future__ import annotations

import datetime as dt
import re

from ...analytics.periods import period_start
from ...config import BENCHMARK
from ..backends.base import ModelInput
from .intent import Intent



def _subjects(intent: Intent) -> list[str]:
    req = intent.request
    if req.symbols:
        return list(req.symbols)
    stocks = [s for sec in req.sectors for s in req.sector_stocks.get(sec, [])]
    return stocks


def plan_request(intent: Intent, inp: ModelInput) -> list[tuple[str, dict]] | None:
    """The calls for ``intent.request``, or None to use the engine's default plan for its kind."""
    req = intent.request
    if req is None:
        return None
    period = req.period or "1Y"
    bench = req.benchmark or BENCHMARK
    if intent.kind == "benchmark":
        args: dict = {"period": period, "benchmark": bench}
        subjects = _subjects(intent)
        if subjects and not req.portfolio:
            args["symbols"] = subjects
        return [("compare_with_benchmark", args)]
    if intent.kind == "rank":
        args = {"metric": req.metric or "volatility", "period": period}
        if req.order in ("asc", "desc"):
            args["order"] = req.order
        elif req.order == "asc_risk":  # "which is the safest?": lowest volatility / beta, shallowest drawdown
            args["order"] = "asc" if args["metric"] in ("volatility", "beta") else "desc"
        if req.benchmark:
            args["benchmark"] = req.benchmark
        subjects = _subjects(intent)
        if subjects and not (req.portfolio and not req.resolved):
            args["symbols"] = subjects
        return [("rank_holdings", args)]
    if intent.kind == "explain":
        calls = [("generate_trading_signals", {"symbols": req.symbols} if req.symbols else {})]
        calls.append(("analyze_portfolio", {}))
        return calls
    if not req.period:
        return None
    as_of = dt.date.fromisoformat(req.as_of) if req.as_of else None
    if intent.kind == "risk":
        args = {"period": req.period}
        if intent.symbols:
            args["symbols"] = intent.symbols
        return [("calculate_risk_metrics", args)]
    if intent.kind == "market_data" and intent.symbols and as_of is not None:
        start = period_start(as_of, req.period).isoformat()
        return [("get_market_data", {"symbols": intent.symbols, "start": start, "limit": 5}),
                ("generate_trading_signals", {"symbols": intent.symbols})]
    if intent.kind == "strategy" and re.fullmatch(r"\d+Y", req.period) and 1 <= int(req.period[:-1]) <= 10:
        args = {"strategy": intent.style, "backtest_years": int(req.period[:-1])}
        if intent.symbols:
            args["symbols"] = intent.symbols
        elif intent.sector:
            args["sector"] = intent.sector
        return [("generate_trading_signals", args)]
    return None
