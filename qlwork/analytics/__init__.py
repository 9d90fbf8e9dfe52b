"""Pure, vectorised numeric code: indicators, risk metrics, signals, portfolio health, backtests.

No I/O, no tools, no model. Inputs are 1-D (days) or 2-D (days x symbols) arrays of simple daily
prices/returns; annualisation uses 252 trading days; risk-free rates are annual decimals.
"""

from .backtest import Backtest, Book, mean_reversion_backtest, momentum_backtest, run_backtest
from .health import HealthReport, assess_health, effective_holdings, hhi, sector_weights, target_weight
from .indicators import atr, bbands, ema, macd, rsi, sma
from .risk import (
    alpha, beta, cagr, conditional_value_at_risk, correlation, drawdown, max_drawdown, risk_summary,
    sharpe_ratio, simple_returns, sortino_ratio, total_return, value_at_risk, volatility,
)
from .signals import generate_signals

__all__ = [
    "Backtest", "Book", "HealthReport", "alpha", "assess_health", "atr", "bbands", "beta", "cagr",
    "conditional_value_at_risk", "correlation", "drawdown", "effective_holdings", "ema",
    "generate_signals", "hhi", "macd", "max_drawdown", "mean_reversion_backtest", "momentum_backtest",
    "risk_summary", "rsi", "run_backtest", "sector_weights", "sharpe_ratio", "simple_returns", "sma", "sortino_ratio",
    "target_weight", "total_return", "value_at_risk", "volatility",
]
