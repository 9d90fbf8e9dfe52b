"""Strategy exploration on one sector (used by ``notebooks/strategy_explorer.ipynb``).

:func:`sector_study` runs the momentum and mean-reversion backtests of :mod:`qlwork.analytics.backtest`
on a sector's stocks over ``years`` of daily closes ending at ``as_of``, next to an equal-weight
buy-and-hold of the same stocks and the ``NIFTY 50``. No look-ahead (see the backtest module), costs
in basis points of turnover.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from html import escape

import numpy as np

from .analytics import mean_reversion_backtest, momentum_backtest, risk
from .config import BENCHMARK, TRADING_DAYS_PER_YEAR
from .errors import InputError
from .market.base import parse_date
from .market.sectors import match_sector

METRICS = ("total_return", "cagr", "volatility", "sharpe_ratio", "sortino_ratio", "max_drawdown", "avg_turnover",
           "n_rebalances")


@dataclass
class SectorStudy:
    sector: str
    symbols: list[str]
    dates: list[str]
    equity: dict[str, np.ndarray]  # strategy name -> equity curve starting at 1.0
    metrics: dict[str, dict]
    params: dict
    synthetic: bool

    def metrics_html(self):
        """The strategies' metrics side by side (IPython HTML)."""
        from IPython.display import HTML

        from .review.render import STYLE, table

        names = list(self.metrics)
        rows = []
        for key in METRICS:
            row = [key]
            for name in names:
                v = self.metrics[name].get(key)
                row.append("" if v is None else f"{v:.4f}" if isinstance(v, float) else str(v))
            rows.append(row)
        note = ("<p><b>SYNTHETIC DATA</b>: demo prices, not NSE.</p>" if self.synthetic else "")
        head = (f"<h3>{escape(self.sector)}: {', '.join(map(escape, self.symbols))}</h3>"
                f"<p>{self.dates[0]} to {self.dates[-1]}; parameters {escape(str(self.params))}.</p>")
        return HTML('<div class="qlwork-report">' + STYLE + head + note +
                    table(["Metric", *names], rows, numeric=set(range(1, len(names) + 1))) + "</div>")

    def comparison_chart(self):
        """All equity curves rebased to 100 (image)."""
        from .charts import image, rebased_figure

        return image(rebased_figure(self.dates, {k: v for k, v in self.equity.items()}, synthetic=self.synthetic,
                                    title=f"{self.sector}: strategies vs equal weight and {BENCHMARK}"))

    def drawdown_chart(self, strategy: str = "momentum"):
        """One strategy's equity vs the benchmark with drawdowns (image)."""
        from .charts import equity_drawdown_figure, image

        if strategy not in self.equity:
            raise InputError(f"Unknown strategy {strategy!r}.", fix=f"Use one of: {', '.join(self.equity)}.")
        return image(equity_drawdown_figure(self.dates, self.equity[strategy], self.equity[BENCHMARK],
                                            synthetic=self.synthetic, label=strategy.replace("_", " "),
                                            title=f"{self.sector} {strategy.replace('_', ' ')} backtest"))


def sector_study(sector: str = "IT", as_of="2026-11-20", years: int = 3, top_n: int = 3, lookback: int = 126,
                 window: int = 20, entry_z: float = -1.5, cost_bps: float = 10.0, provider: str = "demo",
                 market=None) -> SectorStudy:
    """Momentum and mean-reversion backtests on ``sector``'s stocks (an NSE industry name, or an alias such
    as "IT" or "banks"), with equal weight and NIFTY 50."""
    from .market import get_provider

    market = market or get_provider(provider)
    if not 1 <= years <= 10:
        raise InputError(f"years {years} is out of range.", fix="Use 1 to 10 years.")
    inst = market.instruments()
    label = match_sector(sector, inst.loc[inst["instrument_type"] == "EQ", "sector"].unique()) or str(sector)
    rows = inst[(inst["sector"].str.lower() == label.lower()) & (inst["instrument_type"] == "EQ")]
    symbols = sorted(rows["tradingsymbol"].tolist())
    if len(symbols) < 2:
        known = sorted(set(inst["sector"]) - {"Index"})
        raise InputError(f"Sector {sector!r} has fewer than two stocks.", fix=f"Use one of: {', '.join(known)}.")
    day = as_of if isinstance(as_of, dt.date) else parse_date(str(as_of))
    close = market.close_prices(symbols + [BENCHMARK], end=day).iloc[-(years * TRADING_DAYS_PER_YEAR + 1):]
    close = close.ffill()  # carried forward only; the backtests skip a symbol until its history is long enough
    prices = close[symbols].to_numpy(dtype=float)
    n = max(1, min(top_n, len(symbols)))
    mom = momentum_backtest(prices, lookback=lookback, top_n=n, cost_bps=cost_bps, symbols=symbols)
    mr = mean_reversion_backtest(prices, window=window, entry_z=entry_z, cost_bps=cost_bps, symbols=symbols)
    moves = prices[1:] / prices[:-1] - 1.0  # NaN where a stock was not priced on both days
    priced = np.isfinite(moves)
    daily = np.where(priced, moves, 0.0).sum(axis=1) / np.maximum(priced.sum(axis=1), 1)  # equal weight over those priced
    ew_ret = np.concatenate([[0.0], daily])
    bench = close[BENCHMARK].to_numpy(dtype=float)
    equity = {"momentum": mom.equity, "mean_reversion": mr.equity, "equal_weight": np.cumprod(1.0 + ew_ret),
              BENCHMARK: bench / bench[0]}
    metrics = {"momentum": dict(mom.metrics), "mean_reversion": dict(mr.metrics)}
    for name in ("equal_weight", BENCHMARK):
        r = equity[name][1:] / equity[name][:-1] - 1.0
        metrics[name] = {"total_return": round(float(equity[name][-1] - 1.0), 6),
                         "cagr": round(float(risk.cagr(r)), 6), "volatility": round(float(risk.volatility(r)), 6),
                         "sharpe_ratio": round(float(risk.sharpe_ratio(r)), 6),
                         "sortino_ratio": round(float(risk.sortino_ratio(r)), 6),
                         "max_drawdown": round(float(risk.max_drawdown(r)), 6)}
    dates = [d.date().isoformat() for d in close.index]
    params = {"years": years, "top_n": n, "lookback": lookback, "window": window, "entry_z": entry_z,
              "cost_bps": cost_bps}
    return SectorStudy(sector=str(rows["sector"].iloc[0]), symbols=symbols, dates=dates, equity=equity,
                       metrics=metrics, params=params, synthetic=bool(market.metadata().get("synthetic")))
