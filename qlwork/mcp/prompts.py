"""Prompts an MCP client offers its user: a weekly portfolio review, a sector deep-dive, and an
explanation of one recommendation. Each is a user message that names the qlwork tools to call and the
rules of a grounded answer (every figure from a tool output; research output, not advice)."""

from __future__ import annotations

from dataclasses import dataclass

import mcp_types as types
from mcp.shared.exceptions import MCPError

GROUNDING = ("Use only figures that the qlwork tools return in this conversation, quote them with their dates "
             "and data source (say so when the data is synthetic), and end with the tools' disclaimer: research "
             "output, not investment advice; qlwork never places orders.")


@dataclass(frozen=True)
class PromptSpec:
    name: str
    title: str
    description: str
    arguments: tuple[tuple[str, str, bool], ...]  # (name, description, required)
    template: str


PROMPTS = (
    PromptSpec(
        "weekly_portfolio_review", "Weekly portfolio review",
        "Review a portfolio for the week: health score, risk, signals on the holdings and rebalancing ideas.",
        (("portfolio", 'Portfolio to review: "sample:<name>", one of your file ids, or "kite".', True),
         ("risk_profile", "conservative, moderate or aggressive (default: moderate).", False)),
        "Give me this week's review of portfolio {portfolio} for a {risk_profile} investor. Call "
        "analyze_portfolio (portfolio={portfolio}, risk_profile={risk_profile}), then calculate_risk_metrics for "
        "the same portfolio and generate_trading_signals for its largest holdings. Summarise the overall score "
        "and risk level, the sector exposure against NIFTY 50, the main risks (drawdown, beta, VaR) and the "
        "recommendations with their reasons and confidence. If I have a weekly report resource "
        "(qlwork://reports/latest/review.json), compare with it. " + GROUNDING),
    PromptSpec(
        "sector_deep_dive", "Sector deep-dive",
        "Study one NSE sector: signals for its stocks, a backtest, risk and any research notes.",
        (("sector", 'Sector name, e.g. "IT", "Banks" or "Pharma".', True),),
        "Do a deep-dive on the {sector} sector. Call generate_trading_signals with sector={sector} (strategy "
        "rules, then momentum for a backtest), calculate_risk_metrics for the sector's stocks, and file_search "
        "for research notes on {sector}. Rank the stocks by signal and confidence, report the backtest metrics "
        "with their window, and cite notes as [filename p.N]. " + GROUNDING),
    PromptSpec(
        "explain_recommendation", "Explain this recommendation",
        "Explain why qlwork recommends an action on a symbol, from the indicators and risk behind it.",
        (("symbol", "NSE trading symbol, e.g. RELIANCE.", True),
         ("recommendation", 'The recommendation to explain, e.g. "reduce: overweight position".', False),
         ("portfolio", "Portfolio the recommendation came from, if any.", False)),
        "Explain the recommendation {recommendation} for {symbol}{in_portfolio}. Call generate_trading_signals "
        "for {symbol} and get_market_data for {symbol} over the last six months{analyze}. Walk through the "
        "indicators behind the signal (RSI, MACD, moving averages, Bollinger bands), the confidence, what "
        "would change the view, and the risks. " + GROUNDING),
)


def list_prompts() -> list[types.Prompt]:
    return [types.Prompt(name=p.name, title=p.title, description=p.description,
                         arguments=[types.PromptArgument(name=a, description=d, required=r) for a, d, r in p.arguments])
            for p in PROMPTS]


def get_prompt(name: str, arguments: dict[str, str] | None) -> types.GetPromptResult:
    spec = next((p for p in PROMPTS if p.name == name), None)
    if spec is None:
        raise MCPError(types.INVALID_PARAMS, f"Unknown prompt {name!r}. Prompts: {', '.join(p.name for p in PROMPTS)}.")
    args = {k: str(v).strip() for k, v in (arguments or {}).items() if v is not None and str(v).strip()}
    known = {a for a, _, _ in spec.arguments}
    extra = sorted(set(args) - known)
    missing = [a for a, _, required in spec.arguments if required and a not in args]
    if extra or missing:
        problem = f"missing {', '.join(missing)}" if missing else f"unknown {', '.join(extra)}"
        raise MCPError(types.INVALID_PARAMS, f"Prompt {name}: {problem}. Arguments: {', '.join(sorted(known))}.",
                       data={"field": (missing or extra)[0], "allowed": sorted(known)})
    values = {"risk_profile": "moderate", "recommendation": "", **{k: v[:200] for k, v in args.items()}}
    portfolio = values.get("portfolio")
    values["in_portfolio"] = f" in portfolio {portfolio}" if portfolio else ""
    values["analyze"] = f", and analyze_portfolio for {portfolio}" if portfolio else ""
    if not values["recommendation"]:
        values["recommendation"] = "qlwork gives"
    text = spec.template.format(**values)
    return types.GetPromptResult(description=spec.description,
                                 messages=[types.PromptMessage(role="user", content=types.TextContent(text=text))])
