"""The four trading tools a model (or the offline engine) can call.

Every tool returns a JSON-serialisable dict whose figures are traceable: it names the symbols, the
window (start, end, trading days), the as-of date and the data source. Numbers are plain floats
rounded to 4 decimals (fractions, not percentages: 0.05 means 5%). Prices in INR.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from ..analytics import health, periods, risk
from ..analytics.backtest import DEFAULT_PARAMS
from ..analytics.lookthrough import OUTSIDE_SECTORS
from ..config import DEFAULT_RISK_FREE_RATE
from ..errors import InputError
from ..formatting import inr, pct, ratio
from .context import (
    DISCLAIMER,
    history_window,
    load_holdings,
    market_of,
    resolve_benchmark,
    resolve_as_of,
    resolve_known,
    rnd,
    source_of,
)
from .backtesting import DEFAULT_YEARS, strategy_backtest
from .exposure import classes_of, classes_text, display_sectors, look_through, priority, risk_contribution_table, unclassified_text
from .recommendations import benchmark_sector_weights, plan
from .registry import ToolContext, tool
from .signal_inputs import signals_at, symbols_for

RiskProfile = Literal["conservative", "moderate", "aggressive"]
Strategy = Literal["rules", "momentum", "mean_reversion"]

METRIC_DEFINITIONS = {
    "volatility": "Annualised standard deviation of simple daily returns (x sqrt(252)).",
    "sharpe_ratio": "Annualised mean excess daily return over annualised volatility; risk-free rate annual.",
    "sortino_ratio": "Like Sharpe, but divides by downside deviation only.",
    "max_drawdown": "Largest peak-to-trough fall of the value curve, as a negative fraction.",
    "beta": "Covariance of daily returns with NIFTY 50 over NIFTY 50 variance.",
    "var_95": "Historical 1-day 95% Value at Risk: the 5th percentile daily return (negative = loss).",
    "cvar_95": "Mean daily return on days at or below the 95% VaR (expected shortfall).",
    "var_95_parametric": "1-day 95% VaR assuming normal returns: mean - 1.645 x std.",
    "risk_contributions": "Each holding's part of the volatility (and parametric VaR) at today's weights: "
                          "w_i (S w)_i / sigma, S the annualised covariance of daily returns; the parts sum to the "
                          "portfolio figure. volatility_after_halving: the volatility if that holding alone were halved "
                          "(proceeds to cash).",
}


def _portfolio_returns(close, quantities: np.ndarray) -> np.ndarray:
    """Buy-and-hold returns of ``quantities`` over the ``close`` frame, without look-ahead
    (see :func:`qlwork.analytics.risk.holding_returns`)."""
    return risk.holding_returns(close.to_numpy(dtype=float), quantities)


def _with_data(pf, close):
    """``pf`` restricted to the holdings with a price column in ``close`` (history_window drops symbols
    the provider failed for and names them in ``window["symbols_without_data"]``)."""
    keep = [h for h in pf.holdings if h.tradingsymbol in close.columns]
    return pf if len(keep) == len(pf.holdings) else pf.model_copy(update={"holdings": keep})


def _unvalued(pf) -> list[dict]:
    """Holdings the loader already left out because they cannot be priced (e.g. a Kite holding with no
    instrument), as ``{"symbol", "reason"}``."""
    return [dict(d) for d in (pf.metadata or {}).get("symbols_without_data") or []]


@tool
def analyze_portfolio(
    ctx: ToolContext,
    portfolio: str | None = None,
    risk_profile: RiskProfile | None = None,
    as_of: str | None = None,
    lookback_days: int = 252,
    benchmark: str | None = None,
) -> dict:
    """Assess a portfolio's health: weights, P&L, asset classes and look-through sector exposure vs
    the benchmark (NIFTY 50 unless asked), concentration, risk metrics and each holding's risk contribution, an overall score (0-10),
    a risk level from measured risk, and sized recommendations checked against the profile's limits.

    Args:
        portfolio: Portfolio source: "sample:<name>", an uploaded holdings file id ("file_..."), "kite", or
            (local use only) a CSV or JSON file path; omit for the thread's portfolio (an attached holdings
            file once one was attached).
        risk_profile: Investor risk profile; omit for the thread's profile.
        as_of: Analysis date YYYY-MM-DD; omit for the latest data date.
        lookback_days: Trading days of history used for risk metrics (20 to 2520).
        benchmark: Benchmark index, e.g. "NIFTY BANK" or "NIFTY MIDCAP 150"; omit for the user's (NIFTY 50).
    """
    market = market_of(ctx)
    pf = load_holdings(ctx, portfolio)
    index = resolve_benchmark(ctx, benchmark)
    profile = risk_profile or ctx.risk_profile or "moderate"
    day = resolve_as_of(ctx, as_of)
    close, window = history_window(market, pf.symbols + [index], day, lookback_days, required=(index,))
    without = _unvalued(pf) + window.pop("symbols_without_data", [])
    pf = _with_data(pf, close)
    last = close.iloc[-1]
    sectors = market.sectors(pf.symbols)
    val = pf.valuation(prices=last[pf.symbols], sectors=sectors)
    weights = val["weight"].to_numpy()
    classes = classes_of(market, pf.symbols)
    bench_sectors = benchmark_sector_weights(market, index)
    look, labels = look_through(list(val["symbol"]), weights, list(val["sector"]), classes, bench_sectors)
    val["sector"] = [lab if classes[s]["asset_class"] != "equity" else sec
                     for s, lab, sec in zip(val["symbol"], labels, val["sector"])]
    val["asset_class"] = look["position_classes"]
    port_ret = _portfolio_returns(close[pf.symbols], val["quantity"].to_numpy(dtype=float))
    bench_ret = risk.simple_returns(close[index].to_numpy())
    rf = ctx.risk_free_rate if ctx.risk_free_rate is not None else DEFAULT_RISK_FREE_RATE
    vol = float(risk.volatility(port_ret))
    mdd = float(risk.max_drawdown(port_ret))
    beta = float(risk.beta(port_ret, bench_ret))
    period_return = float(np.prod(1.0 + port_ret) - 1.0)
    report = health.assess_health(
        weights, list(val["sector"]), bench_sectors, vol, mdd, beta, risk_profile=profile,
        period_return=period_return, symbols=list(val["symbol"]), lookthrough=look,
    )
    contrib = risk_contribution_table(close, list(val["symbol"]), weights)
    sig = {s["symbol"]: s for s in signals_at(market, pf.symbols, day)[0]}
    advice = plan(val, look["position_classes"], look, bench_sectors, sig, profile,
                  priority=priority(contrib, list(val["symbol"])))
    metrics = {
        "max_drawdown": rnd(mdd),
        "sharpe_ratio": rnd(float(risk.sharpe_ratio(port_ret, risk_free=rf))),
        "beta": rnd(beta),
        "volatility": rnd(vol),
        "sortino_ratio": rnd(float(risk.sortino_ratio(port_ret, risk_free=rf))),
        "var_95": rnd(float(risk.value_at_risk(port_ret, 0.95))),
    }
    sector_w = {k: rnd(v) for k, v in report.sector_weights.items()}
    holdings = [
        {k: (rnd(v) if isinstance(v, float) else v) for k, v in row.items()}
        for row in val[["symbol", "quantity", "average_price", "last_price", "market_value", "weight",
                        "pnl", "pnl_pct", "sector", "asset_class"]].to_dict("records")
    ]
    total_value = float(val["market_value"].sum())
    total_pnl = float(val["pnl"].sum())
    top = max(holdings, key=lambda h: (h["asset_class"] == "equity", h["weight"]))
    classified = {k: v for k, v in sector_w.items() if k != health.UNCLASSIFIED and k not in OUTSIDE_SECTORS}
    top_sector = max(classified, key=classified.get) if classified else None
    unclassified = rnd(report.unclassified_weight)
    insights = [
        f"{len(holdings)} holdings worth {inr(total_value)} with unrealised P&L of {inr(total_pnl)}.",
        f"Largest {'stock' if top['asset_class'] == 'equity' else 'position'} {top['symbol']} at {pct(top['weight'])} of value"
        + (f"; top sector {top_sector} at {pct(sector_w[top_sector])}." if top_sector else "."),
        *([unclassified_text(unclassified, holdings)] if unclassified else []),
        *([classes_text(look["classes"])] if set(look["classes"]) - {"equity"} else []),
        f"Effective number of holdings {ratio(report.effective_holdings, 1)} (HHI {ratio(report.hhi, 4)}); "
        f"looking through funds and leaving out cash, {ratio(report.effective_exposures, 1)} effective exposures.",
        f"Over {window['days']} trading days: volatility {pct(metrics['volatility'])}, max drawdown "
        f"{pct(metrics['max_drawdown'])}, beta to {index} {ratio(metrics['beta'])}.",
        advice["summary"],
    ]
    return {
        "analysis_type": "portfolio_health",
        "portfolio": pf.name,
        "as_of": day.isoformat(),
        "risk_profile": profile,
        "overall_score": report.overall_score,
        "risk_level": report.risk_level,
        "recommendations": advice["recommendations"],
        "limits": {**advice["limits"], "sector_caps": advice["sector_caps"], "plan": advice["plan"]},
        "insights": insights,
        "risk_metrics": metrics,
        "holdings": holdings,
        "total_value": rnd(total_value, 2),
        "total_pnl": rnd(total_pnl, 2),
        "sector_weights": sector_w,
        "unclassified_weight": unclassified,
        "active_sector_weights": {k: rnd(v) for k, v in report.active_sector_weights.items()},
        "concentration": {"hhi": rnd(report.hhi), "effective_holdings": rnd(report.effective_holdings, 2),
                          "effective_exposures": rnd(report.effective_exposures, 2),
                          "largest_single_stock": rnd(report.largest_single_name)},
        "asset_classes": {k: rnd(v) for k, v in look["classes"].items()},
        "risk_contributions": contrib,
        "score_components": report.components,
        "risk_level_rule": report.risk_level_rule,
        **({"score_caps": list(report.to_dict()["caps"])} if report.caps else {}),
        "period_return": rnd(period_return),
        "benchmark": index,
        "window": window,
        **({"symbols_without_data": without} if without else {}),
        "data_source": source_of(market),
        "disclaimer": DISCLAIMER,
    }


@tool
def get_market_data(
    ctx: ToolContext,
    symbols: list[str],
    start: str | None = None,
    end: str | None = None,
    interval: Literal["day"] = "day",
    limit: int = 30,
) -> dict:
    """Daily OHLCV candles and a summary (last close, period return, range, volatility) per symbol.

    Args:
        symbols: NSE trading symbols, e.g. ["RELIANCE", "TCS"], or "NIFTY 50" for the index.
        start: First date YYYY-MM-DD; omit for one year before end.
        end: Last date YYYY-MM-DD; omit for the analysis date.
        interval: Candle interval; daily bars.
        limit: Number of most recent candles returned per symbol (1 to 500); the summary uses the whole range.
    """
    if not 1 <= limit <= 500:
        raise InputError(f"limit {limit} is out of range.", fix="Use a limit between 1 and 500.",
                         field="limit", allowed="1..500")
    market = market_of(ctx)
    names, not_found = resolve_known(market, symbols)
    day = resolve_as_of(ctx, end, field="end")
    close, window = history_window(market, names, day, None, start=start)
    candles = market.candles(names, interval, window["start"], window["end"])
    out = {}
    rets = risk.simple_returns(close.to_numpy())
    vols = risk.volatility(rets)
    for i, sym in enumerate(names):
        c = close[sym].to_numpy()
        frame = candles[sym].tail(limit)
        out[sym] = {
            "last_close": rnd(float(c[-1]), 2),
            "first_close": rnd(float(c[0]), 2),
            "period_return": rnd(float(c[-1] / c[0] - 1.0)),
            "high": rnd(float(np.nanmax(c)), 2),
            "low": rnd(float(np.nanmin(c)), 2),
            "volatility": rnd(float(np.atleast_1d(vols)[i])),
            "candles": [
                {"date": d.date().isoformat(), "open": rnd(o, 2), "high": rnd(h, 2), "low": rnd(lo, 2),
                 "close": rnd(cl, 2), "volume": int(v)}
                for d, o, h, lo, cl, v in frame[["date", "open", "high", "low", "close", "volume"]].itertuples(
                    index=False)
            ],
        }
    return {"symbols": names, "interval": interval, "window": window, "data": out,
            "series": {"dates": [d.date().isoformat() for d in close.index],
                       "close": {s: [rnd(float(x), 2) for x in close[s]] for s in names}},
            **({"symbols_not_found": not_found} if not_found else {}),
            "data_source": source_of(market)}


@tool
def generate_trading_signals(
    ctx: ToolContext,
    symbols: list[str] | None = None,
    sector: str | None = None,
    strategy: Strategy = "rules",
    as_of: str | None = None,
    backtest_years: int = DEFAULT_YEARS,
    top_n: int = DEFAULT_PARAMS["momentum"]["top_n"],
    benchmark: str | None = None,
) -> dict:
    """Buy/sell/hold signals with confidence (0-1) and reasons from RSI, MACD, moving averages and
    Bollinger bands; for "momentum" or "mean_reversion" also a no-look-ahead backtest with costs beside
    equal-weight buy-and-hold of the same stocks and an index, and an out-of-sample train/test check.

    Args:
        symbols: NSE trading symbols; omit to use the sector, or the portfolio's holdings.
        sector: NSE industry name (e.g. "Information Technology"; "IT", "banks", "pharma" work too) to take all its stocks from the universe.
        strategy: "rules" for indicator signals; "momentum" or "mean_reversion" adds a backtest.
        as_of: Signal date YYYY-MM-DD; omit for the latest data date.
        backtest_years: Years of history for the backtest (1 to 10).
        top_n: Stocks held at a time by the momentum strategy.
        benchmark: Index the backtest is compared with; omit for NIFTY 50.
    """
    market = market_of(ctx)
    day = resolve_as_of(ctx, as_of)
    names, not_found = symbols_for(ctx, market, symbols, sector)
    signals, signal_span = signals_at(market, names, day)
    summary = {a: sum(s["action"] == a for s in signals) for a in ("buy", "sell", "hold")}
    result: dict = {"strategy": strategy, "as_of": day.isoformat(), "symbols": names, "sector": sector,
                    "signal_window": signal_span,
                    "signals": signals, "summary": summary, "data_source": source_of(market),
                    **({"symbols_not_found": not_found} if not_found else {})}
    if strategy != "rules":
        if not 1 <= backtest_years <= 10:
            raise InputError(f"backtest_years {backtest_years} is out of range.", fix="Use 1 to 10 years.",
                             field="backtest_years", allowed="1..10")
        rf = ctx.risk_free_rate if ctx.risk_free_rate is not None else DEFAULT_RISK_FREE_RATE
        result["backtest"] = strategy_backtest(market, names, day, strategy, years=backtest_years, benchmark=benchmark,
                                               params={"top_n": top_n} if strategy == "momentum" else None,
                                               risk_free=rf).output()
    return result


@tool
def calculate_risk_metrics(
    ctx: ToolContext,
    symbols: list[str] | None = None,
    portfolio: str | None = None,
    as_of: str | None = None,
    lookback_days: int = 252,
    confidence: float = 0.95,
    benchmark: str | None = None,
    period: str | None = None,
) -> dict:
    """Risk metrics of a portfolio (default) or of individual symbols: volatility, Sharpe, Sortino,
    max drawdown, beta to the benchmark (NIFTY 50 unless asked), historical and parametric VaR and CVaR, correlation; for a portfolio
    also each holding's contribution to volatility and VaR, and the volatility after trimming the top ones.

    Args:
        symbols: NSE trading symbols to measure one by one; omit to measure the portfolio.
        portfolio: Portfolio source when measuring a portfolio; omit for the thread's portfolio.
        as_of: Last date YYYY-MM-DD; omit for the latest data date.
        lookback_days: Trading days of history (20 to 2520).
        confidence: VaR confidence level between 0.8 and 0.995.
        benchmark: Benchmark index for beta, e.g. "NIFTY BANK"; omit for the user's (NIFTY 50).
        period: Window instead of lookback_days: "1M", "3M", "6M", "YTD", "1Y", "3Y" or a start date YYYY-MM-DD.
    """
    if not 0.8 <= confidence <= 0.995:
        raise InputError(f"confidence {confidence} is out of range.", fix="Use a level between 0.8 and 0.995, e.g. 0.95.",
                         field="confidence", allowed="0.8..0.995")
    market = market_of(ctx)
    day = resolve_as_of(ctx, as_of)
    index = resolve_benchmark(ctx, benchmark)
    rf = ctx.risk_free_rate if ctx.risk_free_rate is not None else DEFAULT_RISK_FREE_RATE
    not_found: list[dict] = []
    start = periods.period_start(day, period) if period else None
    if symbols:
        names, not_found = resolve_known(market, symbols)
        close, window = history_window(market, names + [index], day, lookback_days, start=start, required=(index,))
        names = [s for s in names if s in close.columns]
        rets = risk.simple_returns(close[names].ffill().to_numpy())
        label = "symbols"
    else:
        pf = load_holdings(ctx, portfolio)
        names = [pf.name]
        close, window = history_window(market, pf.symbols + [index], day, lookback_days, start=start,
                                       required=(index,))
        pf = _with_data(pf, close)
        rets = _portfolio_returns(close[pf.symbols], pf.quantities.astype(float))[:, None]
        label = "portfolio"
        window["symbols_without_data"] = _unvalued(pf) + window.get("symbols_without_data", [])
    without = window.pop("symbols_without_data", [])
    bench = risk.simple_returns(close[index].to_numpy())
    summary = risk.risk_summary(rets, bench, risk_free=rf)
    level = f"{round(confidence * 100, 1):g}"
    per = {}
    for i, name in enumerate(names):
        per[name] = {
            "volatility": rnd(summary["volatility"][i]),
            "sharpe_ratio": rnd(summary["sharpe_ratio"][i]),
            "sortino_ratio": rnd(summary["sortino_ratio"][i]),
            "max_drawdown": rnd(summary["max_drawdown"][i]),
            "beta": rnd(summary["beta"][i]),
            "total_return": rnd(summary["total_return"][i]),
            f"var_{level}": rnd(float(risk.value_at_risk(rets[:, i], confidence))),
            f"cvar_{level}": rnd(float(risk.conditional_value_at_risk(rets[:, i], confidence))),
            f"var_{level}_parametric": rnd(float(risk.value_at_risk(rets[:, i], confidence, method="parametric"))),
        }
    out = {"subject": label, "as_of": day.isoformat(), "metrics": per, "window": window,
           **({"period": periods.normalise_period(period)} if period else {}),
           "risk_free_rate": rf, "confidence": confidence, "benchmark": index,
           "definitions": METRIC_DEFINITIONS, "data_source": source_of(market)}
    if label == "symbols" and len(names) > 1:
        corr = np.corrcoef(rets, rowvar=False)
        iu = np.triu_indices(len(names), 1)
        out["average_correlation"] = rnd(float(np.nanmean(corr[iu])))
    if label == "portfolio":
        out["portfolio"] = names[0]
        value = close[pf.symbols].ffill().iloc[-1].to_numpy(dtype=float) * pf.quantities.astype(float)
        out["risk_contributions"] = risk_contribution_table(close, pf.symbols, value / value.sum(), confidence,
                                                            display_sectors(market, pf.symbols), pf.quantities)
    if without:
        out["symbols_without_data"] = without
    if not_found:
        out["symbols_not_found"] = not_found
    return out


from . import comparison  # noqa: E402,F401  (importing the trading tools registers these two as well)
